"""Words of the ECG analysis' technical notes, by code (:data:`~asalee_devices.signal.ecg.results.NoteCode`).

Technical facts only ("hors interprétation"): no text describes the heart.
"""

from __future__ import annotations

from typing import Literal

from asalee_devices.signal.ecg.chain import Band
from asalee_devices.signal.ecg.results import NoteCode, TechnicalNote

Lang = Literal["fr", "en"]

NOTES: dict[NoteCode, dict[Lang, str]] = {
    "calibration_excluded": {
        "fr": "Signal d'étalonnage de l'appareil (1 mV) reconnu sur {seconds} s et exclu de l'analyse",
        "en": "Device calibration signal (1 mV) recognised over {seconds} s and left out of the analysis",
    },
    "calibration_whole_record": {
        "fr": "Le fichier ne contient que le signal d'étalonnage de l'appareil : aucun tracé ECG à analyser — "
              "refaire l'enregistrement",
        "en": "The file holds only the device's calibration signal: no ECG trace to analyse — record again",
    },
    "pacing_spikes_excluded": {
        "fr": "{count} impulsion(s) de stimulateur repérée(s), exclue(s) du repérage des complexes et de la "
              "qualité",
        "en": "{count} pacing spike(s) found, left out of beat detection and quality",
    },
    "pacemaker_flag_no_spikes": {
        "fr": "L'appareil signale un stimulateur cardiaque ; aucune impulsion visible dans le tracé "
              "(échantillonnage {fs_hz} Hz)",
        "en": "The device flags a pacemaker; no pacing spike visible in the trace (sampling {fs_hz} Hz)",
    },
    "device_rate_differs": {
        "fr": "FC mesurée {measured_bpm}/min, appareil {device_bpm}/min — vérifier le tracé",
        "en": "Measured HR {measured_bpm}/min, device {device_bpm}/min — check the trace",
    },
}


#: decimals of each value (None: as short as exact, ``g``)
_DECIMALS: dict[str, int | None] = {"seconds": 2, "count": 0, "fs_hz": None, "measured_bpm": 0, "device_bpm": 0}


def number(value: float, decimals: int | None, lang: Lang) -> str:
    """``value`` with ``decimals`` decimals (``g`` when None), decimal comma in French."""
    text = f"{value:g}" if decimals is None else f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "fr" else text


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
    low = "0" if band.low_hz is None else number(band.low_hz, 2 if band.low_hz < 1 else 0, lang)
    high = number(band.high_hz if band.high_hz is not None else band.nyquist_hz, 0, lang)
    mains = number(mains_hz, None, lang)
    if lang == "fr":
        filtered = "oui" if band.mains_filtered_hz else "non"
        return f"Bande passante : {low}–{high} Hz ; filtre secteur {mains} Hz : {filtered}"
    filtered = "yes" if band.mains_filtered_hz else "no"
    return f"Bandwidth: {low}–{high} Hz; {mains} Hz mains filter: {filtered}"
