"""A spirometry examination, blow by blow: feedback after each blow, stopping advice, pre/post bronchodilator phases,
reported values against reference values, and the data of the GP's report.

Pure orchestration of ``signal.spirometry`` (no I/O): the CLI and the web app feed it recordings as they arrive from
the device session and show what it returns. Every recording is kept, including the ones that could not be analysed
(they are flagged with the reason and excluded from the grading, never silently dropped).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from asalee_devices.errors import AsaleeError, InputError, ReferenceDomainError
from asalee_devices.messages.spirometry import ACCEPTABLE_MESSAGE, ADVICE_MESSAGES, blow_messages
from asalee_devices.signal.spirometry.acceptability import Acceptability, OperatorMark, is_young_child
from asalee_devices.signal.spirometry.btps import AmbientConditions, apply_btps, reapply_ambient
from asalee_devices.signal.spirometry.indices import EOFE_2019, EofeRule, ManoeuvreIndices
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.signal.spirometry.reference import parameters, predict
from asalee_devices.signal.spirometry.session import (
    MAX_MANOEUVRES,
    Advice,
    BronchodilatorResponse,
    SessionResult,
    analyse_session,
    bronchodilator_response,
)

if TYPE_CHECKING:
    from asalee_devices.reports.spirometry_pdf import PhaseQuality, SpirometryReportData

Phase = Literal["pre", "post"]
Lang = Literal["fr", "en"]

#: Reported parameters, in report order: (name, unit, display label).
REPORTED_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("fev1", "L", "FEV1"),
    ("fvc", "L", "FVC"),
    ("fev1_fvc", "", "FEV1/FVC"),
    ("pef", "L/s", "PEF"),
    ("fef25_75", "L/s", "FEF25-75"),
    ("fev6", "L", "FEV6"),
    ("fev0_75", "L", "FEV0.75"),  # children aged 6 or younger only
    ("fet", "s", "FET"),
)
EQUATION_LABELS = {"gli-global-2022": "GLI Global 2022", "gli-2012": "GLI-2012", "ecsc-1993": "ECSC/CECA 1993"}
#: Operator marks as the nurse may type them (the codes, and the French words).
MARK_ALIASES: dict[str, OperatorMark] = {
    **{m.value: m for m in OperatorMark},
    "fuite": OperatorMark.LEAK, "embout": OperatorMark.OBSTRUCTED_MOUTHPIECE,
    "embout_obstrue": OperatorMark.OBSTRUCTED_MOUTHPIECE, "effort": OperatorMark.SUBMAXIMAL_EFFORT,
    "effort_sous_maximal": OperatorMark.SUBMAXIMAL_EFFORT,
}


def parse_marks(marks: Iterable[str]) -> tuple[OperatorMark, ...]:
    """The nurse's marks as codes (duplicates dropped, in the standard's order); unknown words refused."""
    out: set[OperatorMark] = set()
    for m in marks:
        key = str(m).strip().lower().replace("-", "_").replace(" ", "_").replace("é", "e")
        if key not in MARK_ALIASES:
            raise InputError("Unknown operator mark", field="mark", value=str(m),
                             expected="leak (fuite), obstructed_mouthpiece (embout), submaximal_effort (effort)")
        out.add(MARK_ALIASES[key])
    return tuple(m for m in OperatorMark if m in out)


_NOT_ANALYSABLE = {"fr": "Essai non analysable — refaire l'essai ({reason})",
                   "en": "Blow could not be analysed — repeat it ({reason})"}


@dataclass(frozen=True)
class ReferenceSubject:
    """What the reference equations need about the patient (never the identity)."""

    sex: Literal["male", "female"]
    age_years: float
    height_cm: float
    equation: str = "gli-global-2022"
    ethnicity: str | None = None


@dataclass(frozen=True)
class ParameterResult:
    """One reported parameter with its reference values (None where the equation does not cover it)."""

    name: str
    label: str
    unit: str
    measured: float | None
    predicted: float | None = None
    lln: float | None = None
    uln: float | None = None
    z_score: float | None = None
    percent_predicted: float | None = None
    equation: str | None = None


@dataclass(frozen=True)
class BlowFeedback:
    """What the nurse sees after a blow."""

    phase: Phase
    number: int
    indices: ManoeuvreIndices | None
    acceptability: Acceptability | None
    messages: tuple[str, ...]
    session: SessionResult | None
    advice: str
    stop: bool
    analysis_ms: float
    error: str | None = None

    @property
    def acceptable(self) -> bool:
        a = self.acceptability
        return a is not None and a.acceptable_fev1 and a.acceptable_fvc


@dataclass(frozen=True)
class PhaseResult:
    phase: Phase
    recordings: tuple[FlowRecording, ...]
    analysed: tuple[int, ...]
    session: SessionResult | None
    parameters: tuple[ParameterResult, ...]


@dataclass
class _PhaseState:
    recordings: list[FlowRecording] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    checked: set[int] = field(default_factory=set)
    #: the nurse's operator-assessed marks, by blow index (0-based)
    marks: dict[int, tuple[OperatorMark, ...]] = field(default_factory=dict)
    #: the session analysis of the first n recordings (blows are only ever appended): results, reports and the
    #: FHIR mapping ask for it several times per examination, it is computed once per new blow
    analysed: tuple[int, SessionResult | None, list[int]] | None = None


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class SpirometryExamination:
    """Blow-by-blow spirometry session with an optional post-bronchodilator phase."""

    def __init__(self, subject: ReferenceSubject | None = None, *, lang: Lang = "fr",
                 eofe: EofeRule = EOFE_2019, ambient: AmbientConditions | None = None) -> None:
        self.subject = subject
        #: the room's conditions: every ATPS blow is corrected to BTPS with them, exactly once
        self.ambient = ambient
        self.lang: Lang = lang
        self.eofe = eofe
        self._phases: dict[Phase, _PhaseState] = {"pre": _PhaseState()}
        self.phase: Phase = "pre"
        if subject is not None and subject.equation not in EQUATION_LABELS:
            raise ReferenceDomainError("Unknown reference equation", field="equation", value=subject.equation,
                                       expected=", ".join(EQUATION_LABELS))

    @property
    def reports_fev0_75(self) -> bool:
        """FEV0.75 is reported and graded (ATS/ERS 2019) for children aged 6 or younger, in completed years."""
        return self.subject is not None and is_young_child(self.subject.age_years)

    # -- acquisition ---------------------------------------------------------------------------------------------
    def add_blow(self, rec: FlowRecording) -> BlowFeedback:
        """Analyse a new blow of the current phase and return the nurse's feedback (never raises on a bad blow:
        a blow that cannot be analysed is kept, flagged and reported with the reason)."""
        t0 = time.perf_counter()
        state = self._phases[self.phase]
        if self.ambient is not None and rec.btps.source == "none":  # ATPS: corrected once, factor recorded
            rec = apply_btps(rec, self.ambient.correction())
        state.recordings.append(rec)
        return self._feedback(self.phase, len(state.recordings), t0)

    def set_ambient(self, ambient: AmbientConditions) -> None:
        """Set (or correct) the room's conditions: the blows already recorded from an ATPS device are corrected
        again from the raw flow (the earlier factor divided out), never twice; device-corrected blows untouched."""
        correction = ambient.correction()
        for state in self._phases.values():
            state.recordings = [reapply_ambient(r, correction) for r in state.recordings]
            state.analysed, state.checked, state.errors = None, set(), {}
        self.ambient = ambient

    def mark_blow(self, number: int, marks: Iterable[str], *, phase: Phase | None = None) -> BlowFeedback:
        """Record the nurse's operator-assessed marks on blow ``number`` (1-based) of ``phase`` (default: the current
        one), replacing its previous marks (none clears them); returns the blow's new feedback. A blow that does not
        exist or an unknown mark is refused (``InputError``) and nothing changes."""
        ph: Phase = phase or self.phase
        if ph not in self._phases:
            raise InputError("No such phase to mark a blow in", field="phase", value=ph,
                             expected=", ".join(self._phases))
        state = self._phases[ph]
        n = len(state.recordings)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= n:
            raise InputError("No such blow to mark", field="blow", value=number,
                             expected=f"a blow number 1-{n} of the {ph} phase" if n else
                             f"a recorded blow (the {ph} phase has none yet)")
        parsed = parse_marks(marks)
        if parsed:
            state.marks[number - 1] = parsed
        else:
            state.marks.pop(number - 1, None)
        state.analysed = None
        return self._feedback(ph, number, time.perf_counter())

    def feedback(self, phase: Phase, number: int) -> BlowFeedback:
        """The current feedback of blow ``number`` (1-based) of ``phase`` (after marks or new ambient conditions)."""
        return self._feedback(phase, number, time.perf_counter())

    def marks(self, phase: Phase = "pre") -> dict[int, tuple[OperatorMark, ...]]:
        """The marks of a phase by blow number (1-based)."""
        state = self._phases.get(phase)
        return {} if state is None else {i + 1: m for i, m in sorted(state.marks.items())}

    def _feedback(self, phase: Phase, number: int, t0: float) -> BlowFeedback:
        state = self._phases[phase]
        session, analysed = self._analyse(phase)
        error: str | None = None
        indices: ManoeuvreIndices | None = None
        acceptability: Acceptability | None = None
        if number - 1 in state.errors:
            error = state.errors[number - 1]
            messages: tuple[str, ...] = (_NOT_ANALYSABLE[self.lang].format(reason=error),)
        else:
            assert session is not None
            blow = session.blows[analysed.index(number - 1)]
            indices, acceptability = blow.indices, blow.acceptability
            messages = blow_messages(acceptability, self.lang)
        if session is not None:
            advice_code, stop = session.advice_code, session.stop
        else:
            advice_code, stop = Advice.NEED_MORE_ACCEPTABLE, False
        if number >= MAX_MANOEUVRES:
            stop = True
            if advice_code != Advice.ENOUGH_ACCEPTABLE_REPEATABLE:
                advice_code = Advice.MAX_MANOEUVRES_REACHED
        return BlowFeedback(phase=phase, number=number, indices=indices, acceptability=acceptability,
                            messages=messages, session=session, advice=ADVICE_MESSAGES[advice_code][self.lang],
                            stop=stop, analysis_ms=(time.perf_counter() - t0) * 1000.0, error=error)

    def start_post_bronchodilator(self) -> None:
        """Close the pre-bronchodilator phase and start the post phase."""
        if "post" in self._phases:
            return
        if not self._phases["pre"].recordings:
            raise AsaleeError("Record the pre-bronchodilator blows before the post phase", field="phase",
                              value="post", expected="at least one pre-bronchodilator blow")
        self._phases["post"] = _PhaseState()
        self.phase = "post"

    @property
    def phases(self) -> tuple[Phase, ...]:
        return tuple(self._phases)

    # -- results -------------------------------------------------------------------------------------------------
    def _analyse(self, phase: Phase) -> tuple[SessionResult | None, list[int]]:
        state = self._phases[phase]
        if state.analysed is not None and state.analysed[0] == len(state.recordings):
            return state.analysed[1], list(state.analysed[2])
        session, valid = self._analyse_all(state)
        state.analysed = (len(state.recordings), session, list(valid))
        return session, valid

    def _analyse_all(self, state: _PhaseState) -> tuple[SessionResult | None, list[int]]:
        valid: list[int] = []
        for i, rec in enumerate(state.recordings):
            if i not in state.checked:
                state.checked.add(i)
                try:  # validate each blow alone once, so one bad blow never hides the others
                    analyse_session([rec], eofe=self.eofe)
                except AsaleeError as exc:
                    state.errors[i] = str(exc)
            if i not in state.errors:
                valid.append(i)
        if not valid:
            return None, valid
        age = self.subject.age_years if self.subject else None
        return analyse_session([state.recordings[i] for i in valid], age_years=age, eofe=self.eofe,
                               marks=[state.marks.get(i, ()) for i in valid]), valid

    def phase_result(self, phase: Phase = "pre") -> PhaseResult | None:
        if phase not in self._phases:
            return None
        session, analysed = self._analyse(phase)
        return PhaseResult(phase=phase, recordings=tuple(self._phases[phase].recordings), analysed=tuple(analysed),
                           session=session, parameters=self._parameters(session))

    def _measured(self, session: SessionResult | None) -> dict[str, float | None]:
        if session is None:
            return {name: None for name, _, _ in REPORTED_PARAMETERS}
        best = session.blows[session.best_test_index] if session.best_test_index is not None else None
        fev6 = [b.indices.fev6_l for b in session.blows
                if b.acceptability.usable_fev1 and b.indices.fev6_l is not None]
        return {"fev1": session.fev1_l, "fvc": session.fvc_l, "fev1_fvc": session.fev1_fvc, "pef": session.pef_l_s,
                "fef25_75": session.fef25_75_l_s, "fev6": max(fev6) if fev6 else None,
                "fet": best.indices.fet_s if best is not None else None, "fev0_75": session.fev0_75_l}

    def _parameters(self, session: SessionResult | None) -> tuple[ParameterResult, ...]:
        measured = self._measured(session)
        out: list[ParameterResult] = []
        subject = self.subject
        covered = parameters(subject.equation) if subject is not None else ()
        for name, unit, label in REPORTED_PARAMETERS:
            if name == "fev0_75" and not self.reports_fev0_75:
                continue
            value = measured[name]
            if subject is None or name not in covered:
                out.append(ParameterResult(name, label, unit, value))
                continue
            pr = predict(name, sex=subject.sex, age_years=subject.age_years, height_cm=subject.height_cm,
                         equation=subject.equation, ethnicity=subject.ethnicity)
            z = pct = None
            if value is not None:
                z = _finite(float(pr.z_score(value)[0]))
                pct = _finite(float(pr.percent_predicted(value)[0]))
            out.append(ParameterResult(name, label, unit, value, predicted=_finite(float(pr.predicted[0])),
                                       lln=_finite(float(pr.lln[0])), uln=_finite(float(pr.uln[0])), z_score=z,
                                       percent_predicted=pct, equation=subject.equation))
        return tuple(out)

    def bronchodilator(self) -> BronchodilatorResponse | None:
        """Pre vs post changes as numbers (no wording), when both phases have reported FEV1 and FVC."""
        pre, post = self.phase_result("pre"), self.phase_result("post")
        if pre is None or post is None or pre.session is None or post.session is None:
            return None
        a, b = pre.session, post.session
        if a.fev1_l is None or b.fev1_l is None or a.fvc_l is None or b.fvc_l is None:
            return None
        pred = {p.name: p.predicted for p in pre.parameters}
        return bronchodilator_response(a.fev1_l, b.fev1_l, a.fvc_l, b.fvc_l, fev1_predicted_l=pred.get("fev1"),
                                       fvc_predicted_l=pred.get("fvc"))

    def acceptable_message(self) -> str:
        return ACCEPTABLE_MESSAGE[self.lang]


def _report_date(text: str) -> str:
    """A birth date as the report prints it (dd/mm/yyyy): ISO dates are converted, anything else kept."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%d/%m/%Y")
    except ValueError:
        return text


def _phase_quality(result: PhaseResult, child: bool) -> PhaseQuality:
    """Grades and repeatability of a phase: the difference between the two largest acceptable FEV1 (FVC) values,
    in L and in % of the largest, with the grade-A limit (adults 0.150 L; children aged 6 or younger max(0.100 L,
    10 % of the largest), ATS/ERS 2019 Table 10)."""
    from asalee_devices.reports.spirometry_pdf import PhaseQuality

    s = result.session
    assert s is not None
    acc = [b.acceptability for b in s.blows]
    top_fev1 = max((b.indices.fev1_l for b, a in zip(s.blows, acc, strict=True)
                    if a.acceptable_fev1 and b.indices.fev1_l is not None), default=None)
    top_fvc = max((b.indices.fvc_l for b, a in zip(s.blows, acc, strict=True) if a.acceptable_fvc), default=None)

    def pct(spread: float | None, top: float | None) -> float | None:
        return None if spread is None or not top else 100.0 * spread / top

    return PhaseQuality(phase=result.phase, grade_fev1=s.grade_fev1, grade_fvc=s.grade_fvc,
                        grade_fev0_75=s.grade_fev0_75 if child else "",
                        n_acceptable=sum(1 for a in acc if a.acceptable_fev1 and a.acceptable_fvc),
                        n_blows=len(result.recordings), n_acceptable_fev1=sum(a.acceptable_fev1 for a in acc),
                        n_acceptable_fvc=sum(a.acceptable_fvc for a in acc), fev1_spread_l=s.fev1_spread_l,
                        fev1_spread_pct=pct(s.fev1_spread_l, top_fev1), fvc_spread_l=s.fvc_spread_l,
                        fvc_spread_pct=pct(s.fvc_spread_l, top_fvc),
                        repeatability_limit_l=0.100 if child else 0.150,
                        repeatability_limit_pct=10.0 if child else None)


def spirometry_report_data(exam: SpirometryExamination, *, patient_name: str = "", patient_identifier: str = "",
                           birth_date: str = "", acquired_at: datetime | None = None, device_label: str = "",
                           performer_label: str = "", btps_note: str = "", calibration_note: str = "",
                           calibration_warning: bool = False) -> SpirometryReportData:
    """The GP's report of an examination, every word in the examination's language and the GP's vocabulary
    (VEMS, CVF... in French): curves of the acceptable or usable blows (reported one highlighted, aligned on their
    back-extrapolated time zero), the parameter table with reference values and the post-bronchodilator columns when
    present, the grades and repeatability of each phase, the per-blow values with the reasons a blow does not count.
    The nurse's coaching sentences and the stopping advice are not the GP's: they are left out."""
    from asalee_devices.messages.spirometry import (
        BLOW_LABEL,
        GP_NOT_ANALYSABLE,
        PARAMETER_LABELS,
        SEX_WORDS,
        btps_explanation,
        gp_reasons,
    )
    from asalee_devices.reports.spirometry_pdf import (
        BlowCurve,
        ParameterRow,
        SpirometryReportData,
    )

    lang = exam.lang
    pre = exam.phase_result("pre")
    post = exam.phase_result("post")
    post_by_name = {p.name: p for p in post.parameters} if post is not None else {}
    bd = exam.bronchodilator()
    bd_by_name = {} if bd is None else {"fev1": (bd.fev1_change_l, bd.fev1_change_pct_predicted),
                                        "fvc": (bd.fvc_change_l, bd.fvc_change_pct_predicted)}
    rows: list[ParameterRow] = []
    if pre is not None:
        for p in pre.parameters:
            q = post_by_name.get(p.name)
            change = None
            if q is not None and q.measured is not None and p.measured:
                change = 100.0 * (q.measured - p.measured) / p.measured
            unit = "%" if p.name == "fev1_fvc" else p.unit
            scale = 100.0 if p.name == "fev1_fvc" else 1.0

            def _s(v: float | None, k: float = scale) -> float | None:
                return None if v is None else v * k

            label = PARAMETER_LABELS[p.name][lang] if p.name in PARAMETER_LABELS else p.label
            rows.append(ParameterRow(name=label, unit=unit, measured=_s(p.measured), predicted=_s(p.predicted),
                                     lln=_s(p.lln), z_score=p.z_score, percent_predicted=p.percent_predicted,
                                     post_measured=_s(q.measured) if q is not None else None,
                                     post_change_percent=change,
                                     post_change_abs=bd_by_name[p.name][0] if p.name in bd_by_name else None,
                                     post_change_pct_predicted=(bd_by_name[p.name][1] if p.name in bd_by_name
                                                                else None),
                                     post_z_score=q.z_score if q is not None else None, code=p.name))
    blows: list[BlowCurve] = []
    messages: list[str] = []
    qualities: list[PhaseQuality] = []
    for result in (pre, post):
        if result is None:
            continue
        session = result.session
        for k, i in enumerate(result.analysed):
            rec = result.recordings[i]
            assert session is not None
            blow = session.blows[k]
            acc, ind = blow.acceptability, blow.indices
            blows.append(BlowCurve(label=BLOW_LABEL[lang][result.phase].format(n=i + 1), flow_l_s=rec.flow_l_s,
                                   fs_hz=rec.fs_hz, acceptable=acc.acceptable_fev1 and acc.acceptable_fvc,
                                   reported=session.best_test_index == k, phase=result.phase,
                                   messages=blow_messages(acc, lang),
                                   usable=acc.acceptable_fev1 or acc.acceptable_fvc or acc.usable_fev1
                                   or acc.usable_fvc,
                                   t0_s=ind.t0_s, end_s=_finite(ind.exhaled_segment_end_s), fev1_l=ind.fev1_l,
                                   fvc_l=ind.fvc_l, pef_l_s=ind.pef_l_s, bev_l=ind.bev_l, fet_s=ind.fet_s,
                                   acceptable_fev1=acc.acceptable_fev1, acceptable_fvc=acc.acceptable_fvc,
                                   usable_fev1=acc.usable_fev1, usable_fvc=acc.usable_fvc,
                                   reasons=gp_reasons(acc, lang)))
        for i in range(len(result.recordings)):
            if i not in result.analysed:
                messages.append(GP_NOT_ANALYSABLE[lang].format(
                    label=BLOW_LABEL[lang][result.phase].format(n=i + 1), reason="signal"))
        if session is not None:
            qualities.append(_phase_quality(result, exam.reports_fev0_75))
    s = pre.session if pre is not None else None
    subject = exam.subject
    n_acc = sum(1 for b in (s.blows if s else ()) if b.acceptability.acceptable_fev1 and b.acceptability.acceptable_fvc)
    explanation = btps_explanation({r.btps.source for r in pre.recordings}, lang) if pre is not None else ""
    labels = (PARAMETER_LABELS["fev1"][lang], PARAMETER_LABELS["fvc"][lang], PARAMETER_LABELS["fev0_75"][lang])
    return SpirometryReportData(
        patient_name=patient_name, patient_identifier=patient_identifier, birth_date=_report_date(birth_date),
        sex=SEX_WORDS[subject.sex][lang] if subject else "", age_years=subject.age_years if subject else None,
        height_cm=subject.height_cm if subject else None, acquired_at=acquired_at, device_label=device_label,
        performer_label=performer_label, equation=EQUATION_LABELS.get(subject.equation, "") if subject else "",
        grade_fev1=s.grade_fev1 if s else "", grade_fvc=s.grade_fvc if s else "", n_acceptable=n_acc if s else None,
        grade_fev0_75=s.grade_fev0_75 if s and exam.reports_fev0_75 else "",
        btps_note=btps_note, btps_explanation=explanation, calibration_note=calibration_note,
        calibration_warning=calibration_warning, rows=tuple(rows), blows=tuple(blows),
        session_messages=tuple(messages), lang=lang, quality=tuple(qualities), grade_labels=labels)
