"""The nurse's operator-assessed marks in the web app: API, effect on the flags and grade, journal and restart,
refusals that leave the examination and its journal unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.web.webfixtures import PATIENT, client, run_action

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _journal(tmp_path: Path, eid: str) -> dict[str, object]:
    (path,) = (tmp_path / "data").rglob(f"{eid}/exam.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_marks_api_journal_and_restart(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        for _ in range(3):
            run_action(c, eid, "blow", {"sim": "good"})
        r = c.post(f"/api/exams/{eid}/blows/pre/2/marks", json={"marks": ["leak", "submaximal_effort"]})
        assert r.status_code == 200, r.text
        blow2 = r.json()["exam"]["blows"][1]
        assert blow2["marks"] == ["leak", "submaximal_effort"] and blow2["acceptable"] is False
        assert blow2["usable"] is True and any("Fuite" in m for m in blow2["messages"])
        steps = _journal(tmp_path, eid)["steps"]
        # refused: no such blow, no such phase, unknown mark, not a list -> 4xx, nothing journalled
        for path, body in ((f"/api/exams/{eid}/blows/pre/9/marks", {"marks": ["leak"]}),
                           (f"/api/exams/{eid}/blows/post/1/marks", {"marks": ["leak"]}),
                           (f"/api/exams/{eid}/blows/pre/1/marks", {"marks": ["toux"]}),
                           (f"/api/exams/{eid}/blows/pre/1/marks", {"marks": "leak"})):
            r = c.post(path, json=body)
            assert r.status_code == 422 and r.json()["message"], (path, r.text)
        assert _journal(tmp_path, eid)["steps"] == steps
        assert c.get(f"/api/exams/{eid}").json()["exam"]["blows"][0]["marks"] == []
    with client(tmp_path) as c:  # restart: the marks come back from the journal
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert [b["marks"] for b in exam["blows"]] == [[], ["leak", "submaximal_effort"], []]
        assert exam["blows"][1]["acceptable"] is False


def test_ambient_conditions_api(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        before = run_action(c, eid, "blow", {"sim": "good"})
        assert before["btps"]["source"] == "none"
        steps = _journal(tmp_path, eid)["steps"]
        for body in ({"temperature_c": 55, "pressure_hpa": 1013}, {"temperature_c": 20, "pressure_hpa": 101.3},
                     {"pressure_hpa": 1013}, {"temperature_c": 20, "pressure_hpa": 1013, "relative_humidity_pct": 130}):
            r = c.post(f"/api/exams/{eid}/ambient", json=body)
            assert 400 <= r.status_code < 500 and r.json()["field"], (body, r.text)
        assert _journal(tmp_path, eid)["steps"] == steps
        r = c.post(f"/api/exams/{eid}/ambient", json={"temperature_c": 23, "pressure_hpa": 1013.25})
        assert r.status_code == 200, r.text
        exam = r.json()["exam"]
        assert exam["btps"]["source"] == "ambient" and exam["btps"]["factor"] == 1.085
        assert exam["blows"][0]["fvc_l"] == pytest.approx(before["blows"][0]["fvc_l"] * 1.085, abs=0.002)
    with client(tmp_path) as c:  # restart: still corrected, once
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert exam["btps"]["factor"] == 1.085
        assert exam["blows"][0]["fvc_l"] == pytest.approx(before["blows"][0]["fvc_l"] * 1.085, abs=0.002)


def test_calibration_api_and_session_page_status(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        exam = run_action(c, eid, "blow", {"sim": "good"})
        assert exam["calibration"]["state"] == "not-calibrated" and exam["calibration"]["warning"] is True
        log = tmp_path / "calibration.sqlite"
        good = {"syringe_l": 3.0, "syringe_serial": "SYR-9", "measured_l": [3.05, 2.98, 3.06],
                "flows_l_s": [0.5, 2.0, 6.0]}
        for bad in ({**good, "syringe_l": 0.5}, {**good, "syringe_l": 3.5}, {**good, "measured_l": [3.0]},
                    {**good, "syringe_serial": ""}, {**good, "syringe_accuracy_pct": 5}):
            r = c.post("/api/calibration", json=bad)
            assert 400 <= r.status_code < 500, (bad, r.text)
        r = c.post("/api/calibration", json=good)
        assert r.status_code == 200 and r.json()["passed"] is True, r.text
        r = c.post("/api/calibration", json={**good, "measured_l": [3.05, 2.90, 3.06]})
        assert r.json()["passed"] is False and [s["passed"] for s in r.json()["strokes"]] == [True, False, True]
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert exam["calibration"]["state"] == "calibration-required" and "NON CONFORME" in exam["calibration"]["note"]
        dev = {d["kind"]: d for d in c.get("/api/devices").json()["devices"]}
        assert dev["spirometer"]["calibration"] == "calibration-required"
    import sqlite3

    db = sqlite3.connect(log)
    assert db.execute("SELECT count(*) FROM verification").fetchone()[0] == 2  # refused ones never logged
