"""Words of the ECG analysis, by code: the nurse's quality messages
(:class:`~asalee_devices.signal.ecg.results.QualityCode`) and the technical notes
(:class:`~asalee_devices.signal.ecg.results.NoteCode`).

Technical facts and actions only ("hors interprétation"): no text describes the heart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from asalee_devices.jsonable import to_jsonable
from asalee_devices.messages.ecg_report import band_words, number
from asalee_devices.signal.ecg.chain import Band
from asalee_devices.signal.ecg.results import (
    AnalysisWarning,
    EcgQuality,
    NoteCode,
    QualityCode,
    QualityFinding,
    TechnicalNote,
    WarningCode,
)

Lang = Literal["fr", "en"]

NOTES: dict[NoteCode, dict[Lang, str]] = {
    NoteCode.CALIBRATION_EXCLUDED: {
        "fr": "Signal d'étalonnage de l'appareil (1 mV) reconnu sur {seconds} s et exclu de l'analyse",
        "en": "Device calibration signal (1 mV) recognised over {seconds} s and left out of the analysis",
    },
    NoteCode.CALIBRATION_WHOLE_RECORD: {
        "fr": "Le fichier ne contient que le signal d'étalonnage de l'appareil : aucun tracé ECG à analyser — "
              "refaire l'enregistrement",
        "en": "The file holds only the device's calibration signal: no ECG trace to analyse — record again",
    },
    NoteCode.PACING_SPIKES_EXCLUDED: {
        "fr": "{count} impulsion(s) de stimulateur repérée(s), exclue(s) du repérage des complexes et de la "
              "qualité",
        "en": "{count} pacing spike(s) found, left out of beat detection and quality",
    },
    NoteCode.PACEMAKER_FLAG_NO_SPIKES: {
        "fr": "L'appareil signale un stimulateur cardiaque ; aucune impulsion visible dans le tracé "
              "(échantillonnage {fs_hz} Hz)",
        "en": "The device flags a pacemaker; no pacing spike visible in the trace (sampling {fs_hz} Hz)",
    },
    NoteCode.DEVICE_RATE_DIFFERS: {
        "fr": "FC mesurée {measured_bpm}/min, appareil {device_bpm}/min — vérifier le tracé",
        "en": "Measured HR {measured_bpm}/min, device {device_bpm}/min — check the trace",
    },
}


#: decimals of each value (None: as short as exact, ``g``)
_DECIMALS: dict[str, int | None] = {"seconds": 2, "count": 0, "fs_hz": None, "measured_bpm": 0, "device_bpm": 0}


def note_text(note: TechnicalNote, lang: Lang = "fr") -> str:
    """The sentence of one technical note."""
    values = {k: number(v, _DECIMALS.get(k), lang) for k, v in note.values}
    return NOTES[note.code][lang].format(**values)


def notes_text(notes: tuple[TechnicalNote, ...], lang: Lang = "fr", *, for_gp: bool | None = None) -> tuple[str, ...]:
    """The sentences of ``notes`` (only those for the GP, or only the others, when ``for_gp`` is given)."""
    return tuple(note_text(n, lang) for n in notes if for_gp is None or n.for_gp == for_gp)


def band_text(band: Band, mains_hz: float, lang: Lang = "fr") -> str:
    """The effective band of the whole chain in plain words: ``Bande passante : 0,05–150 Hz ; filtre secteur
    50 Hz : non`` (the -3 dB points of :func:`~asalee_devices.signal.ecg.chain.chain_band`)."""
    return band_words(band.low_hz, band.high_hz, band.nyquist_hz, band.mains_filtered_hz, mains_hz, lang)


#: The analysis' technical warnings (English, technical: the results document, the CLI and the HPRIM body carry
#: them as they are); ``{fs_hz:g}``, ``{cutoff_hz:g}`` in Hz.
WARNINGS: dict[WarningCode, str] = {
    WarningCode.LOW_SAMPLING_RATE: "sampling rate {fs_hz:g} Hz is below the 500 Hz advised for a resting 12-lead ECG",
    WarningCode.PACING_SPIKES_MAY_BE_HIDDEN: "the device flags a pacemaker: pacing spikes may not be visible at this "
                                             "sampling rate",
    WarningCode.LOWPASS_SKIPPED: "low-pass {cutoff_hz:g} Hz skipped: sampling rate {fs_hz:g} Hz too low (the band is "
                                 "limited by the sampling itself)",
    WarningCode.MAINS_SKIPPED_DEVICE_FILTER: "mains cancelling skipped: device already applied a mains filter",
}


def warning_text(warning: AnalysisWarning) -> str:
    """The sentence of one technical warning of the analysis.

    Parameters
    ----------
    warning : AnalysisWarning
        The warning's code and values.

    Returns
    -------
    str
        The sentence (English).
    """
    return WARNINGS[warning.code].format(**dict(warning.values))


def warnings_text(warnings: Sequence[AnalysisWarning]) -> list[str]:
    """The sentences of ``warnings``, in order (see :func:`warning_text`).

    Parameters
    ----------
    warnings : sequence of AnalysisWarning
        The warnings of one analysis or cleaning.

    Returns
    -------
    list of str
        One sentence per warning.
    """
    return [warning_text(w) for w in warnings]


#: Shown when the ECG has no quality finding.
OK_MESSAGE: dict[Lang, str] = {
    "fr": "Qualité technique correcte — tracé transmis au médecin pour interprétation",
    "en": "Technical quality acceptable — tracing sent to the GP for interpretation",
}

#: The electrodes of a 12-lead ECG in words (French, English).
ELECTRODE_LABELS: dict[str, dict[Lang, str]] = {
    "RA": {"fr": "bras droit (RA)", "en": "right arm (RA)"}, "LA": {"fr": "bras gauche (LA)", "en": "left arm (LA)"},
    "LL": {"fr": "jambe gauche (LL)", "en": "left leg (LL)"},
    "RL": {"fr": "jambe droite, référence (RL)", "en": "right leg, reference (RL)"},
    **{f"V{k}": {"fr": f"V{k}", "en": f"V{k}"} for k in range(1, 7)},
}

#: The nurse's message of each quality code, French then English: ``{names}`` are the leads of every finding of
#: that code, ``{mains}`` the mains frequency (Hz). The electrode messages are composed by :func:`quality_texts`.
QUALITY: dict[QualityCode, tuple[str, str]] = {
    QualityCode.FLAT: ("Signal plat sur {names} — vérifier le câble et l'électrode",
                       "Flat signal on {names} — check the cable and electrode"),
    QualityCode.SATURATION: ("Signal saturé sur {names} — vérifier les électrodes puis refaire l'enregistrement",
                             "Signal saturated on {names} — check the electrodes, then record again"),
    QualityCode.MAINS: ("Parasites secteur {mains} Hz ({names}) — éloigner les câbles des appareils branchés, "
                        "vérifier le contact des électrodes",
                        "{mains} Hz mains interference ({names}) — move cables away from plugged-in equipment, "
                        "check electrode contact"),
    QualityCode.BASELINE_WANDER: ("Ligne de base instable ({names}) — demander au patient de respirer calmement et "
                                  "de ne pas bouger ; vérifier la peau et le gel",
                                  "Unstable baseline ({names}) — ask the patient to breathe calmly and keep still; "
                                  "check skin preparation and gel"),
    QualityCode.MUSCLE_NOISE: ("Tremblements musculaires ({names}) — patient détendu, bras le long du corps, au chaud",
                               "Muscle tremor ({names}) — patient relaxed, arms by the sides, kept warm"),
    QualityCode.AMPLITUDE: ("Amplitude hors plage sur {names} — vérifier la position et le contact de l'électrode",
                            "Amplitude out of range on {names} — check electrode position and contact"),
    QualityCode.INCONSISTENT: ("Vérifier le placement des électrodes des membres",
                               "Check the placement of the limb electrodes"),
    QualityCode.TOO_SHORT: ("Enregistrement trop court — refaire un tracé de 10 secondes",
                            "Recording too short — record 10 seconds again"),
    QualityCode.NO_BEATS: ("Complexes difficiles à repérer — vérifier les électrodes et refaire l'enregistrement",
                           "Beats hard to detect — check the electrodes and record again"),
}
_ELECTRODE_OFF = {  # (one electrode, several) x (fr, en); {which}: the leads, when they are not the electrodes
    False: ("Électrode {names} déconnectée ou mal collée{which} — vérifier le branchement et le contact avec la peau",
            "Electrode {names} disconnected or poorly attached{which} — check the connection and skin contact"),
    True: ("Électrodes {names} déconnectées ou mal collées{which} — vérifier le branchement et le contact avec la "
           "peau",
           "Electrodes {names} disconnected or poorly attached{which} — check the connection and skin contact"),
}
_WHICH = {"fr": " (dérivations {names})", "en": " (leads {names})"}


def quality_texts(code: QualityCode, leads: Sequence[str], mains_hz: float,
                  electrodes: Sequence[str] = ()) -> tuple[str, str]:
    """The nurse's message of one quality code, French and English.

    Parameters
    ----------
    code : QualityCode
        The finding's code.
    leads : sequence of str
        The leads of every finding of this code (empty for a finding on the whole record).
    mains_hz : float
        Mains frequency (Hz), named by the mains message.
    electrodes : sequence of str, optional
        For ``lead_off``: the electrodes the pattern of affected leads points to (named instead of the leads).

    Returns
    -------
    tuple of (str, str)
        The French and the English message.
    """
    names = ", ".join(leads)
    if code is QualityCode.LEAD_OFF:
        if electrodes:
            # the leads are named when they are not the electrodes themselves (a limb electrode feeds several)
            named = list(leads) != list(electrodes)
            fr, en = _ELECTRODE_OFF[len(electrodes) > 1]
            which = {lang: _WHICH[lang].format(names=names) if named else "" for lang in _WHICH}
            return (fr.format(names=", ".join(ELECTRODE_LABELS[e]["fr"] for e in electrodes), which=which["fr"]),
                    en.format(names=", ".join(ELECTRODE_LABELS[e]["en"] for e in electrodes), which=which["en"]))
        fr, en = _ELECTRODE_OFF[len(leads) > 1]
        return fr.format(names=names, which=""), en.format(names=names, which="")
    fr, en = QUALITY[code]
    mains = f"{mains_hz:g}"
    return fr.format(names=names, mains=mains), en.format(names=names, mains=mains)


def finding_texts(finding: QualityFinding, quality: EcgQuality) -> tuple[str, str]:
    """The nurse's message of one finding of ``quality``, French and English.

    A lead finding's message names every lead with the same code (and, for ``lead_off``, every electrode the
    findings point to, in their order), as the nurse reads them together.

    Parameters
    ----------
    finding : QualityFinding
        One of ``quality.findings`` (or of one lead's findings).
    quality : EcgQuality
        The quality it belongs to (the other findings of its code, the mains frequency).

    Returns
    -------
    tuple of (str, str)
        The French and the English message.
    """
    if finding.lead is None:
        return quality_texts(finding.code, (), quality.mains_hz)
    group = [f for f in quality.findings if f.code == finding.code and f.lead is not None]
    leads = [f.lead for f in group if f.lead is not None]
    electrodes = list(dict.fromkeys(e for f in group for e in f.electrodes))
    return quality_texts(finding.code, leads, quality.mains_hz, electrodes)


def finding_text(finding: QualityFinding, quality: EcgQuality, lang: Lang = "fr") -> str:
    """The nurse's message of one finding of ``quality`` in ``lang`` (see :func:`finding_texts`).

    Parameters
    ----------
    finding : QualityFinding
        One of ``quality``'s findings.
    quality : EcgQuality
        The quality it belongs to.
    lang : {"fr", "en"}, optional
        Language of the message (French by default).

    Returns
    -------
    str
        The message.
    """
    fr, en = finding_texts(finding, quality)
    return fr if lang == "fr" else en


def quality_messages(quality: EcgQuality, lang: Lang = "fr") -> tuple[str, ...]:
    """The distinct nurse messages of ``quality``, in finding order (empty when there is no finding).

    Parameters
    ----------
    quality : EcgQuality
        The technical quality of one ECG.
    lang : {"fr", "en"}, optional
        Language of the messages (French by default).

    Returns
    -------
    tuple of str
        One message per distinct finding text.
    """
    return tuple(dict.fromkeys(finding_text(f, quality, lang) for f in quality.findings))


def quality_document(quality: EcgQuality) -> dict[str, Any]:
    """``quality`` as JSON-friendly values, each finding with its ``message_fr`` and ``message_en``.

    The stored results document (and the HPRIM body read from it) carries the nurse's words with each finding.

    Parameters
    ----------
    quality : EcgQuality
        The technical quality of one ECG.

    Returns
    -------
    dict
        :func:`~asalee_devices.jsonable.to_jsonable` of ``quality``, the messages added to every finding.
    """
    doc: dict[str, Any] = to_jsonable(quality)

    def words(finding: QualityFinding, item: dict[str, Any]) -> None:
        item["message_fr"], item["message_en"] = finding_texts(finding, quality)

    for f, item in zip(quality.findings, doc["findings"], strict=True):
        words(f, item)
    for lq, lead_doc in zip(quality.leads, doc["leads"], strict=True):
        for f, item in zip(lq.findings, lead_doc["findings"], strict=True):
            words(f, item)
    return doc
