"""From a finished examination to the record, and the delivery status.

Thin adapter over ``workflow.delivery`` (``deliver_spirometry`` / ``deliver_ecg``, the CLI's path: recordings kept,
PDF, bundle, outbox, one attempt). Every outbox operation runs on one worker thread (:class:`OutboxService`), which
also delivers what is due every ``interval_s`` (so two senders never race on a message); the pages read the status
from the outbox: sent, waiting (record unreachable, will retry) or failed (rejected, with the reason).

The timer is supervised: an exception in a delivery pass is logged and the next pass runs; a timer thread that
died anyway is restarted by the next call (and counted in :meth:`OutboxService.health`). A waiting message says
whether the automatic retry is working, so the page never shows "will be retried" when nothing retries.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from asalee_devices import __version__
from asalee_devices.config import Config, PersonConfig
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import AsaleeError
from asalee_devices.fhir_out.context import ExamContext, PerformerContext, sha256_hex
from asalee_devices.fhir_out.outbox import Outbox, OutboxMessage
from asalee_devices.web.exams import EcgExam, SpiroExam

if TYPE_CHECKING:
    from asalee_devices.workflow.calibration_log import CalibrationStatus
    from asalee_devices.workflow.delivery import DeliveryResult
    from asalee_devices.workflow.setup import ExaminationSetup

log = logging.getLogger(__name__)

T = TypeVar("T")
Status = Literal["sent", "waiting", "failed"]
STATUS_TEXT = {
    "sent": {"fr": "Envoyé au dossier", "en": "Sent to the record"},
    "waiting": {"fr": "En attente : dossier injoignable, nouvel essai automatique", "en":
                "Waiting: the record is unreachable, it will be retried automatically"},
    "failed": {"fr": "Échec de l'envoi", "en": "Delivery failed"},
    "stalled": {"fr": "En attente : les envois automatiques sont en échec, l'examen est conservé (voir le journal "
                      "ou asalee-devices outbox send)",
                "en": "Waiting: automatic delivery is failing, the examination is kept (see the log or "
                      "asalee-devices outbox send)"},
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
    retrying: bool = True  # for "waiting": the automatic delivery passes are running and not failing

    def view(self, lang: str) -> dict[str, Any]:
        key = "stalled" if self.status == "waiting" and not self.retrying else self.status
        text = STATUS_TEXT[key]["fr" if lang == "fr" else "en"]
        return {"message_id": self.message_id, "kind": self.kind, "status": self.status, "text": text,
                "reason": self.reason, "attempts": self.attempts, "retrying": self.retrying}


def status_of(msg: OutboxMessage, *, retrying: bool = True, service_error: str = "") -> DeliveryStatus:
    if msg.state == "acknowledged":
        return DeliveryStatus(msg.id, msg.kind, "sent", msg.detail, msg.attempts)
    if msg.state == "failed":
        return DeliveryStatus(msg.id, msg.kind, "failed", msg.last_error, msg.attempts)
    return DeliveryStatus(msg.id, msg.kind, "waiting", msg.last_error or service_error, msg.attempts, retrying)


def person(cfg: PersonConfig) -> PerformerContext:
    return PerformerContext(cfg.family_name, cfg.given_name, rpps=cfg.rpps, adeli=cfg.adeli)


def exam_context(config: Config, exam_id: str, performed_at: datetime, device: DeviceIdentity | None,
                 pdf: bytes | None, raw: bytes = b"") -> ExamContext:
    dev = device or DeviceIdentity("unknown", "unknown", "unknown", "", "web")
    return ExamContext(exam_id=exam_id, performed_at=performed_at, performer=person(config.nurse), device=dev,
                       software_version=__version__, practice_name=config.practice.name,
                       practice_finess=config.practice.finess, practice_siret=config.practice.siret, gp=person(config.gp), pdf=pdf,
                       raw_reference=f"{exam_id}.raw" if raw else "", raw_sha256=sha256_hex(raw) if raw else "",
                       issued_at=datetime.now(UTC), test_mode=config.test_mode)


def unknown_device() -> DeviceIdentity:
    return DeviceIdentity("unknown", "unknown", "unknown", "", "web")


def exam_setup(exam: SpiroExam | EcgExam, config: Config, lang: Literal["fr", "en"]) -> ExaminationSetup:
    from asalee_devices.workflow.setup import setup_from_config, with_protocol

    return with_protocol(setup_from_config(config, exam.patient.ctx, lang=lang),
                         "spirometry" if isinstance(exam, SpiroExam) else "ecg", exam.protocol or None)


def _report_key(exam: SpiroExam | EcgExam, setup: ExaminationSetup, device: DeviceIdentity,
                calibration: CalibrationStatus | None) -> str:
    """What the report is rendered from: the raw recordings, the results computed from them (marks, ambient
    conditions, the kept capture), the identities, the device, the language and (spirometry) the calibration
    state. The same key renders the same bytes (the PDFs are invariant)."""
    from asalee_devices.workflow.recording_store import recording_digest
    from asalee_devices.workflow.results import canonical_json, ecg_results, spirometry_results

    h = hashlib.sha256()
    parts: list[str] = [exam.kind, setup.lang, repr(setup.patient), repr(setup.performer), repr(device),
                        exam.started_at.isoformat()]
    if isinstance(exam, SpiroExam):
        for phase in exam.exam.phases:
            result = exam.exam.phase_result(phase)
            parts += [recording_digest(r) for r in (result.recordings if result is not None else ())]
        parts.append(canonical_json(spirometry_results(exam.exam)).decode("utf-8"))
        parts.append(repr(calibration))
    else:
        parts += [recording_digest(r) for r in exam.exam.captures]
        parts.append(canonical_json(ecg_results(exam.exam)).decode("utf-8"))
    for part in parts:
        h.update(part.encode("utf-8") + b"\0")
    return h.hexdigest()


def report(exam: SpiroExam | EcgExam, config: Config, lang: Literal["fr", "en"]) -> bytes | None:
    """The examination's report PDF, rendered once by the delivery's own functions (``workflow.delivery``:
    :func:`spirometry_report_pdf` / :func:`ecg_report_pdf`) and kept on the examination: the nurse's preview
    shows these bytes and :func:`deliver` sends them. Rendered again only when what it is rendered from changed
    (a new blow or capture, a mark, the ambient conditions, the language, the calibration log). Holds the
    examination's lock (a blow arriving waits for the rendering). None while there is nothing to report (no
    analysed blow, no kept capture)."""
    from asalee_devices.workflow.delivery import ecg_report_pdf, spirometer_calibration, spirometry_report_pdf

    setup = exam_setup(exam, config, lang)
    device = exam.identity or unknown_device()
    with exam.lock:
        exam.exam.lang = lang
        # the calibration log is read once: for the key and, when the key changed, for the rendering
        calibration = (spirometer_calibration(setup, device, on=exam.started_at.astimezone().date())[1]
                       if isinstance(exam, SpiroExam) else None)
        key = _report_key(exam, setup, device, calibration)
        if exam.report is not None and exam.report[0] == key:
            return exam.report[1]
        if isinstance(exam, SpiroExam):
            pdf = spirometry_report_pdf(exam.exam, setup, device=device, performed_at=exam.started_at,
                                        calibration=calibration)
        else:
            pdf = ecg_report_pdf(exam.exam, setup, device=device, performed_at=exam.started_at)
        if pdf is not None:
            exam.report = (key, pdf)
        return pdf


def deliver(exam: SpiroExam | EcgExam, config: Config, lang: Literal["fr", "en"],
            pdf: bytes | None = None) -> DeliveryResult:
    """Keep, report and deliver the examination through ``workflow.delivery`` (the CLI's path): recordings kept,
    the report (``pdf``: the bytes :func:`report` rendered, the preview the nurse saw; else rendered there),
    bundle(s) queued in the outbox, one delivery attempt now. Run it on the outbox thread."""
    from asalee_devices.workflow.delivery import deliver_ecg, deliver_spirometry

    setup = exam_setup(exam, config, lang)
    device = exam.identity or unknown_device()
    exam.exam.lang = lang
    if isinstance(exam, SpiroExam):
        return deliver_spirometry(exam.exam, setup, device=device, performed_at=exam.started_at, pdf=pdf)
    return deliver_ecg(exam.exam, setup, device=device, performed_at=exam.started_at, pdf=pdf)


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
        self._lock = threading.Lock()
        self.restarts = 0
        self.last_error = ""  # of the last delivery pass ("" when it ran without an error)
        self.last_pass_at = 0.0
        self._timer = self._start_timer()

    def _start_timer(self) -> threading.Thread:
        t = threading.Thread(target=self._tick, name="asalee-outbox-timer", daemon=True)
        t.start()
        return t

    def _supervise(self) -> None:
        """Restart the timer thread if it died (it should not: every pass is guarded)."""
        with self._lock:
            if not self._stop.is_set() and not self._timer.is_alive():
                self.restarts += 1
                log.error("outbox timer thread had stopped; restarted (%d restart(s))", self.restarts)
                self._timer = self._start_timer()

    def health(self) -> dict[str, Any]:
        """The automatic delivery's state, for the pages and the log: running, last pass, last error, restarts."""
        self._supervise()
        return {"running": self._timer.is_alive() and not self._stop.is_set(), "last_pass_at": self.last_pass_at,
                "last_error": self.last_error, "restarts": self.restarts}

    def _ensure(self) -> tuple[Outbox, Any]:
        if self._outbox is None:
            outbox = Outbox(self._path)
            try:
                sink = self._make_sink()
            except BaseException:
                outbox.close()
                raise
            self._outbox, self._sink = outbox, sink
        return self._outbox, self._sink

    def call(self, fn: Callable[[Outbox, Any], T]) -> cf.Future[T]:
        self._supervise()

        def run() -> T:
            outbox, sink = self._ensure()
            return fn(outbox, sink)
        return self._pool.submit(run)

    def _deliver(self, outbox: Outbox, sink: Any) -> None:
        try:
            outbox.deliver_due(sink)
        except Exception as exc:  # the outbox itself failing (disk, database): logged, the next pass retries
            self._failed_pass(exc)
        else:
            self.last_error = ""
        self.last_pass_at = time.time()

    def _failed_pass(self, exc: BaseException) -> None:
        self.last_error = str(exc) if isinstance(exc, AsaleeError) else f"{type(exc).__name__}"
        log.error("outbox delivery pass failed: %s", self.last_error, exc_info=not isinstance(exc, AsaleeError))

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.call(self._deliver).result()
            except RuntimeError:
                if self._stop.is_set():  # pool shut down
                    return
                log.exception("outbox timer: unexpected error")
            except Exception as exc:  # e.g. the sink cannot be created: recorded, tried again next tick
                self._failed_pass(exc)
                self.last_pass_at = time.time()

    def recover(self, config: Config, data_dir: Path | None = None) -> cf.Future[None]:
        """The start-up recovery pass (temp files, also in the app's ``data_dir``; examination folders a crash
        left incomplete), on the outbox thread; a failure is logged, never raised."""
        from asalee_devices.files import clean_temp_files
        from asalee_devices.workflow.delivery import recover_for_config

        def run() -> None:
            try:
                if data_dir is not None:
                    clean_temp_files(data_dir)
                recover_for_config(config)
            except Exception:
                log.exception("start-up recovery failed")
        return self._pool.submit(run)

    def enqueue(self, items: list[Prepared]) -> list[int]:
        def run(outbox: Outbox, sink: Any) -> list[int]:
            ids = [outbox.enqueue(exam_id=p.exam_id, kind=p.kind, sink=sink.key, performed_on=p.performed_on,
                                  payload=p.bundle_json, pdf=p.pdf) for p in items]
            self._deliver(outbox, sink)  # first attempt at once: the nurse sees "sent" or "waiting" right away
            return ids
        return self.call(run).result()

    def statuses(self, ids: list[int]) -> list[DeliveryStatus]:
        health = self.health()
        retrying = bool(health["running"]) and not health["last_error"]
        return self.call(lambda outbox, _sink: [status_of(outbox.get(i), retrying=retrying,
                                                          service_error=str(health["last_error"]))
                                                for i in ids]).result()

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


__all__ = ["DeliveryStatus", "OutboxService", "Prepared", "deliver", "ecg_context", "report"]
