"""The examinations of the day, held by the server (so closing and reopening the page resumes them; a restart
replays them from their journal, :mod:`asalee_devices.web.journal`), and their JSON views for the pages. Ids are
opaque random hex strings (never patient data in URLs)."""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out.context import PatientContext
from asalee_devices.messages.ecg import finding_text, quality_messages
from asalee_devices.messages.spirometry import blow_messages
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.btps import AmbientConditions
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.workflow.ecg_exam import CaptureFeedback, EcgExamination
from asalee_devices.workflow.spirometry_exam import (
    BlowFeedback,
    ReferenceSubject,
    SpirometryExamination,
)

Lang = Literal["fr", "en"]

INTERRUPTED_BLOW = {"fr": "Appareil débranché pendant l'essai — essai partiel conservé et marqué interrompu ; "
                          "rebrancher l'appareil puis refaire l'essai",
                    "en": "Device unplugged during the blow — the partial blow is kept and marked interrupted; "
                          "plug the device back in and repeat the blow"}
DEVICE_ERROR = {"fr": "Appareil injoignable : {reason}", "en": "Device unreachable: {reason}"}


def new_id() -> str:
    return secrets.token_hex(12)


def age_years(birth: date, on: date) -> float:
    return (on - birth).days / 365.25


def _num(v: float | None, digits: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


@dataclass
class PatientRecord:
    id: str
    ctx: PatientContext
    height_cm: float | None = None

    def view(self) -> dict[str, Any]:
        p = self.ctx
        return {"id": self.id, "family": p.family, "given": " ".join(p.given), "birth_date": p.birth_date.isoformat(),
                "sex": p.sex, "ins": p.ins_normalised, "ins_kind": p.ins_kind if p.ins else None,
                "local_id": p.local_id, "height_cm": self.height_cm}


@dataclass
class Delivery:
    kind: str
    message_id: int
    pdf_path: str = ""


@dataclass
class BaseExam:
    id: str
    patient: PatientRecord
    started_at: datetime
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    busy: bool = False
    device_error: str = ""
    identity: DeviceIdentity | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    record_id: str = ""  # the examination id in the record (workflow.delivery: derived from the recordings)
    pdf_path: str = ""  # the delivered report
    message: str = ""  # the delivery message for the nurse
    protocol: str = ""  # the ASALEE protocol chosen by the nurse ("" = the configuration's default)
    #: (what it was rendered from, PDF): the report the nurse previews, sent as is (web.delivery.report)
    report: tuple[str, bytes] | None = field(default=None, repr=False)

    kind = "exam"

    def base_view(self) -> dict[str, Any]:
        ident = self.identity
        return {"id": self.id, "kind": self.kind, "patient": self.patient.view(),
                "started_at": self.started_at.isoformat(timespec="seconds"), "busy": self.busy,
                "device_error": self.device_error, "sent": bool(self.deliveries),
                "device": None if ident is None else {"manufacturer": ident.manufacturer, "model": ident.model,
                                                      "serial_number": ident.serial_number,
                                                      "firmware": ident.firmware}}


@dataclass
class Blow:
    phase: str
    number: int
    recording: FlowRecording
    feedback: BlowFeedback
    reason: str = ""


@dataclass
class SpiroExam(BaseExam):
    exam: SpirometryExamination = field(default_factory=SpirometryExamination)
    blows: list[Blow] = field(default_factory=list)
    attempts: int = 0  # device sessions started (drives the simulator script)
    calibration_log: Path | None = None

    kind = "spirometry"

    def blow_view(self, b: Blow, lang: Lang, best: bool = False) -> dict[str, Any]:
        """One row of the blow table: FEV1 and FVC are judged separately (ATS/ERS 2019 Table 7: a blow may count
        for FEV1 and not for FVC, or be usable only), ``best`` marks the phase's reported blow (largest
        FEV1 + FVC), ``index`` is its 1-based place among the examination's blows (its curve's URL)."""
        fb = b.feedback
        acc = fb.acceptability
        ok = acc is not None and not b.recording.interrupted
        msgs = list(blow_messages(acc, lang)) if acc is not None else list(fb.messages)
        if b.recording.interrupted:
            msgs.insert(0, INTERRUPTED_BLOW[lang])
        i = fb.indices
        return {"phase": b.phase, "number": b.number, "acceptable": fb.acceptable and not b.recording.interrupted,
                "usable": bool(acc is not None and acc.usable_fev1), "interrupted": b.recording.interrupted,
                "reason": b.reason, "messages": msgs, "error": fb.error,
                "acceptable_fev1": bool(ok and acc and acc.acceptable_fev1),
                "acceptable_fvc": bool(ok and acc and acc.acceptable_fvc),
                "usable_fev1": bool(ok and acc and acc.usable_fev1), "usable_fvc": bool(ok and acc and acc.usable_fvc),
                "best": best and not b.recording.interrupted, "index": self.blows.index(b) + 1,
                "marks": [m.value for m in (acc.marks if acc is not None else ())],
                "fev1_l": _num(i.fev1_l) if i else None, "fvc_l": _num(i.fvc_l) if i else None,
                "pef_l_s": _num(i.pef_l_s, 2) if i else None, "fs_hz": b.recording.fs_hz}

    def view(self, lang: Lang) -> dict[str, Any]:
        with self.lock:  # the device thread may be adding a blow
            return self._view(lang)

    def _view(self, lang: Lang) -> dict[str, Any]:
        from asalee_devices.messages.spirometry import ADVICE_MESSAGES
        from asalee_devices.signal.spirometry.session import Advice

        self.exam.lang = lang
        out = self.base_view()
        phase = self.exam.phase
        result = self.exam.phase_result(phase)
        session = result.session if result is not None else None
        n_phase = len(result.recordings) if result is not None else 0
        stop = bool(session is not None and session.stop) or n_phase >= 8
        advice = ADVICE_MESSAGES[session.advice_code][lang] if session is not None else (
            ADVICE_MESSAGES[Advice.NEED_MORE_ACCEPTABLE][lang])
        phases = []
        best: set[tuple[str, int]] = set()  # (phase, number) of each phase's reported blow
        for ph in self.exam.phases:
            r = self.exam.phase_result(ph)
            s = r.session if r is not None else None
            if r is not None and s is not None and s.best_test_index is not None:
                best.add((ph, r.analysed[s.best_test_index] + 1))
            phases.append({"phase": ph, "grade_fev1": s.grade_fev1 if s else None,
                           "grade_fvc": s.grade_fvc if s else None,
                           "fev1_l": _num(s.fev1_l) if s else None, "fvc_l": _num(s.fvc_l) if s else None,
                           "parameters": [{"name": p.name, "label": p.label, "unit": p.unit,
                                           "measured": _num(p.measured), "predicted": _num(p.predicted),
                                           "lln": _num(p.lln), "z_score": _num(p.z_score, 2),
                                           "percent_predicted": _num(p.percent_predicted, 0)}
                                          for p in (r.parameters if r is not None else ())]})
        bd = self.exam.bronchodilator()
        amb = self.exam.ambient
        first = next((r for ph in self.exam.phases if (r := self.exam.phase_result(ph)) and r.recordings), None)
        btps = first.recordings[0].btps if first is not None else None
        out["calibration"] = calibration_view(self.calibration_log, self.identity, lang)
        out["btps"] = {"ambient": None if amb is None else {"temperature_c": amb.temperature_c,
                                                            "pressure_hpa": amb.pressure_hpa,
                                                            "relative_humidity_pct": amb.relative_humidity_pct},
                       "source": btps.source if btps is not None else None,
                       "factor": _num(btps.factor, 3) if btps is not None else None}
        out.update({"phase": phase, "stop": stop, "advice": advice, "complete": stop,
                    "grade_fev1": session.grade_fev1 if session else None,
                    "grade_fvc": session.grade_fvc if session else None,
                    "blows": [self.blow_view(b, lang, (b.phase, b.number) in best) for b in self.blows],
                    "phases": phases,
                    "bronchodilator": None if bd is None else {
                        k: _num(v, 3) for k, v in vars(bd).items() if isinstance(v, float)}})
        return out

    def add(self, rec: FlowRecording, reason: str) -> Blow:
        fb = self.exam.add_blow(rec)
        blow = Blow(self.exam.phase, fb.number, rec, fb, reason)
        self.blows.append(blow)
        return blow

    def set_ambient(self, conditions: AmbientConditions) -> None:
        """The room's conditions (BTPS): every blow's feedback is recomputed from the corrected flow."""
        self.exam.set_ambient(conditions)
        for b in self.blows:
            b.feedback = self.exam.feedback(b.phase, b.number)  # type: ignore[arg-type]

    def mark(self, phase: str, number: int, marks: list[str]) -> Blow:
        """The nurse's operator-assessed marks on one blow (workflow refuses a blow that does not exist)."""
        fb = self.exam.mark_blow(number, marks, phase=phase)  # type: ignore[arg-type]
        for b in self.blows:
            if b.phase == phase and b.number == number:
                b.feedback = fb
                return b
        raise AssertionError("blow known to the examination but not to the page")  # pragma: no cover


def calibration_view(log: Path | None, identity: DeviceIdentity | None, lang: Lang) -> dict[str, Any] | None:
    """The spirometer's last calibration verification for the nurse's screens (None before the device is known)."""
    from asalee_devices.workflow.calibration_log import calibration_note, status_for

    if log is None or identity is None:
        return None
    status = status_for(log, identity.serial_number)
    return {"state": status.state, "warning": status.warning, "note": calibration_note(status, lang),
            "device_serial": identity.serial_number}


@dataclass
class Capture:
    number: int
    recording: EcgRecording
    feedback: CaptureFeedback
    reason: str = ""


@dataclass
class Interpretation:
    text: str
    codes: tuple[dict[str, str], ...]  # {system, code, display, text}: the statements the GP picked
    at: datetime
    message_id: int | None = None
    version: int = 1  # 1 = the first interpretation, 2... = the GP's amendments
    pdf_path: str = ""  # the "interprété" ECG PDF of this version (beside the recordings)

    def view(self) -> dict[str, Any]:
        return {"version": self.version, "text": self.text, "at": self.at.isoformat(timespec="seconds"),
                "codes": list(self.codes), "has_pdf": bool(self.pdf_path)}


@dataclass
class EcgExam(BaseExam):
    exam: EcgExamination = field(default_factory=EcgExamination)
    captures: list[Capture] = field(default_factory=list)
    attempts: int = 0
    #: the GP's interpretations, oldest first: the last is the current version, the others the amended ones
    interpretations: list[Interpretation] = field(default_factory=list)

    kind = "ecg"

    def capture_view(self, c: Capture, lang: Lang) -> dict[str, Any]:
        fb = c.feedback
        a = fb.analysis
        msgs = list(quality_messages(a.quality, lang)) if a is not None else list(fb.messages)
        if c.recording.interrupted:
            msgs.insert(0, {"fr": "Enregistrement interrompu (appareil déconnecté) — refaire l'ECG",
                            "en": "Recording interrupted (device disconnected) — record the ECG again"}[lang])
        leads = []
        if a is not None:
            for lq in a.quality.leads:
                f = lq.findings[0] if lq.findings else None
                leads.append({"lead": lq.lead, "ok": f is None, "code": f.code if f else None,
                              "electrodes": list(f.electrodes) if f else [],
                              "message": finding_text(f, a.quality, lang) if f else ""})
        verdict = {"fr": ("Qualité technique acceptable — tracé prêt pour le médecin", "Refaire l'ECG conseillé"),
                   "en": ("Technical quality acceptable — trace ready for the physician", "Retake advised")}[lang]
        return {"number": c.number, "acceptable": fb.acceptable, "interrupted": c.recording.interrupted,
                "reason": c.reason, "verdict": verdict[0] if fb.acceptable else verdict[1], "messages": msgs,
                "heart_rate_bpm": _num(fb.heart_rate_bpm, 0), "leads": leads, "error": fb.error}

    @property
    def interpretation(self) -> Interpretation | None:
        """The current version of the GP's interpretation."""
        return self.interpretations[-1] if self.interpretations else None

    @property
    def interpretation_count(self) -> int:
        """The highest version interpreted so far (0 before the first): the next one is this + 1."""
        return max((i.version for i in self.interpretations), default=0)

    def interpret(self, it: Interpretation) -> None:
        """A new version of the GP's interpretation; the current one (if any) is kept among the earlier ones."""
        self.interpretations.append(it)

    def view(self, lang: Lang) -> dict[str, Any]:
        with self.lock:  # the device thread may be adding a capture
            return self._view(lang)

    def _view(self, lang: Lang) -> dict[str, Any]:
        self.exam.lang = lang
        out = self.base_view()
        it = self.interpretation
        out.update({"captures": [self.capture_view(c, lang) for c in self.captures],
                    "kept": None if self.exam.kept is None else self.exam.kept + 1,
                    "interpretation": None if it is None else it.view()})
        return out


@dataclass
class ExamStore:
    patients: dict[str, PatientRecord] = field(default_factory=dict)
    exams: dict[str, SpiroExam | EcgExam] = field(default_factory=dict)
    current_patient: str | None = None
    #: the spirometers' calibration log (beside the outbox); None: not shown
    calibration_log: Path | None = None

    def add_patient(self, ctx: PatientContext, height_cm: float | None) -> PatientRecord:
        rec = PatientRecord(new_id(), ctx, height_cm)
        self.patients[rec.id] = rec
        self.current_patient = rec.id
        return rec

    def new_spirometry(self, patient: PatientRecord, lang: Lang, equation: str, *, exam_id: str | None = None,
                       started_at: datetime | None = None) -> SpiroExam:
        """A new spirometry (``exam_id`` and ``started_at`` given when a journaled one is resumed: the age for the
        reference values is the age on the day of the examination)."""
        now = started_at or datetime.now(UTC)
        subject = None
        if patient.height_cm is not None and patient.ctx.sex in ("male", "female"):
            subject = ReferenceSubject(sex=patient.ctx.sex, age_years=age_years(patient.ctx.birth_date, now.date()),
                                       height_cm=patient.height_cm, equation=equation)
        exam = SpiroExam(exam_id or new_id(), patient, now, exam=SpirometryExamination(subject, lang=lang),
                         calibration_log=self.calibration_log)
        self.exams[exam.id] = exam
        return exam

    def new_ecg(self, patient: PatientRecord, lang: Lang, mains_hz: float, *, exam_id: str | None = None,
                started_at: datetime | None = None) -> EcgExam:
        exam = EcgExam(exam_id or new_id(), patient, started_at or datetime.now(UTC),
                       exam=EcgExamination(mains_hz=mains_hz, lang=lang))
        self.exams[exam.id] = exam
        return exam

    def today(self) -> list[SpiroExam | EcgExam]:
        day = datetime.now(UTC).date()
        return [e for e in self.exams.values() if e.started_at.date() == day]

    def current(self, kind: str) -> SpiroExam | EcgExam | None:
        """The latest examination of this kind not yet sent (what a reopened page resumes)."""
        for e in reversed(list(self.exams.values())):
            if e.kind == kind and not e.deliveries:
                return e
        return None
