"""The one entry point of the ECG analysis: clean, assess quality, measure R peaks and heart rate.

Technical measurements only: the result never contains a rhythm label, an interpretation or a diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from asalee_devices.errors import SignalError
from asalee_devices.signal.ecg.cleaning import clean_ecg
from asalee_devices.signal.ecg.quality import assess_quality, no_beats_finding
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgAnalysis, HeartRate, TechnicalNote
from asalee_devices.signal.ecg.rpeaks import heart_rate
from asalee_devices.signal.ecg.segments import (
    NonEcgSegment,
    bridge,
    ecg_span,
    find_calibration,
    find_pacing_spikes,
)

#: Lowest sampling rate accepted for the diagnostic analysis (R peaks and cleaning still meaningful).
MIN_FS_HZ = 250.0
DIAGNOSTIC_FS_HZ = 500.0
_NOT_FOR_BEATS = ("lead_off", "flat", "saturation")


#: A difference between our heart rate and the device's larger than this is a technical note for the GP (/min).
DEVICE_RATE_TOLERANCE_BPM = 5.0


def _crop(rec: EcgRecording, a: int, b: int) -> EcgRecording:
    if a == 0 and b == rec.n_samples:
        return rec
    return replace(rec, samples_uv=rec.samples_uv[:, a:b],
                   lead_off=None if rec.lead_off is None else rec.lead_off[:, a:b],
                   gaps=tuple((max(0, g0 - a), min(b - a, g1 - a)) for g0, g1 in rec.gaps if g1 > a and g0 < b))


def _merge(declared: Sequence[NonEcgSegment], found: Sequence[NonEcgSegment], n: int) -> tuple[NonEcgSegment, ...]:
    """Declared segments first; a detected one overlapping a declared one is dropped."""
    out = [s for s in declared if 0 <= s.start < s.stop <= n]
    for s in found:
        if all(s.stop <= d.start or s.start >= d.stop for d in out):
            out.append(s)
    return tuple(sorted(out, key=lambda s: s.start))


def analyze_ecg(recording: EcgRecording, *, mains_hz: float = 50.0, mode: Literal["adult", "child"] = "adult",
                resample_hz: float | None = None, device_heart_rate_bpm: float | None = None,
                declared_segments: Sequence[NonEcgSegment] = ()) -> EcgAnalysis:
    """Clean ``recording`` (diagnostic chain), assess its technical quality per lead and detect R peaks.

    The parts that are not ECG (the cart's calibration signal, declared or recognised; pacing spikes) are left out
    of the beats and of the quality, and recorded in the result. ``device_heart_rate_bpm``, the rate the device
    stored in its file, is compared with ours.

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
    notes: list[TechnicalNote] = []
    if fs_out < DIAGNOSTIC_FS_HZ:
        warnings.append(f"sampling rate {fs_out:g} Hz is below the 500 Hz advised for a resting 12-lead ECG")
    fs, n = recording.fs_hz, recording.n_samples
    # on the measured leads: a lead derived from two pulsed leads pulses by 0, 500 or 1000 µV
    measured = [k for k, name in enumerate(recording.leads) if name not in recording.derived_leads]
    found = find_calibration(recording.samples_uv[measured or slice(None)], fs, recording.resolution_uv)
    segments = _merge(declared_segments, found, n)
    a, b = ecg_span(n, segments)
    if segments:
        covered = float(sum(s.stop - s.start for s in segments)) / fs
        notes.append(TechnicalNote("calibration_whole_record" if b - a < int(fs) else "calibration_excluded",
                                   (("seconds", round(covered, 3)), ("count", float(len(segments))))))
    part = _crop(recording, a, b) if b - a >= int(fs) else recording
    spikes = find_pacing_spikes(part.samples_uv if part.lead_off is None  # an electrode coming off is no spike
                                else np.where(part.lead_off, np.nan, part.samples_uv), fs)
    as_recorded = part
    if spikes.size:
        part = replace(part, samples_uv=bridge(part.samples_uv, spikes, fs))
        notes.append(TechnicalNote("pacing_spikes_excluded", (("count", float(spikes.size)),), for_gp=True))
    elif recording.pacemaker:
        notes.append(TechnicalNote("pacemaker_flag_no_spikes", (("fs_hz", fs),), for_gp=True))
        warnings.append("the device flags a pacemaker: pacing spikes may not be visible at this sampling rate")
    res = clean_ecg(part, mains_hz=mains_hz, mode=mode, resample_hz=resample_hz)
    warnings.extend(res.warnings)
    cleaned_part = res.recording
    same = cleaned_part.fs_hz == part.fs_hz
    base = clean_ecg(part, mains_hz=mains_hz, mode=mode).recording if not same else cleaned_part
    pre = assess_quality(part, base, mains_hz=mains_hz)
    usable = [k for k, lq in enumerate(pre.leads)
              if lq.connected and not any(f.code in _NOT_FOR_BEATS for f in lq.findings)]
    if not usable:
        usable = [k for k, lq in enumerate(pre.leads) if lq.connected]
    rows = [cleaned_part.leads.index(pre.leads[k].lead) for k in usable]
    whole_calibration = bool(segments) and b - a < int(fs)
    if rows and cleaned_part.n_samples >= int(cleaned_part.fs_hz) and not whole_calibration:
        heart = heart_rate(cleaned_part.samples_uv[rows], cleaned_part.fs_hz, [cleaned_part.leads[r] for r in rows])
        if part is not recording and a:
            heart = replace(heart, r_peaks_s=heart.r_peaks_s + a / fs)
    else:
        heart = HeartRate(r_peaks_s=np.zeros(0), rr_ms=np.zeros(0), heart_rate_bpm=None)
    quality = pre
    extra = no_beats_finding(part, pre, int(heart.r_peaks_s.size), mains_hz)
    if extra is not None:
        quality = replace(pre, verdict="retake", findings=pre.findings + (extra,))
    if (device_heart_rate_bpm is not None and heart.heart_rate_bpm is not None
            and abs(heart.heart_rate_bpm - device_heart_rate_bpm) > DEVICE_RATE_TOLERANCE_BPM):
        notes.append(TechnicalNote("device_rate_differs", (("measured_bpm", round(heart.heart_rate_bpm, 1)),
                                                           ("device_bpm", float(device_heart_rate_bpm))),
                                   for_gp=True))
    if spikes.size:  # the printed trace keeps the spikes (bridged only for the beats and the quality)
        # with the mains decision taken on the bridged trace (a spike's broadband power is not mains)
        mains_mode: Literal["on", "off"] = "on" if any(
            s.kind == "mains_canceller" for s in cleaned_part.applied_filters) else "off"
        cleaned_part = clean_ecg(as_recorded, mains_hz=mains_hz, mode=mode, resample_hz=resample_hz,
                                 mains=mains_mode).recording
    cleaned = _reassemble(recording, cleaned_part, a, b) if as_recorded is not recording else cleaned_part
    return EcgAnalysis(raw=recording, cleaned=cleaned, quality=quality, heart=heart, warnings=tuple(warnings),
                       non_ecg=segments, notes=tuple(notes), device_heart_rate_bpm=device_heart_rate_bpm,
                       pacing_spikes=tuple(int(t) + (a if as_recorded is not recording else 0)
                                           for t in spikes.tolist()))


def _reassemble(raw: EcgRecording, cleaned_part: EcgRecording, a: int, b: int) -> EcgRecording:
    """The full-length cleaned recording: the cleaned ECG part, the non-ECG parts as the device stored them (the
    calibration signal is printed as it is). With resampling, the cleaned part alone."""
    if cleaned_part.fs_hz != raw.fs_hz or cleaned_part.n_samples != b - a:
        return cleaned_part
    x = raw.samples_uv.copy()
    x[:, a:b] = cleaned_part.samples_uv
    return replace(cleaned_part, samples_uv=x, lead_off=raw.lead_off, gaps=raw.gaps)
