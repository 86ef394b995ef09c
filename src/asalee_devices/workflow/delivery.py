"""From a finished examination to the record: keep the raw recordings, render the report, build the FHIR bundle,
queue it durably in the outbox, and try to deliver it now.

Order matters for "nothing is lost": the raw recordings and the analysis results are written first (atomically),
then the bundle and its PDF are committed to the outbox, and only then is the sink tried. If the record is
unreachable the examination waits in the outbox (``status="waiting"``) and ``asalee-devices outbox send`` (or the
next examination) delivers it; an identifier derived from the recordings makes a re-send a no-op at the receiver.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from asalee_devices import __version__
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out.codes import TEST_INS_KINDS
from asalee_devices.fhir_out.context import Bronchodilator, ExamContext
from asalee_devices.fhir_out.outbox import Outbox, OutboxMessage
from asalee_devices.fhir_out.pipeline import queue_exam
from asalee_devices.fhir_out.sinks.base import create_sink
from asalee_devices.files import atomic_write
from asalee_devices.jsonable import to_jsonable
from asalee_devices.reports.ecg_layout import EcgLayout
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.recording_store import save_recording
from asalee_devices.workflow.results import canonical_json, ecg_results, spirometry_results
from asalee_devices.workflow.setup import ExaminationSetup
from asalee_devices.workflow.spirometry_exam import SpirometryExamination

log = logging.getLogger(__name__)

Status = Literal["sent", "waiting", "failed", "kept"]
MANIFEST = "exam.json"
RESULTS = "results.json"
REPORT = "report.pdf"

_MESSAGES: dict[Status, dict[str, str]] = {
    "sent": {"fr": "Examen envoyé au dossier du patient", "en": "Examination sent to the patient's record"},
    "waiting": {"fr": "Dossier injoignable : l'examen est conservé et sera renvoyé automatiquement "
                      "(asalee-devices outbox send)",
                "en": "Record unreachable: the examination is kept and will be sent again automatically "
                      "(asalee-devices outbox send)"},
    "failed": {"fr": "Envoi refusé par le dossier : {reason}", "en": "Delivery refused by the record: {reason}"},
    "kept": {"fr": "Rien à envoyer (aucun tracé analysable) : les enregistrements sont conservés",
             "en": "Nothing to send (no analysable trace): the recordings are kept"},
}


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one examination. ``message`` is for the nurse, in her language."""

    exam_id: str
    kind: str
    status: Status
    message: str
    recordings_dir: Path
    pdf_path: Path | None
    message_ids: tuple[int, ...] = ()
    details: tuple[str, ...] = ()


def exam_id_for(kind: str, digests: list[str]) -> str:
    """A stable examination id from the raw recordings: the same recordings always give the same id, so a re-send
    (or a replay delivered again) is recognised by the receiver as the same examination."""
    h = hashlib.sha256(("asalee-exam\n" + kind + "\n" + "\n".join(digests)).encode("ascii")).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _store(folder_root: Path, kind: str, named: list[tuple[str, FlowRecording | EcgRecording]],
           manifest: dict[str, Any], results: bytes) -> tuple[str, Path, str]:
    """Save every recording (digest first: the exam id depends on them), the manifest and the analysis results;
    returns (exam id, folder, manifest digest)."""
    from asalee_devices.workflow.recording_store import recording_digest

    digests = [recording_digest(rec) for _, rec in named]
    exam_id = exam_id_for(kind, digests)
    folder = folder_root / exam_id
    files = []
    for (name, rec), digest in zip(named, digests, strict=True):
        path = folder / f"{name}.npz"
        if not path.exists():
            save_recording(rec, path, digest=digest)
        files.append({"file": path.name, "sha256": digest, "interrupted": rec.interrupted})
    doc = {"format": "asalee-examination", "version": 1, "kind": kind, "exam_id": exam_id,
           "software_version": __version__, "recordings": files, **manifest}
    data = json.dumps(to_jsonable(doc), sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8")
    atomic_write(folder / MANIFEST, data)
    atomic_write(folder / RESULTS, results)
    return exam_id, folder, hashlib.sha256(data).hexdigest()


def _exam_context(setup: ExaminationSetup, *, exam_id: str, device: DeviceIdentity, performed_at: datetime,
                  pdf: bytes | None, raw_reference: str, raw_sha256: str) -> ExamContext:
    cfg = setup.config
    return ExamContext(exam_id=exam_id, performed_at=performed_at, performer=setup.performer, device=device,
                       software_version=__version__, practice_name=cfg.practice.name,
                       practice_finess=cfg.practice.finess, gp=setup.gp, pdf=pdf, raw_reference=raw_reference,
                       raw_sha256=raw_sha256, test_mode=cfg.test_mode)


def outcome(states: list[OutboxMessage], lang: str) -> tuple[Status, str]:
    """Where an examination's outbox messages stand, and the nurse's message for it: refused by the record if
    any was, sent when all were acknowledged, waiting otherwise (the outbox retries)."""
    if any(m.state == "failed" for m in states):
        reason = "; ".join(m.last_error for m in states if m.state == "failed")
        return "failed", _MESSAGES["failed"][lang].format(reason=reason)
    if all(m.state == "acknowledged" for m in states):
        return "sent", _MESSAGES["sent"][lang]
    return "waiting", _MESSAGES["waiting"][lang]


def _send(setup: ExaminationSetup, queued: list[int], *, exam_id: str, kind: str, folder: Path,
          pdf_path: Path | None) -> DeliveryResult:
    """Try the configured sink once now for everything due; report the state of this examination's messages."""
    lang = setup.lang
    with Outbox(setup.outbox_path) as outbox:
        sink = create_sink(setup.config.sink)
        try:
            outbox.deliver_due(sink)
        finally:
            sink.close()
        states = [outbox.get(mid) for mid in queued]
    status, message = outcome(states, lang)
    log.info("examination %s (%s): %s", exam_id, kind, status)
    return DeliveryResult(exam_id=exam_id, kind=kind, status=status, message=message, recordings_dir=folder,
                          pdf_path=pdf_path, message_ids=tuple(queued), details=tuple(m.detail for m in states))


def _kept(setup: ExaminationSetup, exam_id: str, kind: str, folder: Path) -> DeliveryResult:
    msg = _MESSAGES["kept"][setup.lang] + f" ({folder})"
    return DeliveryResult(exam_id=exam_id, kind=kind, status="kept", message=msg, recordings_dir=folder,
                          pdf_path=None)


def _identity_labels(setup: ExaminationSetup) -> tuple[str, str, str]:
    p = setup.patient
    name = f"{p.family.upper()} {' '.join(p.given)}"
    _system, value = p.identifier_key()
    if p.ins is None:
        ident = f"N° {value}"
    else:
        ident = f"INS {value}" + (" (test)" if p.ins_kind in TEST_INS_KINDS else "")
    return name, ident, p.birth_date.strftime("%d/%m/%Y")


def _device_label(device: DeviceIdentity) -> str:
    return f"{device.manufacturer} {device.model} (n° {device.serial_number}, fw {device.firmware})"


def store_spirometry(exam: SpirometryExamination, *, device: DeviceIdentity, performed_at: datetime,
                     recordings_root: Path) -> tuple[str, Path, str]:
    """Keep the raw blows, the manifest and the analysis results; returns (exam id, folder, manifest digest)."""
    named: list[tuple[str, FlowRecording | EcgRecording]] = []
    for phase in exam.phases:
        result = exam.phase_result(phase)
        assert result is not None
        named += [(f"blow-{phase}-{i + 1:02d}", rec) for i, rec in enumerate(result.recordings)]
    manifest = {"performed_at": performed_at.isoformat(), "device": device, "lang": exam.lang,
                "subject": exam.subject, "phases": list(exam.phases)}
    return _store(recordings_root, "spirometry", named, manifest, canonical_json(spirometry_results(exam)))


def deliver_spirometry(exam: SpirometryExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                       performed_at: datetime, bronchodilator: Bronchodilator | None = None) -> DeliveryResult:
    """Keep, report and deliver a spirometry examination (pre phase, and the post phase as a second bundle)."""
    from asalee_devices.fhir_out.spirometry import spirometry_bundle
    from asalee_devices.reports.spirometry_pdf import render_spirometry_pdf
    from asalee_devices.signal.spirometry.reference import predict
    from asalee_devices.workflow.spirometry_exam import spirometry_report_data

    exam_id, folder, manifest_sha = store_spirometry(exam, device=device, performed_at=performed_at,
                                                     recordings_root=setup.recordings_dir)
    pre = exam.phase_result("pre")
    if pre is None or pre.session is None:
        return _kept(setup, exam_id, "spirometry", folder)
    name, ident, birth = _identity_labels(setup)
    data = spirometry_report_data(exam, patient_name=name, patient_identifier=ident, birth_date=birth,
                                  acquired_at=performed_at, device_label=_device_label(device),
                                  performer_label=f"{setup.performer.given} {setup.performer.family}",
                                  btps_note=_btps_note(pre.recordings, setup.lang))
    pdf = render_spirometry_pdf(data)
    pdf_path = folder / REPORT
    atomic_write(pdf_path, pdf)
    subject = exam.subject
    predictions = [predict(p, sex=subject.sex, age_years=subject.age_years, height_cm=subject.height_cm,
                           equation=subject.equation, ethnicity=subject.ethnicity)
                   for p in ("fev1", "fvc", "fev1_fvc")] if subject is not None else []
    equation = subject.equation if subject is not None else "gli-global-2022"
    has_post = "post" in exam.phases
    queued: list[int] = []
    with Outbox(setup.outbox_path) as outbox:
        for phase in exam.phases:
            result = exam.phase_result(phase)
            if result is None or result.session is None:
                continue
            session = result.session
            best = result.recordings[result.analysed[session.best_test_index or 0]]
            ctx = _exam_context(setup, exam_id=exam_id if phase == "pre" else f"{exam_id}-post", device=device,
                                performed_at=performed_at, pdf=pdf, raw_reference=f"recordings/{exam_id}/",
                                raw_sha256=manifest_sha)
            pre_post = ("pre" if phase == "pre" else "post") if has_post else "none"
            session_ = session

            def build(ctx: ExamContext = ctx, pre_post: str = pre_post, best: FlowRecording = best,
                      session_: Any = session_, phase: str = phase) -> Any:
                return spirometry_bundle(ctx, setup.patient, session_, predictions, equation=equation,
                                         pre_post=pre_post,  # type: ignore[arg-type]
                                         best_curve=best,
                                         bronchodilator=bronchodilator if phase == "post" else None)

            kind = "spirometry" if phase == "pre" else "spirometry-post"
            queued.append(queue_exam(outbox, sink=setup.config.sink.type, exam=ctx, kind=kind, build=build))
    return _send(setup, queued, exam_id=exam_id, kind="spirometry", folder=folder, pdf_path=pdf_path)


def _btps_note(recordings: tuple[FlowRecording, ...], lang: str) -> str:
    sources = {r.btps.source for r in recordings}
    if sources == {"device"}:
        return "appliqué par l'appareil" if lang == "fr" else "applied by the device"
    if sources == {"none"}:
        return "non corrigé" if lang == "fr" else "not corrected"
    if sources == {"ambient"}:
        return "corrigé (conditions ambiantes)" if lang == "fr" else "corrected (ambient conditions)"
    return ", ".join(sorted(sources))


def store_ecg(exam: EcgExamination, *, device: DeviceIdentity, performed_at: datetime,
              recordings_root: Path) -> tuple[str, Path, str]:
    named: list[tuple[str, FlowRecording | EcgRecording]] = [
        (f"capture-{i + 1:02d}", rec) for i, rec in enumerate(exam.captures)]
    manifest = {"performed_at": performed_at.isoformat(), "device": device, "lang": exam.lang,
                "mains_hz": exam.mains_hz, "kept": exam.kept}
    return _store(recordings_root, "ecg", named, manifest, canonical_json(ecg_results(exam)))


def deliver_ecg(exam: EcgExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                performed_at: datetime, layout: EcgLayout | None = None) -> DeliveryResult:
    """Keep every capture, render the kept one at standard scale and deliver it for the GP's interpretation."""
    from asalee_devices.fhir_out.ecg import ecg_bundle
    from asalee_devices.reports.ecg_pdf import EcgReportContext, analysis_fields, render_ecg_pdf

    exam_id, folder, manifest_sha = store_ecg(exam, device=device, performed_at=performed_at,
                                              recordings_root=setup.recordings_dir)
    analysis = exam.kept_analysis
    if analysis is None:
        return _kept(setup, exam_id, "ecg", folder)
    name, ident, birth = _identity_labels(setup)
    q = analysis.quality
    verdict = {"fr": {"acceptable": "Qualité technique acceptable", "retake": "Qualité technique insuffisante"},
               "en": {"acceptable": "Technical quality acceptable", "retake": "Technical quality insufficient"}}
    ctx_pdf = EcgReportContext(patient_name=name, patient_identifier=ident, birth_date=birth,
                               sex=setup.patient.sex, acquired_at=performed_at, device_label=_device_label(device),
                               performer_label=f"{setup.performer.given} {setup.performer.family}",
                               quality_verdict=verdict[setup.lang][q.verdict], quality_messages=q.messages(setup.lang),
                               heart_rate_bpm=analysis.heart_rate_bpm, lang=setup.lang,
                               **analysis_fields(analysis, setup.lang))
    pdf = render_ecg_pdf(analysis.cleaned, ctx_pdf, layout)
    pdf_path = folder / REPORT
    atomic_write(pdf_path, pdf)
    ctx = _exam_context(setup, exam_id=exam_id, device=device, performed_at=performed_at, pdf=pdf,
                        raw_reference=f"recordings/{exam_id}/", raw_sha256=manifest_sha)
    with Outbox(setup.outbox_path) as outbox:
        mid = queue_exam(outbox, sink=setup.config.sink.type, exam=ctx, kind="ecg",
                         build=lambda: ecg_bundle(ctx, setup.patient, analysis))
    return _send(setup, [mid], exam_id=exam_id, kind="ecg", folder=folder, pdf_path=pdf_path)
