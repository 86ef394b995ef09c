"""Hypothesis properties of the manoeuvre indices on generated blows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.signal.spirometry import FlowRecording
from asalee_devices.signal.spirometry.indices import manoeuvre_indices
from asalee_devices.simulators.generators.spirometry import forced_expiration

profiles = st.sampled_from(["normal", "obstructive", "restrictive"])
fvcs = st.floats(1.5, 6.0)
pef_per_fvc = st.floats(1.4, 2.2)


@settings(max_examples=25, deadline=None)
@given(profiles, fvcs, pef_per_fvc, st.floats(0.3, 3.0))
def test_scaling(profile: str, fvc: float, ratio: float, k: float) -> None:
    rec = forced_expiration(profile, fvc_l=fvc, pef_l_s=fvc * ratio, fs_hz=500.0)  # type: ignore[arg-type]
    a = manoeuvre_indices(rec)
    b = manoeuvre_indices(FlowRecording(flow_l_s=rec.flow_l_s * k, fs_hz=rec.fs_hz))
    for name in ("fvc_l", "fev1_l", "bev_l", "pef_l_s", "fef25_75_l_s"):
        assert np.isclose(getattr(b, name), k * getattr(a, name), rtol=1e-9, atol=1e-12), name
    for name in ("t0_s", "time_to_pef_ms", "rise_time_ms", "fet_s", "fev1_fvc"):
        assert np.isclose(getattr(b, name), getattr(a, name), rtol=1e-9, atol=1e-9), name


@settings(max_examples=15, deadline=None)
@given(profiles, fvcs, pef_per_fvc)
def test_resampling_100_500_1000(profile: str, fvc: float, ratio: float) -> None:
    vals = []
    for fs in (100.0, 500.0, 1000.0):
        rec = forced_expiration(profile, fvc_l=fvc, pef_l_s=fvc * ratio, fs_hz=fs)  # type: ignore[arg-type]
        r = manoeuvre_indices(rec).fev1_fvc
        assert r is not None
        vals.append(r)
    spread = (max(vals) - min(vals)) / vals[-1]
    assert spread < 0.005, vals


@settings(max_examples=20, deadline=None)
@given(profiles, fvcs, pef_per_fvc, st.integers(1, 3000), st.integers(500, 5000))
def test_time_shift_and_plateau(profile: str, fvc: float, ratio: float, shift: int, extra: int) -> None:
    rec = forced_expiration(profile, fvc_l=fvc, pef_l_s=fvc * ratio, fs_hz=500.0,  # type: ignore[arg-type]
                            inspiration=False)
    a = manoeuvre_indices(rec)
    shifted = manoeuvre_indices(FlowRecording(flow_l_s=np.concatenate((np.zeros(shift), rec.flow_l_s)),
                                              fs_hz=500.0))
    for name in ("fvc_l", "fev1_l", "bev_l", "pef_l_s", "time_to_pef_ms", "rise_time_ms", "fet_s"):
        assert np.isclose(getattr(shifted, name), getattr(a, name), rtol=1e-9, atol=1e-9), name
    assert np.isclose(shifted.t0_s - a.t0_s, shift / 500.0)
    longer = manoeuvre_indices(FlowRecording(flow_l_s=np.concatenate((rec.flow_l_s, np.zeros(extra))),
                                             fs_hz=500.0))
    assert abs(longer.fvc_l - a.fvc_l) < 1e-4  # only the trapezoid half-step of the last sample
