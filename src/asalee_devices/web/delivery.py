"""From a finished examination to the record, and the delivery status.

Thin adapter over ``workflow.delivery`` (``deliver_spirometry`` / ``deliver_ecg``, the CLI's path: recordings kept,
PDF, bundle, outbox, one attempt). Every outbox operation runs on one worker thread (:class:`OutboxService`), which
also delivers what is due every ``interval_s`` (so two senders never race on a message); the pages read the status
from the outbox: sent, waiting (record unreachable, will retry) or failed (rejected, with the reason).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from asalee_devices import __version__
from asalee_devices.config import Config, PersonConfig
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import AsaleeError, InputError
from asalee_devices.fhir_out.context import ExamContext, PerformerContext, sha256_hex
from asalee_devices.fhir_out.outbox import Outbox, OutboxMessage
from asalee_devices.web.exams import EcgExam, SpiroExam

if TYPE_CHECKING:
    from asalee_devices.workflow.delivery import DeliveryResult

T = TypeVar("T")
Status = Literal["sent", "waiting", "failed"]
STATUS_TEXT = {
    "sent": {"fr": "Envoyé au dossier", "en": "Sent to the record"},
    "waiting": {"fr": "En attente : dossier injoignable, nouvel essai automatique", "en":
                "Waiting: the record is unreachable, it will be retried automatically"},
    "failed": {"fr": "Échec de l'envoi", "en": "Delivery failed"},
}


@dataclass(frozen=True)
class Prepared:
    """One bundle ready for the outbox (here only the GP's ``ecg-interpretation`` updates)."""

    kind: str
    exam_id: str
    performed_on: str
    bundle_json: bytes
    pdf: bytes | None


@dataclass(frozen=True)
class DeliveryStatus:
    message_id: int
    kind: str
    status: Status
    reason: str
    attempts: int

    def view(self, lang: str) -> dict[str, Any]:
        text = STATUS_TEXT[self.status]["fr" if lang == "fr" else "en"]
        return {"message_id": self.message_id, "kind": self.kind, "status": self.status, "text": text,
                "reason": self.reason, "attempts": self.attempts}


def status_of(msg: OutboxMessage) -> DeliveryStatus:
    if msg.state == "acknowledged":
        return DeliveryStatus(msg.id, msg.kind, "sent", msg.detail, msg.attempts)
    if msg.state == "failed":
        return DeliveryStatus(msg.id, msg.kind, "failed", msg.last_error, msg.attempts)
    return DeliveryStatus(msg.id, msg.kind, "waiting", msg.last_error, msg.attempts)


def person(cfg: PersonConfig) -> PerformerContext:
    return PerformerContext(cfg.family_name, cfg.given_name, rpps=cfg.rpps, adeli=cfg.adeli)


def exam_context(config: Config, exam_id: str, performed_at: datetime, device: DeviceIdentity | None,
                 pdf: bytes | None, raw: bytes = b"") -> ExamContext:
    dev = device or DeviceIdentity("unknown", "unknown", "unknown", "", "web")
    return ExamContext(exam_id=exam_id, performed_at=performed_at, performer=person(config.nurse), device=dev,
                       software_version=__version__, practice_name=config.practice.name,
                       practice_finess=config.practice.finess, gp=person(config.gp), pdf=pdf,
                       raw_reference=f"{exam_id}.raw" if raw else "", raw_sha256=sha256_hex(raw) if raw else "",
                       issued_at=datetime.now(UTC), test_mode=config.test_mode)


def _patient_label(exam: SpiroExam | EcgExam) -> tuple[str, str, str]:
    p = exam.patient.ctx
    ident = p.ins_normalised or p.local_id or ""
    return f"{p.family} {' '.join(p.given)}", ident, p.birth_date.isoformat()


def _device_label(device: DeviceIdentity | None) -> str:
    return "" if device is None else f"{device.manufacturer} {device.model} ({device.serial_number})"


def render_pdf(exam: SpiroExam | EcgExam, config: Config, lang: Literal["fr", "en"]) -> bytes:
    name, ident, birth = _patient_label(exam)
    nurse = f"{config.nurse.given_name} {config.nurse.family_name}".strip()
    if isinstance(exam, SpiroExam):
        from asalee_devices.reports.spirometry_pdf import render_spirometry_pdf
        from asalee_devices.workflow.spirometry_exam import spirometry_report_data

        exam.exam.lang = lang
        data = spirometry_report_data(exam.exam, patient_name=name, patient_identifier=ident, birth_date=birth,
                                      acquired_at=exam.started_at, device_label=_device_label(exam.identity),
                                      performer_label=nurse, btps_note="")
        return render_spirometry_pdf(data)
    from asalee_devices.reports.ecg_pdf import EcgReportContext, analysis_fields, render_ecg_pdf

    analysis = exam.exam.kept_analysis
    if analysis is None:
        raise InputError("No ECG capture kept yet", field="capture", expected="an analysed capture")
    q = analysis.quality
    ctx = EcgReportContext(patient_name=name, patient_identifier=ident, birth_date=birth, sex=exam.patient.ctx.sex,
                           acquired_at=exam.started_at, device_label=_device_label(exam.identity),
                           performer_label=nurse, quality_verdict=q.verdict, quality_messages=q.messages(lang),
                           heart_rate_bpm=analysis.heart_rate_bpm, lang=lang, **analysis_fields(analysis, lang))
    return render_ecg_pdf(analysis.cleaned, ctx)


def unknown_device() -> DeviceIdentity:
    return DeviceIdentity("unknown", "unknown", "unknown", "", "web")


def deliver(exam: SpiroExam | EcgExam, config: Config, lang: Literal["fr", "en"]) -> DeliveryResult:
    """Keep, report and deliver the examination through ``workflow.delivery`` (the CLI's path): recordings kept,
    PDF rendered, bundle(s) queued in the outbox, one delivery attempt now. Run it on the outbox thread."""
    from asalee_devices.workflow.delivery import deliver_ecg, deliver_spirometry
    from asalee_devices.workflow.setup import setup_from_config

    setup = setup_from_config(config, exam.patient.ctx, lang=lang)
    device = exam.identity or unknown_device()
    if isinstance(exam, SpiroExam):
        exam.exam.lang = lang
        return deliver_spirometry(exam.exam, setup, device=device, performed_at=exam.started_at)
    exam.exam.lang = lang
    return deliver_ecg(exam.exam, setup, device=device, performed_at=exam.started_at)


def ecg_context(exam: EcgExam, config: Config) -> ExamContext:
    """The context of the delivered ECG (same exam id and device, hence the same business identifiers)."""
    return exam_context(config, exam.record_id, exam.started_at, exam.identity or unknown_device(), None)


class OutboxService:
    """The outbox and the sink, owned by one thread; delivers what is due every ``interval_s``."""

    def __init__(self, outbox_path: Path, make_sink: Callable[[], Any], *, interval_s: float = 2.0) -> None:
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="asalee-outbox")
        self._outbox: Outbox | None = None
        self._sink: Any = None
        self._path, self._make_sink = outbox_path, make_sink
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, name="asalee-outbox-timer", daemon=True)
        self._timer.start()

    def _ensure(self) -> tuple[Outbox, Any]:
        if self._outbox is None:
            self._outbox = Outbox(self._path)
            self._sink = self._make_sink()
        return self._outbox, self._sink

    def call(self, fn: Callable[[Outbox, Any], T]) -> cf.Future[T]:
        def run() -> T:
            outbox, sink = self._ensure()
            return fn(outbox, sink)
        return self._pool.submit(run)

    def _deliver(self, outbox: Outbox, sink: Any) -> None:
        try:
            outbox.deliver_due(sink)
        except AsaleeError:  # a sink that cannot even start sending: messages stay pending
            pass

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.call(self._deliver).result()
            except RuntimeError:  # pool shut down
                return

    def enqueue(self, items: list[Prepared]) -> list[int]:
        def run(outbox: Outbox, sink: Any) -> list[int]:
            ids = [outbox.enqueue(exam_id=p.exam_id, kind=p.kind, sink=sink.name, performed_on=p.performed_on,
                                  payload=p.bundle_json, pdf=p.pdf) for p in items]
            self._deliver(outbox, sink)  # first attempt at once: the nurse sees "sent" or "waiting" right away
            return ids
        return self.call(run).result()

    def statuses(self, ids: list[int]) -> list[DeliveryStatus]:
        return self.call(lambda outbox, _sink: [status_of(outbox.get(i)) for i in ids]).result()

    def payload(self, message_id: int) -> bytes:
        return self.call(lambda outbox, _sink: outbox.payload(message_id)).result()

    def sink_paths(self, kind: str, exam_id: str, performed_on: str) -> tuple[str, str] | None:
        def run(_outbox: Outbox, sink: Any) -> tuple[str, str] | None:
            paths = getattr(sink, "paths", None)
            if paths is None:
                return None
            from asalee_devices.fhir_out.sinks.base import Delivery

            b, p = paths(Delivery(0, exam_id, kind, performed_on, b""))
            return str(b), str(p)
        return self.call(run).result()

    def close(self) -> None:
        self._stop.set()

        def shut(outbox: Outbox, sink: Any) -> None:
            outbox.close()
            sink.close()
        if self._outbox is not None:
            self.call(shut).result()
        self._pool.shutdown(wait=True)


__all__ = ["DeliveryStatus", "OutboxService", "Prepared", "deliver", "ecg_context", "render_pdf"]
