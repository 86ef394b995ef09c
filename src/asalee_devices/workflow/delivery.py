"""From a finished examination to the record: keep the raw recordings, render the report, build the FHIR bundle,
queue it durably in the outbox, and try to deliver it now.

Order matters for "nothing is lost, nothing stranded": the raw recordings and the manifest are written first
(atomically; they carry no identity), then the analysis results, the PDF and every bundle of the examination are
computed in memory and the bundles (with the PDF) committed to the outbox in one transaction; only then are
``results.json`` and ``report.pdf`` written beside the recordings, and the sink tried. So a folder with results
always has its messages queued; a crash after the commit leaves files that :func:`recover` completes (the PDF from
the outbox, the results recomputed from the recordings, byte for byte as ``replay`` checks), and a crash before it
leaves only raw recordings, which the same examination recorded again (same content, same exam id) completes.
If the record is unreachable the examination waits in the outbox (``status="waiting"``) and ``asalee-devices
outbox send`` (or the next examination) delivers it; the content-derived id makes a re-send a no-op at the receiver.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asalee_devices import __version__
from asalee_devices.canonical import FlowCurve
from asalee_devices.config import Config
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import AsaleeError, StorageError
from asalee_devices.fhir_out.codes import TEST_INS_KINDS
from asalee_devices.fhir_out.context import Bronchodilator, Calibration, ExamContext
from asalee_devices.fhir_out.outbox import Outbox, OutboxMessage, QueuedMessage
from asalee_devices.fhir_out.pipeline import prepare_message
from asalee_devices.fhir_out.sinks.base import create_sink
from asalee_devices.files import atomic_write, clean_temp_files, storage_reason
from asalee_devices.jsonable import to_jsonable
from asalee_devices.programme.indicators import write_programme
from asalee_devices.reports.ecg_layout import EcgLayout
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.btps import MMHG_PER_HPA
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.workflow.calibration_log import CalibrationStatus, calibration_note, status_for
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.recording_store import save_recording
from asalee_devices.workflow.rendered import prepare_rendered, renders_own_payload
from asalee_devices.workflow.results import canonical_json, ecg_results, spirometry_results
from asalee_devices.workflow.setup import ExaminationSetup
from asalee_devices.workflow.spirometry_exam import SpirometryExamination

if TYPE_CHECKING:
    from asalee_devices.reports.ecg_pdf import GpInterpretation

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
           manifest: dict[str, Any]) -> tuple[str, Path, str]:
    """Save every recording (digest first: the exam id depends on them) and the manifest; returns (exam id,
    folder, manifest digest). The results are written by :func:`_commit`, after the outbox holds the bundles."""
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
    return exam_id, folder, hashlib.sha256(data).hexdigest()


def _commit(setup: ExaminationSetup, folder: Path, messages: list[QueuedMessage], results: bytes,
            pdf: bytes | None) -> list[int]:
    """Queue every bundle of the examination in one outbox transaction, then write its results and report.
    A full or read-only disk is a :class:`StorageError` naming the folder and what is safe."""
    try:
        with Outbox(setup.outbox_path) as outbox:
            ids = outbox.enqueue_many(messages) if messages else []
    except (OSError, sqlite3.Error) as exc:
        reason = storage_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise StorageError(f"Cannot write to the outbox: {reason}", folder=str(setup.outbox_path.parent),
                           kept=f"nothing was queued; the raw recordings are in {folder} — free space, then "
                                "record the examination again") from None
    try:
        atomic_write(folder / RESULTS, results)
        if pdf is not None:
            atomic_write(folder / REPORT, pdf)
    except OSError as exc:
        raise StorageError(f"Cannot write the results beside the recordings: {storage_reason(exc)}",
                           folder=str(folder), exit_code=4 if ids else 2,
                           kept=("the examination is safe in the outbox and will be sent (asalee-devices outbox "
                                 "send); the results file is completed when there is space") if ids else
                           "the raw recordings are kept") from None
    return ids


def _stored(folder_root: Path, kind: str, named: list[tuple[str, FlowRecording | EcgRecording]],
            manifest: dict[str, Any]) -> tuple[str, Path, str]:
    """:func:`_store` with a full or read-only disk reported as a :class:`StorageError`."""
    try:
        return _store(folder_root, kind, named, manifest)
    except OSError as exc:
        raise StorageError(f"Cannot keep the recordings: {storage_reason(exc)}", folder=str(folder_root),
                           kept="the examination could not be kept and nothing was queued — free space, then "
                                "record it again") from None


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did: temp files removed, examination folders completed, and the folders holding
    recordings that were never analysed and queued (a crash before the outbox commit; record the examination
    again, or ``replay`` it)."""

    temp_files_removed: int = 0
    completed: tuple[str, ...] = ()
    unqueued: tuple[str, ...] = ()


def check_storage(config: Config, *extra: tuple[Path, str]) -> None:
    """Before a device is touched: the recordings, outbox and folder-sink locations of ``config`` (and ``extra``
    (folder, what) pairs) writable with free space; a :class:`StorageError` naming the first that is not."""
    from asalee_devices.files import check_writable

    outbox_dir = Path(config.outbox).parent
    places = [(outbox_dir / "recordings", "recordings"), (outbox_dir, "outbox"), *extra]
    if config.sink.type == "folder":
        places.append((Path(config.sink.folder), "output (folder sink)"))
    for folder, what in places:
        check_writable(folder, what=what)


def recover_for_config(config: Config) -> Recovery:
    """:func:`recover` on the folders of ``config`` (recordings beside the outbox, the folder sink's folder)."""
    outbox_path = Path(config.outbox)
    from dataclasses import replace

    from asalee_devices.programme.indicators import backfill, store_path

    sink_folder = Path(config.sink.folder) if config.sink.type == "folder" and config.sink.folder else None
    done = recover(outbox_path.parent / "recordings", outbox_path, sink_folder=sink_folder)
    store = store_path(config)
    removed = clean_temp_files(store)  # the indicators store's Parquet files are written atomically too
    try:  # rows a crash between the outbox commit and the row left out (never stops a recording)
        backfill(outbox_path.parent / "recordings", store)
    except Exception as exc:
        log.warning("indicators store not completed (%s); run asalee-devices dashboard --rebuild",
                    type(exc).__name__)
    return replace(done, temp_files_removed=done.temp_files_removed + removed) if removed else done


def recover(recordings_dir: Path, outbox_path: Path, *, sink_folder: Path | None = None) -> Recovery:
    """Start-up pass: remove temp files left by a killed writer (recordings, outbox folder, folder sink), and
    complete each examination folder whose messages are queued but whose ``results.json``/``report.pdf`` a crash
    prevented. Idempotent; never sends and never needs the patient's identity."""
    from asalee_devices.workflow.replay import rebuild

    removed = clean_temp_files(recordings_dir) + clean_temp_files(outbox_path.parent, recursive=False)
    if sink_folder is not None and sink_folder.resolve() != outbox_path.parent.resolve():
        removed += clean_temp_files(sink_folder, recursive=False)
    if not recordings_dir.is_dir():
        return Recovery(removed)
    completed: list[str] = []
    unqueued: list[str] = []
    with Outbox(outbox_path) as outbox:
        queued: dict[str, int] = {}
        for m in outbox.messages(limit=1_000_000):
            queued.setdefault(m.exam_id.removesuffix("-post"), m.id)
        for folder in sorted(p for p in recordings_dir.iterdir() if (p / MANIFEST).is_file()):
            mid = queued.get(folder.name)
            if mid is None:
                if not (folder / RESULTS).is_file():
                    unqueued.append(folder.name)
                continue
            try:
                if not (folder / REPORT).is_file() and (pdf := outbox.pdf(mid)) is not None:
                    atomic_write(folder / REPORT, pdf)
                if not (folder / RESULTS).is_file():
                    _doc, exam = rebuild(folder)
                    results = spirometry_results(exam) if isinstance(exam, SpirometryExamination) \
                        else ecg_results(exam)
                    atomic_write(folder / RESULTS, canonical_json(results))
                else:
                    continue
            except AsaleeError as exc:
                log.warning("recovery: examination folder %s cannot be completed: %s", folder.name, exc)
                continue
            completed.append(folder.name)
    if completed:
        log.warning("recovery: %d examination folder(s) completed after an interruption", len(completed))
    if unqueued:
        log.warning("recovery: %d examination folder(s) hold recordings never analysed and queued (interrupted "
                    "before the outbox): record again or replay them", len(unqueued))
    return Recovery(removed, tuple(completed), tuple(unqueued))


def _exam_context(setup: ExaminationSetup, *, exam_id: str, device: DeviceIdentity, performed_at: datetime,
                  pdf: bytes | None, raw_reference: str, raw_sha256: str,
                  calibration: Calibration | None = None) -> ExamContext:
    cfg = setup.config
    return ExamContext(exam_id=exam_id, performed_at=performed_at, performer=setup.performer, device=device,
                       software_version=__version__, practice_name=cfg.practice.name,
                       practice_finess=cfg.practice.finess, practice_siret=cfg.practice.siret, gp=setup.gp, pdf=pdf, raw_reference=raw_reference,
                       raw_sha256=raw_sha256, test_mode=cfg.test_mode, protocol=setup.protocol,
                       calibration=calibration)


def spirometer_calibration(setup: ExaminationSetup, device: DeviceIdentity, on: date | None = None
                           ) -> tuple[Calibration, CalibrationStatus]:
    """The spirometer's calibration for the bundle's DeviceMetric (3-L syringe verification = a gain check) and
    its status for the report, from the calibration log beside the outbox."""
    status = status_for(setup.outbox_path, device.serial_number, on=on)
    last = status.last
    return Calibration(state=status.state, kind="gain", time=last.performed_at if last else None), status


def outcome(states: list[OutboxMessage], lang: str) -> tuple[Status, str]:
    """Where an examination's outbox messages stand, and the nurse's message for it: refused by the record if
    any was, sent when all were acknowledged, waiting otherwise (the outbox retries)."""
    if any(m.state == "failed" for m in states):
        reason = "; ".join(m.last_error for m in states if m.state == "failed")
        return "failed", _MESSAGES["failed"][lang].format(reason=reason)
    if all(m.state == "acknowledged" for m in states):
        return "sent", _MESSAGES["sent"][lang]
    reasons = "; ".join(sorted({m.last_error for m in states if m.state != "acknowledged" and m.last_error}))
    return "waiting", _MESSAGES["waiting"][lang] + (f" — {reasons}" if reasons else "")


def _send(setup: ExaminationSetup, queued: list[int], *, exam_id: str, kind: str, folder: Path,
          pdf_path: Path | None) -> DeliveryResult:
    """Record the examination's programme facts (indicators store), then try the configured sink once now for
    everything due; report the state of this examination's messages."""
    from asalee_devices.programme.indicators import record_examination

    record_examination(setup, folder=folder)
    lang = setup.lang
    with Outbox(setup.outbox_path) as outbox:
        with create_sink(setup.config.sink) as sink:
            outbox.deliver_due(sink)
        states = [outbox.get(mid) for mid in queued]
    status, message = outcome(states, lang)
    log.info("examination %s (%s): %s", exam_id, kind, status)
    return DeliveryResult(exam_id=exam_id, kind=kind, status=status, message=message, recordings_dir=folder,
                          pdf_path=pdf_path, message_ids=tuple(queued), details=tuple(m.detail for m in states))


def _send_rendered(setup: ExaminationSetup, *, exam_id: str, kind: str, folder: Path, results: bytes, pdf: bytes,
                   pdf_path: Path) -> DeliveryResult:
    """Queue the sink's own document rendered from the canonical results (workflow/rendered.py) in the same
    durable step as the results and report (:func:`_commit`), then send."""
    message = prepare_rendered(setup, kind=kind, folder=folder, results=results, pdf=pdf)
    queued = _commit(setup, folder, [message], results, pdf)
    return _send(setup, queued, exam_id=exam_id, kind=kind, folder=folder, pdf_path=pdf_path)


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
                     recordings_root: Path, calibration: CalibrationStatus | None = None) -> tuple[str, Path, str]:
    """Keep the raw blows and the manifest (with the device's calibration state that day, when known); returns
    (exam id, folder, manifest digest)."""
    named: list[tuple[str, FlowRecording | EcgRecording]] = []
    for phase in exam.phases:
        result = exam.phase_result(phase)
        assert result is not None
        named += [(f"blow-{phase}-{i + 1:02d}", rec) for i, rec in enumerate(result.recordings)]
    manifest: dict[str, Any] = {"performed_at": performed_at.isoformat(), "device": device, "lang": exam.lang,
                                "subject": exam.subject, "phases": list(exam.phases)}
    if exam.ambient is not None:
        manifest["ambient"] = exam.ambient
    if calibration is not None:  # the programme's indicators count the days with a verification (dashboard)
        manifest["calibration"] = {"state": calibration.state, "verified_that_day": calibration.state == "calibrated",
                                   "last_at": calibration.last.performed_at.isoformat() if calibration.last else None}
    marks = {phase: {str(n): [m.value for m in ms] for n, ms in exam.marks(phase).items()} for phase in exam.phases}
    if any(marks.values()):  # the nurse's operator marks: replay re-applies them (absent when there are none)
        manifest["marks"] = {phase: m for phase, m in marks.items() if m}
    return _stored(recordings_root, "spirometry", named, manifest)


def spirometry_report_pdf(exam: SpirometryExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                          performed_at: datetime, calibration: CalibrationStatus | None = None) -> bytes | None:
    """The GP's report of a spirometry examination, exactly as :func:`deliver_spirometry` sends it (the web
    preview shows these bytes and passes them back as ``pdf``); None when the pre phase has no analysed blow."""
    from asalee_devices.reports.spirometry_pdf import render_spirometry_pdf
    from asalee_devices.workflow.spirometry_exam import spirometry_report_data

    pre = exam.phase_result("pre")
    if pre is None or pre.session is None:
        return None
    cal_status = calibration or spirometer_calibration(setup, device, on=performed_at.astimezone().date())[1]
    name, ident, birth = _identity_labels(setup)
    data = spirometry_report_data(exam, patient_name=name, patient_identifier=ident, birth_date=birth,
                                  acquired_at=performed_at, device_label=_device_label(device),
                                  performer_label=f"{setup.performer.given} {setup.performer.family}",
                                  btps_note=btps_note(pre.recordings, setup.lang),
                                  calibration_note=calibration_note(cal_status, setup.lang),
                                  calibration_warning=cal_status.warning)
    return render_spirometry_pdf(data)


def deliver_spirometry(exam: SpirometryExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                       performed_at: datetime, bronchodilator: Bronchodilator | None = None,
                       pdf: bytes | None = None) -> DeliveryResult:
    """Keep, report and deliver a spirometry examination (pre phase, and the post phase as a second bundle).
    ``pdf``: the report already rendered by :func:`spirometry_report_pdf` for this examination (the preview the
    nurse reviewed), sent as is; rendered here when None."""
    from asalee_devices.canonical import load_results
    from asalee_devices.fhir_out.spirometry import spirometry_bundle
    from asalee_devices.workflow.results import flow_curve

    calibration, cal_status = spirometer_calibration(setup, device, on=performed_at.astimezone().date())
    exam_id, folder, manifest_sha = store_spirometry(exam, device=device, performed_at=performed_at,
                                                     recordings_root=setup.recordings_dir, calibration=cal_status)
    write_programme(setup, folder=folder)  # before the outbox commit: a crash after it loses no indicator row
    results = canonical_json(spirometry_results(exam))
    pre = exam.phase_result("pre")
    if pre is None or pre.session is None:
        _commit(setup, folder, [], results, None)
        return _kept(setup, exam_id, "spirometry", folder)
    if pdf is None:
        pdf = spirometry_report_pdf(exam, setup, device=device, performed_at=performed_at, calibration=cal_status)
    assert pdf is not None  # the pre phase has a session
    pdf_path = folder / REPORT
    if renders_own_payload(setup.config.sink.type):  # e.g. HPRIM: one document for the whole examination
        return _send_rendered(setup, exam_id=exam_id, kind="spirometry", folder=folder, results=results, pdf=pdf,
                              pdf_path=pdf_path)
    doc = load_results(results)  # every bundle renders the canonical results as stored, nothing recomputed
    has_post = "post" in exam.phases
    messages: list[QueuedMessage] = []
    # every bundle built (and validated) before any is queued
    for phase in exam.phases:
        result = exam.phase_result(phase)
        if result is None or result.session is None:
            continue
        session = result.session
        curve = flow_curve(result.recordings[result.analysed[session.best_test_index or 0]])
        ctx = _exam_context(setup, exam_id=exam_id if phase == "pre" else f"{exam_id}-post", device=device,
                            performed_at=performed_at, pdf=pdf, raw_reference=f"recordings/{exam_id}/",
                            raw_sha256=manifest_sha, calibration=calibration)
        pre_post = ("pre" if phase == "pre" else "post") if has_post else "none"

        def build(ctx: ExamContext = ctx, pre_post: str = pre_post, curve: FlowCurve = curve,
                  phase: str = phase) -> Any:
            return spirometry_bundle(ctx, setup.patient, doc, phase=phase,
                                     pre_post=pre_post,  # type: ignore[arg-type]
                                     curve=curve, bronchodilator=bronchodilator if phase == "post" else None)

        kind = "spirometry" if phase == "pre" else "spirometry-post"
        messages.append(prepare_message(sink=setup.config.sink.type, exam=ctx, kind=kind, build=build))
    queued = _commit(setup, folder, messages, results, pdf)
    return _send(setup, queued, exam_id=exam_id, kind="spirometry", folder=folder, pdf_path=pdf_path)


def btps_note(recordings: tuple[FlowRecording, ...], lang: str) -> str:
    sources = {r.btps.source for r in recordings}
    if sources == {"device"}:
        return "appliqué par l'appareil" if lang == "fr" else "applied by the device"
    if sources == {"none"}:
        return ("non corrigé (conditions ambiantes non saisies)" if lang == "fr" else
                "not corrected (no ambient conditions entered)")
    if sources == {"ambient"}:
        b = recordings[0].btps
        who = {"nurse": ("saisies", "entered"), "device": ("de l'appareil", "from the device")}.get(
            b.conditions_from, ("", ""))[0 if lang == "fr" else 1]
        hpa = (b.pressure_mmhg or 0.0) / MMHG_PER_HPA
        rh = "" if b.relative_humidity is None else f", {'HR' if lang == 'fr' else 'RH'} {100 * b.relative_humidity:.0f} %"
        return (f"{'facteur' if lang == 'fr' else 'factor'} {b.factor:.3f} ({b.temperature_c:.1f} °C, {hpa:.0f} hPa"
                f"{rh}{', ' + who if who else ''})")
    return ", ".join(sorted(sources))


def store_ecg(exam: EcgExamination, *, device: DeviceIdentity, performed_at: datetime,
              recordings_root: Path) -> tuple[str, Path, str]:
    named: list[tuple[str, FlowRecording | EcgRecording]] = [
        (f"capture-{i + 1:02d}", rec) for i, rec in enumerate(exam.captures)]
    manifest = {"performed_at": performed_at.isoformat(), "device": device, "lang": exam.lang,
                "mains_hz": exam.mains_hz, "kept": exam.kept}
    return _stored(recordings_root, "ecg", named, manifest)


def ecg_report_pdf(exam: EcgExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                   performed_at: datetime, layout: EcgLayout | None = None,
                   interpretation: GpInterpretation | None = None) -> bytes | None:
    """The kept capture at standard scale, exactly as :func:`deliver_ecg` sends it (the web preview shows these
    bytes and passes them back as ``pdf``); with ``interpretation``, the "interprété" version of the same page
    (the GP's final report). None when no capture is kept."""
    from asalee_devices.workflow.ecg_printout import device_label, render_ecg_report, report_context

    analysis = exam.kept_analysis
    if analysis is None:
        return None
    ctx_pdf = report_context(setup.patient, analysis, lang=setup.lang, acquired_at=performed_at,
                             device=device_label(device, lang=setup.lang),
                             performer=f"{setup.performer.given} {setup.performer.family}")
    return render_ecg_report(analysis, ctx_pdf, layout, interpretation=interpretation)


def deliver_ecg(exam: EcgExamination, setup: ExaminationSetup, *, device: DeviceIdentity,
                performed_at: datetime, layout: EcgLayout | None = None, pdf: bytes | None = None) -> DeliveryResult:
    """Keep every capture, render the kept one at standard scale and deliver it for the GP's interpretation.
    ``pdf``: the report already rendered by :func:`ecg_report_pdf` for this examination (the preview the nurse
    reviewed), sent as is; rendered here when None."""
    from asalee_devices.canonical import load_results
    from asalee_devices.fhir_out.ecg import ecg_bundle
    from asalee_devices.workflow.results import ecg_trace

    exam_id, folder, manifest_sha = store_ecg(exam, device=device, performed_at=performed_at,
                                              recordings_root=setup.recordings_dir)
    write_programme(setup, folder=folder)  # before the outbox commit: a crash after it loses no indicator row
    results = canonical_json(ecg_results(exam))
    analysis = exam.kept_analysis
    if analysis is None:
        _commit(setup, folder, [], results, None)
        return _kept(setup, exam_id, "ecg", folder)
    if pdf is None:
        pdf = ecg_report_pdf(exam, setup, device=device, performed_at=performed_at, layout=layout)
    assert pdf is not None  # a capture is kept
    pdf_path = folder / REPORT
    if renders_own_payload(setup.config.sink.type):
        return _send_rendered(setup, exam_id=exam_id, kind="ecg", folder=folder, results=results, pdf=pdf,
                              pdf_path=pdf_path)
    ctx = _exam_context(setup, exam_id=exam_id, device=device, performed_at=performed_at, pdf=pdf,
                        raw_reference=f"recordings/{exam_id}/", raw_sha256=manifest_sha)
    doc, trace = load_results(results), ecg_trace(analysis.cleaned)
    message = prepare_message(sink=setup.config.sink.type, exam=ctx, kind="ecg",
                              build=lambda: ecg_bundle(ctx, setup.patient, doc, trace))
    queued = _commit(setup, folder, [message], results, pdf)
    return _send(setup, queued, exam_id=exam_id, kind="ecg", folder=folder, pdf_path=pdf_path)
