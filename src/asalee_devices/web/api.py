"""The nurse's API: session and language, patient (validated as typed), examinations (blows, captures, post
bronchodilator, keep), the PDF report, sending through the outbox, delivery status and today's history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out.context import PatientContext, check_nir_birth, check_patient
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.web import acquire
from asalee_devices.web.delivery import deliver, report
from asalee_devices.web.errors import ApiError, get_number, get_str, json_body
from asalee_devices.web.exams import Delivery, EcgExam, SpiroExam, calibration_view
from asalee_devices.web.journal import Journal
from asalee_devices.web.patient_messages import message as patient_message
from asalee_devices.web.settings import ECG_CHOICES, SPIRO_CHOICES, is_simulator
from asalee_devices.web.state import WebState, web

_PATIENT_STR = ("family", "given", "birth_date", "sex", "ins", "ins_kind", "birth_place_cog", "local_id",
                "local_system")


def _lang(state: WebState) -> Literal["fr", "en"]:
    return state.lang


def patient_mapping(body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("patient")
    if not isinstance(raw, dict):
        raise ApiError(400, "missing_field", "Field 'patient' (an object) is required", field="patient")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "identity_qualified":
            if not isinstance(value, bool):
                raise ApiError(400, "bad_field", "Field 'identity_qualified' must be true or false", field=key)
            out[key] = value
        elif key in _PATIENT_STR:
            s = get_str(raw, key, required=False, max_len=200)
            if s is not None and s.strip():
                out[key] = s.strip()
        else:
            raise ApiError(400, "unknown_field", f"Unknown patient field '{key}'", field=key)
    return out


def validate_patient(state: WebState, mapping: dict[str, Any]) -> PatientContext:
    ctx = patient_from_mapping(mapping)
    check_patient(ctx, test_mode=state.settings.config.test_mode)
    check_nir_birth(ctx)  # a birth date contradicting the NIR is a typing error, never "Identité valide"
    return ctx


def exam_of(state: WebState, request: Request) -> SpiroExam | EcgExam:
    exam = state.store.exams.get(request.path_params["exam_id"])
    if exam is None:
        raise ApiError(404, "no_exam", "No such examination")
    return exam


def spiro_of(state: WebState, request: Request) -> SpiroExam:
    exam = exam_of(state, request)
    if not isinstance(exam, SpiroExam):
        raise ApiError(409, "wrong_kind", "Not a spirometry examination")
    return exam


def ecg_of(state: WebState, request: Request) -> EcgExam:
    exam = exam_of(state, request)
    if not isinstance(exam, EcgExam):
        raise ApiError(409, "wrong_kind", "Not an ECG examination")
    return exam


def _protocols(config: Any, lang: str) -> dict[str, Any]:
    from asalee_devices.programme.protocols import protocol_label

    prog = config.programme
    return {"choices": [{"code": c, "label": protocol_label(c, lang)} for c in prog.protocols],
            "default": {"spirometry": prog.spirometry_protocol, "ecg": prog.ecg_protocol}}


async def session(request: Request) -> Response:
    state = web(request)
    s = state.settings
    lang = _lang(state)
    cur = state.store.current_patient
    spiro = state.store.current("spirometry")
    ecg = state.store.current("ecg")
    return JSONResponse({
        "lang": lang, "test_mode": s.config.test_mode,
        "simulators": {"spirometer": is_simulator(s.spirometer_url), "ecg": is_simulator(s.ecg_url)},
        "sim_choices": {"spirometry": list(SPIRO_CHOICES), "ecg": list(ECG_CHOICES)},
        "protocols": _protocols(s.config, lang),
        "patient": state.store.patients[cur].view() if cur else None,
        "spirometry": spiro.view(lang) if spiro else None, "ecg": ecg.view(lang) if ecg else None,
    })


async def set_lang(request: Request) -> Response:
    body = await json_body(request)
    web(request).lang = get_str(body, "lang", choices=("fr", "en")) or "fr"  # type: ignore[assignment]
    return JSONResponse({"lang": web(request).lang})


async def patient_validate(request: Request) -> Response:
    """Validation as the nurse types: always 200 with the first problem (field + message), never the values."""
    state = web(request)
    body = await json_body(request)
    try:
        validate_patient(state, patient_mapping(body))
    except PatientDataError as exc:
        return JSONResponse({"valid": False, "field": exc.field, "message": patient_message(exc, _lang(state))})
    return JSONResponse({"valid": True})


async def patient_set(request: Request) -> Response:
    state = web(request)
    body = await json_body(request)
    mapping = patient_mapping(body)
    height = get_number(body, "height_cm", lo=50, hi=250, required=False)
    ctx = validate_patient(state, mapping)
    rec = state.store.add_patient(ctx, height)
    return JSONResponse({"patient": rec.view()}, status_code=201)


async def exam_new(request: Request) -> Response:
    state = web(request)
    body = await json_body(request)
    kind = get_str(body, "kind", choices=("spirometry", "ecg"))
    protocol = get_str(body, "protocol", required=False, choices=tuple(state.settings.config.programme.protocols))
    pid = state.store.current_patient
    if pid is None:
        raise ApiError(409, "no_patient", "Select or enter the patient first")
    patient = state.store.patients[pid]
    cfg = state.settings.config
    exam: SpiroExam | EcgExam
    if kind == "spirometry":
        exam = state.store.new_spirometry(patient, _lang(state), cfg.equation)
    else:
        exam = state.store.new_ecg(patient, _lang(state), float(cfg.mains_hz))
    exam.protocol = protocol or ""
    Journal(state.settings.data_dir).started(exam, equation=cfg.equation, mains_hz=float(cfg.mains_hz),
                                             lang=_lang(state))
    return JSONResponse({"exam": exam.view(_lang(state))}, status_code=201)


async def exam_get(request: Request) -> Response:
    state = web(request)
    return JSONResponse({"exam": exam_of(state, request).view(_lang(state))})


def _start(state: WebState, exam: SpiroExam | EcgExam, record: Any, choice: str | None) -> None:
    if exam.deliveries:
        raise ApiError(409, "already_sent", "This examination has been sent; start a new one")
    if exam.busy:
        raise ApiError(409, "busy", "A recording is already in progress")
    run = state.calibration
    if exam.kind == "spirometry" and run is not None and run.state == "recording":
        raise ApiError(409, "busy", "The spirometer is recording a calibration verification")
    from asalee_devices.workflow.delivery import check_storage

    check_storage(state.settings.config, (state.settings.data_dir / "in-progress", "examinations in progress"))
    exam.busy = True  # the folders can take the examination (else 507 naming the folder, device untouched)
    loop = asyncio.get_running_loop()
    loop.run_in_executor(None, record, exam, state.settings, state.hub, choice, _lang(state))


async def blow(request: Request) -> Response:
    state = web(request)
    exam = spiro_of(state, request)
    body = await json_body(request)
    choice = get_str(body, "sim", required=False, choices=tuple(SPIRO_CHOICES))
    _start(state, exam, acquire.record_blow, choice)
    return JSONResponse({"started": True}, status_code=202)


async def capture(request: Request) -> Response:
    state = web(request)
    exam = ecg_of(state, request)
    body = await json_body(request)
    choice = get_str(body, "sim", required=False, choices=tuple(ECG_CHOICES))
    _start(state, exam, acquire.record_capture, choice)
    return JSONResponse({"started": True}, status_code=202)


async def post_bd(request: Request) -> Response:
    state = web(request)
    exam = spiro_of(state, request)
    await json_body(request)
    with exam.lock:
        exam.exam.start_post_bronchodilator()
        Journal(state.settings.data_dir).step(exam, {"post_bronchodilator": True})
    return JSONResponse({"exam": exam.view(_lang(state))})


async def keep(request: Request) -> Response:
    state = web(request)
    exam = ecg_of(state, request)
    body = await json_body(request)
    number = get_number(body, "number", lo=1, hi=1000)
    with exam.lock:
        exam.exam.keep(int(number or 0))
        Journal(state.settings.data_dir).step(exam, {"keep": int(number or 0)})
    return JSONResponse({"exam": exam.view(_lang(state))})


async def calibration(request: Request) -> Response:
    """A 3-L syringe verification typed by the nurse (the volume the spirometer showed for each of the three
    strokes and its mean flow), logged for the spirometer in use (or ``device_serial``)."""
    from asalee_devices.signal.spirometry.calibration import Stroke, check_syringe, verify_syringe
    from asalee_devices.web.calibration import log_verification, verification_view

    state = web(request)
    body = await json_body(request)
    syringe_l = get_number(body, "syringe_l", lo=-1e6, hi=1e6) or 0.0
    accuracy = get_number(body, "syringe_accuracy_pct", lo=-1e6, hi=1e6, required=False)
    check_syringe(syringe_l, 0.5 if accuracy is None else accuracy)  # InputError -> 422, nothing logged
    syringe_serial = get_str(body, "syringe_serial", max_len=64) or ""
    volumes, flows = body.get("measured_l"), body.get("flows_l_s")
    if (not isinstance(volumes, list) or not isinstance(flows, list) or len(volumes) != len(flows)
            or not 1 <= len(volumes) <= 12
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in [*volumes, *flows])):
        raise ApiError(422, "invalid", "measured_l and flows_l_s must be lists of numbers of the same length (3)",
                       field="measured_l")
    ident = next((e.identity for e in reversed(list(state.store.exams.values()))
                  if e.kind == "spirometry" and e.identity), None)
    serial = get_str(body, "device_serial", required=False) or (ident.serial_number if ident else "")
    if not serial:
        raise ApiError(422, "invalid", "The spirometer's serial number is needed (not used yet today)",
                       field="device_serial")
    model = f"{ident.manufacturer} {ident.model}" if ident and ident.serial_number == serial else ""
    result = verify_syringe(syringe_l, [Stroke(float(v), float(f)) for v, f in zip(volumes, flows, strict=True)],
                            syringe_accuracy_pct=0.5 if accuracy is None else accuracy)
    log_file = state.store.calibration_log
    if log_file is None:  # pragma: no cover - always set by create_app
        raise ApiError(500, "no_log", "No calibration log configured")
    await asyncio.to_thread(log_verification, log_file, serial=serial, model=model, syringe_serial=syringe_serial,
                            result=result)
    return JSONResponse(verification_view(result, log_file, serial, _lang(state)))


async def ambient(request: Request) -> Response:
    """The room's conditions for the BTPS correction of an ATPS spirometer (once per session; a new entry
    corrects the earlier one, the blows are corrected from their raw flow, never twice)."""
    from asalee_devices.signal.spirometry.btps import AmbientConditions

    state = web(request)
    exam = spiro_of(state, request)
    body = await json_body(request)
    values = {k: get_number(body, k, lo=-1e6, hi=1e6, required=k != "relative_humidity_pct")
              for k in ("temperature_c", "pressure_hpa", "relative_humidity_pct")}
    conditions = AmbientConditions(values["temperature_c"] or 0.0, values["pressure_hpa"] or 0.0,
                                   values["relative_humidity_pct"])  # impossible values -> InputError -> 422
    with exam.lock:
        if exam.deliveries:
            raise ApiError(409, "already_sent", "This examination has been sent")
        exam.set_ambient(conditions)
        Journal(state.settings.data_dir).step(exam, {"ambient": {k: v for k, v in values.items() if v is not None}})
    return JSONResponse({"exam": exam.view(_lang(state))})


async def blow_marks(request: Request) -> Response:
    """Set the nurse's operator-assessed marks (leak, obstructed mouthpiece, sub-maximal effort) on one blow."""
    state = web(request)
    exam = spiro_of(state, request)
    body = await json_body(request)
    marks = body.get("marks")
    if not isinstance(marks, list) or not all(isinstance(m, str) for m in marks) or len(marks) > 3:
        raise ApiError(422, "invalid", "marks must be a list of at most 3 mark names", field="marks")
    phase = str(request.path_params["phase"])
    number = int(request.path_params["k"])
    with exam.lock:
        if exam.deliveries:
            raise ApiError(409, "already_sent", "This examination has been sent; its blows can no longer be marked")
        exam.mark(phase, number, marks)  # InputError (no such blow / mark) -> 422, nothing journalled
        Journal(state.settings.data_dir).step(exam, {"marks": {"phase": phase, "number": number, "marks": marks}})
    return JSONResponse({"exam": exam.view(_lang(state))})


async def blow_curve(request: Request) -> Response:
    state = web(request)
    exam = spiro_of(state, request)
    k = int(request.path_params["k"])
    if not 1 <= k <= len(exam.blows):
        raise ApiError(404, "no_blow", "No such blow")
    rec = exam.blows[k - 1].recording
    return JSONResponse({"fs_hz": rec.fs_hz, "flow_l_s": [round(float(v), 3) for v in rec.flow_l_s.tolist()]})


async def report_pdf(request: Request) -> Response:
    """The report: once sent, the delivered file; before, the very bytes :func:`send` will deliver (rendered once
    by the delivery's own functions and kept on the examination, ``web.delivery.report``)."""
    state = web(request)
    exam = exam_of(state, request)
    if exam.pdf_path:
        pdf = await asyncio.to_thread(Path(exam.pdf_path).read_bytes)
    else:
        rendered = await asyncio.to_thread(report, exam, state.settings.config, _lang(state))
        if rendered is None:
            raise ApiError(409, "nothing_to_report", "Nothing to report yet: record a blow or keep an ECG capture")
        pdf = rendered
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="report.pdf"', "Cache-Control": "no-store"})


async def send(request: Request) -> Response:
    state = web(request)
    exam = exam_of(state, request)
    await json_body(request)
    if exam.busy:
        raise ApiError(409, "busy", "Wait for the recording to finish")
    if not exam.deliveries:
        cfg, lang = state.settings.config, _lang(state)

        def run(_outbox: Any, _sink: Any) -> None:
            if exam.deliveries:  # runs on the outbox thread: one send at a time
                return
            # the preview's bytes (rendered now if it was never previewed)
            result = deliver(exam, cfg, lang, report(exam, cfg, lang))
            if result.status == "kept":
                raise ApiError(409, "nothing_to_send", result.message)
            exam.record_id, exam.message = result.exam_id, result.message
            exam.pdf_path = str(result.pdf_path or "")
            kinds = ["spirometry", "spirometry-post"] if isinstance(exam, SpiroExam) else ["ecg"]
            exam.deliveries = [Delivery(kind, mid, exam.pdf_path)
                               for kind, mid in zip(kinds, result.message_ids, strict=False)]
            Journal(state.settings.data_dir).sent(exam)

        exam.busy = True  # no new blow / capture while the examination is being sent
        try:
            await asyncio.wrap_future(state.outbox.call(run))
        finally:
            exam.busy = False
    return await delivery(request)


async def delivery(request: Request) -> Response:
    state = web(request)
    exam = exam_of(state, request)
    return JSONResponse({"deliveries": await _statuses(state, exam)})


async def _statuses(state: WebState, exam: SpiroExam | EcgExam) -> list[dict[str, Any]]:
    ids = [d.message_id for d in exam.deliveries]
    if isinstance(exam, EcgExam) and exam.interpretation and exam.interpretation.message_id is not None:
        ids.append(exam.interpretation.message_id)
    if not ids:
        return []
    statuses = await asyncio.to_thread(state.outbox.statuses, ids)
    return [s.view(_lang(state)) for s in statuses]


async def history(request: Request) -> Response:
    state = web(request)
    out = []
    for exam in reversed(state.store.today()):
        p = exam.patient.ctx
        out.append({"id": exam.id, "kind": exam.kind, "time": exam.started_at.isoformat(timespec="minutes"),
                    "patient": f"{p.family} {p.given[0]}", "deliveries": await _statuses(state, exam)})
    return JSONResponse({"history": out})


async def devices(request: Request) -> Response:
    state = web(request)
    s = state.settings
    out = []
    for kind, url in (("spirometer", s.spirometer_url), ("ecg", s.ecg_url)):
        latest = next((e for e in reversed(list(state.store.exams.values()))
                       if e.kind == ("spirometry" if kind == "spirometer" else "ecg") and e.identity), None)
        ident = latest.identity if latest else None
        busy = any(e.busy for e in state.store.exams.values()
                   if e.kind == ("spirometry" if kind == "spirometer" else "ecg"))
        status = "acquiring" if busy else "connected" if ident else "unknown"
        cal = calibration_view(state.store.calibration_log, ident, _lang(state)) if kind == "spirometer" else None
        out.append({"kind": kind, "url": url.split("?", 1)[0], "simulator": is_simulator(url),
                    "status": status, "calibration": cal["state"] if cal else "not-reported",
                    "calibration_note": cal["note"] if cal else "",
                    "identity": None if ident is None else {"manufacturer": ident.manufacturer, "model": ident.model,
                                                            "serial_number": ident.serial_number,
                                                            "firmware": ident.firmware}})
    return JSONResponse({"devices": out})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/session", session, ["GET"]),
    ("/api/lang", set_lang, ["POST"]),
    ("/api/patient/validate", patient_validate, ["POST"]),
    ("/api/patient", patient_set, ["POST"]),
    ("/api/exams", exam_new, ["POST"]),
    ("/api/exams/{exam_id:str}", exam_get, ["GET"]),
    ("/api/exams/{exam_id:str}/blow", blow, ["POST"]),
    ("/api/exams/{exam_id:str}/post-bronchodilator", post_bd, ["POST"]),
    ("/api/exams/{exam_id:str}/blows/{k:int}/curve", blow_curve, ["GET"]),
    ("/api/exams/{exam_id:str}/blows/{phase:str}/{k:int}/marks", blow_marks, ["POST"]),
    ("/api/exams/{exam_id:str}/ambient", ambient, ["POST"]),
    ("/api/calibration", calibration, ["POST"]),
    ("/api/exams/{exam_id:str}/capture", capture, ["POST"]),
    ("/api/exams/{exam_id:str}/keep", keep, ["POST"]),
    ("/api/exams/{exam_id:str}/report.pdf", report_pdf, ["GET"]),
    ("/api/exams/{exam_id:str}/send", send, ["POST"]),
    ("/api/exams/{exam_id:str}/delivery", delivery, ["GET"]),
    ("/api/history", history, ["GET"]),
    ("/api/devices", devices, ["GET"]),
)
