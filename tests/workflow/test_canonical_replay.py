"""The canonical result of every shared examination (issue 19): stored once, replayed byte for byte, and rendered by
every output (FHIR bundle, HL7 v2, HPRIM) from the stored bytes alone, with the values the document holds.

Shared examinations: the 26 ATS flow-time waveforms as spirometries of three blows (the last one with a post
phase, operator marks and two reference equations), and every real ECG device file of ``shared/data/ecg`` as a
one-capture ECG.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fhir import fixtures as F

from asalee_devices.canonical import SCHEMA_VERSION, kept_capture, load_results, phase
from asalee_devices.config import Config
from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out import ecg_bundle, spirometry_bundle, to_json
from asalee_devices.fhir_out.hl7v2 import bundle_to_oru
from asalee_devices.files import atomic_write
from asalee_devices.signal.spirometry import FlowRecording
from asalee_devices.workflow.delivery import RESULTS, store_ecg, store_spirometry
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.rendered import MANIFEST, hprim_payload
from asalee_devices.workflow.replay import replay
from asalee_devices.workflow.results import (
    canonical_json,
    ecg_results,
    ecg_trace,
    flow_curve,
    spirometry_results,
)
from asalee_devices.workflow.setup import ExaminationSetup
from asalee_devices.workflow.spirometry_exam import ReferenceSubject, SpirometryExamination

WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ECG_FILES = ("ecgtoolkit-example/Example.scp", "ecgtoolkit-example/Example.xml", "ecgtoolkit-example/Example.dcm",
             "ge-muse/MUSE_20200923_093504_79000_example.xml", "mortara-eli250-dicom/waveform_ecg.dcm",
             "philips-sierra/129DYPRG.XML", "philips-sierra/ad4d3d80-d165_1-04_orig.xml",
             "contec-ecg90a/0000037.ECG", "contec-ecg90a/0000053.ECG", "wfdb/ptb-s0010_re/s0010_re")


def _ats_blows(shared_data: Path) -> list[FlowRecording]:
    folder = shared_data / "spirometry" / "ats-flow-time"
    rows = list(csv.DictReader((folder / "reference.csv").open()))
    return [FlowRecording(flow_l_s=np.loadtxt(folder / r["file"], dtype=np.float64), fs_hz=500.0) for r in rows]


def _stored(folder: Path, results: dict[str, Any]) -> bytes:
    data = canonical_json(results)
    atomic_write(folder / RESULTS, data)
    return data


def _setup(tmp_path: Path) -> ExaminationSetup:
    return ExaminationSetup(patient=F.patient(), performer=F.exam().performer, gp=F.exam().gp, config=Config(),
                            output_dir=tmp_path)


def _replayed(folder: Path, stored: bytes) -> None:
    r = replay(folder)
    assert r.stored == stored and r.identical, folder.name


def _check_outputs(tmp_path: Path, folder: Path, bundles: list[Any], kind: str) -> None:
    """HL7 v2 of each bundle, HPRIM of the examination: all rendered from the stored results."""
    manifest = json.loads((folder / MANIFEST).read_bytes())
    doc = load_results((folder / RESULTS).read_bytes())
    for b in bundles:
        oru = bundle_to_oru(to_json(b), control_id="c1")
        assert oru.startswith("MSH|") and "\rOBX|" in oru
    hpr = hprim_payload(_setup(tmp_path), manifest, doc, kind).decode("iso-8859-1")
    assert hpr.rstrip().endswith("****FINFICHIER****")


def _obs(bundle: Any, part_text: str) -> dict[str, Any]:
    doc = json.loads(to_json(bundle))
    return next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"
                and part_text in e["resource"]["code"].get("text", ""))


@pytest.mark.shared_data
def test_every_ats_spirometry_replays_and_renders_from_its_stored_result(shared_data: Path, tmp_path: Path) -> None:
    blows = _ats_blows(shared_data)
    groups = [blows[i:i + 3] for i in range(0, len(blows), 3)]
    equations = ("gli-global-2022", "gli-2012", "ecsc-1993")
    checked = {"z": 0, "marks": 0, "post": 0}
    for n, group in enumerate(groups):
        subject = ReferenceSubject("male" if n % 2 else "female", 35.0 + 4 * n, 160.0 + 3 * n,
                                   equation=equations[n % 3], ethnicity="caucasian" if n % 3 == 1 else None)
        exam = SpirometryExamination(subject)
        for rec in group:
            exam.add_blow(rec)
        if n == len(groups) - 1:  # the last one: operator marks and a post-bronchodilator phase
            exam.mark_blow(1, ["leak"])
            exam.start_post_bronchodilator()
            for rec in group:
                exam.add_blow(rec)
        _exam_id, folder, _sha = store_spirometry(exam, device=F.exam().device, performed_at=WHEN,
                                                  recordings_root=tmp_path / "recordings")
        stored = _stored(folder, spirometry_results(exam))
        _replayed(folder, stored)
        doc = load_results(stored)
        assert doc["schema_version"] == SCHEMA_VERSION
        bundles = []
        for name in exam.phases:
            data = phase(doc, name)
            result = exam.phase_result(name)
            assert data is not None and result is not None
            if result.session is None:
                continue
            curve = flow_curve(result.recordings[result.analysed[result.session.best_test_index or 0]])
            bundle = spirometry_bundle(F.exam(f"ats-{n}-{name}"), F.patient(), doc, phase=name, curve=curve,
                                       pre_post="none" if len(exam.phases) == 1 else name)  # type: ignore[arg-type]
            fev1 = next(p for p in data["parameters"] if p["name"] == "fev1")
            obs = _obs(bundle, "FEV1")
            if fev1["measured"] is not None:
                assert obs["valueQuantity"]["value"] == round(fev1["measured"], 3)
            if fev1.get("z_score") is not None:
                z = next(c for c in obs["component"] if "z-score" in c["code"]["text"])
                assert z["valueQuantity"]["value"] == round(fev1["z_score"], 2)
                checked["z"] += 1
            if n == len(groups) - 1 and name == "pre":
                assert data["marks"] and "blow 1: leak" in obs["note"][0]["text"]
                checked["marks"] += 1
            checked["post"] += name == "post"
            bundles.append(bundle)
        _check_outputs(tmp_path, folder, bundles, "spirometry")
    print(f"{len(groups)} spirometries replayed identical; checks {checked}")
    assert len(groups) == 9 and checked["z"] >= 9 and checked["marks"] == 1 and checked["post"] == 1


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ECG_FILES)
def test_every_shared_ecg_file_replays_and_renders_from_its_stored_result(shared_data: Path, tmp_path: Path,
                                                                          name: str) -> None:
    rec = read_ecg_file(shared_data / "ecg" / name).recording
    exam = EcgExamination(mains_hz=50.0)
    exam.add_capture(rec)
    exam.kept = 0
    device = DeviceIdentity("Test", "ECG", "SN1", "1", "file")
    _exam_id, folder, _sha = store_ecg(exam, device=device, performed_at=WHEN, recordings_root=tmp_path / "rec")
    stored = _stored(folder, ecg_results(exam))
    _replayed(folder, stored)
    doc = load_results(stored)
    capture = kept_capture(doc)
    analysis = exam.kept_analysis
    assert capture is not None and analysis is not None
    bundle = ecg_bundle(F.exam(device=device), F.patient(), doc, ecg_trace(analysis.cleaned))
    hr = _obs(bundle, "heart rate")
    rate = capture["heart"]["heart_rate_bpm"]
    assert (hr["valueQuantity"]["value"] == round(rate)) if rate is not None else "dataAbsentReason" in hr
    quality = _obs(bundle, "technical quality")
    assert quality["valueCodeableConcept"]["coding"][0]["code"] == capture["verdict"]
    notes = [n["text"] for n in quality.get("note", [])]
    assert [n["fr"] for n in capture["notes"]] == notes[len(notes) - len(capture["notes"]):]
    _check_outputs(tmp_path, folder, [bundle], "ecg")
