"""The GP's API: ECGs awaiting interpretation, the trace for the reading view (cleaned, µV, with the technical
verdict and the filters applied), and saving the interpretation (a conditional update of the same
DiagnosticReport through the same outbox). The service never proposes an interpretation."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.web.delivery import Prepared, ecg_context, person
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
            items.append({"id": e.id, "time": e.started_at.isoformat(timespec="minutes"),
                          "patient": f"{p.family} {' '.join(p.given)}", "birth_date": p.birth_date.isoformat(),
                          "interpreted": e.interpretation is not None})
    return JSONResponse({"to_interpret": [i for i in items if not i["interpreted"]],
                         "interpreted": [i for i in items if i["interpreted"]]})


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
    })


async def interpret(request: Request) -> Response:
    state = web(request)
    exam = _ecg(state, request)
    body = await json_body(request)
    text = (get_str(body, "text", max_len=10_000) or "").strip()
    if not text:
        raise ApiError(400, "empty", "Write the interpretation before saving", field="text")
    codes_raw = body.get("codes", [])
    if not isinstance(codes_raw, list) or not all(isinstance(c, dict) for c in codes_raw) or len(codes_raw) > 50:
        raise ApiError(400, "bad_field", "Field 'codes' must be a list of {system, code, display}", field="codes")
    codes = tuple({k: str(v)[:200] for k, v in c.items() if k in ("system", "code", "display")} for c in codes_raw)
    bad = next((c for c in codes if not c.get("system") or not c.get("code")), None)
    if bad is not None:
        raise ApiError(400, "bad_field", "Each coded statement needs a system and a code (system|code|display)",
                       field="codes")
    sent = next((d for d in exam.deliveries if d.kind == "ecg"), None)
    if sent is None:
        raise ApiError(409, "not_sent", "Send the ECG to the record before interpreting it")
    cfg = state.settings.config
    version = exam.interpretation_count + 1

    def build() -> int | None:
        from asalee_devices.fhir_out._build import to_json
        from asalee_devices.fhir_out.interpretation import interpretation_bundle

        now = datetime.now(UTC)
        ctx = ecg_context(exam, cfg)
        original = fhir_bundle(state.outbox.payload(sent.message_id))
        if original is None:  # e.g. [sink] type = "hprim": the document sent carries no DiagnosticReport to update
            exam.interpretation = Interpretation(text, codes, now, None)
            exam.interpretation_count = version
            Journal(state.settings.data_dir).interpreted(exam)
            return None
        bundle = interpretation_bundle(ctx, original, gp=person(cfg.gp), conclusion=text, codes=codes,
                                       interpreted_at=now)
        kind = "ecg-interpretation" if version == 1 else f"ecg-interpretation-{version}"
        item = Prepared(kind, exam.record_id, exam.started_at.date().isoformat(), to_json(bundle).encode("utf-8"),
                        None)
        (mid,) = state.outbox.enqueue([item])
        exam.interpretation = Interpretation(text, codes, now, mid)
        exam.interpretation_count = version
        Journal(state.settings.data_dir).interpreted(exam)
        return mid

    mid = await asyncio.to_thread(build)
    if mid is None:
        return JSONResponse({"delivery": {"message_id": None, "kind": "ecg-interpretation", "status": "kept",
                                          "text": KEPT_NOT_SENT["fr" if state.lang == "fr" else "en"],
                                          "reason": "", "attempts": 0, "retrying": False}})
    (status,) = await asyncio.to_thread(state.outbox.statuses, [mid])
    return JSONResponse({"delivery": status.view(state.lang)})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/gp/worklist", worklist, ["GET"]),
    ("/api/gp/ecg/{exam_id:str}", trace, ["GET"]),
    ("/api/gp/ecg/{exam_id:str}/interpretation", interpret, ["POST"]),
)
