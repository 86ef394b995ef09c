"""BTPS from the room's conditions: factor and source recorded, applied exactly once, impossible values refused,
stored recordings of the previous version still load with the same digest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.errors import InputError
from asalee_devices.signal.spirometry import BtpsCorrection, FlowRecording
from asalee_devices.signal.spirometry.btps import AmbientConditions, apply_btps, btps_factor
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.recording_store import load_recording, recording_digest, save_recording
from asalee_devices.workflow.spirometry_exam import ReferenceSubject, SpirometryExamination

SUBJECT = ReferenceSubject("male", 55.0, 175.0)
ROOM = AmbientConditions(23.0, 1013.25)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"temperature_c": 55.0, "pressure_hpa": 1013.0}, "temperature_c"),
    ({"temperature_c": -5.0, "pressure_hpa": 1013.0}, "temperature_c"),
    ({"temperature_c": 20.0, "pressure_hpa": 101.3}, "pressure_hpa"),  # kPa typed as hPa
    ({"temperature_c": 20.0, "pressure_hpa": 1500.0}, "pressure_hpa"),
    ({"temperature_c": 20.0, "pressure_hpa": 1013.0, "relative_humidity_pct": 120.0}, "relative_humidity_pct"),
    ({"temperature_c": math.nan, "pressure_hpa": 1013.0}, "temperature_c"),
    ({"temperature_c": True, "pressure_hpa": 1013.0}, "temperature_c"),
])
def test_impossible_conditions_are_refused(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as err:
        AmbientConditions(**kwargs)
    assert err.value.field == field


def test_factor_from_conditions_matches_the_worked_values() -> None:
    # standards note A9: 23 degC, 760 mmHg, saturated -> 1.085; humidity 0 % = dry gas, 100 % = saturated
    assert round(ROOM.correction().factor, 3) == 1.085
    dry = AmbientConditions(23.0, 1013.25, 0.0).correction().factor
    assert dry == pytest.approx(btps_factor(23.0, 760.0, saturated=False), rel=1e-4)
    assert AmbientConditions(23.0, 1013.25, 100.0).correction().factor == pytest.approx(ROOM.correction().factor)
    c = AmbientConditions(20.0, 950.0, 40.0).correction()
    assert (c.source, c.conditions_from, c.temperature_c, c.relative_humidity) == ("ambient", "nurse", 20.0, 0.4)


def _blows(n: int = 3) -> list[FlowRecording]:
    return [forced_expiration("normal", fvc_l=4.5 - 0.02 * i, pef_l_s=9.0, seed=i) for i in range(n)]


def test_exam_corrects_each_atps_blow_once_whenever_the_conditions_are_entered() -> None:
    plain = SpirometryExamination(SUBJECT)
    before = SpirometryExamination(SUBJECT, ambient=ROOM)
    after = SpirometryExamination(SUBJECT)
    typo = SpirometryExamination(SUBJECT, ambient=AmbientConditions(32.0, 1013.25))
    for rec in _blows():
        for exam in (plain, before, after, typo):
            exam.add_blow(rec)
    after.set_ambient(ROOM)
    typo.set_ambient(ROOM)  # corrected: the earlier factor divided out, never compounded
    factor = ROOM.correction().factor
    ref = plain.phase_result("pre").session  # type: ignore[union-attr]
    for exam in (before, after, typo):
        s = exam.phase_result("pre").session  # type: ignore[union-attr]
        assert s.fvc_l == pytest.approx(ref.fvc_l * factor, rel=1e-12)  # type: ignore[operator]
        assert all(r.btps.source == "ambient" and r.btps.factor == factor
                   for r in exam.phase_result("pre").recordings)  # type: ignore[union-attr]


def test_device_corrected_blows_are_never_corrected_again() -> None:
    exam = SpirometryExamination(SUBJECT, ambient=ROOM)
    rec = apply_btps(_blows(1)[0], BtpsCorrection(factor=1.07, source="device"))
    exam.add_blow(rec)
    stored = exam.phase_result("pre").recordings[0]  # type: ignore[union-attr]
    assert stored.btps.source == "device" and np.array_equal(stored.flow_l_s, rec.flow_l_s)
    exam.set_ambient(AmbientConditions(20.0, 1000.0))
    assert np.array_equal(exam.phase_result("pre").recordings[0].flow_l_s, rec.flow_l_s)  # type: ignore[union-attr]


def test_store_of_the_previous_version_loads_with_the_same_digest(tmp_path: Path) -> None:
    """A recording written before ``conditions_from`` existed (its btps metadata has no such key) still loads, and
    an ATPS recording's digest (hence its examination id) is what the previous version computed."""
    rec = _blows(1)[0]
    meta = {"format": "asalee-recording", "version": 1, "kind": "flow", "fs_hz": rec.fs_hz,
            "btps": {"factor": 1.0, "source": "none", "temperature_c": None, "pressure_mmhg": None,
                     "relative_humidity": None}, "interrupted": False, "gaps": []}
    path = tmp_path / "old.npz"
    save_recording(rec, path)
    with np.load(path, allow_pickle=False) as z:
        new_meta = json.loads(bytes(z["meta_json"]).decode("utf-8"))
    assert "conditions_from" not in new_meta["btps"]  # unset: not written, digest unchanged
    new_meta.pop("sha256")
    assert new_meta == meta
    loaded = load_recording(path)
    assert recording_digest(loaded) == recording_digest(rec)
    corrected = apply_btps(rec, ROOM.correction())
    save_recording(corrected, tmp_path / "new.npz")
    back = load_recording(tmp_path / "new.npz")
    assert back.btps == corrected.btps and back.btps.conditions_from == "nurse"  # type: ignore[union-attr]


def _record(out: Path, *extra: str) -> int:
    from asalee_devices.cli.main import main

    return main(["spirometry", "record", "--demo-patient", "--device", "sim://turbine?script=ok,ok,ok&speed=20",
                 "--out", str(out), "--yes", "--blow-s", "12", *extra])


def test_cli_session_with_room_conditions(tmp_path: Path) -> None:
    import pdfplumber

    from asalee_devices.workflow.replay import replay

    out = tmp_path / "out"
    assert _record(out, "--room-temp-c", "23", "--pressure-hpa", "1013.25") == 0
    (folder,) = [p for p in (out / "recordings").iterdir() if p.is_dir() and p.name != "incoming"]
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert results["ambient"] == {"temperature_c": 23.0, "pressure_hpa": 1013.25, "relative_humidity_pct": None,
                                  "source": "nurse"}
    assert {b["factor"] for b in results["phases"]["pre"]["btps"]} == {ROOM.correction().factor}
    assert replay(folder).identical
    with pdfplumber.open(folder / "report.pdf") as pdf:
        assert "BTPS facteur 1.085 (23.0 °C, 1013 hPa, saisies)" in (pdf.pages[0].extract_text() or "")


@pytest.mark.parametrize("extra", [("--room-temp-c", "55", "--pressure-hpa", "1013"),
                                   ("--room-temp-c", "20", "--pressure-hpa", "101.3"),
                                   ("--room-temp-c", "20")])
def test_cli_refuses_impossible_room_conditions_before_recording(tmp_path: Path, extra: tuple[str, ...],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _record(out, *extra) == 2
    assert "error" in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("*.npz"))
