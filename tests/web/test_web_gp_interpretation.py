"""The GP's interpretation flow (issue 20): a picklist of coded statements (the packaged SNOMED CT / local list, or
the practice's own file), free text, the "interprété" ECG PDF carrying the GP's conclusion attached to the final
DiagnosticReport in place of the "hors interprétation" one, and reopen-and-amend making a new version (the report
``amended``, the earlier version's PDF kept). The final bundles pass the FR Core rules (tests/fhir/frcore_rules.py)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from starlette.testclient import TestClient
from tests.fhir.frcore_rules import violations
from tests.fhir_test_server import FhirTestServer
from tests.web.webfixtures import PATIENT, client, run_action

from asalee_devices.config import PracticeConfig, SinkConfig
from asalee_devices.fhir_out.codes import SNOMED

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SINUS = {"system": SNOMED, "code": "426783006"}
LVH = {"system": SNOMED, "code": "164873001"}


def _text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return "\n".join(p.extract_text() or "" for p in doc.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def fhir() -> Iterator[FhirTestServer]:
    srv = FhirTestServer().start()
    yield srv
    srv.stop()


def _sent_ecg(c: TestClient) -> str:
    assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
    eid = str(c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"])
    assert run_action(c, eid, "capture", {"sim": "good"})["captures"][0]["acceptable"]
    assert c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
    return eid


def _payload(c: TestClient, message_id: int) -> dict[str, Any]:
    return dict(json.loads(c.app.state.web.outbox.payload(message_id)))  # type: ignore[attr-defined]


def _report(bundle: dict[str, Any]) -> dict[str, Any]:
    (rep,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]
    return dict(rep)


def test_the_picklist_is_the_packaged_list_in_the_pages_language(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        doc = c.get("/api/gp/statements").json()
        labels = {s["code"]: s["label"] for g in doc["groups"] for s in g["statements"]}
        assert doc["source"].endswith("data/ecg_statements.json")
        assert labels["426783006"] == "Rythme sinusal" and labels["164889003"] == "Fibrillation atriale"
        assert [g["label"] for g in doc["groups"]][0] == "Rythme"
        c.post("/api/lang", json={"lang": "en"})
        doc = c.get("/api/gp/statements").json()
        assert {s["code"]: s["label"] for g in doc["groups"] for s in g["statements"]}["426783006"] == "Sinus rhythm"


def test_interpretation_attaches_the_interpreted_pdf_and_an_amendment_is_a_new_version(
        tmp_path: Path, fhir: FhirTestServer) -> None:
    with client(tmp_path, SinkConfig(type="fhir", base_url=fhir.base_url)) as c:
        eid = _sent_ecg(c)
        original_pdf = c.get(f"/api/exams/{eid}/report.pdf").content
        assert "non interprété" in _text(original_pdf)
        text = "Rythme sinusal régulier à 70/min, pas de trouble de la repolarisation (texte du médecin)."
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": text, "codes": [SINUS]}).json()
        assert r["version"] == 1 and r["delivery"]["status"] == "sent", r
        final = _payload(c, r["delivery"]["message_id"])
        rep = _report(final)
        attached = base64.b64decode(rep["presentedForm"][0]["data"])
        shown = _flat(_text(attached))
        print(f"\ninterpreted PDF v1: {len(attached)} bytes; {shown[:160]!r}")
        assert len(rep["presentedForm"]) == 1 and attached != original_pdf
        assert "interprété" in rep["presentedForm"][0]["title"]
        assert _flat(text) in shown and "Rythme sinusal" in shown and "MEDECIN" in shown and "version 1" in shown
        assert "non interprété" not in shown
        assert rep["status"] == "final" and rep["conclusion"] == text
        assert rep["conclusionCode"] == [{"coding": [{"system": SNOMED, "code": "426783006",
                                                      "display": "Sinus rhythm"}], "text": "Rythme sinusal"}]
        assert violations(final) == []
        assert c.get(f"/api/gp/ecg/{eid}/interpreted.pdf").content == attached  # kept, and what was sent
        (stored,) = fhir.store["DiagnosticReport"].values()
        assert stored["meta"]["versionId"] == "2" and base64.b64decode(stored["presentedForm"][0]["data"]) == attached
        # the original "hors interprétation" PDF stays on the first (preliminary) version and on disk
        first = _report(_payload(c, c.get(f"/api/exams/{eid}/delivery").json()["deliveries"][0]["message_id"]))
        assert first["status"] == "preliminary" and base64.b64decode(first["presentedForm"][0]["data"]) == original_pdf
        assert c.get(f"/api/exams/{eid}/report.pdf").content == original_pdf

        # reopened and amended: version 2, the report amended, version 1 kept
        trace = c.get(f"/api/gp/ecg/{eid}").json()
        assert trace["current"]["text"] == text and trace["current"]["codes"][0]["code"] == "426783006"
        amended = "Rythme sinusal ; hypertrophie ventriculaire gauche électrique (avis corrigé)."
        r2 = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": amended, "codes": [SINUS, LVH]}).json()
        assert r2["version"] == 2 and r2["delivery"]["status"] == "sent"
        final2 = _payload(c, r2["delivery"]["message_id"])
        rep2 = _report(final2)
        pdf2 = base64.b64decode(rep2["presentedForm"][0]["data"])
        shown2 = _flat(_text(pdf2))
        assert rep2["status"] == "amended" and rep2["conclusion"] == amended
        assert _flat(amended) in shown2 and "version 2" in shown2 and "Hypertrophie ventriculaire gauche" in shown2
        assert [cc["coding"][0]["code"] for cc in rep2["conclusionCode"]] == ["426783006", "164873001"]
        assert violations(final2) == []
        (stored,) = fhir.store["DiagnosticReport"].values()
        assert fhir.count("DiagnosticReport") == 1 and stored["meta"]["versionId"] == "3"
        assert stored["status"] == "amended"
        trace = c.get(f"/api/gp/ecg/{eid}").json()
        assert [v["version"] for v in trace["versions"]] == [1, 2] and trace["versions"][0]["text"] == text
        assert c.get(f"/api/gp/ecg/{eid}/interpreted.pdf?version=1").content == attached
        assert c.get(f"/api/gp/ecg/{eid}/interpreted.pdf").content == pdf2
        items = c.get("/api/gp/worklist").json()
        assert items["to_interpret"] == [] and items["interpreted"][0]["version"] == 2
    with client(tmp_path, SinkConfig(type="fhir", base_url=fhir.base_url)) as c:  # a restart keeps the versions
        trace = c.get(f"/api/gp/ecg/{eid}").json()
        assert [v["version"] for v in trace["versions"]] == [1, 2] and trace["current"]["text"] == amended
        assert c.get(f"/api/gp/ecg/{eid}/interpreted.pdf?version=1").content == attached


def test_statements_only_from_the_list_and_something_is_needed(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        eid = _sent_ecg(c)
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "x", "codes": [
            {"system": SNOMED, "code": "22298006", "display": "typed by hand"}]})
        assert r.status_code == 400 and r.json()["error"] == "unknown_statement"
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "  ", "codes": []})
        assert r.status_code == 400 and r.json()["error"] == "empty"
        # statements alone: the conclusion is the GP's picks, nothing else
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"codes": [SINUS, {
            "system": "http://asalee-devices.example.org/fhir/CodeSystem/ecg-statement", "code": "normal"}]})
        assert r.status_code == 200
        assert c.get(f"/api/gp/ecg/{eid}").json()["interpretation"] == "Rythme sinusal ; ECG normal"


def test_a_practice_replaces_the_list_with_its_own_file(tmp_path: Path) -> None:
    own = tmp_path / "nos-enonces.json"
    own.write_text(json.dumps({"format": "asalee-ecg-statements", "version": 1,
                               "groups": [{"id": "r", "label_fr": "Rythme", "label_en": "Rhythm"}],
                               "statements": [{"group": "r", "system": "urn:oid:1.2.250.1.999", "code": "RS",
                                               "display": "Rythme sinusal", "label_fr": "RS du cabinet",
                                               "label_en": "Practice SR"}]}), encoding="utf-8")
    with client(tmp_path, practice=PracticeConfig(ecg_statements=str(own))) as c:
        doc = c.get("/api/gp/statements").json()
        assert doc["source"] == str(own)
        assert [s["label"] for g in doc["groups"] for s in g["statements"]] == ["RS du cabinet"]
        eid = _sent_ecg(c)
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "ok", "codes": [SINUS]})
        assert r.status_code == 400  # the packaged codes are not this practice's list
        r = c.post(f"/api/gp/ecg/{eid}/interpretation",
                   json={"text": "ok", "codes": [{"system": "urn:oid:1.2.250.1.999", "code": "RS"}]})
        assert r.status_code == 200


def test_amended_bundle_with_the_interpreted_pdf_passes_the_node_validators(tmp_path: Path) -> None:
    """The version-2 update (status amended, conclusionCode with text, a local code, the interpreted PDF) through
    the two Node validators (fhir.js and Medplum's validator, tests/node/validate.mjs)."""
    import subprocess

    from tests.fhir.test_fhir_node_validators import NODE_DIR, _node

    node = _node()
    with client(tmp_path) as c:
        eid = _sent_ecg(c)
        c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "Premier avis", "codes": [SINUS]})
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "Avis corrigé", "codes": [LVH, {
            "system": "http://asalee-devices.example.org/fhir/CodeSystem/ecg-statement", "code": "compare-previous"}]})
        bundle = _payload(c, r.json()["delivery"]["message_id"])
    assert _report(bundle)["status"] == "amended"
    path = tmp_path / "amended.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    proc = subprocess.run([node, "--experimental-websocket", "--no-warnings", "validate.mjs", str(path)],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    (line,) = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    print(f"\nNode validators on the amended interpretation bundle: {line}")
    assert proc.returncode == 0, line


@pytest.mark.parametrize("path", ["/api/gp/statements", "/api/gp/ecg/0123abcd/interpreted.pdf"])
def test_the_new_gp_endpoints_need_the_token(tmp_path: Path, path: str) -> None:
    with client(tmp_path) as c:
        c.headers.pop("X-Asalee-Token")
        r = c.get(path)
        assert r.status_code == 401 and r.json()["error"] == "missing_token"
