"""Mains (50/60 Hz) interference: measure it, and cancel it when present.

The canceller is an adaptive sinusoid canceller: the mains frequency is estimated on the record (the French grid
drifts by about +/-0.2 Hz), then the fundamental and its harmonics up to 250 Hz (and 0.45 fs) are fitted by least squares in
overlapping 1-s blocks and subtracted with coefficients interpolated between block centres. It removes only a
~1 Hz-wide band around each harmonic and leaves the rest of the ECG band untouched (no ringing notch on QRS edges).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import SignalError
from asalee_devices.signal.filters import FilterStep

#: Mains fraction (share of the 0.5-150 Hz power within mains_hz +/- 1 Hz) above which the canceller runs.
CANCEL_FRACTION = 0.005
#: Highest harmonic frequency cancelled (the paediatric band ends at 250 Hz; also below 0.45 x the sampling rate).
MAX_HARMONIC_HZ = 250.0
BLOCK_S = 1.0
#: ... and whose density exceeds PROMINENCE x the neighbouring bands (a line, not broadband noise).
PROMINENCE = 10.0


class MainsOutcome(StrEnum):
    """What :func:`cancel_mains` did, and why."""

    DEVICE_FILTERED = "device_filtered"  # the device already applied a mains filter
    SAMPLING_TOO_LOW = "sampling_too_low"  # mains + 1 Hz at or above Nyquist
    NO_VALID_LEAD = "no_valid_lead"  # no finite lead, or a record shorter than 1 s
    ABSENT = "absent"  # no mains interference above the threshold
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class MainsResult:
    """Outcome of :func:`cancel_mains`: the samples, the step applied (None when skipped), what was done and the
    largest mains fraction measured (0-1; None when not measured)."""

    samples_uv: NDArray[np.float64]
    step: FilterStep | None
    frequency_hz: float | None
    reason: MainsOutcome
    largest_fraction: float | None = None


def _check_mains(mains_hz: float) -> None:
    if mains_hz not in (50.0, 60.0):
        raise SignalError("Unsupported mains frequency", field="mains_hz", value=mains_hz, expected="50 or 60 Hz")


def _spectra(x2: NDArray[np.float64], fs_hz: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = x2.shape[-1]
    z = np.fft.rfft((x2 - x2.mean(axis=-1, keepdims=True)) * _hann(n), axis=-1)
    spec: NDArray[np.float64] = z.real ** 2 + z.imag ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / fs_hz).astype(np.float64)
    return freqs, spec


@lru_cache(maxsize=16)
def _hann(n: int) -> NDArray[np.float64]:
    return np.hanning(n)


def mains_fraction(x: NDArray[np.float64], fs_hz: float, mains_hz: float = 50.0) -> NDArray[np.float64]:
    """Share of the 0.5-150 Hz power that lies within ``mains_hz`` +/- 1 Hz, per row of ``x`` (Hann-windowed
    periodogram). Rows must be finite (fill gaps first). Returns values in [0, 1].

    Parameters
    ----------
    x : ndarray of float
        Samples, rows x samples (µV), finite.
    fs_hz : float
        Sampling rate (Hz).
    mains_hz : float, optional
        Nominal mains frequency (Hz): 50 or 60.

    Returns
    -------
    ndarray of float
        One fraction per row, in [0, 1].
    """
    _check_mains(mains_hz)
    x2 = np.atleast_2d(x)
    if x2.shape[-1] < int(fs_hz) or mains_hz + 1.0 >= fs_hz / 2:
        return np.zeros(x2.shape[0])
    f, spec = _spectra(x2, fs_hz)
    return _fraction(f, spec, mains_hz, fs_hz)


def _fraction(f: NDArray[np.float64], spec: NDArray[np.float64], mains_hz: float,
              fs_hz: float) -> NDArray[np.float64]:
    band = (f >= 0.5) & (f <= min(150.0, fs_hz / 2))
    near = (f >= mains_hz - 1.0) & (f <= mains_hz + 1.0)
    total = spec[:, band].sum(axis=-1)
    part = spec[:, near].sum(axis=-1)
    out: NDArray[np.float64] = np.where(total > 0, part / np.where(total > 0, total, 1.0), 0.0)
    return out


def mains_prominence(x: NDArray[np.float64], fs_hz: float, mains_hz: float = 50.0) -> NDArray[np.float64]:
    """Mean power density within ``mains_hz`` +/- 1 Hz divided by the median density of the neighbouring
    bands (mains +/- 2 to 8 Hz), per row: about 1 for broadband noise or a clean ECG, >> 1 for a mains line.

    Parameters
    ----------
    x : ndarray of float
        Samples, rows x samples (µV), finite.
    fs_hz : float
        Sampling rate (Hz).
    mains_hz : float, optional
        Nominal mains frequency (Hz): 50 or 60.

    Returns
    -------
    ndarray of float
        One ratio per row (dimensionless).
    """
    x2 = np.atleast_2d(x)
    if x2.shape[-1] < int(fs_hz) or mains_hz + 8.0 >= fs_hz / 2:
        return np.ones(x2.shape[0])
    f, spec = _spectra(x2, fs_hz)
    return _prominence(f, spec, mains_hz)


def _prominence(f: NDArray[np.float64], spec: NDArray[np.float64], mains_hz: float) -> NDArray[np.float64]:
    near = (f >= mains_hz - 1.0) & (f <= mains_hz + 1.0)
    d = np.abs(f - mains_hz)
    side = (d >= 2.0) & (d <= 8.0)
    floor = np.median(spec[:, side], axis=-1)
    peak = spec[:, near].mean(axis=-1)
    out: NDArray[np.float64] = peak / np.maximum(floor, 1e-30)
    return out


def estimate_frequency(x: NDArray[np.float64], fs_hz: float, mains_hz: float) -> float:
    """Mains frequency (Hz) near nominal, from the 1-D trace ``x``: complex demodulation at the nominal frequency,
    phasors of 0.25-s blocks, mean phase advance between blocks (unambiguous within +/-2 Hz).

    Parameters
    ----------
    x : ndarray of float
        One lead's samples (µV), finite.
    fs_hz : float
        Sampling rate (Hz).
    mains_hz : float
        Nominal mains frequency (Hz).

    Returns
    -------
    float
        The estimated frequency (Hz).
    """
    n = x.shape[-1]
    block = max(1, int(round(0.25 * fs_hz)))
    nb = n // block
    if nb < 2:
        return mains_hz
    t = np.arange(nb * block) / fs_hz
    z = (x[:nb * block] - x.mean()) * np.exp(-2j * np.pi * mains_hz * t)
    ph = z.reshape(nb, block).sum(axis=-1)
    adv = ph[1:] * np.conj(ph[:-1])
    return float(mains_hz + np.angle(adv.sum()) / (2 * np.pi * block / fs_hz))


def sinusoid_canceller(x: NDArray[np.float64], fs_hz: float, frequency_hz: float,
                       max_harmonic_hz: float = MAX_HARMONIC_HZ, block_s: float = BLOCK_S) -> NDArray[np.float64]:
    """Subtract the fundamental ``frequency_hz`` and its harmonics (<= ``max_harmonic_hz`` and < Nyquist) fitted by
    least squares in 50 %-overlapping blocks, all rows at once. Returns a new array.

    Parameters
    ----------
    x : ndarray of float
        Samples, rows x samples (µV), finite.
    fs_hz : float
        Sampling rate (Hz).
    frequency_hz : float
        Fundamental to cancel (Hz).
    max_harmonic_hz : float, optional
        Highest harmonic cancelled (Hz).
    block_s : float, optional
        Length of the fitting blocks (s).

    Returns
    -------
    ndarray of float
        The samples without the fitted sinusoids (µV).
    """
    x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x2.shape[-1]
    harmonics = [k * frequency_hz for k in range(1, 10)
                 if k * frequency_hz <= max_harmonic_hz + 2.0 and k * frequency_hz < 0.45 * fs_hz]
    if not harmonics or n < 8:
        return x2.copy()
    t = np.arange(n) / fs_hz
    ph = 2 * np.pi * np.outer(harmonics, t)
    basis = np.vstack([np.cos(ph), np.sin(ph)])  # (2H, n)
    block = max(int(round(block_s * fs_hz)), 4 * len(harmonics) + 4)
    if block >= n:
        coef, *_ = np.linalg.lstsq(basis.T, x2.T, rcond=None)  # (2H, rows)
        fit: NDArray[np.float64] = (basis.T @ coef).T
        return x2 - fit
    hop = block // 2
    starts = list(range(0, n - block + 1, hop))
    if starts[-1] != n - block:
        starts.append(n - block)
    centres = np.array([s + block / 2.0 for s in starts])
    coefs = np.empty((len(starts), basis.shape[0], x2.shape[0]))
    for j, s in enumerate(starts):
        b = basis[:, s:s + block]
        coefs[j] = np.linalg.solve(b @ b.T, b @ x2[:, s:s + block].T)
    # Linear interpolation of the coefficients between block centres, linear extrapolation over the half block
    # before the first / after the last centre (follows a slightly off frequency up to the record ends).
    pos = np.clip(np.searchsorted(centres, np.arange(n), side="right") - 1, 0, len(centres) - 2)
    nxt = pos + 1
    w = (np.arange(n) - centres[pos]) / (centres[nxt] - centres[pos])
    # fit[r, n] = sum_k basis[k, n] * ((1 - w[n]) coefs[pos[n], k, r] + w[n] coefs[nxt[n], k, r])
    fit = (np.einsum("kn,nkr->rn", basis * (1 - w), coefs[pos]) + np.einsum("kn,nkr->rn", basis * w, coefs[nxt]))
    out: NDArray[np.float64] = x2 - fit
    return out


def cancel_mains(x: NDArray[np.float64], fs_hz: float, mains_hz: float = 50.0, *,
                 device_notched: bool = False, force: bool = False,
                 threshold: float = CANCEL_FRACTION) -> MainsResult:
    """Cancel mains interference in the finite rows of ``x`` when it is present (largest mains fraction above
    ``threshold``) and the device has not already notched it; ``force`` skips the presence test.

    Parameters
    ----------
    x : ndarray of float
        Samples, rows x samples (µV); rows with NaN are left as they are.
    fs_hz : float
        Sampling rate (Hz).
    mains_hz : float, optional
        Nominal mains frequency (Hz): 50 or 60.
    device_notched : bool, optional
        The device already applied a mains filter.
    force : bool, optional
        Cancel even when no interference is detected.
    threshold : float, optional
        Mains fraction (0-1) above which interference is present.

    Returns
    -------
    MainsResult
        The samples, the step applied (None when skipped), the frequency (Hz), the outcome code and the largest
        fraction measured.
    """
    _check_mains(mains_hz)
    x2 = np.atleast_2d(x)
    if device_notched and not force:
        return MainsResult(x2, None, None, MainsOutcome.DEVICE_FILTERED)
    if mains_hz + 1.0 >= fs_hz / 2:
        return MainsResult(x2, None, None, MainsOutcome.SAMPLING_TOO_LOW)
    rows = np.all(np.isfinite(x2), axis=-1)
    if not np.any(rows) or x2.shape[-1] < int(fs_hz):
        return MainsResult(x2, None, None, MainsOutcome.NO_VALID_LEAD)
    valid = x2 if bool(rows.all()) else x2[rows]
    f, spec = _spectra(valid, fs_hz)
    frac = _fraction(f, spec, mains_hz, fs_hz)
    prom = _prominence(f, spec, mains_hz) if mains_hz + 8.0 < fs_hz / 2 else np.full(frac.shape, np.inf)
    present = (frac > threshold) & (prom > PROMINENCE)
    if not force and not np.any(present):
        return MainsResult(x2, None, None, MainsOutcome.ABSENT, float(frac.max()))
    f_est = estimate_frequency(valid[int(np.argmax(frac))], fs_hz, mains_hz)
    if abs(f_est - mains_hz) > 1.0:
        f_est = mains_hz
    out = x2.copy()
    out[rows] = sinusoid_canceller(x2[rows], fs_hz, f_est)
    n_h = len([k for k in range(1, 10) if k * f_est <= MAX_HARMONIC_HZ + 2.0 and k * f_est < 0.45 * fs_hz])
    step = FilterStep(kind="mains_canceller", applied_by="asalee", cutoff_hz=round(f_est, 2), zero_phase=True,
                      design="least-squares sine-wave canceller",
                      note=f"fundamental + {n_h - 1} harmonic(s), fitted over 1-s windows")
    return MainsResult(out, step, f_est, MainsOutcome.CANCELLED, float(frac.max()))
