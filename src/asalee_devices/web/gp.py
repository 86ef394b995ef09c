"""The GP's API: ECGs awaiting interpretation (and those interpreted, to reopen), the trace for the reading view
(cleaned, µV, with the technical verdict and the filters applied), the practice's coded statements to pick from,
and saving the interpretation: the "interprété" ECG PDF rendered by the delivery's own path (the same page with the
GP's conclusion, name, date and version), kept beside the recordings, and a conditional update of the same
DiagnosticReport carrying it, through the same outbox. Reopening and saving again makes a new version (the report
``amended``, the earlier versions kept). The service never proposes an interpretation."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.errors import ConfigError
from asalee_devices.fhir_out.ecg_statements import StatementCatalog, load_catalog
from asalee_devices.files import atomic_write
from asalee_devices.web.delivery import Prepared, ecg_context, exam_setup, person, unknown_device
from asalee_devices.web.errors import ApiError, get_str, json_body
from asalee_devices.web.exams import EcgExam, Interpretation
from asalee_devices.web.journal import Journal
from asalee_devices.web.state import WebState, web

#: the interpretation is saved here but the ECG was sent in a format without a report to update (HPRIM)
KEPT_NOT_SENT = {
    "fr": "Interprétation enregistrée ici ; non transmise : l'ECG a été envoyé dans un format (HPRIM) qui ne permet "
          "pas de compléter le compte rendu. Reportez-la dans le dossier du patient.",
    "en": "Interpretation saved here; not transmitted: the ECG was sent in a format (HPRIM) that cannot complete "
          "the report. Copy it into the patient's record.",
}


def fhir_bundle(payload: bytes) -> dict[str, Any] | None:
    """The delivered FHIR Bundle, or None when the outbox payload is another sink's own document (HPRIM text)."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("resourceType") == "Bundle" else None


def _ecg(state: WebState, request: Request) -> EcgExam:
    exam = state.store.exams.get(request.path_params["exam_id"])
    if not isinstance(exam, EcgExam):
        raise ApiError(404, "no_exam", "No such ECG examination")
    return exam


async def worklist(request: Request) -> Response:
    state = web(request)
    items = []
    for e in state.store.exams.values():
        if isinstance(e, EcgExam) and e.deliveries:
            p = e.patient.ctx
            it = e.interpretation
            items.append({"id": e.id, "time": e.started_at.isoformat(timespec="minutes"),
                          "patient": f"{p.family} {' '.join(p.given)}", "birth_date": p.birth_date.isoformat(),
                          "interpreted": it is not None, "version": it.version if it else 0,
                          "interpreted_at": it.at.isoformat(timespec="minutes") if it else None})
    return JSONResponse({"to_interpret": [i for i in items if not i["interpreted"]],
                         "interpreted": [i for i in items if i["interpreted"]]})


def catalog(state: WebState) -> StatementCatalog:
    """The practice's coded statements (``[practice] ecg_statements``), else the packaged list."""
    try:
        return load_catalog(state.settings.config.practice.ecg_statements or None)
    except ConfigError as exc:
        raise ApiError(500, "statements", str(exc), field="practice.ecg_statements") from None


async def statements(request: Request) -> Response:
    state = web(request)
    return JSONResponse(catalog(state).view(state.lang))


async def trace(request: Request) -> Response:
    from asalee_devices.messages.ecg import band_text, notes_text, quality_messages
    from asalee_devices.signal.ecg.chain import chain_band

    state = web(request)
    exam = _ecg(state, request)
    analysis = exam.exam.kept_analysis
    if analysis is None:
        raise ApiError(409, "no_capture", "No ECG capture kept for this examination")
    rec = analysis.cleaned
    lang = state.lang

    def row(values: Any) -> list[int | None]:
        return [None if not math.isfinite(v) else int(round(v)) for v in values.tolist()]

    q = analysis.quality
    return JSONResponse({
        "id": exam.id, "fs_hz": rec.fs_hz, "leads": list(rec.leads), "n_samples": rec.n_samples,
        "samples_uv": [row(r) for r in rec.samples_uv],
        "verdict": q.verdict, "messages": list(quality_messages(q, lang)),
        "filters": {"device": [f.describe() for f in rec.device_filters],
                    "applied": [f.describe() for f in rec.applied_filters]},
        "band": band_text(chain_band(rec.device_filters + rec.applied_filters, rec.fs_hz), q.mains_hz, lang),
        "notes": list(notes_text(analysis.notes, lang)),
        "patient": exam.patient.view(), "time": exam.started_at.isoformat(timespec="minutes"),
        "interpretation": None if exam.interpretation is None else exam.interpretation.text,
        "current": None if exam.interpretation is None else exam.interpretation.view(),
        "versions": [i.view() for i in exam.interpretations],
    })


def _codes(body: dict[str, Any], cat: StatementCatalog, lang: str) -> tuple[dict[str, str], ...]:
    """The statements the GP picked ({system, code} of the practice's list): the list's coding and label."""
    raw = body.get("codes", [])
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw) or len(raw) > 50:
        raise ApiError(400, "bad_field", "Field 'codes' must be a list of {system, code} from the list",
                       field="codes")
    out: list[dict[str, str]] = []
    for c in raw:
        found = cat.find(str(c.get("system", "")), str(c.get("code", "")))
        if found is None:
            raise ApiError(400, "unknown_statement", "This coded statement is not in the practice's list",
                           field="codes")
        if all(found.key != f"{o['system']}|{o['code']}" for o in out):
            out.append({**found.coding(), "text": found.label(lang)})
    return tuple(out)


_SAVING = threading.Lock()  # one interpretation saved at a time: each takes the next version number


def _interpreted_pdf(state: WebState, exam: EcgExam, *, text: str, codes: tuple[dict[str, str], ...],
                     at: datetime, version: int) -> tuple[bytes | None, str]:
    """The "interprété" ECG PDF of this version (rendered by ``workflow.delivery.ecg_report_pdf``, the path of
    the PDF the nurse sent) and where it is kept: beside the examination's recordings and original report."""
    from asalee_devices.reports.ecg_pdf import GpInterpretation
    from asalee_devices.workflow.delivery import ecg_report_pdf

    cfg = state.settings.config
    gp_name = " ".join(x for x in (cfg.gp.given_name, cfg.gp.family_name) if x)
    interpretation = GpInterpretation(conclusion_text=text, coded_statements=tuple(c["text"] for c in codes),
                                      gp_name=gp_name, interpreted_at=at.astimezone(), version=version)
    with exam.lock:
        pdf = ecg_report_pdf(exam.exam, exam_setup(exam, cfg, state.lang), device=exam.identity or unknown_device(),
                             performed_at=exam.started_at, interpretation=interpretation)
    if pdf is None or not exam.pdf_path:
        return pdf, ""
    path = Path(exam.pdf_path).with_name(f"report-interpreted-v{version}.pdf")
    atomic_write(path, pdf)
    return pdf, str(path)


async def interpret(request: Request) -> Response:
    state = web(request)
    exam = _ecg(state, request)
    body = await json_body(request)
    text = (get_str(body, "text", required=False, max_len=10_000) or "").strip()
    codes = _codes(body, catalog(state), state.lang)
    if not text and not codes:
        raise ApiError(400, "empty", "Write the interpretation or pick a coded statement before saving",
                       field="text")
    conclusion = text or " ; ".join(c["text"] for c in codes)  # only what the GP picked
    sent = next((d for d in exam.deliveries if d.kind == "ecg"), None)
    if sent is None:
        raise ApiError(409, "not_sent", "Send the ECG to the record before interpreting it")
    cfg = state.settings.config

    def build() -> tuple[int | None, int]:
        from asalee_devices.fhir_out._build import to_json
        from asalee_devices.fhir_out.interpretation import interpretation_bundle

        with _SAVING:
            version = exam.interpretation_count + 1
            now = datetime.now(UTC)
            pdf, pdf_path = _interpreted_pdf(state, exam, text=conclusion, codes=codes, at=now, version=version)
            ctx = ecg_context(exam, cfg)
            original = fhir_bundle(state.outbox.payload(sent.message_id))
            if original is None:  # e.g. [sink] type = "hprim": the document sent carries no report to update
                exam.interpret(Interpretation(conclusion, codes, now, None, version, pdf_path))
                Journal(state.settings.data_dir).interpreted(exam)
                return None, version
            bundle = interpretation_bundle(ctx, original, gp=person(cfg.gp), conclusion=conclusion, codes=codes,
                                           interpreted_at=now, pdf=pdf, version=version)
            kind = "ecg-interpretation" if version == 1 else f"ecg-interpretation-{version}"
            item = Prepared(kind, exam.record_id, exam.started_at.date().isoformat(),
                            to_json(bundle).encode("utf-8"), pdf)
            (mid,) = state.outbox.enqueue([item])
            exam.interpret(Interpretation(conclusion, codes, now, mid, version, pdf_path))
            Journal(state.settings.data_dir).interpreted(exam)
            return mid, version

    mid, version = await asyncio.to_thread(build)
    if mid is None:
        return JSONResponse({"version": version, "delivery": {
            "message_id": None, "kind": "ecg-interpretation", "status": "kept",
            "text": KEPT_NOT_SENT["fr" if state.lang == "fr" else "en"], "reason": "", "attempts": 0,
            "retrying": False}})
    (status,) = await asyncio.to_thread(state.outbox.statuses, [mid])
    return JSONResponse({"version": version, "delivery": status.view(state.lang)})


async def interpreted_pdf(request: Request) -> Response:
    """The "interprété" ECG PDF of version ``?version=N`` (default: the current one)."""
    state = web(request)
    exam = _ecg(state, request)
    versions = {i.version: i for i in exam.interpretations}
    raw = request.query_params.get("version", "")
    if raw and not raw.isdigit():
        raise ApiError(400, "bad_field", "version must be a whole number", field="version")
    it = versions.get(int(raw)) if raw else exam.interpretation
    if it is None or not it.pdf_path:
        raise ApiError(404, "no_pdf", "No interpreted PDF for this examination (version)")
    pdf = await asyncio.to_thread(Path(it.pdf_path).read_bytes)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="ecg-interpreted-v{it.version}.pdf"', "Cache-Control": "no-store"})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/gp/worklist", worklist, ["GET"]),
    ("/api/gp/ecg/{exam_id:str}", trace, ["GET"]),
    ("/api/gp/statements", statements, ["GET"]),
    ("/api/gp/ecg/{exam_id:str}/interpretation", interpret, ["POST"]),
    ("/api/gp/ecg/{exam_id:str}/interpreted.pdf", interpreted_pdf, ["GET"]),
)
