"""Calibration verification with a 3-L syringe (ATS/ERS 2019: +/-3 % at three flows), logged per device, shown on
the next report and in its bundle's DeviceMetric.calibration; simulator syringe mode with a programmable error."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pdfplumber
import pytest

from asalee_devices.cli.main import main
from asalee_devices.errors import AsaleeError, FormatError, InputError
from asalee_devices.signal.spirometry.calibration import Stroke, stroke_from_flow, verify_syringe
from asalee_devices.simulators.turbine import syringe_flow
from asalee_devices.workflow.calibration_log import SCHEMA_VERSION, CalibrationLog, calibration_note


@pytest.mark.parametrize(("volumes", "passed"), [
    ((2.91, 3.0, 3.09), True), ((2.90, 3.0, 3.0), False), ((3.0, 3.0, 3.091), False),  # 2.91-3.09 L
])
def test_three_percent_rule(volumes: tuple[float, ...], passed: bool) -> None:
    v = verify_syringe(3.0, [Stroke(x, f) for x, f in zip(volumes, (0.5, 2.0, 6.0), strict=True)])
    assert v.passed is passed and not v.missing_bands


def test_three_flows_are_required() -> None:
    v = verify_syringe(3.0, [Stroke(3.0, 2.0), Stroke(3.0, 2.5), Stroke(3.0, 3.0)])
    assert not v.passed and v.missing_bands == ("low", "high")


@pytest.mark.parametrize("volume", [0.5, 3.5, 0.0, float("nan")])
def test_syringe_volume_must_be_1_to_3_l(volume: float) -> None:
    with pytest.raises(InputError) as err:
        verify_syringe(volume, [Stroke(3.0, 0.5)])
    assert err.value.field == "syringe_volume_l"


@pytest.mark.parametrize(("mean", "fs"), [(0.5, 100.0), (2.0, 500.0), (6.0, 1000.0)])
def test_stroke_volume_and_flow_from_the_flow_signal(mean: float, fs: float) -> None:
    s = stroke_from_flow(syringe_flow(3.0, mean, fs), fs)
    assert s.volume_l == pytest.approx(3.0, abs=0.002) and s.mean_flow_l_s == pytest.approx(mean, rel=0.1)


def _calibrate(out: Path, error_pct: float, *extra: str) -> int:
    return main(["spirometry", "calibrate", "--device",
                 f"sim://turbine?syringe_l=3.0&device_error_pct={error_pct}&speed=20", "--syringe-serial", "SYR-3L-77",
                 "--out", str(out), "--lang", "fr", *extra])


def _record(out: Path) -> Path:
    assert main(["spirometry", "record", "--demo-patient", "--device", "sim://turbine?script=ok,ok,ok&speed=20",
                 "--out", str(out), "--yes", "--blow-s", "12"]) == 0
    (folder,) = [p for p in (out / "recordings").iterdir() if p.is_dir() and p.name != "incoming"]
    return folder


@pytest.mark.parametrize(("error_pct", "passed"), [(2.0, True), (4.0, False)])
def test_simulated_syringe_session_verdict_reaches_report_and_bundle(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], error_pct: float, passed: bool) -> None:
    out = tmp_path / "out"
    code = _calibrate(out, error_pct)
    captured = capsys.readouterr()
    assert code == (0 if passed else 1), captured.err
    text = captured.out
    lines = [ln for ln in text.splitlines() if "Coup de seringue" in ln]
    print("\n" + "\n".join(lines))
    assert len(lines) == 3 and all(f"{error_pct:+.1f} %" in ln for ln in lines)
    assert all(("conforme" in ln) is passed for ln in lines)  # at each of the three flows
    with CalibrationLog(out / "calibration.sqlite") as log:
        (rec,) = log.history("SIM-TURB-0001")
    assert rec.passed is passed and [s.band for s in rec.verification.strokes] == ["low", "mid", "high"]
    assert all(s.error_pct == pytest.approx(error_pct, abs=0.05) for s in rec.verification.strokes)
    folder = _record(out)
    with pdfplumber.open(folder / "report.pdf") as pdf:
        page = pdf.pages[0].extract_text() or ""
    assert "seringue 3.000 L (n° SYR-3L-77)" in page and (("— conforme" in page) is passed)
    assert ("NON CONFORME" in page) is not passed
    (bundle,) = out.glob("*_spirometry_*.json")
    metrics = [e["resource"] for e in json.loads(bundle.read_text())["entry"]
               if e["resource"]["resourceType"] == "DeviceMetric"]
    (cal,) = metrics[0]["calibration"]
    assert cal["type"] == "gain" and cal["state"] == ("calibrated" if passed else "calibration-required")
    assert cal["time"].startswith(rec.performed_at.strftime("%Y-%m-%dT%H:%M"))


def test_no_verification_today_is_a_warning_not_a_stop(tmp_path: Path) -> None:
    out = tmp_path / "out"
    folder = _record(out)
    with pdfplumber.open(folder / "report.pdf") as pdf:
        assert "ATTENTION : aucune vérification de l'étalonnage" in (pdf.pages[0].extract_text() or "")
    (bundle,) = out.glob("*_spirometry_*.json")
    (metric,) = [e["resource"] for e in json.loads(bundle.read_text())["entry"]
                 if e["resource"]["resourceType"] == "DeviceMetric"]
    assert metric["calibration"] == [{"type": "gain", "state": "not-calibrated"}]
    # yesterday's verification: still a warning, naming it
    with CalibrationLog(tmp_path / "log.sqlite") as log:
        log.add(device_serial="X1", device_model="m", syringe_serial="S", performed_at=datetime.now(UTC) - timedelta(days=1),
                verification=verify_syringe(3.0, [Stroke(3.0, 0.5), Stroke(3.0, 2.0), Stroke(3.0, 6.0)]))
        status = log.status("X1")
        assert not status.today and status.warning and status.state == "calibration-required"
        assert calibration_note(status, "fr").startswith("ATTENTION : pas de vérification aujourd'hui — dernière")
        assert log.status("X1", on=date.today() - timedelta(days=1)).state in ("calibrated", "calibration-required")


@pytest.mark.parametrize(("extra", "field"), [
    (("--syringe-l", "0.5"), "syringe_volume_l"), (("--syringe-l", "5"), "syringe_volume_l"),
    (("--syringe-accuracy-pct", "3"), "syringe_accuracy_pct"),
])
def test_bad_syringe_refused_before_the_device_and_nothing_logged(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  extra: tuple[str, ...], field: str) -> None:
    out = tmp_path / "out"
    assert _calibrate(out, 0.0, *extra) == 2
    assert field in capsys.readouterr().err
    assert not (out / "calibration.sqlite").exists()


def test_manual_entry_and_durable_versioned_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["spirometry", "calibrate", "--syringe-serial", "S1", "--out", str(out), "--measured-l", "2.98,3.02,3.05",
            "--flows-l-s", "0.6,2.5,7", "--device-serial", "MIR-42", "--device-model", "Spirobank"]
    assert main(args) == 0
    assert main([*args[:-6], "--measured-l", "2.98,3.02", "--flows-l-s", "0.6", "--device-serial", "MIR-42"]) == 2
    db = sqlite3.connect(out / "calibration.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT count(*) FROM verification").fetchone()[0] == 1
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(FormatError):
        CalibrationLog(out / "calibration.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(AsaleeError):
        CalibrationLog(tmp_path / "junk.sqlite")
