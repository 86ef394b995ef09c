"""Words of the printed ECG (FR/EN): header labels, the patient's sex and the quality verdict, the effective band in
plain words, the filter steps, the GP's interpretation block, the file-reader deviations.

Imports nothing from ``signal/`` (the PDF renderer uses it and stays pure): values come in as plain numbers and codes.
"""

from __future__ import annotations

import re
from typing import Literal

Lang = Literal["fr", "en"]

HEADER: dict[Lang, dict[str, str]] = {
    "fr": {
        "title": "ECG 12 dérivations",
        "not_interpreted": "Tracé non interprété — en attente de lecture et d'interprétation par le médecin.",
        "interpreted": "Tracé interprété par {gp} le {when} (version {version})",
        "conclusion": "Conclusion du médecin",
        "coded": "Énoncés codés",
        "patient": "Patient",
        "born": "né(e) le",
        "acquired": "Enregistré le",
        "device": "Appareil",
        "performer": "Réalisé par",
        "fs": "Échantillonnage",
        "quality": "Qualité technique",
        "hr": "Fréquence cardiaque mesurée",
        "speed": "Vitesse",
        "gain": "Amplitude",
        "derived": "dérivées calculées",
        "software": "Logiciel",
        "unknown": "non renseigné",
        "calibration": "étalonnage appareil",
        "lead_off": "électrode déconnectée",
        "file": "Fichier",
        "filters": "Filtres",
        "by_device": "appareil",
        "by_us": "asalee-devices",
        "continued": "suite page {page}",
        "continuation": "(suite, page {page}/{pages})",
        "page": "page {page}/{pages}",
    },
    "en": {
        "title": "12-lead ECG",
        "not_interpreted": "Trace not interpreted — awaiting the physician's reading and interpretation.",
        "interpreted": "Trace interpreted by {gp} on {when} (version {version})",
        "conclusion": "Physician's conclusion",
        "coded": "Coded statements",
        "patient": "Patient",
        "born": "born",
        "acquired": "Recorded",
        "device": "Device",
        "performer": "Performed by",
        "fs": "Sampling",
        "quality": "Technical quality",
        "hr": "Measured heart rate",
        "speed": "Speed",
        "gain": "Gain",
        "derived": "derived leads",
        "software": "Software",
        "unknown": "not given",
        "calibration": "device calibration",
        "lead_off": "electrode off",
        "file": "File",
        "filters": "Filters",
        "by_device": "device",
        "by_us": "asalee-devices",
        "continued": "continued on page {page}",
        "continuation": "(continued, page {page}/{pages})",
        "page": "page {page}/{pages}",
    },
}

SEX: dict[Lang, dict[str, str]] = {
    "fr": {"male": "homme", "female": "femme", "other": "autre", "unknown": ""},
    "en": {"male": "male", "female": "female", "other": "other", "unknown": ""},
}

#: the verdict after "Qualité technique :" (the label is printed once, never repeated in the value)
VERDICT: dict[Lang, dict[str, str]] = {
    "fr": {"acceptable": "acceptable", "retake": "insuffisante — nouvel enregistrement conseillé"},
    "en": {"acceptable": "acceptable", "retake": "insufficient — new recording advised"},
}

#: how the effective band compares with the band IEC 60601-2-25 / AHA 2007 ask of a resting ECG (0.05-150 Hz for
#: adults); worded without "diagnostic" (the printout never uses a diagnosis word, see tests/ecg/test_no_interpretation)
BAND_CLASS: dict[Lang, dict[str, str]] = {
    "fr": {
        "iec": "couvre la bande 0,05–150 Hz de la CEI 60601-2-25 (appareil + logiciel)",
        "high_cut_low": "coupure haute sous les 150 Hz de la CEI 60601-2-25 : amplitudes des QRS possiblement "
                        "réduites",
        "low_cut_high": "coupure basse au-dessus des 0,05 Hz de la CEI 60601-2-25 : segment ST possiblement "
                        "déformé",
        "both": "plus étroite que la bande 0,05–150 Hz de la CEI 60601-2-25",
    },
    "en": {
        "iec": "covers the IEC 60601-2-25 0.05–150 Hz band (device + software)",
        "high_cut_low": "upper cut-off below the 150 Hz of IEC 60601-2-25: QRS amplitudes may be reduced",
        "low_cut_high": "lower cut-off above the 0.05 Hz of IEC 60601-2-25: ST segment may be distorted",
        "both": "narrower than the IEC 60601-2-25 0.05–150 Hz band",
    },
}

FILTER_KIND: dict[Lang, dict[str, str]] = {
    "fr": {"highpass": "passe-haut", "lowpass": "passe-bas", "bandpass": "passe-bande", "notch": "réjecteur",
           "mains_canceller": "suppression du secteur", "resample": "rééchantillonnage", "other": "filtre",
           "zero_phase": "phase nulle", "causal": "causal", "restores": "restitue le passe-haut {hz} Hz de "
           "l'appareil"},
    "en": {"highpass": "high-pass", "lowpass": "low-pass", "bandpass": "band-pass", "notch": "notch",
           "mains_canceller": "mains canceller", "resample": "resampling", "other": "filter",
           "zero_phase": "zero-phase", "causal": "causal", "restores": "restores the device's {hz} Hz high-pass"},
}


def number(value: float, decimals: int | None, lang: Lang) -> str:
    """``value`` with ``decimals`` decimals (``g`` when None), decimal comma in French."""
    text = f"{value:g}" if decimals is None else f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "fr" else text


def sep(lang: Lang) -> str:
    """The label separator: French typography puts a space before the colon."""
    return " : " if lang == "fr" else ": "


def band_words(low_hz: float | None, high_hz: float | None, nyquist_hz: float, mains_filtered_hz: float | None,
               mains_hz: float, lang: Lang = "fr") -> str:
    """The effective band in plain words: ``Bande passante : 0,05–150 Hz ; filtre secteur 50 Hz : non`` (-3 dB
    points; ``low_hz`` None = down to 0 Hz, ``high_hz`` None = up to Nyquist)."""
    low = "0" if low_hz is None else number(low_hz, 2 if low_hz < 1 else 0, lang)
    high = number(high_hz if high_hz is not None else nyquist_hz, 0, lang)
    mains = number(mains_hz, None, lang)
    if lang == "fr":
        filtered = "oui" if mains_filtered_hz else "non"
        return f"Bande passante : {low}–{high} Hz ; filtre secteur {mains} Hz : {filtered}"
    filtered = "yes" if mains_filtered_hz else "no"
    return f"Bandwidth: {low}–{high} Hz; {mains} Hz mains filter: {filtered}"


def filter_words(kind: str, cutoff_hz: float | None, cutoff_high_hz: float | None, zero_phase: bool | None,
                 restores_hz: float | None, lang: Lang = "fr") -> str:
    """One filter step in a few words: ``passe-bas 150 Hz (phase nulle)``."""
    w = FILTER_KIND[lang]
    text = w.get(kind, w["other"])
    if kind == "resample" and cutoff_hz is not None:
        return f"{text} {number(cutoff_hz, None, lang)} Hz"
    if cutoff_hz is not None and cutoff_high_hz is not None:
        text += f" {number(cutoff_hz, None, lang)}–{number(cutoff_high_hz, None, lang)} Hz"
    elif cutoff_hz is not None:
        text += f" {number(cutoff_hz, None, lang)} Hz"
    extra = []
    if restores_hz:
        extra.append(w["restores"].format(hz=number(restores_hz, None, lang)))
    elif zero_phase is not None:
        extra.append(w["zero_phase"] if zero_phase else w["causal"])
    return text + (f" ({', '.join(extra)})" if extra else "")


def format_ins(ins: str) -> str:
    """A 15-character INS (NIR or NIA + key) grouped as printed on the carte Vitale: ``2 79 03 75 123 456 78``."""
    s = ins.replace(" ", "")
    if len(s) != 15:
        return s
    return " ".join((s[0], s[1:3], s[3:5], s[5:7], s[7:10], s[10:13], s[13:15]))


IDENTITY: dict[Lang, dict[str, str]] = {
    "fr": {"ins": "INS (matricule {kind}) : {ins} — identité qualifiée", "test": " (INS de test)",
           "local": "N° patient du cabinet : {local_id}"},
    "en": {"ins": "INS ({kind} number): {ins} — qualified identity", "test": " (test INS)",
           "local": "Practice patient number: {local_id}"},
}


# ---- the file readers' tolerated deviations (drivers word them in English for integrators; the French PDF words
# them here by code, reading the values out of the English sentence; a sentence we do not recognise is named by its
# code only, never printed in English on a French report)

#: code -> (English sentence pattern with named values, French sentence)
_DEVIATIONS: dict[str, tuple[str, str]] = {
    "sampling_rate_differs": (
        r"acquisition at (?P<a>\S+) Hz, stored waveforms at (?P<b>\S+) Hz",
        "acquisition à {a} Hz, tracés enregistrés à {b} Hz (la fréquence des tracés est retenue)"),
    "unequal_lead_lengths": (r"", "dérivations de longueurs différentes ; la plus courte est retenue"),
    "crc_mismatch": (r"(?:(?P<what>.*) lead (?P<lead>\S+): )?", "somme de contrôle (CRC) incorrecte{lead_part} "
                     "(lecture poursuivie)"),
    "section_crc_mismatch": (r"section (?P<sid>\d+)", "section {sid} : somme de contrôle (CRC) incorrecte "
                             "(lecture poursuivie)"),
    "record_length_mismatch": (r"record length field (?P<a>\d+) \D+ (?P<b>\d+)",
                               "longueur d'enregistrement déclarée {a} octets, fichier de {b} octets"),
    "short_pointer_table": (r"section 0 lists (?P<n>\d+)", "la section 0 ne liste que {n} pointeurs (12 au moins "
                            "attendus)"),
    "duplicate_section": (r"section (?P<sid>\d+)", "section {sid} listée deux fois dans la section 0"),
    "bad_section_pointer": (r"section (?P<sid>\d+)", "pointeur de la section {sid} hors de l'enregistrement ; "
                            "section ignorée"),
    "section_length_mismatch": (r"section (?P<sid>\d+) length (?P<a>\d+) in its header, (?P<b>\d+) in section 0; "
                                r"(?P<c>\d+) used",
                                "section {sid} : longueur {a} dans son en-tête, {b} dans la section 0 ; {c} retenue"),
    "section1_unterminated": (r"", "la section 1 n'a pas de balise de fin (255)"),
    "zero_based_lead_start": (r"", "début de dérivation à l'échantillon 0 (la norme compte à partir de 1) ; lu "
                              "en base 1"),
    "lead_length_overflow": (r"", "longueurs par dérivation trop grandes pour leur champ de 16 bits ; limites "
                             "retrouvées au décodage"),
    "byte_count_one_sample_short": (r"lead (?P<k>\d+)", "dérivation {k} : un échantillon de moins que déclaré ; "
                                    "dernier échantillon laissé vide"),
    "byte_count_one_sample_long": (r"lead (?P<k>\d+)", "dérivation {k} : un échantillon de plus que déclaré ; "
                                   "échantillon en trop ignoré"),
    "reference_beat_flag_without_sections": (r"", "soustraction du battement de référence annoncée sans les "
                                             "sections 4/5 ; rythme lu tel quel"),
    "zero_amplitude_multiplier": (r"section (?P<a>\d+) AVM is 0; the section (?P<b>\d+)",
                                  "multiplicateur d'amplitude nul en section {a} ; celui de la section {b} est "
                                  "utilisé"),
    "waveform_data_too_long": (r"group (?P<g>\d+)", "groupe {g} : données de tracé plus longues que voies x "
                               "échantillons"),
    "zero_correction_factor": (r"lead (?P<lead>\S+):", "dérivation {lead} : facteur de correction de sensibilité "
                               "nul ou invalide ; 1 utilisé"),
    "too_many_groups": (r"(?P<n>\d+) multiplex groups", "{n} groupes multiplex (le modèle 12 dérivations en "
                        "permet 5)"),
    "duplicate_lead": (r"lead (?P<lead>\S+) in two groups", "dérivation {lead} présente dans deux groupes ; la "
                       "première est retenue"),
    "unexpected_trailer": (r"(?P<n>\d+) bytes", "{n} octets après la ligne de fin (pied de 37 octets attendu)"),
    "no_terminating_row": (r"", "aucune ligne de zéros ne termine les données ; données lues jusqu'au pied"),
    "truncated": (r"(?P<f>\S+) holds (?P<a>\d+) samples, header says (?P<b>\d+)",
                  "{f} contient {a} échantillons, l'en-tête en annonce {b}"),
    "leads_off": (r"electrodes off for the whole recording: (?P<leads>.+)",
                  "électrodes déconnectées pendant tout l'enregistrement : {leads}"),
    "partial_leads": (r"padded with NaN: (?P<leads>.+)",
                      "dérivations ne couvrant pas tout l'enregistrement, complétées par des blancs : {leads}"),
    "unknown_lead": (r"lead (?P<lead>'[^']*')", "dérivation {lead} non prise en charge ; ignorée"),
    "unknown_channel": (r"channel (?P<k>\d+)", "voie {k} : pas une dérivation ECG connue ; ignorée"),
    "unknown_sequence": (r"sequence (?P<s>'[^']*')", "séquence {s} ignorée"),
    "group_skipped": (r"", "un groupe multiplex d'une autre fréquence ou longueur n'est pas fusionné"),
    "channel_filters_differ": (r"", "les voies déclarent des filtres différents ; le premier est retenu"),
    "padding_value_zero": (r"group (?P<g>\d+)", "groupe {g} : valeur de remplissage 0 non utilisée (vrais zéros)"),
    "missing_mandatory_tags": (r"tags (?P<tags>.+)", "la section 1 n'a pas les balises obligatoires {tags}"),
    "unsorted_pointers": (r"", "pointeurs de la section 0 non triés par numéro de section"),
    "reference_beats_skipped": (r"", "section 5 sans section 4 : battements de référence non décodés"),
}


def deviation_text(code: str, message: str, lang: Lang = "fr") -> str:
    """A file reader's tolerated deviation in the report's language (the reader's English sentence in English)."""
    if lang == "en":
        return message
    entry = _DEVIATIONS.get(code)
    if entry is not None:
        pattern, french = entry
        m = re.search(pattern, message)
        if m is not None:
            values = {k: (v or "") for k, v in m.groupdict().items()}
            lead = values.get("lead")
            values["lead_part"] = f" sur la dérivation {lead}" if lead else ""
            try:
                return french.format(**values)
            except (KeyError, IndexError):
                pass
    return f"écart au format toléré (code {code})"
