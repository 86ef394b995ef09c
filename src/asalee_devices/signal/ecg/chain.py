"""The filter chain of a trace as one system: the device's declared filters followed by ours.

Each step's magnitude response is modelled (a device filter declared by its cut-off only is taken as a first-order
analogue filter, -3 dB at the declared frequency, as IEC 60601-2-25 carts use; ours are computed from their actual
designs) and multiplied; the effective band is the pair of -3 dB points of the product relative to its largest
gain between 0.67 and 40 Hz. The cleaning chain uses :func:`plan_steps` to add a step only where it improves the chain:

- our 0.05 Hz baseline high-pass only when the device declares no high-pass (a device 0.05 Hz first-order
  high-pass followed by ours displaces the IEC 3 mV x 100 ms impulse by ~96 µV, at the 100 µV limit, for no gain);
- our 150 Hz (adult) / 250 Hz (child) low-pass only when the device declares no low-pass at or below it (two 150 Hz
  low-passes in a row put the chain's -3 dB point near 120 Hz, below what IEC 60601-2-25 asks of the system).

Pure numpy/scipy; codes and numbers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from asalee_devices.signal.filters import FilterStep

#: Frequencies at which the chain is evaluated (Hz), log-spaced.
_F = np.logspace(-3, np.log10(2000.0), 4000)
REFERENCE_HZ = 10.0
#: The -3 dB points are relative to the largest gain in this band (the IEC 60601-2-25 +/-10 % band, 0.67-40 Hz).
PASSBAND_HZ = (0.67, 40.0)


@dataclass(frozen=True)
class Band:
    """Effective -3 dB band of a chain; ``high_hz`` None when the chain stays above -3 dB up to Nyquist."""

    low_hz: float | None
    high_hz: float | None
    nyquist_hz: float
    mains_filtered_hz: float | None  # the mains frequency a notch or canceller removes, None when none


def _first_order(f: NDArray[np.float64], fc: float, high: bool) -> NDArray[np.float64]:
    r = f / fc
    out: NDArray[np.float64] = (r if high else np.ones_like(r)) / np.sqrt(1.0 + r * r)
    return out


def step_response(step: FilterStep, f: NDArray[np.float64], fs_hz: float) -> NDArray[np.float64]:
    """|H(f)| of one step (1 for steps that do not shape the band: resampling, mains removal)."""
    fc = step.cutoff_hz
    if fc is None or fc <= 0 or step.kind not in ("highpass", "lowpass"):
        return np.ones_like(f)
    if step.applied_by == "device":
        return _first_order(f, fc, step.kind == "highpass")
    if step.kind == "highpass":  # ours: 1 - |H_lp|^2 of a zero-phase Butterworth order 2 (complementary)
        order = step.order or 2
        lp2 = 1.0 / (1.0 + (f / fc) ** (2 * order))
        out: NDArray[np.float64] = np.abs(1.0 - lp2)
        return out
    # ours: zero-phase Butterworth low-pass, |H|^2 of its digital design
    from asalee_devices.signal.ecg.cleaning import _design_cutoff_for_zero_phase_lowpass

    order = step.order or 2
    design = _design_cutoff_for_zero_phase_lowpass(fc, order)
    if design >= fs_hz / 2:
        return np.ones_like(f)
    sos = signal.butter(order, design, btype="lowpass", fs=fs_hz, output="sos")
    inside = f < fs_hz / 2
    h = np.zeros_like(f)
    _, resp = signal.sosfreqz(sos, worN=f[inside], fs=fs_hz)
    h[inside] = np.abs(resp) ** 2
    return h


def chain_band(steps: Sequence[FilterStep], fs_hz: float) -> Band:
    """The -3 dB points of ``steps`` applied one after the other at ``fs_hz``."""
    nyq = fs_hz / 2
    f = _F[_F < nyq]
    h = np.ones_like(f)
    for s in steps:
        h = h * step_response(s, f, fs_hz)
    mid = (f >= PASSBAND_HZ[0]) & (f <= PASSBAND_HZ[1])
    ref = float(h[mid].max()) if mid.any() else float(np.interp(REFERENCE_HZ, f, h))
    db = 20 * np.log10(np.maximum(h, 1e-12) / max(ref, 1e-12))
    below = db <= -3.0103
    lo_side = np.flatnonzero(below & (f < REFERENCE_HZ))
    hi_side = np.flatnonzero(below & (f > REFERENCE_HZ))
    low = _crossing(f, db, int(lo_side[-1]), up=True) if lo_side.size else None
    high = _crossing(f, db, int(hi_side[0]), up=False) if hi_side.size else None
    mains = next((s.cutoff_hz for s in steps if s.kind in ("notch", "mains_canceller")), None)
    return Band(low, high, nyq, mains)


def _crossing(f: NDArray[np.float64], db: NDArray[np.float64], k: int, up: bool) -> float:
    """The -3 dB frequency between grid points k and its neighbour (log-linear interpolation)."""
    j = k + 1 if up else k - 1
    if not 0 <= j < f.size:
        return float(f[k])
    a, b = db[k], db[j]
    t = (-3.0103 - a) / (b - a) if b != a else 0.0
    return float(np.exp(np.log(f[k]) + t * (np.log(f[j]) - np.log(f[k]))))


def plan_steps(device: Sequence[FilterStep], lowpass_hz: float) -> tuple[bool, bool]:
    """(apply our baseline high-pass, apply our low-pass at ``lowpass_hz``) given the device's declared filters."""
    dev_hp = any(s.kind in ("highpass", "bandpass") and s.cutoff_hz for s in device)
    dev_lp = [s.cutoff_high_hz if s.kind == "bandpass" else s.cutoff_hz for s in device
              if s.kind in ("lowpass", "bandpass")]
    has_lp = any(v is not None and 0 < v <= lowpass_hz for v in dev_lp)
    return not dev_hp, not has_lp
