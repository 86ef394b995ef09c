"""Result types of the ECG analysis (the contract between ``signal/ecg`` and its consumers: FHIR, reports, CLI).

These are technical measurements only: signal quality with the technical cause and the nurse's action, R-peak
times, RR intervals and heart rate. No rhythm label, interpretation or diagnosis is ever represented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.segments import NonEcgSegment


class QualityCode(StrEnum):
    """Codes of the technical quality findings (stable: used in JSON, FHIR and the web app; the words are in
    :mod:`asalee_devices.messages.ecg`)."""

    LEAD_OFF = "lead_off"  # electrode disconnected / lead missing
    FLAT = "flat"  # flat line
    SATURATION = "saturation"  # clipping at the ADC range
    BASELINE_WANDER = "baseline_wander"  # unstable baseline (breathing, movement)
    MAINS = "mains"  # 50/60 Hz interference
    MUSCLE_NOISE = "muscle_noise"  # high-frequency (EMG) noise
    AMPLITUDE = "amplitude"  # amplitude out of the physiological range
    INCONSISTENT = "inconsistent"  # inter-lead consistency (Einthoven) violated
    TOO_SHORT = "too_short"  # record too short for a diagnostic 10-s trace
    NO_BEATS = "no_beats"  # no R peak could be detected


class Verdict(StrEnum):
    """The overall technical verdict of an ECG."""

    ACCEPTABLE = "acceptable"
    RETAKE = "retake"  # retake advised


@dataclass(frozen=True)
class QualityFinding:
    """One technical finding on one lead (or on the whole record when ``lead`` is None).

    ``indicator`` is the numeric measure compared with ``threshold`` (both in ``unit``), so that the decision can
    be audited; ``blocking`` findings make the overall verdict "retake advised". A finding holds no sentence: the
    nurse's message is rendered from the code, the leads and electrodes of every finding of that code in the
    :class:`EcgQuality`, and its ``mains_hz`` (:func:`asalee_devices.messages.ecg.finding_text`).
    """

    code: QualityCode
    lead: str | None
    indicator: float
    threshold: float
    unit: str
    blocking: bool = True
    #: electrodes (RA, LA, LL, RL, V1..V6) the pattern of affected leads points to, for electrode findings
    electrodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeadQuality:
    """Quality indicators of one lead (all always computed, findings list what exceeded a threshold)."""

    lead: str
    connected: bool
    peak_to_peak_uv: float
    baseline_wander_uv: float
    mains_fraction: float
    hf_noise_uv: float
    saturated_fraction: float
    findings: tuple[QualityFinding, ...] = ()


@dataclass(frozen=True)
class EcgQuality:
    """The overall technical verdict: ``acceptable`` or ``retake`` (retake advised), with the reasons."""

    verdict: Verdict
    leads: tuple[LeadQuality, ...]
    findings: tuple[QualityFinding, ...]
    mains_hz: float

    @property
    def acceptable(self) -> bool:
        """True when the verdict is :attr:`Verdict.ACCEPTABLE`."""
        return self.verdict == Verdict.ACCEPTABLE


@dataclass(frozen=True, eq=False)
class HeartRate:
    """R-peak measurements: times in seconds from the start of the record, RR in ms, mean rate in beats/min."""

    r_peaks_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    heart_rate_bpm: float | None
    rr_min_ms: float | None = None
    rr_max_ms: float | None = None
    rr_sd_ms: float | None = None
    leads_used: tuple[str, ...] = ()


class NoteCode(StrEnum):
    """Codes of the technical notes of an analysis (the words are in :mod:`asalee_devices.messages.ecg`)."""

    CALIBRATION_EXCLUDED = "calibration_excluded"  # the cart's calibration signal recognised, left out
    CALIBRATION_WHOLE_RECORD = "calibration_whole_record"  # the record holds nothing but the calibration signal
    PACING_SPIKES_EXCLUDED = "pacing_spikes_excluded"  # pacemaker spikes bridged before beats and quality
    PACEMAKER_FLAG_NO_SPIKES = "pacemaker_flag_no_spikes"  # the device flags a pacemaker, no spike visible
    DEVICE_RATE_DIFFERS = "device_rate_differs"  # our rate differs from the cart's by more than 5/min


@dataclass(frozen=True)
class TechnicalNote:
    """A technical fact about the analysis, for the nurse or (``for_gp``) the GP: a code and its values (never a
    sentence; never about the heart)."""

    code: NoteCode
    values: tuple[tuple[str, float], ...] = ()
    for_gp: bool = False

    def value(self, key: str) -> float | None:
        """One value of the note by name.

        Parameters
        ----------
        key : str
            The value's name (``"seconds"``, ``"count"``, ``"fs_hz"``...).

        Returns
        -------
        float or None
            The value (in the unit its name says), None when the note has none by that name.
        """
        return dict(self.values).get(key)


class WarningCode(StrEnum):
    """Codes of the analysis' technical warnings (the words are in :mod:`asalee_devices.messages.ecg`)."""

    LOW_SAMPLING_RATE = "low_sampling_rate"  # below the 500 Hz advised for a resting 12-lead ECG
    PACING_SPIKES_MAY_BE_HIDDEN = "pacing_spikes_may_be_hidden"  # pacemaker flagged, rate too low to see spikes
    LOWPASS_SKIPPED = "lowpass_skipped"  # the sampling rate already limits the band
    MAINS_SKIPPED_DEVICE_FILTER = "mains_skipped_device_filter"  # the device already applied a mains filter


@dataclass(frozen=True)
class AnalysisWarning:
    """A technical warning about the analysis: a code and its values (``fs_hz``, ``cutoff_hz``, in Hz)."""

    code: WarningCode
    values: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, eq=False)
class EcgAnalysis:
    """Everything the ECG analysis produces for one recording.

    ``raw`` is the recording as acquired (never modified); ``cleaned`` carries the steps the cleaning chain applied
    in ``cleaned.applied_filters`` (type, cut-off, order), which FHIR and the report state verbatim.
    """

    raw: EcgRecording
    cleaned: EcgRecording
    quality: EcgQuality
    heart: HeartRate
    warnings: tuple[AnalysisWarning, ...] = field(default=())
    #: parts of the recording that are not ECG (sample indices of ``raw``), left out of beats and quality
    non_ecg: tuple[NonEcgSegment, ...] = field(default=())
    notes: tuple[TechnicalNote, ...] = field(default=())
    #: the heart rate the device stored in the file, when it did (compared with ours)
    device_heart_rate_bpm: float | None = None
    #: pacing spikes found (sample indices of ``raw``), bridged before beat detection and quality
    pacing_spikes: tuple[int, ...] = field(default=())

    @property
    def heart_rate_bpm(self) -> float | None:
        return self.heart.heart_rate_bpm
