"""A practice month filled by the demo plus a few more examinations on the simulators (different nurses' luck:
bad blows, a clean ECG), shared by the programme tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asalee_devices.cli.main import main

PATIENT = {"family": "TESTPATIENT", "given": ["Marie", "Louise"], "birth_date": "1979-03-14", "sex": "female",
           "ins": "279035121518989", "ins_kind": "INS-NIR-TEST", "identity_qualified": True,
           "birth_place_cog": "51215"}
# a second test identity (INS test system, valid key), no consent recorded
OTHER = {"family": "TESTAUTRE", "given": ["Paul"], "birth_date": "1961-07-02", "sex": "male",
         "ins": "161077511200129", "ins_kind": "INS-NIR-TEST", "identity_qualified": True,
         "birth_place_cog": "75112", "height_cm": 178}


@pytest.fixture(scope="session")
def practice_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("practice") / "asalee-output"
    assert main(["demo", "--out", str(out), "--speed", "100"]) == 0
    other = out.parent / "other.json"
    other.write_text(json.dumps(OTHER), encoding="utf-8")
    # the day's 3-L syringe verification, after the demo's spirometry: the next session counts as verified
    assert main(["spirometry", "calibrate", "--device", "sim://turbine?syringe_l=3.0&device_error_pct=1&speed=100",
                 "--syringe-serial", "SYR-3L-77", "--out", str(out)]) == 0
    assert main(["spirometry", "record", "--patient", str(other), "--out", str(out), "--yes", "--protocol",
                 "diabete-t2", "--device",
                 "sim://turbine?script=cough,early_termination,ok,ok,ok&fvc_l=4.1&pef_l_s=8.5&speed=100"]) in (0, 1)
    assert main(["ecg", "record", "--patient", str(other), "--out", str(out), "--yes", "--device",
                 "sim://ecg12?heart_rate_bpm=72&seed=3&speed=100"]) == 0
    return out
