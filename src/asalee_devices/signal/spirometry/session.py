"""Session-level ATS/ERS 2019: repeatability, grades A-F/U (FEV1 and FVC separately), reported values, advice.

Codes and numbers only: the nurse's words for the advice codes are in :mod:`asalee_devices.messages.spirometry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from asalee_devices.signal.spirometry.acceptability import Acceptability, OperatorMark, assess, is_young_child
from asalee_devices.signal.spirometry.indices import EOFE_2019, EofeRule, ManoeuvreIndices, manoeuvre_indices
from asalee_devices.signal.spirometry.recording import FlowRecording

MAX_MANOEUVRES = 8


class Grade(StrEnum):
    """ATS/ERS 2019 grade of one parameter (Table 10): A-E from the acceptable values, U usable only, F none."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    U = "U"
    F = "F"


class Advice(StrEnum):
    """What the session needs next (shown to the nurse after each blow)."""

    ENOUGH_ACCEPTABLE_REPEATABLE = "enough_acceptable_repeatable"
    MAX_MANOEUVRES_REACHED = "max_manoeuvres_reached"
    NOT_REPEATABLE_ONE_MORE = "not_repeatable_one_more"
    NEED_MORE_ACCEPTABLE = "need_more_acceptable"


#: (grade, repeatability limit age > 6, limit age <= 6) for >= 2 acceptable blows (Table 10).
_GRADE_LIMITS = ((Grade.A, 0.150, 0.100), (Grade.C, 0.200, 0.150), (Grade.D, 0.250, 0.200))


@dataclass(frozen=True)
class Blow:
    indices: ManoeuvreIndices
    acceptability: Acceptability


@dataclass(frozen=True)
class SessionResult:
    blows: tuple[Blow, ...]
    grade_fev1: Grade
    grade_fvc: Grade
    fev1_spread_l: float | None
    fvc_spread_l: float | None
    repeatable: bool
    fev1_l: float | None
    fvc_l: float | None
    fev1_fvc: float | None
    pef_l_s: float | None
    best_test_index: int | None
    fef25_75_l_s: float | None
    stop: bool
    advice_code: Advice
    #: FEV0.75, graded as FEV1 is (children aged 6 or younger are assessed on it; None when no blow gives it)
    grade_fev0_75: Grade = Grade.F
    fev0_75_l: float | None = None


def _spread(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    top = sorted(values, reverse=True)
    return top[0] - top[1]


def grade(acceptable: list[float], usable: list[float], age_years: float | None = None) -> tuple[Grade, float | None]:
    """ATS/ERS 2019 grade for one parameter (Table 10) from its acceptable and usable values.

    Parameters
    ----------
    acceptable : list of float
        The acceptable values of the parameter (L).
    usable : list of float
        The usable values (L).
    age_years : float or None, optional
        Age in decimal years (children aged 6 or younger have their own repeatability limits).

    Returns
    -------
    grade : Grade
        A-E from the acceptable values, U when only usable ones, F when none.
    spread_l : float or None
        Difference between the two largest acceptable values (L), None with fewer than two.
    """
    if not acceptable:
        return (Grade.U if usable else Grade.F), None
    if len(acceptable) == 1:
        return Grade.E, None
    spread = _spread(acceptable)
    assert spread is not None
    child = is_young_child(age_years)
    top = max(acceptable)
    for g, adult, kid in _GRADE_LIMITS:
        limit = max(kid, 0.10 * top) if child else adult
        if spread <= limit + 1e-9:
            if g is Grade.A and len(acceptable) == 2:
                return Grade.B, spread
            return g, spread
    return Grade.E, spread


def analyse_session(recs: Sequence[FlowRecording], *, age_years: float | None = None,
                    eofe: EofeRule = EOFE_2019,
                    marks: Sequence[Iterable[OperatorMark]] | None = None) -> SessionResult:
    """Analyse every manoeuvre in order, then grade the session and choose the reported values.

    Parameters
    ----------
    recs : sequence of FlowRecording
        The blows, in order (flow in L/s, BTPS).
    age_years : float or None, optional
        Age in decimal years.
    eofe : EofeRule, optional
        End-of-forced-expiration criteria.
    marks : sequence of iterable of OperatorMark, optional
        ``marks[i]`` are the nurse's operator-assessed marks on blow i (Table 7 rows 7-8, sub-maximal effort).

    Returns
    -------
    SessionResult
        Blows, grades, spreads (L), reported values and the advice code.
    """
    blows: list[Blow] = []
    largest_fvc: float | None = None
    for k, rec in enumerate(recs):
        ind = manoeuvre_indices(rec, eofe)
        blow_marks = tuple(marks[k]) if marks is not None and k < len(marks) else ()
        acc = assess(rec, ind, age_years=age_years, largest_earlier_fvc_l=largest_fvc, marks=blow_marks)
        blows.append(Blow(ind, acc))
        largest_fvc = ind.fvc_l if largest_fvc is None else max(largest_fvc, ind.fvc_l)
    return grade_session(blows, age_years=age_years)


def grade_session(blows: Sequence[Blow], *, age_years: float | None = None) -> SessionResult:
    """Grade a session from its analysed blows and choose the reported values (largest FEV1 and FVC, best
    test by FEV1 + FVC).

    Parameters
    ----------
    blows : sequence of Blow
        Every blow's indices and acceptability, in order.
    age_years : float or None, optional
        Age in decimal years.

    Returns
    -------
    SessionResult
        Grades (FEV1, FVC, FEV0.75), spreads (L), reported values (L, L/s), stop flag and advice code.
    """
    a1 = [b.indices.fev1_l for b in blows if b.acceptability.acceptable_fev1 and b.indices.fev1_l is not None]
    u1 = [b.indices.fev1_l for b in blows if b.acceptability.usable_fev1 and b.indices.fev1_l is not None]
    av = [b.indices.fvc_l for b in blows if b.acceptability.acceptable_fvc]
    uv = [b.indices.fvc_l for b in blows if b.acceptability.usable_fvc]
    g1, s1 = grade(a1, u1, age_years)
    gv, sv = grade(av, uv, age_years)
    fev1 = max(a1 or u1) if (a1 or u1) else None
    fvc = max(av or uv) if (av or uv) else None
    best: int | None = None
    best_sum = -1.0
    for i, b in enumerate(blows):
        acc = b.acceptability
        if acc.acceptable_fev1 and acc.acceptable_fvc and b.indices.fev1_l is not None:
            s = b.indices.fev1_l + b.indices.fvc_l
            if s > best_sum:
                best, best_sum = i, s
    repeatable = g1 in (Grade.A, Grade.B) and gv in (Grade.A, Grade.B)
    if len(a1) >= 3 and len(av) >= 3 and repeatable:
        stop, advice = True, Advice.ENOUGH_ACCEPTABLE_REPEATABLE
    elif len(blows) >= MAX_MANOEUVRES:
        stop, advice = True, Advice.MAX_MANOEUVRES_REACHED
    elif len(a1) >= 2 and len(av) >= 2 and not repeatable:
        stop, advice = False, Advice.NOT_REPEATABLE_ONE_MORE
    else:
        stop, advice = False, Advice.NEED_MORE_ACCEPTABLE
    pefs = [b.indices.pef_l_s for b in blows if b.acceptability.usable_fev1]
    a075 = [b.indices.fev0_75_l for b in blows
            if b.acceptability.acceptable_fev0_75 and b.indices.fev0_75_l is not None]
    u075 = [b.indices.fev0_75_l for b in blows if b.acceptability.usable_fev0_75 and b.indices.fev0_75_l is not None]
    g075, _ = grade(a075, u075, age_years)
    return SessionResult(
        blows=tuple(blows), grade_fev1=g1, grade_fvc=gv, fev1_spread_l=s1, fvc_spread_l=sv, repeatable=repeatable,
        fev1_l=fev1, fvc_l=fvc, fev1_fvc=(fev1 / fvc) if fev1 is not None and fvc else None,
        pef_l_s=max(pefs) if pefs else None, best_test_index=best,
        fef25_75_l_s=blows[best].indices.fef25_75_l_s if best is not None else None, stop=stop, advice_code=advice,
        grade_fev0_75=g075, fev0_75_l=max(a075 or u075) if (a075 or u075) else None,
    )


@dataclass(frozen=True)
class BronchodilatorResponse:
    """Pre vs post bronchodilator changes, as numbers only (ERS/ATS 2022 uses change in % predicted)."""

    fev1_change_l: float
    fev1_change_pct: float
    fvc_change_l: float
    fvc_change_pct: float
    fev1_change_pct_predicted: float | None
    fvc_change_pct_predicted: float | None


def bronchodilator_response(pre_fev1_l: float, post_fev1_l: float, pre_fvc_l: float, post_fvc_l: float, *,
                            fev1_predicted_l: float | None = None,
                            fvc_predicted_l: float | None = None) -> BronchodilatorResponse:
    """Pre vs post bronchodilator changes, as numbers only (no verdict: ERS/ATS 2022 judges the change in %
    predicted).

    Parameters
    ----------
    pre_fev1_l, post_fev1_l : float
        FEV1 before and after the bronchodilator (L).
    pre_fvc_l, post_fvc_l : float
        FVC before and after (L).
    fev1_predicted_l : float or None, optional
        Predicted FEV1 (L), for the change in % predicted.
    fvc_predicted_l : float or None, optional
        Predicted FVC (L).

    Returns
    -------
    BronchodilatorResponse
        Changes in L, in % of the pre value and in % predicted.
    """
    return BronchodilatorResponse(
        fev1_change_l=post_fev1_l - pre_fev1_l, fev1_change_pct=100.0 * (post_fev1_l - pre_fev1_l) / pre_fev1_l,
        fvc_change_l=post_fvc_l - pre_fvc_l, fvc_change_pct=100.0 * (post_fvc_l - pre_fvc_l) / pre_fvc_l,
        fev1_change_pct_predicted=(100.0 * (post_fev1_l - pre_fev1_l) / fev1_predicted_l
                                   if fev1_predicted_l else None),
        fvc_change_pct_predicted=(100.0 * (post_fvc_l - pre_fvc_l) / fvc_predicted_l if fvc_predicted_l else None),
    )
