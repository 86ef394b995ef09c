"""From an ECG file exported by vendor software to the practice record: the watched folder's processing step.

For each decoded file (:class:`~asalee_devices.drivers.ecg_files.EcgFile`): the ECG analysis (clean trace,
per-lead technical quality, heart rate) runs on the file's recording, the printed ECG is rendered, the FHIR
transaction bundle is built with the file's device identity and the configured performer and practice, queued in
the outbox, then the outbox delivers what is due through the configured sink (the folder sink by default, which
writes the PDF beside the bundle).

- Patient: the file's demographics, identified by the file's patient number as a *local* identifier
  (``[watch] patient_id_system``). An ECG file never carries a qualified INS, so none is sent. A file without a
  patient number, or without the names, birth date or sex the record needs, is refused (:class:`PatientDataError`
  naming the missing fields, never their values): the watched folder moves it to ``failed/`` with that reason, and
  ``asalee-devices ecg import FILE --patient PATIENT.json`` imports it with the identity the nurse checked.
- Idempotence: the exam id is derived from the file's content hash, so a redelivery of the same content is the
  same exam: the outbox keeps one message per exam and sink, the folder sink rewrites the same file names, FHIR
  servers match the bundle's identifiers (conditional create).
- Delivery errors do not fail the file: once queued, the examination belongs to the outbox, which retries
  (:meth:`EcgFileImporter.deliver_pending`, called on every cycle of the watch loop, and ``outbox retry``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from asalee_devices.errors import PatientDataError

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.drivers.ecg_files import EcgFile
    from asalee_devices.drivers.ecg_files.base import PatientDemographics
    from asalee_devices.fhir_out.context import ExamContext, PatientContext, PerformerContext
    from asalee_devices.fhir_out.outbox import Outbox
    from asalee_devices.fhir_out.sinks import Sink
    from asalee_devices.programme.protocols import Protocol
    from asalee_devices.signal.ecg.results import EcgAnalysis

log = logging.getLogger(__name__)

KIND = "ecg"
_SEX = {"male": "male", "female": "female", "other": "other"}

#: how the nurse completes an identity a file lacks (appended to the refusal the watched folder writes)
_COMPLETE = "; or import the file with the checked identity: asalee-devices ecg import FILE --patient PATIENT.json"


def exam_id_for(sha256: str) -> str:
    """The exam id of a file: derived from its content hash (the same content is the same exam)."""
    return f"ecg-file-{sha256[:32]}"


def patient_from_file(ecg: EcgFile, system: str) -> PatientContext:
    """The patient of an ECG file, identified by the file's patient number in ``system`` (no INS)."""
    from asalee_devices.fhir_out.context import PatientContext

    demo = ecg.patient
    pid = demo.patient_id.strip()
    if not pid:
        raise PatientDataError("The ECG file has no patient identifier", field="patient_id",
                               expected=f"the patient number entered on the electrocardiograph{_COMPLETE}")
    missing = [name for name, value in (("family_name", demo.family_name), ("given_name", demo.given_name),
                                        ("birth_date", demo.birth_date)) if not value.strip()]
    if missing:
        raise PatientDataError("The ECG file lacks patient details the record needs", field=", ".join(missing),
                               expected="family name, given name and birth date entered on the electrocardiograph"
                                        f"{_COMPLETE}")
    try:
        birth = date.fromisoformat(demo.birth_date.strip())
    except ValueError:
        raise PatientDataError("The ECG file's birth date is not a date", field="birth_date",
                               expected="YYYY-MM-DD") from None
    sex: Literal["male", "female", "other", "unknown"] = _SEX.get(demo.sex, "unknown")  # type: ignore[assignment]
    return PatientContext(family=demo.family_name.strip(), given=(demo.given_name.strip(),), birth_date=birth,
                          sex=sex, local_id=pid, local_system=system)


def _folded(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if c.isalnum())


def check_same_patient(in_file: PatientDemographics, given: PatientContext) -> None:
    """Identitovigilance when an identity is given for a file: it must not contradict what the file says (family
    name compared without case, accents or punctuation; birth date), when the file says it. The error names the
    field, never the values."""
    if in_file.family_name.strip() and _folded(in_file.family_name) != _folded(given.family):
        field = "family"
    elif in_file.birth_date.strip() and in_file.birth_date.strip() != given.birth_date.isoformat():
        field = "birth_date"
    else:
        return
    raise PatientDataError("The ECG file names another patient than the one given", field=field,
                           expected="the file of this patient; if it is, after checking, --file-identity-differs")


def _performer(family: str, given: str, rpps: str, adeli: str, role: str) -> PerformerContext:
    from asalee_devices.fhir_out.context import PerformerContext

    if not family.strip() or not given.strip():
        raise PatientDataError(f"The {role} is not configured", field=f"{role}.family_name, {role}.given_name",
                               expected=f"[{role}] family_name and given_name in the configuration")
    return PerformerContext(family, given, rpps=rpps, adeli=adeli)


@dataclass
class EcgFileImporter:
    """The processing step of :class:`~asalee_devices.devices.watch_folder.WatchedFolder`:
    ``importer(ecg_file, path)`` analyses, renders, queues and delivers; raises an :class:`AsaleeError` when the
    file cannot become an examination (the file then goes to ``failed/`` with the reason)."""

    config: Config
    outbox: Outbox
    sink: Sink
    mains_hz: float = 50.0
    patient_id_system: str = "urn:asalee-devices:ecg-file-patient-id"
    render_pdf: bool = True

    @classmethod
    def from_config(cls, cfg: Config, *, outbox: Outbox | None = None, sink: Sink | None = None) -> EcgFileImporter:
        """The importer of the configuration: its outbox file and sink unless given."""
        from asalee_devices.fhir_out.outbox import Outbox
        from asalee_devices.fhir_out.sinks import create_sink

        if outbox is None:
            Path(cfg.outbox).parent.mkdir(parents=True, exist_ok=True)
            outbox = Outbox(cfg.outbox)
        return cls(cfg, outbox, sink or create_sink(cfg.sink), mains_hz=float(cfg.watch.mains_hz or cfg.mains_hz),
                   patient_id_system=cfg.watch.patient_id_system)

    def __call__(self, ecg: EcgFile, path: Path) -> None:
        self.import_file(ecg, path)

    def import_file(self, ecg: EcgFile, path: Path, patient: PatientContext | None = None, *,
                    sha256: str | None = None) -> int:
        """Analyse, render, queue and deliver one file; returns its outbox message id. ``patient``, when given,
        is the identity the nurse checked (``ecg import --patient``) instead of the file's demographics;
        ``sha256``, the file's digest when the caller already has it."""
        from asalee_devices.devices.watch_folder import sha256_file
        from asalee_devices.fhir_out.context import check_patient
        from asalee_devices.fhir_out.ecg import ecg_bundle
        from asalee_devices.fhir_out.pipeline import queue_exam
        from asalee_devices.signal.ecg.analysis import analyze_ecg
        from asalee_devices.workflow.rendered import renders_own_payload

        digest = sha256 or sha256_file(path)
        if patient is None:
            patient = patient_from_file(ecg, self.patient_id_system)
        check_patient(patient, test_mode=self.config.test_mode)
        analysis = analyze_ecg(ecg.recording, mains_hz=self.mains_hz,
                               device_heart_rate_bpm=ecg.device_heart_rate_bpm)
        exam = self._exam(ecg, path, digest, analysis, patient)
        if renders_own_payload(self.sink.name):  # e.g. HPRIM: rendered from canonical results stored beside
            return self._queue_rendered(ecg, path, digest, analysis, patient, exam)
        lang: Literal["fr", "en"] = "en" if self.config.lang == "en" else "fr"
        file_notes = tuple(w.message for w in ecg.warnings)
        message_id = queue_exam(self.outbox, sink=self.sink.name, exam=exam, kind=KIND,
                                build=lambda: ecg_bundle(exam, patient, analysis, file_warnings=file_notes,
                                                         lang=lang))
        log.info("ecg import: exam %s queued as message %s", exam.exam_id, message_id)
        from asalee_devices.programme.indicators import record_import
        from asalee_devices.workflow.results import canonical_json, ecg_file_results

        record_import(self.config, exam_id=exam.exam_id, performed_at=exam.performed_at,
                      results=canonical_json(ecg_file_results(analysis, self.mains_hz)), patient=patient,
                      protocol=exam.protocol.code if exam.protocol is not None else "", nurse=exam.performer,
                      gp=exam.gp)
        self.deliver_pending()
        return message_id

    def _queue_rendered(self, ecg: EcgFile, path: Path, digest: str, analysis: EcgAnalysis, patient: PatientContext,
                        exam: ExamContext) -> int:
        """For a sink with its own payload: the analysis stored as canonical results beside the examination
        (``recordings/<exam id>/``), then rendered and queued from there."""
        from asalee_devices.workflow.rendered import queue_imported, store_imported
        from asalee_devices.workflow.results import ecg_file_results

        results = ecg_file_results(analysis, self.mains_hz)
        folder = store_imported(Path(self.config.outbox).parent / "recordings", kind=KIND, exam_id=exam.exam_id,
                                performed_at=exam.performed_at, device=exam.device, results=results, pdf=exam.pdf,
                                source={"format": ecg.format, "file": path.name, "sha256": digest})
        message_id = queue_imported(self.config, self.outbox, patient, kind=KIND, folder=folder, pdf=exam.pdf)
        self.deliver_pending()
        return message_id

    def deliver_pending(self) -> dict[int, str]:
        """One delivery pass over the outbox messages due for the sink (never raises for a delivery problem:
        the outbox keeps the message and retries it)."""
        return self.outbox.deliver_due(self.sink)

    def _exam(self, ecg: EcgFile, path: Path, digest: str, analysis: EcgAnalysis,
              patient: PatientContext) -> ExamContext:
        from asalee_devices import __version__
        from asalee_devices.fhir_out.context import ExamContext

        cfg = self.config
        nurse = _performer(cfg.nurse.family_name, cfg.nurse.given_name, cfg.nurse.rpps, cfg.nurse.adeli, "nurse")
        gp = (_performer(cfg.gp.family_name, cfg.gp.given_name, cfg.gp.rpps, cfg.gp.adeli, "gp")
              if cfg.gp.family_name or cfg.gp.given_name else None)
        performed = _aware(ecg.acquired_at) or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        pdf = self._pdf(ecg, analysis, patient, performed) if self.render_pdf else None
        return ExamContext(exam_id=exam_id_for(digest), performed_at=performed, performer=nurse,
                           device=ecg.device, software_version=__version__, practice_name=cfg.practice.name,
                           practice_finess=cfg.practice.finess, practice_siret=cfg.practice.siret, gp=gp, pdf=pdf, raw_reference=path.name,
                           raw_sha256=digest, test_mode=cfg.test_mode, protocol=_default_protocol(cfg))

    def _pdf(self, ecg: EcgFile, analysis: EcgAnalysis, patient: PatientContext, performed: datetime) -> bytes:
        from asalee_devices.workflow.ecg_printout import device_label, render_ecg_report, report_context

        lang: Literal["fr", "en"] = "en" if self.config.lang == "en" else "fr"
        ctx = report_context(patient, analysis, lang=lang, acquired_at=performed,
                             device=device_label(ecg.device, ecg.format, lang),
                             performer=f"{self.config.nurse.given_name} {self.config.nurse.family_name}",
                             file_warnings=ecg.warnings)
        return render_ecg_report(analysis, ctx)

    def close(self) -> None:
        self.sink.close()
        self.outbox.close()


def _aware(when: object) -> datetime | None:
    """The file's acquisition time as an aware datetime (a naive device time is the practice's local time)."""
    if not isinstance(when, datetime):
        return None
    return when if when.tzinfo is not None else when.astimezone()


def _default_protocol(cfg: Config) -> Protocol | None:
    """Imported ECGs belong to the configuration's default ECG protocol (``programme.ecg_protocol``)."""
    from asalee_devices.programme.protocols import protocol

    code = cfg.programme.ecg_protocol
    return protocol(code, cfg.programme.protocols) if code else None
