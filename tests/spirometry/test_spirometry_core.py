"""BTPS oracle values, synthetic faults, session grading, BD response and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from asalee_devices.errors import AsaleeError, InputError, SignalError
from asalee_devices.messages.spirometry import MESSAGES, blow_messages
from asalee_devices.signal.spirometry import BtpsCorrection, FlowRecording
from asalee_devices.signal.spirometry.acceptability import Reason, assess, bev_limit_l
from asalee_devices.signal.spirometry.btps import apply_btps, btps_factor
from asalee_devices.signal.spirometry.indices import from_volume, manoeuvre_indices
from asalee_devices.signal.spirometry.session import analyse_session, bronchodilator_response, grade
from asalee_devices.simulators.generators.spirometry import forced_expiration


@pytest.mark.parametrize(("temp_c", "expected"), [(15, 1.128), (20, 1.102), (23, 1.085), (25, 1.074),
                                                   (31, 1.039), (37, 1.000)])
def test_btps_worked_values(temp_c: float, expected: float) -> None:
    # Worked values from the standards note (A9), PB = 760 mmHg.
    assert round(btps_factor(temp_c, 760.0), 3) == expected


def test_btps_never_applied_twice() -> None:
    rec = FlowRecording(flow_l_s=np.ones(200), fs_hz=100.0)
    once = apply_btps(rec, BtpsCorrection(factor=1.1, source="ambient", temperature_c=20.0))
    assert np.allclose(once.flow_l_s, 1.1)
    with pytest.raises(SignalError):
        apply_btps(once, BtpsCorrection(factor=1.1, source="ambient"))
    dev = apply_btps(rec, BtpsCorrection(factor=1.05, source="device"))
    assert np.allclose(dev.flow_l_s, 1.0) and dev.btps.source == "device"


@pytest.mark.parametrize("profile", ["normal", "obstructive", "restrictive"])
def test_good_blow_has_no_reason(profile: str) -> None:
    fvc, pef = {"normal": (4.5, 9.0), "obstructive": (3.0, 4.0), "restrictive": (2.5, 7.0)}[profile]
    rec = forced_expiration(profile, fvc_l=fvc, pef_l_s=pef)  # type: ignore[arg-type]
    ind = manoeuvre_indices(rec)
    acc = assess(rec, ind)
    assert acc.reasons == () and acc.acceptable_fev1 and acc.acceptable_fvc
    assert abs(ind.fvc_l - fvc) < 0.01 and abs(ind.pef_l_s - pef) < 0.01
    assert ind.hesitation_time_s is not None and ind.hesitation_time_s < 2.0


@pytest.mark.parametrize(("fault", "reason", "fev1_ok", "fvc_ok", "fev1_usable"), [
    ("hesitant_start", Reason.BEV_OVER_LIMIT, False, False, False),
    ("slow_rise", Reason.BEV_OVER_LIMIT, False, False, False),
    ("cough", Reason.COUGH_FIRST_SECOND, False, True, False),
    ("early_termination", Reason.EARLY_TERMINATION, True, False, True),
    ("no_plateau", Reason.EOFE_NOT_MET, True, False, True),
])
def test_fault_reasons(fault: str, reason: Reason, fev1_ok: bool, fvc_ok: bool, fev1_usable: bool) -> None:
    rec = forced_expiration("normal", fvc_l=4.5, pef_l_s=9.0, fault=fault)  # type: ignore[arg-type]
    ind = manoeuvre_indices(rec)
    acc = assess(rec, ind)
    print(fault, [r.value for r in acc.reasons], blow_messages(acc, "fr"))
    assert reason in acc.reasons
    assert (acc.acceptable_fev1, acc.acceptable_fvc, acc.usable_fev1) == (fev1_ok, fvc_ok, fev1_usable)
    assert MESSAGES[reason]["fr"] in blow_messages(acc, "fr") and MESSAGES[reason]["en"] in blow_messages(acc, "en")


def test_bev_limit_rule() -> None:
    assert bev_limit_l(1.0) == pytest.approx(0.100) and bev_limit_l(4.0) == pytest.approx(0.200)
    assert bev_limit_l(1.0, age_years=5) == pytest.approx(0.125)


def test_three_good_blows_grade_a() -> None:
    recs = [forced_expiration("normal", fvc_l=v, pef_l_s=p, seed=i)
            for i, (v, p) in enumerate([(4.50, 9.0), (4.45, 8.8), (4.40, 9.1)])]
    res = analyse_session(recs, age_years=55)
    assert (res.grade_fev1, res.grade_fvc) == ("A", "A")
    assert res.stop and res.advice_code == "enough_acceptable_repeatable"
    assert res.fvc_l == pytest.approx(4.50, abs=0.01)
    assert res.best_test_index is not None
    assert res.fev1_fvc == pytest.approx(res.fev1_l / res.fvc_l)  # type: ignore[operator]


def test_session_with_faulty_blow_and_grades() -> None:
    recs = [forced_expiration("normal", fvc_l=4.5, pef_l_s=9.0, fault="cough"),
            forced_expiration("normal", fvc_l=4.5, pef_l_s=9.0, seed=1)]
    res = analyse_session(recs)
    assert res.grade_fev1 == "E" and not res.stop
    assert grade([], [3.0]) == ("U", None) and grade([], []) == ("F", None)
    assert grade([3.0, 2.9], [])[0] == "B"
    assert grade([3.0, 2.82, 2.7], [])[0] == "C"
    assert grade([3.0, 2.76], [])[0] == "D"
    assert grade([3.0, 2.7], [])[0] == "E"


def test_bronchodilator_numbers() -> None:
    bd = bronchodilator_response(2.0, 2.3, 3.0, 3.1, fev1_predicted_l=3.0)
    assert bd.fev1_change_l == pytest.approx(0.3) and bd.fev1_change_pct == pytest.approx(15.0)
    assert bd.fev1_change_pct_predicted == pytest.approx(10.0) and bd.fvc_change_pct_predicted is None


def test_volume_time_input_matches_flow() -> None:
    rec = forced_expiration("normal", fvc_l=4.0, pef_l_s=8.0, inspiration=False)
    vol = np.concatenate(([0.0], np.cumsum((rec.flow_l_s[1:] + rec.flow_l_s[:-1]) * 0.5 / rec.fs_hz)))
    a = manoeuvre_indices(rec)
    b = manoeuvre_indices(from_volume(vol, rec.fs_hz))
    assert abs(a.fev1_l - b.fev1_l) < 0.005  # type: ignore[operator]
    assert abs(a.fvc_l - b.fvc_l) < 0.005


@pytest.mark.parametrize(("flow", "fs", "err"), [
    (np.array([]), 500.0, InputError),
    (np.array([0.0, np.nan, 1.0]), 500.0, SignalError),
    (np.zeros(1000), 500.0, SignalError),           # no expiration
    (-np.ones(1000), 500.0, SignalError),           # inspiration only
    (np.ones(1000), 50.0, SignalError),             # below 100 Hz
])
def test_bad_input(flow: np.ndarray, fs: float, err: type[AsaleeError]) -> None:
    with pytest.raises(err):
        manoeuvre_indices(FlowRecording(flow_l_s=flow.astype(np.float64), fs_hz=fs))


def test_negative_rate_rejected() -> None:
    with pytest.raises(SignalError):
        FlowRecording(flow_l_s=np.ones(10), fs_hz=-500.0)
