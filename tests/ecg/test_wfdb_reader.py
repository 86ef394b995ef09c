"""Our WFDB reader against the PyPI ``wfdb`` package (test oracle only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asalee_devices.drivers.ecg_files import detect_format, read_ecg_file
from asalee_devices.drivers.ecg_files.wfdb import read_annotations
from asalee_devices.signal.ecg.recording import canonical_lead_name

wfdb = pytest.importorskip("wfdb")


@pytest.mark.parametrize("record", ["mitdb-100/100", "ptb-s0010_re/s0010_re"])
def test_matches_wfdb_package(shared_data: Path, record: str) -> None:
    path = shared_data / "ecg/wfdb" / record
    ours = read_ecg_file(path)
    assert ours.format == "wfdb" and detect_format(path).name == "wfdb"
    ref = wfdb.rdrecord(str(path))
    assert ours.recording.fs_hz == ref.fs
    for k, name in enumerate(ref.sig_name):
        lead = canonical_lead_name(name)
        theirs = ref.p_signal[:, k] * (1000.0 if ref.units[k].lower() == "mv" else 1.0)
        assert np.allclose(ours.recording.lead(lead), theirs, atol=1e-6, equal_nan=True), lead


def test_annotations_match_wfdb_package(shared_data: Path) -> None:
    path = shared_data / "ecg/wfdb/mitdb-100/100"
    ours = read_annotations(str(path) + ".atr")
    ref = wfdb.rdann(str(path), "atr")
    assert [a.sample for a in ours] == list(ref.sample)


def test_header_path_forms(shared_data: Path) -> None:
    base = shared_data / "ecg/wfdb/mitdb-100/100"
    a = read_ecg_file(base).recording
    b = read_ecg_file(str(base) + ".hea").recording
    assert np.array_equal(a.samples_uv, b.samples_uv)
