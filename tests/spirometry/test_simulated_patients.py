"""Issue 20: the simulated spirometer blows like its patient. For 20 seeded patients per profile (random sex, age,
height), the session of good blows is analysed by our own ATS/ERS 2019 analysis from the simulated flow (turbine
rate, 100 Hz) and the reported FEV1/FVC are scored against GLI Global 2022 (``signal.spirometry.reference``): the
z-scores fall in the profile's range, and the good blows are repeatable within the ATS/ERS limits (grade A: at
least 3 acceptable blows, the two largest FEV1 and FVC within 0.150 L)."""

from __future__ import annotations

import numpy as np
import pytest

from asalee_devices.signal.spirometry.reference import Z_95, predict
from asalee_devices.signal.spirometry.session import SessionResult, analyse_session
from asalee_devices.simulators.generators.spirometry import SimPatient, patient_blow
from asalee_devices.simulators.registry import model_factory

ATS_REPEATABILITY_L = 0.150  # ATS/ERS 2019 Table 10, age > 6


def _patients(profile: str, n: int = 20, base: int = 0) -> list[SimPatient]:
    rng = np.random.default_rng(base + 2020)
    out = []
    for k in range(n):
        sex = "male" if rng.random() < 0.5 else "female"
        height = float(rng.normal(176.0 if sex == "male" else 163.0, 7.0))
        out.append(SimPatient(sex, float(rng.uniform(25.0, 80.0)), round(height, 1), profile, base + k))
    return out


def _z(p: SimPatient, result: SessionResult) -> tuple[float, float, float]:
    kw = {"sex": p.sex, "age_years": p.age_years, "height_cm": p.height_cm}
    assert result.fev1_l is not None and result.fvc_l is not None
    return (float(predict("fev1", **kw).z_score(result.fev1_l)[0]),  # type: ignore[arg-type]
            float(predict("fvc", **kw).z_score(result.fvc_l)[0]),  # type: ignore[arg-type]
            float(predict("fev1_fvc", **kw).z_score(result.fev1_l / result.fvc_l)[0]))  # type: ignore[arg-type]


def _session(p: SimPatient, blows: int = 3) -> SessionResult:
    return analyse_session([patient_blow(p, seed=s, fs_hz=100.0) for s in range(blows)], age_years=p.age_years)


def _check_repeatable(result: SessionResult) -> None:
    assert all(b.acceptability.acceptable_fev1 and b.acceptability.acceptable_fvc for b in result.blows)
    assert result.grade_fev1 == "A" and result.grade_fvc == "A"
    assert result.fev1_spread_l is not None and result.fev1_spread_l <= ATS_REPEATABILITY_L
    assert result.fvc_spread_l is not None and result.fvc_spread_l <= ATS_REPEATABILITY_L


@pytest.mark.parametrize("profile", ["normal", "obstructive-mild", "obstructive-moderate", "obstructive-severe",
                                     "restrictive"])
def test_twenty_seeded_patients_fall_in_their_profile(profile: str) -> None:
    zs = []
    for p in _patients(profile):
        result = _session(p)
        _check_repeatable(result)
        z1, zv, zr = _z(p, result)
        zs.append((z1, zv, zr))
        if profile == "normal":
            assert abs(z1) < 1.5 and abs(zv) < 1.5 and zr > -Z_95, (p, z1, zv, zr)
        elif profile.startswith("obstructive"):
            assert zr < -Z_95, (p, zr)
            lo, hi = {"mild": (-2.5, np.inf), "moderate": (-4.0, -2.5), "severe": (-np.inf, -4.0)}[
                profile.split("-")[1]]  # ERS/ATS 2022 severity by FEV1 z
            assert lo <= z1 < hi, (p, z1)
        else:  # restrictive pattern: low FVC, FEV1/FVC normal
            assert zv < -Z_95 and zr > -Z_95, (p, zv, zr)
    a = np.asarray(zs)
    spread = np.ptp(a, axis=0)
    assert spread[0] > 0.3 and spread[1] > 0.3  # 20 different patients, not one
    print(f"\n{profile}: z FEV1 {a[:, 0].min():+.2f}..{a[:, 0].max():+.2f}, z FVC {a[:, 1].min():+.2f}.."
          f"{a[:, 1].max():+.2f}, z FEV1/FVC {a[:, 2].min():+.2f}..{a[:, 2].max():+.2f}")


def test_obstructive_descending_limb_is_concave_normal_is_not() -> None:
    # flow at 50 % of the FVC exhaled relative to PEF: a straight descent gives ~0.5; a concave (scooped) limb less
    def mid_flow_ratio(profile: str) -> float:
        rec = patient_blow(SimPatient(profile=profile), seed=1, fs_hz=1000.0, inspiration=False)
        flow = rec.flow_l_s
        vol = np.cumsum(np.clip(flow, 0, None)) / rec.fs_hz
        peak = int(np.argmax(flow))
        after = np.flatnonzero(vol[peak:] >= 0.5 * vol[-1])[0] + peak
        return float(flow[after] / flow[peak])

    assert mid_flow_ratio("obstructive-severe") < mid_flow_ratio("obstructive-moderate") < \
        mid_flow_ratio("obstructive-mild") < mid_flow_ratio("normal")
    assert mid_flow_ratio("obstructive-moderate") < 0.35


def test_poor_effort_is_not_an_acceptable_session() -> None:
    for p in _patients("poor-effort", 5):
        result = _session(p)
        assert not all(b.acceptability.acceptable_fvc for b in result.blows)


def test_blows_are_reproducible_from_their_seeds() -> None:
    p = SimPatient("male", 62.0, 171.0, "obstructive-moderate", 5)
    np.testing.assert_array_equal(patient_blow(p, seed=2).flow_l_s, patient_blow(p, seed=2).flow_l_s)
    assert not np.array_equal(patient_blow(p, seed=2).flow_l_s, patient_blow(p, seed=3).flow_l_s)


def test_sim_url_options_reach_the_turbine() -> None:
    # sim://turbine?profile=obstructive-moderate&sex=female&age=47&height=165&seed=3: the URL seam of the demo
    params = {"profile": "obstructive-moderate", "sex": "female", "age": "47", "height": "165", "seed": "3"}
    model = model_factory("turbine", params)()
    rec_flow = model.flow  # type: ignore[attr-defined]
    from asalee_devices.signal.spirometry.recording import FlowRecording

    result = analyse_session([FlowRecording(rec_flow, 100.0)], age_years=47.0)
    p = SimPatient("female", 47.0, 165.0, "obstructive-moderate")
    assert _z(p, result)[2] < -Z_95
    with pytest.raises(Exception, match="profile"):
        model_factory("turbine", {"profile": "asthmatic"})()
