"""The devices page's calibration verification recorded on the spirometer (the simulator in syringe mode, through
``workflow.syringe_strokes``, the session ``spirometry calibrate`` uses): each stroke's volume and error, the verdict
at +/-3 % over three flows, the log, the session page's status; refusals that leave the device and the log alone."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.web.webfixtures import PATIENT, client, run_action

from asalee_devices.signal.spirometry.calibration import FLOW_BANDS, TOLERANCE_PCT
from asalee_devices.simulators.turbine import SYRINGE_MEAN_FLOWS_L_S

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GOOD = {"syringe_l": 3.0, "syringe_serial": "SYR-3L-77", "syringe_accuracy_pct": 0.5}


def _record(c: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = c.post("/api/calibration/record", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["run"]["state"] == "recording"
    deadline = time.monotonic() + 60
    while (run := c.get("/api/calibration/record").json()["run"])["state"] == "recording":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return dict(run)


def _rows(log: Path) -> int:
    db = sqlite3.connect(log)
    try:
        return int(db.execute("SELECT count(*) FROM verification").fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(("error_pct", "passed"), [(4.0, False), (2.0, True)])
def test_strokes_recorded_on_the_device_judged_and_logged(tmp_path: Path, error_pct: float, passed: bool) -> None:
    log = tmp_path / "calibration.sqlite"
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        exam = run_action(c, eid, "blow", {"sim": "good"})
        assert exam["calibration"]["state"] == "not-calibrated"
        run = _record(c, {**GOOD, "sim_device_error_pct": error_pct})
        assert run["state"] == "done", run
        result = run["result"]
        strokes = result["strokes"]
        print(f"\ndevice error {error_pct:+.1f} %: " + "; ".join(
            f"{s['band']} {s['volume_l']:.3f} L at {s['mean_flow_l_s']:.2f} L/s, {s['error_pct']:+.2f} %"
            for s in strokes) + f" -> {'passed' if result['passed'] else 'failed'}")
        # one stroke per flow band, at the flows the simulator pushed, each judged on its own measured volume
        assert [s["band"] for s in strokes] == [b[0] for b in FLOW_BANDS]
        for s, mean in zip(strokes, SYRINGE_MEAN_FLOWS_L_S, strict=True):
            assert s["mean_flow_l_s"] == pytest.approx(mean, rel=0.15)
            assert s["error_pct"] == pytest.approx(100.0 * (s["volume_l"] - 3.0) / 3.0, abs=0.01)
            assert s["error_pct"] == pytest.approx(error_pct, abs=0.3)  # the device's gain error, measured
            assert s["passed"] is (abs(s["error_pct"]) <= TOLERANCE_PCT)
        assert result["passed"] is passed and result["missing_bands"] == []
        assert [m["volume_l"] for m in run["measured"]] == [s["volume_l"] for s in strokes]
        assert result["device_serial"] == "SIM-TURB-0001"
        assert _rows(log) == 1
        # the session page and the devices page show the logged verdict for the spirometer in use
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert exam["calibration"]["state"] == ("calibrated" if passed else "calibration-required")
        dev = {d["kind"]: d for d in c.get("/api/devices").json()["devices"]}
        assert dev["spirometer"]["calibration"] == exam["calibration"]["state"]


def test_refusals_leave_the_device_and_the_log_alone(tmp_path: Path) -> None:
    log = tmp_path / "calibration.sqlite"
    with client(tmp_path) as c:
        for bad, field in (({**GOOD, "syringe_l": 0.5}, "syringe_volume_l"), ({**GOOD, "syringe_l": 3.5}, None),
                           ({**GOOD, "syringe_serial": " "}, "syringe_serial"),
                           ({**GOOD, "syringe_accuracy_pct": 5}, "syringe_accuracy_pct"),
                           ({**GOOD, "strokes": 13}, "strokes")):
            r = c.post("/api/calibration/record", json=bad)
            assert r.status_code in (400, 422), (bad, r.text)
            if field:
                assert r.json()["field"] == field, r.text
        assert c.get("/api/calibration/record").json()["run"] is None  # nothing started
        # one recording at a time: a second start, or a blow, while the strokes are being recorded is refused
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        assert c.post("/api/calibration/record", json=GOOD).status_code == 202
        r = c.post("/api/calibration/record", json=GOOD)
        assert r.status_code == 409, r.text
        r = c.post(f"/api/exams/{eid}/blow", json={"sim": "good"})
        assert r.status_code == 409 and "calibration" in r.json()["message"], r.text
        deadline = time.monotonic() + 60
        while c.get("/api/calibration/record").json()["run"]["state"] == "recording":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # and the other way: no verification while a blow is being recorded (busy is set before the 202)
        assert c.post(f"/api/exams/{eid}/blow", json={"sim": "good"}).status_code == 202
        r = c.post("/api/calibration/record", json=GOOD)
        assert r.status_code == 409, r.text
        while c.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert _rows(log) == 1


def test_an_unreachable_spirometer_logs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "calibration.sqlite"
    with client(tmp_path) as c:
        state = c.app.state.web  # type: ignore[attr-defined]
        state.settings = replace(state.settings, spirometer_url="sim://turbine?unplug_after=2000")
        run = _record(c, GOOD)
        assert run["state"] == "failed" and run["error"].startswith("Appareil injoignable"), run
        assert run["result"] is None
    assert not log.exists() or _rows(log) == 0
