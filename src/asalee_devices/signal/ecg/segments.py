"""Parts of a device recording that are not ECG: the cart's calibration signal and pacemaker spikes.

Carts append or prepend a 1 mV calibration signal to the stored leads (Philips Sierra: 0 µV hold, 1 mV for 200 ms,
0 µV); it is not ECG and must not be counted as beats or judged as signal quality. It is recognised by its shape,
which no ECG has: at the start or the end of the record, every lead at once is a sequence of constant plateaus
(each at least :data:`MIN_PLATEAU_S`), and at one of the steps every lead jumps by the same 1 mV (+/- 10 %).
Segments the file itself declares are taken as they are (``source="declared"``).

Pacemaker spikes are sub-millisecond pulses: at ECG sampling rates they appear as one- or two-sample deflections
on several leads at once, much sharper than any QRS. They are bridged (linear interpolation over
+/- :data:`SPIKE_HALF_WIDTH_S`) before beat detection and quality, and counted.

Pure numpy: codes and sample indices only (the words live in the text catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

#: Shortest constant plateau of a calibration signal (s): ECG never holds every lead constant this long.
MIN_PLATEAU_S = 0.02
#: Shortest plateau of the pulse itself (s).
MIN_PULSE_S = 0.04
#: The calibration step: 1 mV within 10 %.
CAL_STEP_UV = 1000.0
CAL_STEP_TOLERANCE = 0.1
#: A sample whose deviation from the mean of its neighbours exceeds this on MIN_SPIKE_LEADS leads at once is a
#: pacing spike (µV); QRS complexes stay below 200 µV of such curvature at 250-1000 Hz.
SPIKE_CURVATURE_UV = 600.0
MIN_SPIKE_LEADS = 2
SPIKE_HALF_WIDTH_S = 0.004

SegmentKind = Literal["calibration"]


@dataclass(frozen=True)
class NonEcgSegment:
    """Samples ``[start, stop)`` of the recording that are not ECG."""

    kind: SegmentKind
    start: int
    stop: int
    source: Literal["declared", "detected"]
    step_uv: float | None = None

    def seconds(self, fs_hz: float) -> tuple[float, float]:
        """The segment's start and stop in seconds from the start of the record.

        Parameters
        ----------
        fs_hz : float
            Sampling rate (Hz).

        Returns
        -------
        tuple of (float, float)
            Start and stop (s).
        """
        return self.start / fs_hz, self.stop / fs_hz


def _edge_calibration(x: NDArray[np.float64], tol: float, min_plateau: int, min_pulse: int) -> tuple[int, float]:
    """Length of the calibration signal at the END of ``x`` (0 when there is none) and its step (µV)."""
    n = x.shape[-1]
    if n < 2 * min_plateau:
        return 0, 0.0
    d = np.diff(x, axis=-1)
    still = np.all(np.abs(d) <= tol, axis=0)  # still[t]: sample t+1 equals sample t on every lead
    moves = np.flatnonzero(~still)  # transition between samples t and t+1
    end = n
    best_step = 0.0
    pulse = False
    # walk back plateau by plateau: [moves[k] + 1, end) is a plateau when no move lies inside it
    k = moves.size - 1
    while True:
        start = int(moves[k]) + 1 if k >= 0 else 0
        if end - start < min_plateau:
            break
        if k < 0:
            end = 0
            break
        t = int(moves[k])
        jump = d[:, t]
        common = float(np.median(jump))
        if (abs(abs(common) - CAL_STEP_UV) <= CAL_STEP_TOLERANCE * CAL_STEP_UV
                and np.all(np.abs(jump - common) <= 2 * tol + 0.02 * abs(common))):
            # the step into (or out of) a plateau long enough to be the pulse
            after = end - start
            if after >= min_pulse or _next_plateau(moves, k, min_pulse):
                pulse = True
                best_step = common
        end = start
        k -= 1
    if not pulse:
        return 0, 0.0
    return n - end, abs(best_step)


def _next_plateau(moves: NDArray[np.intp], k: int, min_len: int) -> bool:
    """Whether the plateau ending at transition ``moves[k]`` is at least ``min_len`` samples."""
    prev = int(moves[k - 1]) + 1 if k >= 1 else 0
    return int(moves[k]) + 1 - prev >= min_len


def find_calibration(samples_uv: NDArray[np.float64], fs_hz: float,
                     resolution_uv: float | None = None) -> tuple[NonEcgSegment, ...]:
    """Calibration signals at the start and at the end of ``samples_uv`` (leads x samples, µV).

    Parameters
    ----------
    samples_uv : ndarray of float
        Samples, leads x samples (µV).
    fs_hz : float
        Sampling rate (Hz).
    resolution_uv : float or None, optional
        Amplitude resolution (µV per LSB), for the pulse-level tolerance.

    Returns
    -------
    tuple of NonEcgSegment
        The calibration segments found (sample indices), in order.
    """
    x = np.asarray(samples_uv, dtype=np.float64)
    rows = np.all(np.isfinite(x), axis=-1)
    if x.ndim != 2 or not rows.any() or x.shape[-1] < 4:
        return ()
    x = x[rows]
    n = x.shape[-1]
    tol = 0.51 * resolution_uv if resolution_uv else 0.5
    min_plateau = max(2, int(round(MIN_PLATEAU_S * fs_hz)))
    min_pulse = max(2, int(round(MIN_PULSE_S * fs_hz)))
    out: list[NonEcgSegment] = []
    tail, step = _edge_calibration(x, tol, min_plateau, min_pulse)
    if tail:
        out.append(NonEcgSegment("calibration", n - tail, n, "detected", step))
        if tail == n:
            return tuple(out)
    head, step = _edge_calibration(x[:, : n - tail][:, ::-1], tol, min_plateau, min_pulse)
    if head:
        out.insert(0, NonEcgSegment("calibration", 0, head, "detected", step))
    return tuple(out)


def ecg_span(n_samples: int, segments: tuple[NonEcgSegment, ...]) -> tuple[int, int]:
    """The samples ``[start, stop)`` between the leading and trailing non-ECG segments (empty when they cover the
    record).

    Parameters
    ----------
    n_samples : int
        Length of the record (samples).
    segments : tuple of NonEcgSegment
        Its non-ECG segments.

    Returns
    -------
    tuple of (int, int)
        Start and stop sample indices.
    """
    start, stop = 0, n_samples
    for s in sorted(segments, key=lambda s: s.start):
        if s.start <= start < s.stop:
            start = s.stop
    for s in sorted(segments, key=lambda s: -s.stop):
        if s.start < stop <= s.stop:
            stop = s.start
    return (start, stop) if stop > start else (start, start)


def find_pacing_spikes(samples_uv: NDArray[np.float64], fs_hz: float) -> NDArray[np.int64]:
    """Sample indices of pacing spikes: a deviation from the mean of the two neighbours above
    :data:`SPIKE_CURVATURE_UV` on at least :data:`MIN_SPIKE_LEADS` leads at the same sample.

    Parameters
    ----------
    samples_uv : ndarray of float
        Samples, leads x samples (µV).
    fs_hz : float
        Sampling rate (Hz).

    Returns
    -------
    ndarray of int
        Sample indices of the spikes.
    """
    x = np.asarray(samples_uv, dtype=np.float64)
    if x.ndim != 2 or x.shape[-1] < 3:
        return np.zeros(0, np.int64)
    with np.errstate(invalid="ignore"):  # inf - inf where the device gave no value
        curv = np.abs(x[:, 1:-1] - 0.5 * (x[:, :-2] + x[:, 2:]))
    curv = np.where(np.isfinite(curv), curv, 0.0)
    hits = np.count_nonzero(curv > SPIKE_CURVATURE_UV, axis=0) >= min(MIN_SPIKE_LEADS, x.shape[0])
    idx = np.flatnonzero(hits)
    if idx.size == 0:
        return idx.astype(np.int64)
    # a spike's neighbours curve too: one spike per cluster, at its sharpest sample
    gap = max(1, int(round(2 * SPIKE_HALF_WIDTH_S * fs_hz)))
    cluster = np.concatenate([[0], np.cumsum(np.diff(idx) > gap)])
    total = curv.sum(axis=0)[idx]
    best = np.full(int(cluster[-1]) + 1, -1.0)
    at = np.zeros(best.size, np.int64)
    for c, i, v in zip(cluster.tolist(), idx.tolist(), total.tolist(), strict=True):
        if v > best[c]:
            best[c], at[c] = v, i
    out: NDArray[np.int64] = at + 1
    return out


def bridge(samples_uv: NDArray[np.float64], at: NDArray[np.int64], fs_hz: float) -> NDArray[np.float64]:
    """A copy of ``samples_uv`` with +/- :data:`SPIKE_HALF_WIDTH_S` around each index in ``at`` replaced by the
    straight line between its ends.

    Parameters
    ----------
    samples_uv : ndarray of float
        Samples, leads x samples (µV).
    at : ndarray of int
        Sample indices to bridge.
    fs_hz : float
        Sampling rate (Hz).

    Returns
    -------
    ndarray of float
        The bridged copy (µV).
    """
    out = np.array(samples_uv, dtype=np.float64, copy=True)
    n = out.shape[-1]
    w = max(1, int(round(SPIKE_HALF_WIDTH_S * fs_hz)))
    for t in at.tolist():
        a, b = max(0, t - w), min(n - 1, t + w)
        if b - a < 2:
            continue
        frac = (np.arange(a, b + 1) - a) / (b - a)
        out[:, a:b + 1] = out[:, a:a + 1] + (out[:, b:b + 1] - out[:, a:a + 1]) * frac
    return out
