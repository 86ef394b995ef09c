"""The emitted bundles pass three independent validators from npm (FHIR.js: required bindings, unexpected
properties; @medplum/core: invariants and formats; the official FHIR R4 JSON schema), driven by
tests/node/validate.mjs.

Skipped with a reason when the Node packages are not installed (``make node-deps``); a failure in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import ecg_bundle, spirometry_bundle

from asalee_devices.fhir_out import Bronchodilator, to_json

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def _node() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (NODE_DIR / "node_modules" / "fhir").is_dir() or not (NODE_DIR / "node_modules" / "@medplum").is_dir():
        problem = f"Node validators not installed in {NODE_DIR}/node_modules (run `make node-deps`)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (required in CI)")
        pytest.skip(problem)
    assert node is not None
    return node


def _run(node: str, files: list[Path]) -> tuple[int, list[dict[str, object]]]:
    proc = subprocess.run([node, "--experimental-websocket", "--no-warnings", "validate.mjs", *map(str, files)],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == len(files), proc.stderr
    return proc.returncode, lines


def test_bundles_pass_fhirjs_and_medplum(tmp_path: Path, shared_data: Path) -> None:
    node = _node()
    session, preds, best = F.spiro_session()
    local = F.patient(ins=None, identity_qualified=False, local_id="P-42", local_system="urn:oid:1.2.3.4")
    bundles = {
        "spiro": spirometry_bundle(F.exam(), F.patient(), session, preds, best_curve=best),  # type: ignore[arg-type]
        "spiro-post-local": spirometry_bundle(replace(F.exam(), gp=None, pdf=None), local, session, preds,  # type: ignore[arg-type]
                                              pre_post="post", bronchodilator=Bronchodilator(
                                                  "salbutamol", 400.0, F.exam().performed_at, atc_code="R03AC02")),
        "ecg-cleaned": ecg_bundle(F.exam(), F.patient(), F.ecg_analysis(shared_data)),
        "ecg-contec-raw": ecg_bundle(F.exam(), F.patient(), F.ecg_analysis(shared_data, "contec-ecg90a/0000037.ECG"),
                                     waveform="raw"),
        "ecg-muse": ecg_bundle(F.exam(), F.patient(), F.ecg_analysis(
            shared_data, "ge-muse/MUSE_20200923_093504_79000_example.xml")),
    }
    files = []
    for name, b in bundles.items():
        path = tmp_path / f"{name}.json"
        path.write_text(to_json(b), encoding="utf-8")
        files.append(path)
    code, results = _run(node, files)
    for r in results:
        print(f"{Path(str(r['file'])).name}: {r['entries']} entries, FHIR.js errors {r['fhirjs']}, "
              f"Medplum errors {r['medplum']}, R4 JSON schema errors {r['schema']}")
    assert code == 0 and all(not r["fhirjs"] and not r["medplum"] and not r["schema"] for r in results)


def test_node_validators_catch_errors(tmp_path: Path) -> None:
    """Not vacuous: a bogus status (required binding) and obs-6 (invariant) are reported."""
    node = _node()
    session, preds, _ = F.spiro_session()
    doc = json.loads(to_json(spirometry_bundle(F.exam(), F.patient(), session, preds)))  # type: ignore[arg-type]
    obs = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["status"] = "bogus"
    obs["dataAbsentReason"] = {"text": "x"}
    patient = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = 19790314  # a number where the R4 JSON schema wants a date string
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    code, (r,) = _run(node, [bad])
    print("broken bundle:", r)
    assert code == 1
    assert any("bogus" in str(m) for m in r["fhirjs"])  # type: ignore[attr-defined]
    assert any("obs-6" in str(m) for m in r["medplum"])  # type: ignore[attr-defined]
    assert r["schema"]


def test_every_bundle_kind_passes_fhirjs_and_medplum(tmp_path: Path, shared_data: Path) -> None:
    """With the FR Core resources (Organization, PractitionerRole) and codes of issue 17: spirometry pre/post, ECG,
    the GP's interpretation update and the watched-folder import, 0 errors from both validators."""
    from tests.fhir.bundle_kinds import all_bundles

    node = _node()
    files = []
    for kind, doc in all_bundles(shared_data, tmp_path / "kinds").items():
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        files.append(path)
    code, results = _run(node, files)
    for r in results:
        print(f"{Path(str(r['file'])).name}: {r['entries']} entries, FHIR.js {r['fhirjs']}, Medplum {r['medplum']}, "
              f"R4 JSON schema {r['schema']}")
    assert code == 0 and all(not r["fhirjs"] and not r["medplum"] and not r["schema"] for r in results)
