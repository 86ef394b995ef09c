"""The analysis results of an examination as one canonical JSON document (the results part of
:mod:`asalee_devices.canonical`), computed once here and read by every renderer.

Stored with the raw recordings when an examination is delivered, and recomputed from those recordings by
:func:`asalee_devices.workflow.replay.replay`: the two must be byte-identical (same code, same recordings). Only
measurements and technical quality: never an interpretation. No identity is included (the recordings folder is
named by the examination id). The words a renderer writes for a code the document holds (operator marks, ECG
technical notes, quality messages) are looked up here, in both languages, so that no renderer needs ``signal/``
(``messages/`` keys its words by signal codes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from asalee_devices.canonical import SCHEMA_VERSION, EcgTrace, FlowCurve
from asalee_devices.jsonable import to_jsonable
from asalee_devices.messages.ecg import quality_document, quality_messages, warnings_text
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgAnalysis
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.signal.spirometry.session import SessionResult
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.spirometry_exam import SpirometryExamination

LANGS = ("fr", "en")


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no whitespace variation, shortest round-trip floats: equal results give equal bytes."""
    return (json.dumps(to_jsonable(doc), sort_keys=True, ensure_ascii=False, indent=1, allow_nan=False) + "\n"
            ).encode("utf-8")


def mark_words(session: SessionResult | None, analysed: tuple[int, ...] | list[int]) -> list[dict[str, Any]]:
    """The nurse's operator marks of each analysed blow that has some: its number (1-based, as the nurse counts
    the phase's blows) and the marks' words in both languages."""
    from asalee_devices.messages.spirometry import mark_labels

    out: list[dict[str, Any]] = []
    for k, blow in enumerate(session.blows if session is not None else ()):
        marks = blow.acceptability.marks
        if marks:
            number = analysed[k] + 1 if k < len(analysed) else k + 1
            out.append({"blow": number, **{lang: list(mark_labels(marks, lang)) for lang in LANGS}})  # type: ignore[arg-type]
    return out


def spirometry_results(exam: SpirometryExamination) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for phase in exam.phases:
        result = exam.phase_result(phase)
        assert result is not None
        phases[phase] = {"blows": len(result.recordings), "analysed": result.analysed,
                         "interrupted": [i for i, r in enumerate(result.recordings) if r.interrupted],
                         "session": result.session, "parameters": result.parameters,
                         "marks": mark_words(result.session, result.analysed)}
        phases[phase]["btps"] = [{"source": r.btps.source, "factor": r.btps.factor,
                                  "conditions_from": r.btps.conditions_from} for r in result.recordings]
    bd = exam.bronchodilator()
    return {"schema_version": SCHEMA_VERSION, "kind": "spirometry", "subject": exam.subject, "ambient": exam.ambient,
            "phases": phases, "bronchodilator_response": bd}


def flow_curve(rec: FlowRecording) -> FlowCurve:
    """The plain-array curve of one blow, for the FHIR curves Observation."""
    return FlowCurve(flow_l_s=np.asarray(rec.flow_l_s, dtype=np.float64), fs_hz=float(rec.fs_hz),
                     interrupted=bool(rec.interrupted))


def ecg_trace(rec: EcgRecording) -> EcgTrace:
    """The plain-array trace of one ECG recording and its filters in words, for the FHIR waveform Observation."""
    return EcgTrace(samples_uv=rec.samples_uv, fs_hz=float(rec.fs_hz), leads=tuple(rec.leads),
                    resolution_uv=rec.resolution_uv, lead_off=rec.lead_off,
                    device_filters=tuple(s.describe() for s in rec.device_filters),
                    applied_filters=tuple(s.describe() for s in rec.applied_filters),
                    derived_leads=frozenset(rec.derived_leads), gaps=len(rec.gaps), interrupted=bool(rec.interrupted))


def _trace_digest(samples_uv: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples_uv, dtype="<f8").tobytes()).hexdigest()


def _ecg_capture(a: EcgAnalysis | None) -> dict[str, Any] | None:
    if a is None:
        return None
    from asalee_devices.messages.ecg import note_text

    notes = [{"code": n.code, "values": dict(n.values), "for_gp": n.for_gp,
              **{lang: note_text(n, lang) for lang in LANGS}} for n in a.notes]  # type: ignore[arg-type]
    non_ecg = [{"kind": seg.kind, "source": seg.source, "start_s": seg.seconds(a.raw.fs_hz)[0],
                "end_s": seg.seconds(a.raw.fs_hz)[1]} for seg in a.non_ecg]
    return {"fs_hz": a.cleaned.fs_hz, "leads": a.cleaned.leads, "applied_filters": a.cleaned.applied_filters,
            "device_filters": a.cleaned.device_filters, "cleaned_sha256": _trace_digest(a.cleaned.samples_uv),
            "quality": quality_document(a.quality), "verdict": a.quality.verdict,
            "messages": {lang: list(quality_messages(a.quality, lang)) for lang in LANGS},  # type: ignore[arg-type]
            "heart": a.heart, "notes": notes, "non_ecg": non_ecg, "warnings": warnings_text(a.warnings)}


def ecg_results(exam: EcgExamination) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "ecg", "mains_hz": exam.mains_hz,
            "captures": [_ecg_capture(a) for a in exam.analyses],
            "interrupted": [i for i, r in enumerate(exam.captures) if r.interrupted],
            "kept": exam.kept}


def ecg_file_results(analysis: EcgAnalysis, mains_hz: float) -> dict[str, Any]:
    """The results of an ECG imported from a file: its one capture, kept (the shape of :func:`ecg_results`)."""
    return {"schema_version": SCHEMA_VERSION, "kind": "ecg", "mains_hz": mains_hz,
            "captures": [_ecg_capture(analysis)], "interrupted": [],
            "kept": 0}
