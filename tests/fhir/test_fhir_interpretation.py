"""The GP's interpretation update (fhir_out.interpretation): a conditional update of the same DiagnosticReport
(never a second report), final with the GP as resultsInterpreter and the GP's text as conclusion; checked against
the integration FHIR test server and, when installed, the two Node validators."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import ecg_bundle
from tests.fhir.test_fhir_node_validators import NODE_DIR, _node
from tests.fhir_test_server import FhirTestServer

from asalee_devices.errors import InputError
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.context import PerformerContext
from asalee_devices.fhir_out.interpretation import interpretation_bundle
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg

GP = PerformerContext("MEDECIN", "Paul", rpps="10000000002")
TEXT = "Rythme sinusal, pas d'anomalie (texte du médecin)."


@pytest.fixture(scope="module")
def original() -> dict[str, Any]:
    analysis = analyze_ecg(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=3))
    return dict(json.loads(to_json(ecg_bundle(F.exam(), F.patient(), analysis))))


def _by_type(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_update_targets_the_same_report(original: dict[str, Any]) -> None:
    upd = json.loads(to_json(interpretation_bundle(F.exam(), original, gp=GP, conclusion=TEXT)))
    (orig_report,) = _by_type(original, "DiagnosticReport")
    (report,) = _by_type(upd, "DiagnosticReport")
    ident = orig_report["resource"]["identifier"][0]
    assert report["request"] == {"method": "PUT",
                                 "url": f"DiagnosticReport?identifier={ident['system']}|{ident['value']}"}
    r = report["resource"]
    assert r["status"] == "final" and r["conclusion"] == TEXT and r["identifier"] == [ident]
    assert orig_report["resource"]["status"] == "preliminary" and "conclusion" not in orig_report["resource"]
    gp_url = r["resultsInterpreter"][0]["reference"]
    (gp,) = [e for e in upd["entry"] if e["fullUrl"] == gp_url]
    assert gp["resource"]["name"][0]["family"] == "MEDECIN"
    assert r["result"] == orig_report["resource"]["result"]  # same observations, not re-measured
    (task,) = _by_type(upd, "Task")
    assert task["resource"]["status"] == "completed" and task["request"]["method"] == "PUT"
    others = {e["fullUrl"]: e for e in original["entry"]
              if e["resource"]["resourceType"] not in ("DiagnosticReport", "Task")}
    for e in upd["entry"]:
        if e["fullUrl"] in others:
            assert e == others[e["fullUrl"]]  # unchanged conditional creates


def test_empty_or_bad_input_is_refused(original: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="empty"):
        interpretation_bundle(F.exam(), original, gp=GP, conclusion="  ")
    with pytest.raises(InputError, match="DiagnosticReport"):
        interpretation_bundle(F.exam(), {"entry": []}, gp=GP, conclusion=TEXT)
    with pytest.raises(InputError, match="Coded statement"):
        interpretation_bundle(F.exam(), original, gp=GP, conclusion=TEXT, codes=[{"code": "x"}])


def test_server_holds_one_report_updated(original: dict[str, Any]) -> None:
    srv = FhirTestServer().start()
    try:
        with httpx.Client(base_url=srv.base_url) as c:
            assert c.post("/", json=original).status_code == 200
            upd = json.loads(to_json(interpretation_bundle(F.exam(), original, gp=GP, conclusion=TEXT, codes=[
                {"system": "http://snomed.info/sct", "code": "426783006", "display": "chosen by the GP"}])))
            for version in ("2", "3"):  # saved twice (e.g. the GP edits): still one report
                assert c.post("/", json=upd).status_code == 200
                (rep,) = srv.store["DiagnosticReport"].values()
                assert rep["meta"]["versionId"] == version and rep["status"] == "final"
        assert srv.count("DiagnosticReport") == 1 and srv.count("Observation") == 3 and srv.count("Task") == 1
        assert rep["conclusionCode"][0]["coding"][0]["code"] == "426783006"
        gp_id = rep["resultsInterpreter"][0]["reference"].split("/")[1]
        assert srv.store["Practitioner"][gp_id]["name"][0]["family"] == "MEDECIN"
    finally:
        srv.stop()


def test_update_passes_the_node_validators(original: dict[str, Any], tmp_path: Path) -> None:
    node = _node()
    path = tmp_path / "interpretation.json"
    path.write_text(to_json(interpretation_bundle(F.exam(), original, gp=GP, conclusion=TEXT)))
    proc = subprocess.run([node, "--experimental-websocket", "--no-warnings", "validate.mjs", str(path)],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    (line,) = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    print(f"\nNode validators on the interpretation bundle: {line}")
    assert proc.returncode == 0, line
