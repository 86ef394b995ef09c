"""Replay an examination from its stored raw recordings and check that the analysis gives the same bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.btps import AmbientConditions
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.workflow.delivery import MANIFEST, RESULTS
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.recording_store import load_recording
from asalee_devices.workflow.results import canonical_json, ecg_results, spirometry_results
from asalee_devices.workflow.spirometry_exam import ReferenceSubject, SpirometryExamination

MAX_DOC_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReplayResult:
    exam_id: str
    kind: str
    stored: bytes
    replayed: bytes

    @property
    def identical(self) -> bool:
        return self.stored == self.replayed


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise FormatError("Examination folder incomplete", field="file", value=path.name,
                          expected=f"{MANIFEST} and {RESULTS} written at delivery")
    size = path.stat().st_size
    if size > MAX_DOC_BYTES:
        raise FormatError("Examination document too large", field=path.name, value=f"{size} bytes",
                          expected=f"<= {MAX_DOC_BYTES} bytes")
    return path.read_bytes()


def load_manifest(folder: Path) -> dict[str, Any]:
    try:
        doc = json.loads(_read(folder / MANIFEST))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FormatError("Examination manifest is not JSON", field=MANIFEST) from None
    if not isinstance(doc, dict) or doc.get("format") != "asalee-examination" or doc.get("version") != 1:
        raise FormatError("Not an asalee examination folder", field=MANIFEST, expected="asalee-examination v1")
    return doc


def rebuild(folder: Path) -> tuple[dict[str, Any], SpirometryExamination | EcgExamination]:
    """The examination object rebuilt from the stored recordings (in acquisition order)."""
    doc = load_manifest(folder)
    if not doc["recordings"]:  # e.g. a GDT result: computed by the device software, no raw signal to recompute
        raise FormatError("This examination has no raw recordings to replay", field="recordings",
                          value=(doc.get("source") or {}).get("format"),
                          expected="an examination recorded by asalee-devices (results computed from its blows "
                                   "or captures)")
    recordings = [(entry["file"], load_recording(folder / entry["file"])) for entry in doc["recordings"]]
    exam: SpirometryExamination | EcgExamination
    if doc["kind"] == "spirometry":
        s = doc.get("subject")
        a = doc.get("ambient")
        spiro = SpirometryExamination(ReferenceSubject(**s) if s else None, lang=doc.get("lang", "fr"),
                                      ambient=AmbientConditions(**a) if isinstance(a, dict) else None)
        for name, rec in recordings:
            if not isinstance(rec, FlowRecording):
                raise FormatError("ECG recording in a spirometry examination", field="file", value=name)
            if name.startswith("blow-post-"):
                spiro.start_post_bronchodilator()
            spiro.add_blow(rec)
        marks = doc.get("marks") or {}
        if not isinstance(marks, dict):
            raise FormatError("Operator marks of the manifest are not an object", field="marks")
        for phase, by_number in marks.items():
            if not isinstance(by_number, dict):
                raise FormatError("Operator marks of a phase are not an object", field=f"marks.{phase}")
            for number, names in by_number.items():
                if not str(number).isdigit() or not isinstance(names, list):
                    raise FormatError("Operator mark entry malformed", field=f"marks.{phase}.{number}",
                                      expected="blow number -> list of marks")
                spiro.mark_blow(int(number), [str(n) for n in names], phase=phase)
        exam = spiro
    elif doc["kind"] == "ecg":
        ecg = EcgExamination(mains_hz=float(doc["mains_hz"]), lang=doc.get("lang", "fr"))
        for name, rec in recordings:
            if not isinstance(rec, EcgRecording):
                raise FormatError("Flow recording in an ECG examination", field="file", value=name)
            ecg.add_capture(rec)
        ecg.kept = doc.get("kept")
        exam = ecg
    else:
        raise FormatError("Unknown examination kind", field="kind", value=doc.get("kind"), expected="spirometry, ecg")
    return doc, exam


def replay(folder: Path) -> ReplayResult:
    """Recompute the analysis results of a stored examination and return them with the stored ones."""
    doc, exam = rebuild(folder)
    stored = _read(folder / RESULTS)
    results = spirometry_results(exam) if isinstance(exam, SpirometryExamination) else ecg_results(exam)
    return ReplayResult(str(doc["exam_id"]), str(doc["kind"]), stored, canonical_json(results))
