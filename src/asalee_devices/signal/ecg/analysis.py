"""The one entry point of the ECG analysis: clean, assess quality, measure R peaks and heart rate.

Technical measurements only: the result never contains a rhythm label, an interpretation or a diagnosis.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np

from asalee_devices.errors import SignalError
from asalee_devices.signal.ecg.cleaning import clean_ecg
from asalee_devices.signal.ecg.quality import assess_quality, no_beats_finding
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgAnalysis, HeartRate
from asalee_devices.signal.ecg.rpeaks import heart_rate

#: Lowest sampling rate accepted for the diagnostic analysis (R peaks and cleaning still meaningful).
MIN_FS_HZ = 250.0
DIAGNOSTIC_FS_HZ = 500.0
_NOT_FOR_BEATS = ("lead_off", "flat", "saturation")


def analyze_ecg(recording: EcgRecording, *, mains_hz: float = 50.0, mode: Literal["adult", "child"] = "adult",
                resample_hz: float | None = None) -> EcgAnalysis:
    """Clean ``recording`` (diagnostic chain), assess its technical quality per lead and detect R peaks.

    Raises :class:`SignalError` for inputs that cannot give a trustworthy trace (sampling below 250 Hz, unknown
    mode or mains frequency); problems of the signal itself (electrode off, NaN runs, flat, noise) are reported in
    the quality verdict instead.
    """
    if mains_hz not in (50.0, 60.0):
        raise SignalError("Unsupported mains frequency", field="mains_hz", value=mains_hz, expected="50 or 60 Hz")
    if mode not in ("adult", "child"):
        raise SignalError("Unknown analysis mode", field="mode", value=mode, expected="adult or child")
    fs_out = resample_hz if resample_hz is not None else recording.fs_hz
    if recording.fs_hz < MIN_FS_HZ or fs_out < MIN_FS_HZ:
        raise SignalError("Sampling rate too low for a diagnostic ECG analysis", field="fs_hz",
                          value=min(recording.fs_hz, fs_out), expected=f">= {MIN_FS_HZ:g} Hz (500 Hz advised)")
    if recording.n_samples < 2:
        raise SignalError("Recording has no samples to analyse", field="n_samples", value=recording.n_samples,
                          expected="at least 1 s of signal")
    warnings: list[str] = []
    if fs_out < DIAGNOSTIC_FS_HZ:
        warnings.append(f"sampling rate {fs_out:g} Hz is below the 500 Hz advised for a resting 12-lead ECG")
    if recording.pacemaker:
        warnings.append("the device flags a pacemaker: pacing spikes may not be visible at this sampling rate")
    res = clean_ecg(recording, mains_hz=mains_hz, mode=mode, resample_hz=resample_hz)
    warnings.extend(res.warnings)
    cleaned = res.recording
    same = cleaned.fs_hz == recording.fs_hz
    base = clean_ecg(recording, mains_hz=mains_hz, mode=mode).recording if not same else cleaned
    pre = assess_quality(recording, base, mains_hz=mains_hz)
    usable = [k for k, lq in enumerate(pre.leads)
              if lq.connected and not any(f.code in _NOT_FOR_BEATS for f in lq.findings)]
    if not usable:
        usable = [k for k, lq in enumerate(pre.leads) if lq.connected]
    rows = [cleaned.leads.index(pre.leads[k].lead) for k in usable]
    if rows and cleaned.n_samples >= int(cleaned.fs_hz):
        heart = heart_rate(cleaned.samples_uv[rows], cleaned.fs_hz, [cleaned.leads[r] for r in rows])
    else:
        heart = HeartRate(r_peaks_s=np.zeros(0), rr_ms=np.zeros(0), heart_rate_bpm=None)
    quality = pre
    extra = no_beats_finding(recording, pre, int(heart.r_peaks_s.size), mains_hz)
    if extra is not None:
        quality = replace(pre, verdict="retake", findings=pre.findings + (extra,))
    return EcgAnalysis(raw=recording, cleaned=cleaned, quality=quality, heart=heart, warnings=tuple(warnings))
