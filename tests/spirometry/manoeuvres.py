"""A library of synthetic manoeuvres for the ATS/ERS 2019 Table 7 tests.

Each manoeuvre is built from its physics, not from the analysis: a quiet lead-in, a full inspiration, the forced blow
of a given shape and peak flow (``simulators.generators.spirometry`` single/bi-exponential emptying), then the fault
under test applied to the flow itself (a stop, a glottic closure with resumption, a cough, a slow start, a zero-flow
offset, a truncated record, a forced inspiration of a chosen volume).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.signal.spirometry import FlowRecording
from asalee_devices.simulators.generators.spirometry import forced_expiration

#: (shape, PEF L/s, FVC L): normal, obstructed (COPD-like bi-exponential tail) and restricted (small FVC) blows
#: spanning PEF 2-12 L/s.
SHAPES: tuple[tuple[str, float, float], ...] = (
    ("normal", 12.0, 6.0), ("normal", 8.0, 4.5), ("normal", 4.0, 2.2),
    ("obstructive", 6.0, 4.2), ("obstructive", 4.0, 3.0), ("obstructive", 2.0, 1.8),
    ("restrictive", 9.0, 3.0), ("restrictive", 6.0, 2.0), ("restrictive", 3.0, 1.2),
)
RATES_HZ = (100.0, 500.0, 1000.0)


@dataclass(frozen=True)
class Blow:
    """The parts of a synthetic manoeuvre (times in s from the start of the forced blow)."""

    shape: str
    pef_l_s: float
    fvc_l: float
    fs_hz: float
    lead_in_s: float = 0.5
    stop_at_s: float | None = None  # the patient stops (flow -> 0) and the device keeps recording
    closure_at_s: float | None = None  # glottic closure: flow 0 for closure_s, then the blow resumes
    closure_s: float = 0.2
    cough_at_s: float | None = None  # a cough: flow dips to 30 % for 80 ms, then rebounds
    slow_start_l_s: float = 0.0  # a hesitant start: this flow for slow_start_s before the blast
    slow_start_s: float = 0.5
    truncate_at_s: float | None = None  # the record ends while the patient still blows
    offset_l_s: float = 0.0  # zero-flow offset added to every sample
    long_tail: tuple[float, float] | None = None  # from this flow, a linear tail to the second flow (L/s)
    post_inspiration_l: float | None = None  # forced inspiration after the blow, of this volume
    hesitation_s: float = 0.2  # pause at full inspiration before the blow
    tail_s: float = 2.0  # quiet recording after the blow (or after the post inspiration)


def _sine_volume(volume_l: float, duration_s: float, fs: float) -> NDArray[np.float64]:
    n = int(duration_s * fs)
    shape = np.sin(np.pi * np.arange(n) / n)
    return np.asarray(shape * volume_l / (np.sum(shape) / fs), dtype=np.float64)


def build(b: Blow) -> FlowRecording:
    fs = b.fs_hz
    blow = forced_expiration(b.shape, fvc_l=b.fvc_l, pef_l_s=b.pef_l_s, fs_hz=fs,  # type: ignore[arg-type]
                             inspiration=False).flow_l_s.copy()
    if b.cough_at_s is not None:  # the flow collapses for 40 ms, then an explosive burst
        i0, n1, n2 = int(b.cough_at_s * fs), max(int(0.04 * fs), 2), max(int(0.06 * fs), 3)
        blow[i0: i0 + n1] *= 0.3
        blow[i0 + n1: i0 + n1 + n2] += max(1.0, 0.2 * b.pef_l_s) * np.hanning(n2)
    if b.long_tail is not None:  # a slow obstructive tail still exhaled at the end of the record
        start, end = b.long_tail
        i0 = int(np.argmax((blow <= start) & (np.arange(blow.size) > np.argmax(blow))))
        n = int((b.truncate_at_s or 16.0) * fs) - i0
        blow = np.concatenate((blow[:i0], np.linspace(start, end, max(n, 1))))
    if b.closure_at_s is not None:
        i0, n = int(b.closure_at_s * fs), int(b.closure_s * fs)
        blow = np.concatenate((blow[:i0], np.zeros(n), blow[i0:]))
    if b.stop_at_s is not None:
        blow[int(b.stop_at_s * fs):] = 0.0
    if b.truncate_at_s is not None:
        blow = blow[: int(b.truncate_at_s * fs)]
    if b.slow_start_l_s > 0:
        rise = int(np.argmax(blow >= b.slow_start_l_s))
        blow[:rise] = b.slow_start_l_s
        blow = np.concatenate((np.full(int(b.slow_start_s * fs), b.slow_start_l_s), blow))
    parts = [np.zeros(int(b.lead_in_s * fs)), -_sine_volume(b.fvc_l, 1.5, fs), np.zeros(int(b.hesitation_s * fs)),
             blow]
    if b.truncate_at_s is None:
        if b.post_inspiration_l is not None:
            parts.append(-_sine_volume(b.post_inspiration_l, 1.5, fs))
        parts.append(np.zeros(int(b.tail_s * fs)))
    flow = np.concatenate(parts) + b.offset_l_s
    return FlowRecording(flow_l_s=np.ascontiguousarray(flow), fs_hz=fs)
