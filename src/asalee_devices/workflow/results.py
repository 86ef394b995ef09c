"""The analysis results of an examination as one canonical JSON document.

Stored with the raw recordings when an examination is delivered, and recomputed from those recordings by
:func:`asalee_devices.workflow.replay.replay`: the two must be byte-identical (same code, same recordings). Only
measurements and technical quality: never an interpretation. No identity is included (the recordings folder is
named by the examination id).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from asalee_devices.jsonable import to_jsonable
from asalee_devices.messages.ecg import quality_document, warnings_text
from asalee_devices.signal.ecg.results import EcgAnalysis
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.spirometry_exam import SpirometryExamination


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no whitespace variation, shortest round-trip floats: equal results give equal bytes."""
    return (json.dumps(to_jsonable(doc), sort_keys=True, ensure_ascii=False, indent=1, allow_nan=False) + "\n"
            ).encode("utf-8")


def spirometry_results(exam: SpirometryExamination) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for phase in exam.phases:
        result = exam.phase_result(phase)
        assert result is not None
        phases[phase] = {"blows": len(result.recordings), "analysed": result.analysed,
                         "interrupted": [i for i, r in enumerate(result.recordings) if r.interrupted],
                         "session": result.session, "parameters": result.parameters}
        phases[phase]["btps"] = [{"source": r.btps.source, "factor": r.btps.factor,
                                  "conditions_from": r.btps.conditions_from} for r in result.recordings]
    bd = exam.bronchodilator()
    return {"kind": "spirometry", "subject": exam.subject, "ambient": exam.ambient, "phases": phases,
            "bronchodilator_response": bd}


def _trace_digest(samples_uv: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(samples_uv, dtype="<f8").tobytes()).hexdigest()


def _ecg_capture(a: EcgAnalysis | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"fs_hz": a.cleaned.fs_hz, "leads": a.cleaned.leads, "applied_filters": a.cleaned.applied_filters,
            "cleaned_sha256": _trace_digest(a.cleaned.samples_uv), "quality": quality_document(a.quality),
            "verdict": a.quality.verdict, "heart": a.heart, "warnings": warnings_text(a.warnings)}


def ecg_results(exam: EcgExamination) -> dict[str, Any]:
    return {"kind": "ecg", "mains_hz": exam.mains_hz,
            "captures": [_ecg_capture(a) for a in exam.analyses],
            "interrupted": [i for i, r in enumerate(exam.captures) if r.interrupted],
            "kept": exam.kept}


def ecg_file_results(analysis: EcgAnalysis, mains_hz: float) -> dict[str, Any]:
    """The results of an ECG imported from a file: its one capture, kept (the shape of :func:`ecg_results`)."""
    return {"kind": "ecg", "mains_hz": mains_hz, "captures": [_ecg_capture(analysis)], "interrupted": [],
            "kept": 0}
