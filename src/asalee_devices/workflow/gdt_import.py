"""From a GDT result (record 6310) written by a vendor program to an examination of the same canonical shape.

- Identity (3000 patient number, 3101, 3102, 3103 DDMMYYYY, 3110): checked like the ECG watched folder does; a
  missing field refuses the file (:class:`PatientDataError` naming the fields, never their values) -> ``failed/``.
  The patient number is a *local* identifier (``[gdt] patient_id_system``), never an INS.
- Spirometry: the test lines (8410 test id, 8411 name, 8420 value, 8421 unit, 8461/8462 normal limits) become the
  ``parameters`` of the canonical results (``workflow/results.py`` shape) *as the device software computed them*:
  no reference equation is called, nothing is recomputed; the manifest says ``computed_by`` the device software.
  An unknown unit refuses the file (never a guessed conversion).
- ECG: a raw ECG file attached (6302-6305; SCP-ECG, aECG, DICOM, ...) goes through our own ECG pipeline: for a FHIR
  sink :class:`~asalee_devices.workflow.ecg_file_import.EcgFileImporter` with the GDT identity; for a sink that
  renders its own payload (HPRIM) the same analysis stored as canonical results beside the examination.
- The PDF the program attached (6303 ``PDF`` / a ``.pdf`` reference) is kept as the examination's report.
- Stored like every examination (``recordings/<exam id>/exam.json``, ``results.json``, ``report.pdf``), exam id from
  the content hash (the same file is the same examination), then queued and delivered.

For FHIR sinks a device-computed spirometry is rendered by ``fhir_out/device_results.py`` from the same canonical
parameters (values, vendor limits, "computed by the device software"); MLLP converts that bundle as usual.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

from asalee_devices.drivers.gdt import GdtRecord
from asalee_devices.errors import DeliveryError, FormatError, PatientDataError

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.fhir_out.context import PatientContext
    from asalee_devices.fhir_out.outbox import Outbox
    from asalee_devices.fhir_out.sinks import Sink

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
COMPUTED_BY_DEVICE = "logiciel de l'appareil"

#: vendor test ids (8410, upper-cased, spaces removed) -> canonical parameter name
SPIRO_TESTS: dict[str, str] = {
    "FEV1": "fev1", "VEMS": "fev1", "FVC": "fvc", "CVF": "fvc", "FEV1/FVC": "fev1_fvc", "FEV1%FVC": "fev1_fvc",
    "FEV1_FVC": "fev1_fvc", "VEMS/CVF": "fev1_fvc", "TIFFENEAU": "fev1_fvc", "PEF": "pef", "DEP": "pef",
    "FEF25-75": "fef25_75", "MEF25-75": "fef25_75", "MMEF": "fef25_75", "DEM25-75": "fef25_75", "FEV6": "fev6",
    "VEMS6": "fev6", "FET": "fet",
}
LABELS = {"fev1": "FEV1", "fvc": "FVC", "fev1_fvc": "FEV1/FVC", "pef": "PEF", "fef25_75": "FEF25-75",
          "fev6": "FEV6", "fet": "FET"}
#: unit as written (lower case) -> (canonical unit, factor) per canonical unit family
UNITS: dict[str, dict[str, tuple[str, float]]] = {
    "L": {"l": ("L", 1.0), "ml": ("L", 0.001), "l(btps)": ("L", 1.0)},
    "L/s": {"l/s": ("L/s", 1.0), "l/sec": ("L/s", 1.0), "l/min": ("L/s", 1.0 / 60.0)},
    "s": {"s": ("s", 1.0), "sec": ("s", 1.0)},
    "": {"%": ("", 0.01), "": ("", 1.0)},
}
FAMILY = {"fev1": "L", "fvc": "L", "fev6": "L", "pef": "L/s", "fef25_75": "L/s", "fet": "s", "fev1_fvc": ""}
ECG_FORMATS = ("SCP", "SCP-ECG", "SCPECG", "XML", "AECG", "DICOM", "DCM", "MUSE")
_SEX = {"1": "male", "2": "female", "M": "male", "W": "female", "F": "female"}
_COMPLETE = "; complete the identity in the vendor program and export again, or import the result by hand"


@dataclass(frozen=True)
class Attachment:
    archive_number: str
    file_format: str
    description: str
    path: Path


def patient_from_gdt(record: GdtRecord, system: str) -> PatientContext:
    from asalee_devices.fhir_out.context import PatientContext

    values = {k: (record.get(fid) or "").strip() for k, fid in
              (("patient_id", "3000"), ("family", "3101"), ("given", "3102"), ("birth_date", "3103"))}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise PatientDataError("The GDT result lacks patient details the record needs", field=", ".join(missing),
                               expected=f"fields 3000, 3101, 3102 and 3103 in the GDT record{_COMPLETE}")
    birth_text = values["birth_date"]
    try:
        birth = date(int(birth_text[4:8]), int(birth_text[2:4]), int(birth_text[:2]))
        if len(birth_text) != 8:
            raise ValueError
    except ValueError:
        raise PatientDataError("The GDT birth date (3103) is not a date", field="birth_date",
                               expected="DDMMYYYY") from None
    sex = _SEX.get((record.get("3110") or "").strip().upper(), "unknown")
    return PatientContext(family=values["family"], given=(values["given"],), birth_date=birth,
                          sex=sex,  # type: ignore[arg-type]
                          local_id=values["patient_id"], local_system=system)


def attachments(record: GdtRecord, base: Path) -> list[Attachment]:
    """The files a record refers to (6302 archive number, 6303 format, 6304 description, 6305 reference): a group
    starts at 6302 or 6305, whichever comes first; a relative reference is relative to the GDT file's folder."""
    out: list[Attachment] = []
    current: dict[str, str] = {}

    def flush() -> None:
        if "6305" in current:
            out.append(Attachment(current.get("6302", ""), current.get("6303", "").strip().upper(),
                                  current.get("6304", ""), _reference(current["6305"], base)))
        current.clear()

    for f in record.fields:
        if f.fid in ("6302", "6303", "6304", "6305"):
            if f.fid in current or (f.fid == "6302" and current):
                flush()
            current[f.fid] = f.content
    flush()
    return out


def _reference(text: str, base: Path) -> Path:
    """A 6305 file reference: absolute as written, else relative to the GDT file's folder; a Windows path read on
    another system is looked for by its name beside the GDT file."""
    raw = text.strip()
    path = Path(raw)
    if path.is_absolute():
        return path
    win = PureWindowsPath(raw)
    if win.is_absolute() or win.drive:
        return base / win.name
    return base / Path(*win.parts)


def _number(text: str, where: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise FormatError("A GDT result value is not a number", field=where, value=text,
                          expected="a decimal number (point or comma)") from None


def spirometry_parameters(record: GdtRecord) -> list[dict[str, Any]]:
    """The measured parameters of a 6310, canonical names and units; vendor limits kept as LLN/ULN."""
    tests: list[dict[str, str]] = []
    for f in record.fields:
        if f.fid == "8410":
            tests.append({"8410": f.content})
        elif tests and f.fid in ("8411", "8420", "8421", "8461", "8462") and f.fid not in tests[-1]:
            tests[-1][f.fid] = f.content
    out: dict[str, dict[str, Any]] = {}
    for t in tests:
        name = SPIRO_TESTS.get(t["8410"].strip().upper().replace(" ", ""))
        if name is None or "8420" not in t:
            continue
        unit_text = t.get("8421", "").strip().lower()
        conv = UNITS[FAMILY[name]].get(unit_text)
        if conv is None:
            raise FormatError("Unknown unit for a spirometry value", field=f"8421 of test {t['8410']}",
                              value=t.get("8421", ""), expected=", ".join(repr(u) for u in UNITS[FAMILY[name]]))
        unit, factor = conv
        lln = _number(t["8461"], "8461") * factor if t.get("8461", "").strip() else None
        uln = _number(t["8462"], "8462") * factor if t.get("8462", "").strip() else None
        out.setdefault(name, {"name": name, "label": LABELS[name], "unit": unit or "",
                              "measured": _number(t["8420"], f"8420 of test {t['8410']}") * factor,
                              "predicted": None, "lln": lln, "uln": uln, "z_score": None,
                              "percent_predicted": None, "equation": None, "source_test": t["8410"]})
    return [out[n] for n in LABELS if n in out]


def performed_at(record: GdtRecord, path: Path) -> datetime:
    day, hms = (record.get("6200") or "").strip(), (record.get("6201") or "").strip()
    try:
        if len(day) == 8:
            t = hms if len(hms) == 6 else "000000"
            return datetime(int(day[4:]), int(day[2:4]), int(day[:2]), int(t[:2]), int(t[2:4]),
                            int(t[4:])).astimezone()
    except ValueError:
        raise FormatError("The GDT examination date (6200/6201) is not a date", field="6200",
                          expected="DDMMYYYY and HHMMSS") from None
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError:
        raise FormatError(f"The {what} the GDT result refers to is not there", field="6305", value=path.name,
                          expected="the file written by the vendor program beside the GDT file") from None
    if size > MAX_ATTACHMENT_BYTES:
        raise FormatError(f"The {what} is too large", field="6305", value=size,
                          expected=f"at most {MAX_ATTACHMENT_BYTES} bytes")
    return path.read_bytes()


@dataclass
class GdtImporter:
    """The processing step of the GDT watched folder: ``importer(record, path)``."""

    config: Config
    outbox: Outbox
    sink: Sink
    recordings_dir: Path
    outcomes: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Config, *, outbox: Outbox | None = None, sink: Sink | None = None) -> GdtImporter:
        from asalee_devices.fhir_out.outbox import Outbox
        from asalee_devices.fhir_out.sinks import create_sink

        if outbox is None:
            Path(cfg.outbox).parent.mkdir(parents=True, exist_ok=True)
            outbox = Outbox(cfg.outbox)
        return cls(cfg, outbox, sink or create_sink(cfg.sink), Path(cfg.outbox).parent / "recordings")

    def __call__(self, record: GdtRecord, path: Path) -> None:
        self.import_record(record, path)

    def import_record(self, record: GdtRecord, path: Path) -> int:
        """Import one decoded 6310; returns the outbox message id."""
        from asalee_devices.fhir_out.context import check_patient

        if record.record_type != "6310":
            raise FormatError("Only GDT results (record 6310) are imported from the exchange folder",
                              field="8000", value=record.record_type, expected="6310")
        patient = patient_from_gdt(record, self.config.gdt.patient_id_system)
        check_patient(patient, test_mode=self.config.test_mode)
        files = attachments(record, path.parent)
        ecg_files = [a for a in files if a.file_format in ECG_FORMATS
                     or a.path.suffix.lower() in (".scp", ".xml", ".dcm")]
        pdfs = [a for a in files if a.file_format == "PDF" or a.path.suffix.lower() == ".pdf"]
        pdf = _read_bounded(pdfs[0].path, "PDF report") if pdfs else None
        if pdf is not None and not pdf.startswith(b"%PDF-"):  # never deliver whatever file 6305 names as the report
            raise FormatError("The PDF report the GDT result refers to is not a PDF", field="6305",
                              value=pdfs[0].path.name, expected="a PDF file (starting with %PDF-)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        when = performed_at(record, path)
        params = spirometry_parameters(record)
        if ecg_files and not params:  # an XML/DICOM export beside spirometry values is not an ECG
            return self._ecg(record, path, patient, ecg_files[0], pdf, digest, when)
        if not params:
            raise FormatError("The GDT result has neither spirometry values nor an ECG file", field="8410",
                              expected="test lines 8410/8420/8421 (FEV1, FVC...) or an ECG file in 6305")
        results = {"kind": "spirometry", "computed_by": "device", "subject": None, "bronchodilator_response": None,
                   "phases": {"pre": {"blows": None, "analysed": [], "interrupted": [], "session": None,
                                      "parameters": params}}}
        return self._store_and_queue("spirometry", record, path, patient, results, pdf, digest, when)

    def _ecg(self, record: GdtRecord, path: Path, patient: PatientContext, attachment: Attachment,
             pdf: bytes | None, digest: str, when: datetime) -> int:
        from asalee_devices.drivers.ecg_files import read_ecg_file
        from asalee_devices.workflow.rendered import renders_own_payload

        _read_bounded(attachment.path, "ECG file")  # present and bounded before any decoding
        ecg = read_ecg_file(attachment.path)
        if not renders_own_payload(self.sink.key):
            from asalee_devices.workflow.ecg_file_import import EcgFileImporter

            importer = EcgFileImporter(self.config, self.outbox, self.sink,
                                       mains_hz=float(self.config.watch.mains_hz or self.config.mains_hz))
            return importer.import_file(ecg, attachment.path, patient)
        from asalee_devices.signal.ecg.analysis import analyze_ecg
        from asalee_devices.workflow.results import ecg_file_results

        mains_hz = float(self.config.watch.mains_hz or self.config.mains_hz)
        analysis = analyze_ecg(ecg.recording, mains_hz=mains_hz)
        results = ecg_file_results(analysis, mains_hz)
        if pdf is None:
            pdf = self._ecg_pdf(ecg, analysis, patient, when)
        return self._store_and_queue("ecg", record, path, patient, results, pdf, digest, when, device=ecg.device,
                                     computed_by=None)

    def _ecg_pdf(self, ecg: Any, analysis: Any, patient: PatientContext, when: datetime) -> bytes:
        from asalee_devices.workflow.ecg_file_import import EcgFileImporter

        importer = EcgFileImporter(self.config, self.outbox, self.sink)
        return importer._pdf(ecg, analysis, patient, when)

    def _store_and_queue(self, kind: str, record: GdtRecord, path: Path, patient: PatientContext,
                         results: dict[str, Any], pdf: bytes | None, digest: str, when: datetime, *,
                         device: Any = None, computed_by: str | None = "") -> int:
        from asalee_devices.drivers.identity import DeviceIdentity
        from asalee_devices.workflow.delivery import exam_id_for
        from asalee_devices.workflow.rendered import queue_imported, renders_own_payload, store_imported

        exam_id = exam_id_for(f"gdt-{kind}", [digest])
        sender = (record.get("8316") or "").strip()
        procedure = (record.get("8402") or "").strip()
        device = device or DeviceIdentity(manufacturer=sender, model=procedure, source="gdt")
        if computed_by == "":
            computed_by = f"{COMPUTED_BY_DEVICE} ({' '.join(x for x in (sender, procedure) if x) or 'GDT'})"
        folder = store_imported(self.recordings_dir, kind=kind, exam_id=exam_id, performed_at=when, device=device,
                                results=results, pdf=pdf, computed_by=computed_by,
                                source={"format": "GDT", "gdt_version": record.version, "file": path.name,
                                        "sha256": digest})
        if renders_own_payload(self.sink.key):
            mid = queue_imported(self.config, self.outbox, patient, kind=kind, folder=folder, pdf=pdf)
        elif kind == "spirometry":
            mid = self._queue_fhir(exam_id, patient, results, pdf, digest, when, device, path, computed_by or "")
        else:  # an ECG goes through EcgFileImporter for FHIR sinks; nothing else reaches here
            raise DeliveryError(f"Examination stored in {folder.name}; no FHIR rendering for this {kind}",
                                field="sink.type", value=self.sink.key, expected="sink.type = 'hprim'")
        self.outbox.deliver_due(self.sink)
        log.info("gdt import: exam %s queued as message %s", exam_id, mid)
        return mid

    def _queue_fhir(self, exam_id: str, patient: PatientContext, results: dict[str, Any], pdf: bytes | None,
                    digest: str, when: datetime, device: Any, path: Path, computed_by: str) -> int:
        """The FHIR bundle of a device-computed spirometry, rendered from its canonical parameters."""
        from asalee_devices import __version__
        from asalee_devices.fhir_out.context import ExamContext
        from asalee_devices.fhir_out.device_results import device_spirometry_bundle
        from asalee_devices.fhir_out.pipeline import queue_exam
        from asalee_devices.workflow.setup import _person

        cfg = self.config
        nurse = _person(cfg.nurse, "nurse")
        if nurse is None:
            raise PatientDataError("The performing nurse is not configured", field="nurse.family_name")
        ctx = ExamContext(exam_id=exam_id, performed_at=when, performer=nurse, device=device,
                          software_version=__version__, practice_name=cfg.practice.name,
                          practice_finess=cfg.practice.finess, gp=_person(cfg.gp, "gp"), pdf=pdf,
                          raw_reference=path.name, raw_sha256=digest, test_mode=cfg.test_mode)
        params = results["phases"]["pre"]["parameters"]
        return queue_exam(self.outbox, sink=self.sink.key, exam=ctx, kind="spirometry",
                          build=lambda: device_spirometry_bundle(ctx, patient, params, computed_by=computed_by))

    def deliver_pending(self) -> dict[int, str]:
        return self.outbox.deliver_due(self.sink)

    def close(self) -> None:
        self.sink.close()
        self.outbox.close()
