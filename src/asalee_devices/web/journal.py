"""The journal of each examination on disk, so that a server restart resumes the examinations in progress.

``<data dir>/in-progress/<exam id>/`` holds the takes as they arrive (``blow-NN.npz`` / ``capture-NN.npz``, written
by :mod:`asalee_devices.web.acquire`) and ``exam.json``: the patient and the examination's settings, then the
nurse's steps in order (a take added, the switch to post-bronchodilator, the ECG kept, the sending, the GP's
interpretation). On start the
app replays every journal through the same workflow objects, so an examination comes back exactly as it was: same
id, same blows or captures, same results; a sent one comes back as sent (its deliveries are followed in the
outbox). The journal holds the patient's identity, like the outbox: it stays in the per-install data directory,
is never logged, and the journals of examinations sent before today are deleted at start (the recordings are then
in the recording store and the messages in the outbox).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from asalee_devices.errors import AsaleeError
from asalee_devices.fhir_out.context import PatientContext
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.files import atomic_write
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.btps import AmbientConditions
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.web.exams import (
    Capture,
    Delivery,
    EcgExam,
    ExamStore,
    Interpretation,
    Lang,
    PatientRecord,
    SpiroExam,
)
from asalee_devices.workflow.recording_store import load_recording

log = logging.getLogger(__name__)

VERSION = 1
FILE = "exam.json"
MAX_JOURNAL_BYTES = 1 << 20  # a journal is a few kB; anything larger is not ours
_WRITING = threading.Lock()  # one journal update at a time (they are a few kB, a few per minute)


def folder(data_dir: Path, exam_id: str) -> Path:
    return data_dir / "in-progress" / exam_id


def _load(path: Path) -> dict[str, Any]:
    """A journal file, its size checked before it is read; ``ValueError`` when it is not a journal object."""
    if path.stat().st_size > MAX_JOURNAL_BYTES:
        raise ValueError("journal too large")
    doc = json.loads(path.read_bytes())
    if not isinstance(doc, dict):
        raise ValueError("journal is not a JSON object")
    return doc


def _patient_json(ctx: PatientContext) -> dict[str, Any]:
    out = asdict(ctx)
    out["given"] = list(ctx.given)
    out["birth_date"] = ctx.birth_date.isoformat()
    return {k: v for k, v in out.items() if v is not None}


class Journal:
    """Writes one examination's journal (the whole file, atomically, at each step: a few kB)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def _write(self, exam: SpiroExam | EcgExam, doc: dict[str, Any]) -> None:
        path = folder(self.data_dir, exam.id) / FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
        except OSError as exc:  # the examination goes on in memory; the nurse's session is not broken by the disk
            log.warning("could not write the journal of examination %s: %s", exam.id, exc.strerror)

    def _read(self, exam: SpiroExam | EcgExam) -> dict[str, Any] | None:
        try:
            return _load(folder(self.data_dir, exam.id) / FILE)
        except (OSError, ValueError):
            return None

    def started(self, exam: SpiroExam | EcgExam, *, equation: str = "", mains_hz: float = 50.0, lang: str = "fr",
                ) -> None:
        doc: dict[str, Any] = {
            "version": VERSION, "kind": exam.kind, "started_at": exam.started_at.isoformat(), "lang": lang,
            "patient_id": exam.patient.id, "patient": _patient_json(exam.patient.ctx),
            "height_cm": exam.patient.height_cm, "protocol": exam.protocol, "steps": []}
        if isinstance(exam, SpiroExam):
            doc["equation"] = equation
        else:
            doc["mains_hz"] = mains_hz
        self._write(exam, doc)

    def step(self, exam: SpiroExam | EcgExam, step: dict[str, Any]) -> None:
        """Append one step (``{"take": file, "reason": ...}``, ``{"post_bronchodilator": true}``,
        ``{"keep": n}``, ``{"sent": {...}}``, ``{"interpretation": {...}}``). Steps come from the device thread, the
        request handlers and the outbox thread: each read-append-write holds one lock, so none is lost."""
        with _WRITING:
            doc = self._read(exam)
            if doc is None:
                log.warning("journal of examination %s missing or unreadable; step not recorded", exam.id)
                return
            doc["steps"].append(step)
            self._write(exam, doc)

    def sent(self, exam: SpiroExam | EcgExam) -> None:
        self.step(exam, {"sent": {"record_id": exam.record_id, "pdf_path": exam.pdf_path, "message": exam.message,
                                  "deliveries": [[d.kind, d.message_id, d.pdf_path] for d in exam.deliveries]}})

    def interpreted(self, exam: EcgExam) -> None:
        """The GP's interpretation (its version numbers the next one's outbox message: after a restart a new
        interpretation must not reuse the kind of the first, which the outbox would take for a repeat)."""
        it = exam.interpretation
        if it is not None:
            self.step(exam, {"interpretation": {"text": it.text, "codes": list(it.codes), "at": it.at.isoformat(),
                                                "message_id": it.message_id, "pdf_path": it.pdf_path,
                                                "version": exam.interpretation_count}})


def _take_number(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1].split(".")[0])
    except (IndexError, ValueError):
        return 0


def _resume_one(store: ExamStore, path: Path, doc: dict[str, Any], today: date) -> SpiroExam | EcgExam | None:
    if doc.get("version") != VERSION or doc.get("kind") not in ("spirometry", "ecg"):
        raise ValueError("unknown journal version or kind")
    exam_id = path.parent.name
    started = datetime.fromisoformat(doc["started_at"])
    steps = list(doc["steps"])
    sent = next((s["sent"] for s in steps if "sent" in s), None)
    if sent is not None and started.astimezone(UTC).date() < today:
        shutil.rmtree(path.parent, ignore_errors=True)  # sent before today: in the recording store and outbox
        return None
    patient = store.patients.get(doc["patient_id"])
    if patient is None:
        patient = PatientRecord(doc["patient_id"], patient_from_mapping(doc["patient"]), doc.get("height_cm"))
        store.patients[patient.id] = patient
    lang: Lang = "en" if doc.get("lang") == "en" else "fr"
    exam: SpiroExam | EcgExam
    if doc["kind"] == "spirometry":
        exam = store.new_spirometry(patient, lang, str(doc.get("equation", "")), exam_id=exam_id, started_at=started)
    else:
        exam = store.new_ecg(patient, lang, float(doc.get("mains_hz", 50.0)), exam_id=exam_id, started_at=started)
    exam.protocol = str(doc.get("protocol", "") or "")
    for step in steps:
        if "take" in step:
            name = str(step["take"])
            exam.attempts = max(exam.attempts, _take_number(name))
            try:
                rec = load_recording(path.parent / name)
            except (OSError, AsaleeError) as exc:
                log.warning("examination %s: take %s could not be read back (%s); left out", exam_id, name,
                            type(exc).__name__)
                continue
            if isinstance(exam, SpiroExam) and isinstance(rec, FlowRecording):
                exam.add(rec, str(step.get("reason", "")))
            elif isinstance(exam, EcgExam) and isinstance(rec, EcgRecording):
                fb = exam.exam.add_capture(rec)
                exam.captures.append(Capture(fb.number, rec, fb, str(step.get("reason", ""))))
        elif step.get("post_bronchodilator") and isinstance(exam, SpiroExam):
            exam.exam.start_post_bronchodilator()
        elif "ambient" in step and isinstance(exam, SpiroExam):
            a = step["ambient"]
            exam.set_ambient(AmbientConditions(float(a["temperature_c"]), float(a["pressure_hpa"]),
                                                    a.get("relative_humidity_pct")))
        elif "marks" in step and isinstance(exam, SpiroExam):
            m = step["marks"]
            try:
                exam.mark(str(m["phase"]), int(m["number"]), [str(x) for x in m["marks"]])
            except AsaleeError as exc:  # its take could not be read back (left out above)
                log.warning("examination %s: operator mark on a blow that is not there (%s); left out", exam_id,
                            type(exc).__name__)
        elif "keep" in step and isinstance(exam, EcgExam):
            exam.exam.keep(int(step["keep"]))
        elif "interpretation" in step and isinstance(exam, EcgExam):
            it = step["interpretation"]
            exam.interpret(Interpretation(str(it["text"]), tuple(dict(c) for c in it["codes"]),
                                          datetime.fromisoformat(it["at"]), it.get("message_id"),
                                          int(it["version"]), str(it.get("pdf_path", "") or "")))
    if sent is not None:
        exam.record_id, exam.pdf_path, exam.message = sent["record_id"], sent["pdf_path"], sent["message"]
        exam.deliveries = [Delivery(str(k), int(m), str(p)) for k, m, p in sent["deliveries"]]
    return exam


def resume(store: ExamStore, data_dir: Path) -> list[SpiroExam | EcgExam]:
    """Rebuild the examinations journaled under ``data_dir`` into ``store`` (oldest first); the patient of the
    latest one not yet sent becomes the current patient. A journal that cannot be read is left in place and
    reported by its examination id only."""
    root = data_dir / "in-progress"
    if not root.is_dir():
        return []
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for path in root.glob(f"*/{FILE}"):
        try:
            doc = _load(path)
        except (OSError, ValueError):
            log.warning("journal of examination %s unreadable; not resumed", path.parent.name)
            continue
        found.append((str(doc.get("started_at", "")), path, doc))
    today = datetime.now(UTC).date()
    resumed: list[SpiroExam | EcgExam] = []
    for _, path, doc in sorted(found, key=lambda f: (f[0], f[1])):
        try:
            exam = _resume_one(store, path, doc, today)
        except (OSError, ValueError, KeyError, TypeError, AsaleeError) as exc:
            log.warning("journal of examination %s not resumed: %s", path.parent.name, type(exc).__name__)
            continue
        if exam is not None:
            resumed.append(exam)
    pending = [e for e in resumed if not e.deliveries]
    if pending:
        store.current_patient = pending[-1].patient.id
    return resumed
