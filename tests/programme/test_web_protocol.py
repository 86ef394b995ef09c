"""The nurse chooses the ASALEE protocol in the web app: it reaches the bundle and the indicators store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.web.webfixtures import PATIENT, client, run_action

from asalee_devices.programme import indicators


def test_web_exam_carries_the_chosen_protocol(tmp_path: Path) -> None:
    c = client(tmp_path)
    s = c.get("/api/session").json()
    assert [p["code"] for p in s["protocols"]["choices"]] == ["bpco-tabac", "diabete-t2", "risque-cv"]
    assert s["protocols"]["default"] == {"spirometry": "bpco-tabac", "ecg": "risque-cv"}
    assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
    bad = c.post("/api/exams", json={"kind": "ecg", "protocol": "asthme"})
    assert bad.status_code == 400 and bad.json()["field"] == "protocol"
    eid = c.post("/api/exams", json={"kind": "ecg", "protocol": "diabete-t2"}).json()["exam"]["id"]
    run_action(c, eid, "capture")
    run_action(c, eid, "capture")
    assert c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
    (bundle,) = [json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "out").glob("*_ecg_*.json")]
    (plan,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert plan["category"][0]["coding"][0]["code"] == "diabete-t2"
    rows = indicators.read_rows(indicators.month_files(tmp_path / "indicators"))
    assert [r["protocol"] for r in rows] == ["diabete-t2"]
    # the choice survives a restart (journal)
    c2 = client(tmp_path)
    assert c2.get(f"/api/exams/{eid}").status_code == 200
    assert c2.app.state.web.store.exams[eid].protocol == "diabete-t2"  # type: ignore[attr-defined]
