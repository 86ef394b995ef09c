"""Raw recordings stored losslessly: round trip, content digest, corruption detected, replay gives identical results."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.cli._common import to_jsonable
from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import from_leads
from asalee_devices.signal.filters import FilterStep
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording
from asalee_devices.signal.spirometry.session import analyse_session
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.recording_store import load_recording, recording_digest, save_recording


def test_flow_round_trip_and_replay_identical(tmp_path: Path) -> None:
    rec = forced_expiration("normal", fvc_l=4.1, pef_l_s=8.5, seed=7)
    rec = FlowRecording(flow_l_s=rec.flow_l_s, fs_hz=rec.fs_hz, btps=BtpsCorrection(1.09, "ambient", 22.0, 755.0),
                        interrupted=True, gaps=((10, 20),), device_volume_l=np.cumsum(rec.flow_l_s) / rec.fs_hz)
    digest = save_recording(rec, tmp_path / "blow.npz")
    back = load_recording(tmp_path / "blow.npz")
    assert isinstance(back, FlowRecording)
    assert np.array_equal(back.flow_l_s, rec.flow_l_s) and back.fs_hz == rec.fs_hz
    assert back.btps == rec.btps and back.interrupted and back.gaps == ((10, 20),)
    assert back.device_volume_l is not None and np.array_equal(back.device_volume_l, rec.device_volume_l)
    assert recording_digest(back) == digest == recording_digest(rec)
    first = json.dumps(to_jsonable(asdict(analyse_session([rec], age_years=50))), sort_keys=True)
    replay = json.dumps(to_jsonable(asdict(analyse_session([back], age_years=50))), sort_keys=True)
    assert first == replay


def test_ecg_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    leads = {name: rng.normal(0, 100, 5000).round() * 2.5 for name in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")}
    rec = from_leads(leads, 500.0, resolution_uv=2.5, pacemaker=False,
                     device_filters=(FilterStep("highpass", "device", cutoff_hz=0.05),))
    mask = np.zeros(rec.samples_uv.shape, dtype=bool)
    mask[rec.leads.index("V3"), 100:200] = True
    rec = rec.with_samples(rec.samples_uv, lead_off=mask)
    save_recording(rec, tmp_path / "ecg.npz")
    back = load_recording(tmp_path / "ecg.npz")
    assert not isinstance(back, FlowRecording)
    assert back.leads == rec.leads and np.array_equal(back.samples_uv, rec.samples_uv)
    assert back.lead_off is not None and np.array_equal(back.lead_off, mask)
    assert back.derived_leads == rec.derived_leads and back.device_filters == rec.device_filters
    assert back.resolution_uv == 2.5 and back.pacemaker is False


def test_corrupted_or_foreign_files_are_refused(tmp_path: Path) -> None:
    rec = forced_expiration("normal", fvc_l=4.0, pef_l_s=8.0)
    path = tmp_path / "blow.npz"
    save_recording(rec, path)
    with np.load(path) as z:
        parts = {k: z[k] for k in z.files}
    parts["flow_l_s"] = parts["flow_l_s"].copy()
    parts["flow_l_s"][100] += 0.001
    np.savez(path, **parts)
    with pytest.raises(FormatError, match="digest"):
        load_recording(path)
    other = tmp_path / "other.npz"
    other.write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="Not a stored"):
        load_recording(other)
