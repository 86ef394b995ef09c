"""The filter chain of a trace as one system: the device's declared filters followed by ours.

Each step's magnitude response is modelled (a device filter declared by its cut-off only is taken as a first-order
analogue filter, -3 dB at the declared frequency, as IEC 60601-2-25 carts use; ours are computed from their actual
designs) and multiplied; the effective band is the pair of -3 dB points of the product relative to its largest
gain between 0.67 and 40 Hz. The cleaning chain uses :func:`plan_steps` to add a step only where it improves the chain:

- our 0.05 Hz baseline high-pass only when the device declares no high-pass (a device 0.05 Hz first-order
  high-pass followed by ours displaces the IEC 3 mV x 100 ms impulse by ~96 µV, at the 100 µV limit, for no gain);
- our 150 Hz (adult) / 250 Hz (child) low-pass only when the device declares no low-pass at or below it (two 150 Hz
  low-passes in a row put the chain at -3.9 dB at 150 Hz, below what IEC 60601-2-25 asks of the system), designed
  with the device's low-pass so that the whole chain's -3 dB point is just above the corner;
- a device high-pass above 0.05 Hz (up to 1 Hz, e.g. 0.5 Hz) is undone into a 0.05 Hz first-order one, taking the
  declared filter as first order (as IEC 60601-2-25 carts build it): the chain then passes the IEC impulse test
  (~93 µV) instead of displacing the impulse by ~0.9 mV.

Pure numpy/scipy; codes and numbers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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
    """|H(f)| of one step (1 for steps that do not shape the band: resampling, mains removal).

    Parameters
    ----------
    step : FilterStep
        One filtering step (its kind, cut-offs in Hz, order, phase).
    f : ndarray of float
        Frequencies (Hz).
    fs_hz : float
        Sampling rate the step runs at (Hz).

    Returns
    -------
    ndarray of float
        The magnitude response at ``f`` (linear, 1 = 0 dB).
    """
    fc = step.cutoff_hz
    if fc is None or fc <= 0 or step.kind not in ("highpass", "lowpass"):
        return np.ones_like(f)
    if step.applied_by == "device":
        return _first_order(f, fc, step.kind == "highpass")
    if step.restores_hz:  # ours, causal first-order shelf undoing a device high-pass: (s + wd) / (s + w0)
        out0: NDArray[np.float64] = np.hypot(f, step.restores_hz) / np.hypot(f, fc)
        return out0
    if step.kind == "highpass":  # ours: 1 - |H_lp|^2 of a zero-phase Butterworth order 2 (complementary)
        order = step.order or 2
        lp2 = 1.0 / (1.0 + (f / fc) ** (2 * order))
        out: NDArray[np.float64] = np.abs(1.0 - lp2)
        return out
    # ours: zero-phase Butterworth low-pass, |H|^2 of its digital design
    order = step.order or 2
    design = step.design_hz or fc
    if design >= fs_hz / 2:
        return np.ones_like(f)
    sos = signal.butter(order, design, btype="lowpass", fs=fs_hz, output="sos")
    inside = f < fs_hz / 2
    h = np.zeros_like(f)
    _, resp = signal.sosfreqz(sos, worN=f[inside], fs=fs_hz)
    h[inside] = np.abs(resp) ** 2
    return h


def chain_band(steps: Sequence[FilterStep], fs_hz: float) -> Band:
    """The -3 dB points of ``steps`` applied one after the other at ``fs_hz``.

    Parameters
    ----------
    steps : sequence of FilterStep
        The device's and our steps, in the order applied.
    fs_hz : float
        Sampling rate (Hz).

    Returns
    -------
    Band
        Low and high -3 dB points (Hz; None when the chain has none), Nyquist, and the mains filter applied.
    """
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


#: Our low-pass is designed so that the whole chain loses this much at its nominal corner (150 Hz adults): the chain's
#: -3 dB point lands just above the corner, never below.
CORNER_LOSS_DB = -2.9


@lru_cache(maxsize=64)
def lowpass_design_hz(fs_hz: float, corner_hz: float, device_lowpass_hz: tuple[float, ...] = (),
                      order: int = 2) -> float | None:
    """Design cut-off of our zero-phase Butterworth low-pass such that the chain (the device's declared
    first-order low-passes, then ours) loses :data:`CORNER_LOSS_DB` at ``corner_hz``; None when the sampling rate
    leaves no room for it (design above 0.8 x Nyquist) or the device already loses more there.

    Parameters
    ----------
    fs_hz : float
        Sampling rate (Hz).
    corner_hz : float
        Where the whole chain must be down by ``CORNER_LOSS_DB`` (Hz).
    device_lowpass_hz : tuple of float, optional
        Cut-offs of the device's declared first-order low-passes (Hz).
    order : int, optional
        Butterworth design order (applied forward-backward).

    Returns
    -------
    float or None
        The design cut-off (Hz), or None.
    """
    nyq = fs_hz / 2
    f = np.array([REFERENCE_HZ, corner_hz])
    dev = np.ones(2)
    for fc in device_lowpass_hz:
        dev = dev * _first_order(f, fc, high=False)
    want = 10 ** (CORNER_LOSS_DB / 20)

    def gain(design: float) -> float:
        sos = signal.butter(order, design, btype="lowpass", fs=fs_hz, output="sos")
        _, h = signal.sosfreqz(sos, worN=f, fs=fs_hz)
        g = np.abs(h) ** 2 * dev
        return float(g[1] / g[0])

    lo, hi = 0.5 * corner_hz, 0.8 * nyq
    if corner_hz >= hi or gain(hi) < want:
        return None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if gain(mid) < want:
            lo = mid
        else:
            hi = mid
    return hi


#: A device high-pass above the diagnostic 0.05 Hz and up to this (Hz) is undone to 0.05 Hz first order: a 0.5 Hz
#: first-order high-pass displaces the IEC impulse by ~0.9 mV, nine times the limit.
RESTORE_MAX_HZ = 1.0
RESTORE_TO_HZ = 0.05


def restoration_hz(device: Sequence[FilterStep]) -> float | None:
    """The device's high-pass cut-off to undo (see :data:`RESTORE_MAX_HZ`), or None.

    Parameters
    ----------
    device : sequence of FilterStep
        The device's declared filters.

    Returns
    -------
    float or None
        The high-pass cut-off to undo (Hz).
    """
    hps = [s.cutoff_hz for s in device if s.kind == "highpass" and s.cutoff_hz]
    if len(hps) != 1:
        return None
    fd = float(hps[0])
    return fd if RESTORE_TO_HZ < fd <= RESTORE_MAX_HZ else None


def restore_highpass(x: NDArray[np.float64], fs_hz: float, device_hz: float,
                     to_hz: float = RESTORE_TO_HZ) -> NDArray[np.float64]:
    """Undo a first-order high-pass at ``device_hz`` into one at ``to_hz``: the causal shelf
    (s + 2 pi device_hz) / (s + 2 pi to_hz), bilinear at ``fs_hz``, from rest at each row's first 200-ms median.

    Parameters
    ----------
    x : ndarray of float
        Samples, leads x samples (µV).
    fs_hz : float
        Sampling rate (Hz).
    device_hz : float
        Cut-off of the device's first-order high-pass (Hz).
    to_hz : float, optional
        Cut-off of the first-order high-pass the result has (Hz).

    Returns
    -------
    ndarray of float
        The restored samples (µV), same shape.
    """
    b, a = signal.bilinear([1.0, 2 * np.pi * device_hz], [1.0, 2 * np.pi * to_hz], fs=fs_hz)
    edge = max(1, int(0.2 * fs_hz))
    x0 = np.median(x[:, :edge], axis=-1, keepdims=True)
    out: NDArray[np.float64] = signal.lfilter(b, a, x - x0, axis=-1)
    return out


def plan_steps(device: Sequence[FilterStep], lowpass_hz: float) -> tuple[bool, bool]:
    """(apply our baseline high-pass, apply our low-pass at ``lowpass_hz``) given the device's declared filters.

    Parameters
    ----------
    device : sequence of FilterStep
        The device's declared filters.
    lowpass_hz : float
        Corner of our low-pass (Hz).

    Returns
    -------
    tuple of (bool, bool)
        Whether to apply our baseline high-pass, and our low-pass.
    """
    dev_hp = any(s.kind in ("highpass", "bandpass") and s.cutoff_hz for s in device)
    dev_lp = [s.cutoff_high_hz if s.kind == "bandpass" else s.cutoff_hz for s in device
              if s.kind in ("lowpass", "bandpass")]
    has_lp = any(v is not None and 0 < v <= lowpass_hz for v in dev_lp)
    return not dev_hp, not has_lp
