"""ATS/ERS 2019 Table 7, every row, for FEV1 and FVC separately (acceptability and usability), with its footnotes.

Graham et al., Am J Respir Crit Care Med 2019;200:e70, Table 7 ("Summary of acceptability, usability and
repeatability criteria for FEV1 and FVC"). The nine manoeuvre rows and the flags each one voids:

====================================================  ==================  ==================
Row                                                   acceptable FEV1/FVC usable FEV1/FVC
====================================================  ==================  ==================
1 BEV <= max(5 % FVC, 0.100 L)                         yes / yes           yes / yes
2 no faulty zero-flow setting                          yes / yes           yes / yes
3 no cough in the first second                         yes / no            yes / no
4 no glottic closure in the first second               yes / yes           yes / yes
5 no glottic closure after 1 s                         no / yes            no / no
6 one of the three EOFE indicators                     no / yes            no / no
7 no obstructed mouthpiece or spirometer (operator)    yes / yes           no / no
8 no leak (operator)                                   yes / yes           no / no
9 FIVC - FVC <= max(0.100 L, 5 % FVC) when FIVC > FVC  yes / yes           no / no
====================================================  ==================  ==================

Footnotes and the text the table refers to: children aged 6 or younger (in completed years) need 0.75 s without
cough or glottic closure for an acceptable or usable FEV0.75 (their first-second rows use 0.75 s for FEV0.75), their
BEV limit is max(12.5 % FVC, 0.080 L), and their repeatability tolerance is max(0.100 L, 10 % of the highest value),
which is also the tolerance of the third EOFE route; the third route compares with the largest FVC observed before
this manoeuvre in the same (pre- or post-bronchodilator) set; a missing forced inspiration does not void a blow.
The hesitation time (maximal inspiration to t0, recommended <= 2 s) is not a Table 7 row: it is advice only.

Signal-derived rows are judged on the blow's own flow: the end of expiration is the last exhaled sample above the
zero-flow band, an abrupt end (a stop, i.e. glottic closure or giving up) is a fall into the zero band much faster
than the blow's own emptying, and the zero-flow setting is read from the quiet flow before and after the manoeuvre.

This module returns reason codes and numbers only; the nurse's wording lives in :mod:`asalee_devices.messages`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from asalee_devices.signal.spirometry.indices import ZERO_FLOW_L_S, ManoeuvreIndices
from asalee_devices.signal.spirometry.recording import FlowRecording


class Flag(StrEnum):
    """The flags a criterion can void (FEV0.75 ones are graded for children aged 6 or younger)."""

    ACCEPTABLE_FEV1 = "acceptable_fev1"
    ACCEPTABLE_FVC = "acceptable_fvc"
    USABLE_FEV1 = "usable_fev1"
    USABLE_FVC = "usable_fvc"
    ACCEPTABLE_FEV0_75 = "acceptable_fev0_75"
    USABLE_FEV0_75 = "usable_fev0_75"


class Reason(StrEnum):
    """Machine-readable reason a criterion failed (or, for advice-only codes, a remark that voids nothing)."""

    BEV_OVER_LIMIT = "bev_over_limit"
    FAULTY_ZERO_FLOW = "faulty_zero_flow"
    COUGH_FIRST_SECOND = "cough_first_second"
    COUGH_FIRST_0_75S = "cough_first_0_75s"
    GLOTTIC_CLOSURE_FIRST_SECOND = "glottic_closure_first_second"
    GLOTTIC_CLOSURE_FIRST_0_75S = "glottic_closure_first_0_75s"
    EARLY_TERMINATION = "early_termination"
    EOFE_NOT_MET = "eofe_not_met"
    OBSTRUCTED_MOUTHPIECE = "obstructed_mouthpiece"
    LEAK = "leak"
    SUBMAXIMAL_EFFORT = "submaximal_effort"
    INCOMPLETE_INSPIRATION = "incomplete_inspiration"
    RECORDING_INCOMPLETE = "recording_incomplete"
    HESITATION = "hesitation"


class OperatorMark(StrEnum):
    """What the nurse saw during the blow (Table 7 operator-assessed rows, and the maximal-effort requirement)."""

    LEAK = "leak"
    OBSTRUCTED_MOUTHPIECE = "obstructed_mouthpiece"
    SUBMAXIMAL_EFFORT = "submaximal_effort"


_F = Flag
_ALL_SIX = frozenset(Flag)
_ACCEPTABILITY = frozenset({_F.ACCEPTABLE_FEV1, _F.ACCEPTABLE_FVC, _F.ACCEPTABLE_FEV0_75})
#: Table 7: which flags each reason voids (FEV0.75 follows FEV1 except for the 0.75-1 s window of children).
VOIDS: dict[Reason, frozenset[Flag]] = {
    Reason.BEV_OVER_LIMIT: _ALL_SIX,
    Reason.FAULTY_ZERO_FLOW: _ALL_SIX,
    Reason.COUGH_FIRST_SECOND: frozenset({_F.ACCEPTABLE_FEV1, _F.USABLE_FEV1}),
    Reason.COUGH_FIRST_0_75S: frozenset({_F.ACCEPTABLE_FEV1, _F.USABLE_FEV1, _F.ACCEPTABLE_FEV0_75,
                                         _F.USABLE_FEV0_75}),
    Reason.GLOTTIC_CLOSURE_FIRST_SECOND: frozenset({_F.ACCEPTABLE_FEV1, _F.USABLE_FEV1, _F.ACCEPTABLE_FVC,
                                                    _F.USABLE_FVC}),
    Reason.GLOTTIC_CLOSURE_FIRST_0_75S: _ALL_SIX,
    Reason.EARLY_TERMINATION: frozenset({_F.ACCEPTABLE_FVC}),
    Reason.EOFE_NOT_MET: frozenset({_F.ACCEPTABLE_FVC}),
    Reason.OBSTRUCTED_MOUTHPIECE: _ACCEPTABILITY,
    Reason.LEAK: _ACCEPTABILITY,
    # Not a Table 7 row: the 2019 manoeuvre requires a maximal effort; a sub-maximal one is treated like the other
    # operator-assessed rows (not acceptable, still usable).
    Reason.SUBMAXIMAL_EFFORT: _ACCEPTABILITY,
    Reason.INCOMPLETE_INSPIRATION: _ACCEPTABILITY,
    # Not a Table 7 row: samples are missing, nothing of the blow can be trusted.
    Reason.RECORDING_INCOMPLETE: _ALL_SIX,
    Reason.HESITATION: frozenset(),
}
_MARK_REASON = {OperatorMark.LEAK: Reason.LEAK, OperatorMark.OBSTRUCTED_MOUTHPIECE: Reason.OBSTRUCTED_MOUTHPIECE,
                OperatorMark.SUBMAXIMAL_EFFORT: Reason.SUBMAXIMAL_EFFORT}

#: Zero-flow offset above which the flow sensor's zero is faulty (L/s): 0.010 L/s over a 15 s blow is 0.150 L,
#: the repeatability tolerance.
ZERO_OFFSET_LIMIT_L_S = 0.010
#: Quiet flow (no breathing) is within this band (L/s); a quiet stretch must last at least QUIET_MIN_S.
QUIET_BAND_L_S = 0.1
QUIET_MIN_S = 0.1
#: A quiet stretch read as an offset varies by less than this (L/s, standard deviation).
QUIET_MAX_SD_L_S = 0.005
#: After the blow, a non-inspiratory constant flow over this long at the end of the recording is an offset.
TAIL_FLAT_S = 2.0
#: ... when its two halves differ by less than this fraction (exhaled flow always keeps falling).
TAIL_FLAT_RELATIVE = 0.03
#: Abrupt end: the flow 50 ms before falling into the zero band is above 2 x the zero band ...
ABRUPT_LOOKBACK_S = 0.05
#: ... and it fell at least this many times faster than the blow's own emptying would take it there ...
ABRUPT_SPEED_RATIO = 3.0
#: ... and stayed in the zero band for this long (or to the end of the exhaled segment): a flow-quantised tail
#: that dips into the band for one sample is not a stop.
ABRUPT_HOLD_S = 0.1
#: Floor of the blow's own emptying time constant (s), so that no blow is judged faster than physiology allows.
MIN_EMPTYING_TAU_S = 0.05
MAX_HESITATION_S = 2.0


def completed_years(age_years: float | None) -> int | None:
    """Age in completed years (a 6.9-year-old is 6): the standard's "aged 6 years or younger".

    Parameters
    ----------
    age_years : float or None
        Age in decimal years (None when unknown).

    Returns
    -------
    int or None
        The completed years, None when the age is unknown.
    """
    return None if age_years is None else math.floor(age_years)


def is_young_child(age_years: float | None) -> bool:
    """Aged 6 years or younger, in completed years (the child rules of ATS/ERS 2019 apply).

    Parameters
    ----------
    age_years : float or None
        Age in decimal years (None when unknown: an adult is assumed).

    Returns
    -------
    bool
        True for a child aged 6 or younger.
    """
    years = completed_years(age_years)
    return years is not None and years <= 6


def bev_limit_l(fvc_l: float, age_years: float | None = None) -> float:
    """Back-extrapolated volume limit (Table 7 row 1): max(5 % FVC, 0.100 L); aged <= 6 (completed years):
    max(12.5 % FVC, 0.080 L).

    Parameters
    ----------
    fvc_l : float
        FVC of the blow (L).
    age_years : float or None, optional
        Age in decimal years (None: adult limit).

    Returns
    -------
    float
        The largest acceptable BEV (L).
    """
    if is_young_child(age_years):
        return max(0.125 * fvc_l, 0.080)
    return max(0.05 * fvc_l, 0.100)


def repeatability_tolerance_l(highest_l: float, age_years: float | None = None) -> float:
    """Table 7 repeatability tolerance: 0.150 L above 6 years; max(0.100 L, 10 % of the highest value)
    aged <= 6.

    Parameters
    ----------
    highest_l : float
        Highest value of the parameter in the set (L).
    age_years : float or None, optional
        Age in decimal years (None: adult tolerance).

    Returns
    -------
    float
        The tolerance (L).
    """
    if is_young_child(age_years):
        return max(0.100, 0.10 * highest_l)
    return 0.150


@dataclass(frozen=True)
class Finding:
    """One failed criterion: its code, the flags it voids and the measured value against its limit (if any)."""

    reason: Reason
    voids: tuple[Flag, ...]
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class Acceptability:
    acceptable_fev1: bool
    acceptable_fvc: bool
    usable_fev1: bool
    usable_fvc: bool
    reasons: tuple[Reason, ...]
    findings: tuple[Finding, ...] = ()
    acceptable_fev0_75: bool = True
    usable_fev0_75: bool = True
    marks: tuple[OperatorMark, ...] = ()

    @property
    def acceptable(self) -> bool:
        return self.acceptable_fev1 and self.acceptable_fvc


def has_cough_first_second(rec: FlowRecording, ind: ManoeuvreIndices, window_s: float = 1.0) -> bool:
    """A dip then a rebound of flow between PEF and t0 + window: the flow rises again by > max(0.5 L/s,
    10 % PEF).

    Parameters
    ----------
    rec : FlowRecording
        The manoeuvre (flow in L/s, exhaled positive).
    ind : ManoeuvreIndices
        Its indices (t0, PEF and its time).
    window_s : float, optional
        End of the window after t0 (s): 1 s for FEV1, 0.75 s for FEV0.75.

    Returns
    -------
    bool
        True when a cough is seen in the window.
    """
    return _cough_time_s(rec.flow_l_s, rec.fs_hz, ind, window_s) is not None


def _cough_time_s(flow: NDArray[np.float64], fs: float, ind: ManoeuvreIndices, window_s: float) -> float | None:
    """Time from t0 of the first rebound that marks a cough within ``window_s`` of t0, or None."""
    i0 = int(round(ind.pef_time_s * fs))
    i1 = min(int(round((ind.t0_s + window_s) * fs)) + 1, flow.size)
    seg = flow[i0:i1]
    if seg.size < 3:
        return None
    rebound = seg - np.minimum.accumulate(seg)
    hit = np.nonzero(rebound > max(0.5, 0.10 * ind.pef_l_s))[0]
    return None if hit.size == 0 else (i0 + int(hit[0])) / fs - ind.t0_s


def emptying_time_constant_s(flow: NDArray[np.float64], fs: float, ind: ManoeuvreIndices) -> float:
    """The blow's own emptying time constant: volume still exhaled after the flow first falls to half PEF,
    divided by that flow (exact for an exponential tail; shorter, hence more lenient, for a blow cut short).

    Parameters
    ----------
    flow : ndarray of float
        Flow samples (L/s, exhaled positive).
    fs : float
        Sampling rate (Hz).
    ind : ManoeuvreIndices
        The blow's indices (PEF, its time, end of the exhaled segment).

    Returns
    -------
    float
        The time constant (s), at least ``MIN_EMPTYING_TAU_S``.
    """
    ipef = int(round(ind.pef_time_s * fs))
    iend = min(int(round(ind.exhaled_segment_end_s * fs)), flow.size - 1) if math.isfinite(
        ind.exhaled_segment_end_s) else flow.size - 1
    seg = flow[ipef: iend + 1]
    below = np.nonzero(seg <= 0.5 * ind.pef_l_s)[0]
    if below.size == 0:
        return MIN_EMPTYING_TAU_S
    k = int(below[0])
    tail = np.clip(seg[k:], 0.0, None)
    remaining = float(np.sum((tail[1:] + tail[:-1]) * 0.5)) / fs
    return max(remaining / max(float(seg[k]), ZERO_FLOW_L_S), MIN_EMPTYING_TAU_S)


def abrupt_stop_time_s(rec: FlowRecording, ind: ManoeuvreIndices) -> float | None:
    """Time (from t0) of the first abrupt fall of the exhaled flow into the zero band, or None.

    A fall is abrupt when the mean flow over the 50 ms before it was above twice the zero band, it reached the band
    at least ABRUPT_SPEED_RATIO times faster than an exponential emptying with the blow's own time constant would,
    and the flow then stayed in the band for ABRUPT_HOLD_S (or to the end of the exhaled segment). The end of the
    recording while the patient still blows is not a fall (EOFE is then not met, nothing more).

    Parameters
    ----------
    rec : FlowRecording
        The manoeuvre (flow in L/s, exhaled positive).
    ind : ManoeuvreIndices
        Its indices.

    Returns
    -------
    float or None
        Seconds from t0 to the abrupt stop, None when the expiration ended by itself.
    """
    flow, fs = rec.flow_l_s, rec.fs_hz
    ipef = int(round(ind.pef_time_s * fs))
    iend = int(round(ind.exhaled_segment_end_s * fs)) if math.isfinite(ind.exhaled_segment_end_s) else flow.size - 1
    iend = min(iend, flow.size - 1)
    above = flow[ipef: iend + 1] > ZERO_FLOW_L_S
    if above.size < 2:
        return None
    falls = np.nonzero(above[:-1] & ~above[1:])[0] + ipef  # last sample above the band before each fall
    if falls.size == 0:
        return None
    back = max(int(round(ABRUPT_LOOKBACK_S * fs)), 1)
    hold = max(int(round(ABRUPT_HOLD_S * fs)), 1)
    tau: float | None = None  # computed once, only for a fall that may be abrupt
    for i in falls.tolist():
        f_pre = float(np.mean(flow[max(i - back, ipef): i + 1]))
        if f_pre <= 2.0 * ZERO_FLOW_L_S:
            continue
        if bool(np.any(flow[i + 1: min(i + 1 + hold, iend + 1)] > ZERO_FLOW_L_S)):
            continue
        if tau is None:
            tau = emptying_time_constant_s(flow, fs, ind)
        natural_s = tau * math.log(f_pre / ZERO_FLOW_L_S)
        observed_s = (i + 1 - max(i - back, ipef)) / fs
        if observed_s * ABRUPT_SPEED_RATIO < natural_s:
            return (i + 1) / fs - ind.t0_s
    return None


def _quiet_offset(part: NDArray[np.float64], fs: float) -> float | None:
    """The level of a quiet stretch (within the quiet band, steady) of at least QUIET_MIN_S, else None."""
    if part.size < max(int(QUIET_MIN_S * fs), 2):
        return None
    if float(part.max()) > QUIET_BAND_L_S or float(part.min()) < -QUIET_BAND_L_S:
        return None
    mean = float(part.mean())
    if float(np.sqrt(np.mean((part - mean) ** 2))) > QUIET_MAX_SD_L_S:
        return None
    return mean  # steady within 0.005 L/s: the mean is the offset


def zero_flow_offset_l_s(rec: FlowRecording, ind: ManoeuvreIndices) -> float | None:
    """The zero-flow offset read from the quiet flow before the manoeuvre (the lead-in, before any
    breathing) and after it (the end of the recording once the patient no longer blows or breathes in), whichever is
    larger. A slowly emptying obstructed tail is not quiet: it keeps falling.

    Parameters
    ----------
    rec : FlowRecording
        The manoeuvre (flow in L/s).
    ind : ManoeuvreIndices
        Its indices.

    Returns
    -------
    float or None
        The offset (L/s, signed), None when neither stretch is quiet.
    """
    flow, fs = rec.flow_l_s, rec.fs_hz
    offsets: list[float] = []
    mask = (flow > QUIET_BAND_L_S) | (flow < -QUIET_BAND_L_S)
    if mask.any():
        first_move = int(np.argmax(mask))
        last_move = flow.size - 1 - int(np.argmax(mask[::-1]))
        before = _quiet_offset(flow[:first_move], fs)
        if before is not None:
            offsets.append(before)
        n_tail = int(TAIL_FLAT_S * fs)
        tail = flow[last_move + 1:]
        if tail.size >= n_tail:
            tail = tail[-n_tail:]
            half = tail.size // 2
            a, b = float(np.mean(tail[:half])), float(np.mean(tail[half:]))
            flat = abs(a - b) <= TAIL_FLAT_RELATIVE * max(abs(a), abs(b), 1e-12)
            after = _quiet_offset(tail, fs)
            if after is not None and (flat or after < 0.0):
                offsets.append(after)
    return max(offsets, key=abs) if offsets else None


def assess(rec: FlowRecording, ind: ManoeuvreIndices, *, age_years: float | None = None,
           largest_earlier_fvc_l: float | None = None, max_hesitation_s: float = MAX_HESITATION_S,
           marks: Iterable[OperatorMark] = ()) -> Acceptability:
    """Evaluate every Table 7 row for one manoeuvre.

    Parameters
    ----------
    rec : FlowRecording
        The manoeuvre (flow in L/s, exhaled positive).
    ind : ManoeuvreIndices
        Its indices (:func:`~asalee_devices.signal.spirometry.indices.manoeuvre_indices`).
    age_years : float or None, optional
        Age in decimal years (children aged 6 or younger have their own limits).
    largest_earlier_fvc_l : float or None, optional
        Largest FVC observed before this blow in the same set (L): the third EOFE route.
    max_hesitation_s : float, optional
        Hesitation time above which the advice-only ``hesitation`` reason is given (s).
    marks : iterable of OperatorMark, optional
        The nurse's operator-assessed observations (Table 7 rows 7-8, sub-maximal effort).

    Returns
    -------
    Acceptability
        The six acceptable/usable flags, the reason codes and the findings with their values and limits.
    """
    child = is_young_child(age_years)
    findings: list[Finding] = []

    def fail(reason: Reason, value: float | None = None, limit: float | None = None) -> None:
        findings.append(Finding(reason, tuple(f for f in Flag if f in VOIDS[reason]), value, limit))

    if rec.interrupted or rec.gaps:
        fail(Reason.RECORDING_INCOMPLETE)
    bev_limit = bev_limit_l(ind.fvc_l, age_years)
    if ind.bev_l > bev_limit:  # row 1
        fail(Reason.BEV_OVER_LIMIT, ind.bev_l, bev_limit)
    offset = zero_flow_offset_l_s(rec, ind)  # row 2
    if offset is not None and abs(offset) > ZERO_OFFSET_LIMIT_L_S:
        fail(Reason.FAULTY_ZERO_FLOW, offset, ZERO_OFFSET_LIMIT_L_S)
    if ind.hesitation_time_s is not None and ind.hesitation_time_s > max_hesitation_s:  # advice only
        fail(Reason.HESITATION, ind.hesitation_time_s, max_hesitation_s)
    cough_s = _cough_time_s(rec.flow_l_s, rec.fs_hz, ind, 1.0)  # row 3 (+ footnote: 0.75 s for FEV0.75)
    if cough_s is not None:
        fail(Reason.COUGH_FIRST_0_75S if child and cough_s <= 0.75 else Reason.COUGH_FIRST_SECOND, cough_s, 1.0)
    stop_s = abrupt_stop_time_s(rec, ind)  # rows 4 and 5
    if stop_s is not None and stop_s <= 1.0:
        fail(Reason.GLOTTIC_CLOSURE_FIRST_0_75S if child and stop_s <= 0.75
             else Reason.GLOTTIC_CLOSURE_FIRST_SECOND, stop_s, 1.0)
    elif stop_s is not None:
        fail(Reason.EARLY_TERMINATION, stop_s, None)
    # Row 6, EOFE: plateau (only on an expiration that ended by itself), FET >= 15 s, or FVC within the repeatability
    # tolerance of (or above) the largest FVC observed earlier in the set.
    eofe_repeat = False
    if largest_earlier_fvc_l is not None:
        tolerance = repeatability_tolerance_l(max(largest_earlier_fvc_l, ind.fvc_l), age_years)
        eofe_repeat = ind.fvc_l >= largest_earlier_fvc_l - tolerance
    plateau = ind.eofe_plateau and stop_s is None
    if not (plateau or ind.eofe_fet or eofe_repeat) and stop_s is None:
        fail(Reason.EOFE_NOT_MET, ind.plateau_volume_change_l, None)
    for mark in sorted(set(marks), key=list(OperatorMark).index):  # rows 7, 8 (+ maximal effort)
        fail(_MARK_REASON[mark])
    fivc_limit = max(0.100, 0.05 * ind.fvc_l)  # row 9 (a missing forced inspiration voids nothing)
    if ind.fivc_l is not None and ind.fivc_l - ind.fvc_l > fivc_limit:
        fail(Reason.INCOMPLETE_INSPIRATION, ind.fivc_l - ind.fvc_l, fivc_limit)
    voided: frozenset[Flag] = frozenset().union(*(f.voids for f in findings))
    return Acceptability(
        acceptable_fev1=Flag.ACCEPTABLE_FEV1 not in voided, acceptable_fvc=Flag.ACCEPTABLE_FVC not in voided,
        usable_fev1=Flag.USABLE_FEV1 not in voided, usable_fvc=Flag.USABLE_FVC not in voided,
        reasons=tuple(f.reason for f in findings), findings=tuple(findings),
        acceptable_fev0_75=Flag.ACCEPTABLE_FEV0_75 not in voided, usable_fev0_75=Flag.USABLE_FEV0_75 not in voided,
        marks=tuple(sorted(set(marks), key=list(OperatorMark).index)),
    )
