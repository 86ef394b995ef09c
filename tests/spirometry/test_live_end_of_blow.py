"""Live end-of-blow detection: never before the blow, at the ATS/ERS 2019 plateau after it, and the truncated
recording still meets the end-of-forced-expiration criterion of the analysis with the same FVC."""

from __future__ import annotations

import numpy as np
import pytest

from asalee_devices.signal.spirometry.indices import manoeuvre_indices
from asalee_devices.signal.spirometry.live import end_of_forced_expiration
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.simulators.generators.spirometry import forced_expiration


def _first_end(flow: np.ndarray, fs: float) -> int | None:
    step = max(1, int(fs * 0.02))
    for k in range(step, flow.size + 1, step):
        if end_of_forced_expiration(flow[:k], fs):
            return k
    return None


@pytest.mark.parametrize("fs", [100.0, 1000.0])
@pytest.mark.parametrize("profile", ["normal", "obstructive", "restrictive"])
def test_stops_after_the_plateau_and_keeps_fvc(fs: float, profile: str) -> None:
    rec = forced_expiration(profile, fvc_l=3.3, pef_l_s=6.8, fs_hz=fs, seed=1)  # type: ignore[arg-type]
    tail = np.zeros(int(5 * fs))  # the patient stays on the mouthpiece, no flow
    flow = np.concatenate((np.zeros(int(0.5 * fs)), rec.flow_l_s, tail))
    k = _first_end(flow, fs)
    assert k is not None
    full = manoeuvre_indices(FlowRecording(flow, fs))
    cut = manoeuvre_indices(FlowRecording(flow[:k], fs))
    blow_start = int(np.argmin(np.cumsum(flow))) / fs
    print(f"{profile} at {fs:g} Hz: stopped {k / fs - blow_start:.2f} s after maximal inspiration; "
          f"FVC {cut.fvc_l:.4f} vs {full.fvc_l:.4f} L; FET {cut.fet_s:.2f} s")
    assert cut.eofe_plateau
    assert abs(cut.fvc_l - full.fvc_l) < 0.025  # the plateau criterion's own volume
    assert k / fs < flow.size / fs - 2.0  # well before the end of the long tail


def test_inspiration_and_waiting_before_the_blow_never_stop() -> None:
    fs = 100.0
    rec = forced_expiration(fvc_l=3.3, pef_l_s=6.8, fs_hz=fs, seed=2)
    ipef = int(np.argmax(rec.flow_l_s))
    for k in range(2, ipef - 2):
        assert not end_of_forced_expiration(rec.flow_l_s[:k], fs)
    assert not end_of_forced_expiration(np.zeros(3000), fs)  # 30 s of nothing


def test_breathing_in_after_the_blow_ends_it() -> None:
    fs = 100.0
    rec = forced_expiration(fvc_l=3.3, pef_l_s=6.8, fs_hz=fs, fault="early_termination", seed=3)
    flow = np.concatenate((rec.flow_l_s, -np.ones(int(fs))))  # abrupt inspiration
    k = _first_end(flow, fs)
    assert k is not None and k <= rec.flow_l_s.size + int(0.5 * fs)
