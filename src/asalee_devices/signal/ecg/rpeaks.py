"""R-peak detection (a measurement for heart rate and quality only — never a rhythm label).

Zero-phase, multi-lead and polarity-robust, for 250 to 1000 Hz:

1. the leads are brought to 120-250 Hz by q-sample means (q = fs // 120; cost independent of the input rate);
   each usable lead is band-passed 8-20 Hz (zero-phase Butterworth order 2) and differentiated; the squared
   slope is normalised by the lead's robust scale (so every lead weighs the same whatever its gain or polarity)
   and the leads are summed;
2. a centred 100-ms moving average gives a QRS energy envelope (zero-phase);
3. envelope maxima at least 200 ms apart are candidates; a candidate is a beat when it exceeds 20 % of the local
   reference (a beat at half height, alternating amplitude, has 25 % of the energy; 30 % dropped every other one):
   the reference is the running 90th percentile of the candidate heights over ~10 s; candidates in a gap longer
   than 1.7 x the median RR are searched back at 15 %; a candidate closer than 360 ms to the previous beat with
   less than half its height is a T wave and dropped;
4. each beat is placed on the largest absolute deflection (from the local median) of the reference lead within
   +/-60 ms of the envelope maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from asalee_devices.signal.ecg.results import HeartRate
from asalee_devices.signal.validate import check_sampling_rate

MIN_FS_HZ = 250.0
#: Detection rate floor: the input is averaged down by q = fs // DETECT_HZ (360 Hz -> 120, 500 -> 125, 1000 -> 125).
DETECT_HZ = 120.0
REFRACTORY_S = 0.2
T_WAVE_S = 0.36
THRESHOLD = 0.2
SEARCHBACK = 0.15
ENVELOPE_S = 0.1
LOCATE_S = 0.06


@lru_cache(maxsize=16)
def _bandpass(fs_hz: float, low: float, high: float) -> NDArray[np.float64]:
    sos: NDArray[np.float64] = signal.butter(2, [low, high], btype="bandpass", fs=fs_hz, output="sos")
    return sos


def _moving_mean(x: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Centred moving mean (odd width, zero-phase), the ends extended with their edge values (as
    ``ndimage.uniform_filter1d(mode="nearest")``, from a cumulative sum: several times faster on long records)."""
    half = width // 2
    if half == 0:
        return x.copy()
    c = np.cumsum(np.pad(x, (half + 1, half), mode="edge"))
    out: NDArray[np.float64] = (c[2 * half + 1:] - c[: -(2 * half + 1)]) / (2 * half + 1)
    return out


def _local_reference(heights: NDArray[np.float64], times: NDArray[np.float64], window_s: float) -> NDArray[
        np.float64]:
    """90th percentile of the candidate heights over a running window of about ``window_s`` seconds (counted in
    candidates at the median candidate spacing)."""
    if heights.size < 2:
        return heights.copy()
    spacing = float(np.median(np.diff(times)))
    size = int(np.clip(round(window_s / max(spacing, 1e-3)), 3, heights.size))
    out: NDArray[np.float64] = ndimage.percentile_filter(heights, 90, size=size, mode="mirror")
    return out


def detect_r_peaks(samples_uv: NDArray[np.float64], fs_hz: float,
                   leads: Sequence[str] | None = None) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Sample indices of the R peaks in ``samples_uv`` (leads x samples, µV; rows with NaN are skipped) and the
    names of the leads used.

    Parameters
    ----------
    samples_uv : ndarray of float
        Samples, leads x samples (µV).
    fs_hz : float
        Sampling rate (Hz).
    leads : sequence of str or None, optional
        The rows' lead names (for the names returned).

    Returns
    -------
    peaks : ndarray of int
        Sample indices of the R peaks.
    leads_used : tuple of str
        The leads the detection used.

    Raises
    ------
    SignalError
        When the sampling rate is too low for R-peak detection.
    """
    x = np.atleast_2d(np.asarray(samples_uv, dtype=np.float64))
    check_sampling_rate(fs_hz, minimum_hz=MIN_FS_HZ, purpose="R-peak detection")
    names = tuple(leads) if leads is not None else tuple(f"lead{k}" for k in range(x.shape[0]))
    usable = np.flatnonzero(np.all(np.isfinite(x), axis=-1) & (np.ptp(x, axis=-1) > 0))
    n = x.shape[-1]
    if usable.size == 0 or n < int(fs_hz):
        return np.zeros(0, dtype=np.int64), ()
    xu = x[usable]
    # Detection runs at 180-360 Hz whatever the input rate: q-sample means (boxcar nulls at the multiples of
    # fs/q keep aliases out of the 8-20 Hz band); the beats are then placed on the full-rate trace.
    q = max(1, int(fs_hz // DETECT_HZ))
    nq = n // q
    xd = xu
    if q > 1:  # the sum of q strided views (a reshape + mean walks the data q times slower)
        xd = xu[:, 0:nq * q:q].copy()
        for j in range(1, q):
            xd += xu[:, j:nq * q:q]
        xd *= 1.0 / q
    fd = fs_hz / q
    bp = signal.sosfiltfilt(_bandpass(float(fd), 8.0, 20.0), xd, axis=-1)
    d = np.diff(bp, axis=-1, prepend=bp[:, :1])
    e = d * d
    scale = np.percentile(e[:, ::4], 99, axis=-1)
    keep = scale > 0
    if not np.any(keep):
        return np.zeros(0, dtype=np.int64), ()
    energy = (e[keep] / scale[keep, None]).sum(axis=0)
    env = _moving_mean(energy, max(1, int(round(ENVELOPE_S * fd))))
    # Zero guard samples so a QRS cut by the start or end of the record still forms a maximum.
    cand, _ = signal.find_peaks(np.concatenate([[0.0], env, [0.0]]),
                                distance=max(1, int(round(REFRACTORY_S * fd))))
    cand = np.clip(cand - 1, 0, env.size - 1)
    h = env[cand]
    ref = _local_reference(h, cand / fd, 10.0)
    ok = h >= THRESHOLD * ref
    beats = _select(cand, h, ok, ref, fd) * q + (q - 1) // 2
    # Locate on the reference lead (largest QRS energy): largest absolute deflection from the window's median.
    loc = xu[int(np.argmax(scale))]
    w = int(round(LOCATE_S * fs_hz))
    if beats.size:
        offs = np.arange(-w, w + 1)
        win = np.clip(beats[:, None] + offs[None, :], 0, n - 1)
        seg = loc[win]
        # the window's median: its middle element once partitioned (2w + 1 samples; np.median sorts more)
        dev = np.abs(seg - np.partition(seg, w, axis=1)[:, w:w + 1])
        placed = np.sort(win[np.arange(beats.size), np.argmax(dev, axis=1)])
        beats = placed[np.concatenate([[True], np.diff(placed) > 0])]
    used = tuple(names[k] for k in usable[keep])
    return beats.astype(np.int64), used


def _select(cand: NDArray[np.intp], h: NDArray[np.float64], ok: NDArray[np.bool_], ref: NDArray[np.float64],
            fs_hz: float) -> NDArray[np.int64]:
    """Threshold, search back in long gaps, drop T waves."""
    beats = list(cand[ok])
    heights = dict(zip(cand.tolist(), h.tolist(), strict=True))
    if len(beats) >= 3:
        rr = np.diff(beats)
        med = np.median(rr)
        extra: list[int] = []
        for k in np.flatnonzero(rr > 1.7 * med):
            a, b = beats[k], beats[k + 1]
            inside = (cand > a + REFRACTORY_S * fs_hz) & (cand < b - REFRACTORY_S * fs_hz) & ~ok
            inside &= h >= SEARCHBACK * ref
            if np.any(inside):
                j = np.flatnonzero(inside)
                extra.append(int(cand[j[np.argmax(h[j])]]))
        if extra:
            beats = sorted(beats + extra)
    arr = np.asarray(beats, dtype=np.int64)
    if arr.size < 2 or not np.any(np.diff(arr) < T_WAVE_S * fs_hz):
        return arr  # no candidate close enough to its predecessor to be a T wave
    out: list[int] = []
    for b in beats:
        if out and b - out[-1] < T_WAVE_S * fs_hz:
            if heights[b] < 0.5 * heights[out[-1]]:
                continue
            if heights[b] > 2.0 * heights[out[-1]]:
                out[-1] = b
                continue
        out.append(b)
    return np.asarray(out, dtype=np.int64)


def heart_rate(samples_uv: NDArray[np.float64], fs_hz: float, leads: Sequence[str] | None = None) -> HeartRate:
    """R-peak times (s), RR intervals (ms) and mean heart rate (beats/min = 60000 / mean RR).

    Parameters
    ----------
    samples_uv : ndarray of float
        Samples, leads x samples (µV).
    fs_hz : float
        Sampling rate (Hz).
    leads : sequence of str or None, optional
        The rows' lead names.

    Returns
    -------
    HeartRate
        R-peak times (s), RR intervals (ms, with min, max, SD), mean rate (beats/min) and the leads used.
    """
    idx, used = detect_r_peaks(samples_uv, fs_hz, leads)
    t = idx / float(fs_hz)
    rr = np.diff(t) * 1000.0
    if rr.size == 0:
        return HeartRate(r_peaks_s=t, rr_ms=rr, heart_rate_bpm=None, leads_used=used)
    return HeartRate(r_peaks_s=t, rr_ms=rr, heart_rate_bpm=float(60000.0 / rr.mean()),
                     rr_min_ms=float(rr.min()), rr_max_ms=float(rr.max()),
                     rr_sd_ms=float(rr.std(ddof=1)) if rr.size > 1 else 0.0, leads_used=used)
