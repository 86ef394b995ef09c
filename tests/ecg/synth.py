"""Synthetic ECG for the tests: a sum of Gaussian waves per beat (P, Q, R, S, T), 8 independent leads with
different gains and polarities, limb leads derived. Written for the tests, independent of the code under test."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from asalee_devices.signal.ecg.recording import EcgRecording, from_leads

#: (centre s after the R peak, width s, amplitude µV) of P, Q, R, S, T in a lead-II-like beat.
WAVES = ((-0.16, 0.025, 150.0), (-0.03, 0.010, -120.0), (0.0, 0.012, 1200.0), (0.03, 0.010, -300.0),
         (0.28, 0.050, 300.0))
#: Gain applied to the template per independent lead (negative = inverted polarity).
GAINS = {"I": 0.6, "II": 1.0, "V1": -0.8, "V2": -0.5, "V3": 0.7, "V4": 1.3, "V5": 1.1, "V6": 0.8}


def beat_times(duration_s: float, hr_bpm: float, start_s: float = 0.4) -> NDArray[np.float64]:
    rr = 60.0 / hr_bpm
    return np.arange(start_s, duration_s - 0.3, rr)


def template(t: NDArray[np.float64], beats: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.zeros_like(t)
    for b in beats:
        for c, w, a in WAVES:
            x += a * np.exp(-0.5 * ((t - b - c) / w) ** 2)
    return x


def synthetic_ecg(fs_hz: float = 500.0, duration_s: float = 10.0, hr_bpm: float = 72.0,
                  seed: int = 0, noise_uv: float = 3.0) -> EcgRecording:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration_s * fs_hz))) / fs_hz
    beats = beat_times(duration_s, hr_bpm)
    base = template(t, beats)
    leads = {name: g * base + noise_uv * rng.standard_normal(t.size) for name, g in GAINS.items()}
    return from_leads(leads, fs_hz)


def with_lead(rec: EcgRecording, name: str, values: NDArray[np.float64]) -> EcgRecording:
    """A copy of ``rec`` with the measured lead ``name`` replaced and the limb leads derived again."""
    leads = {n: rec.lead(n).copy() for n in rec.leads if n not in rec.derived_leads}
    leads[name] = values
    return from_leads(leads, rec.fs_hz)


def ecg_from_beats(beats: NDArray[np.float64], fs_hz: float = 500.0, duration_s: float = 10.0, seed: int = 0,
                   noise_uv: float = 3.0, beat_gains: NDArray[np.float64] | None = None,
                   gains: dict[str, float] | None = None, t_scale: float = 1.0,
                   waves: tuple[tuple[float, float, float], ...] = WAVES) -> EcgRecording:
    """Beats at the given times (s), each scaled by ``beat_gains`` (alternating amplitude...), leads scaled by
    ``gains`` (inverted or low-amplitude leads), the T wave by ``waves``; white noise of ``noise_uv`` RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration_s * fs_hz))) / fs_hz
    x = np.zeros_like(t)
    bg = np.ones(beats.size) if beat_gains is None else beat_gains
    for b, g in zip(beats, bg, strict=True):
        for c, w, a in waves:
            x += g * a * np.exp(-0.5 * ((t - b - c * t_scale) / (w * t_scale)) ** 2)
    leads = {name: gn * x + noise_uv * rng.standard_normal(t.size) for name, gn in (gains or GAINS).items()}
    return from_leads(leads, fs_hz)
