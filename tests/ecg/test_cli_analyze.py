"""``asalee-devices ecg analyze``: WFDB, CSV, device files, JSON keys, cleaned-trace CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg

from asalee_devices.cli._ecg_analyze import JSON_KEYS
from asalee_devices.cli.main import main


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_wfdb_record_without_extension(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["ecg", "analyze", str(shared_data / "ecg/wfdb/mitdb-100/100"), "--json"])
    assert tuple(doc) == JSON_KEYS
    assert doc["format"] == "wfdb" and doc["sampling_rate_hz"] == 360.0
    assert len(doc["r_peaks_s"]) == 2273
    assert 70 < doc["heart_rate_bpm"] < 80
    assert doc["rr_ms"]["n"] == 2272
    assert [f["kind"] for f in doc["applied_filters"]] == ["highpass"]


def test_csv_with_rate_and_clean_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = synthetic_ecg(500.0)
    src = tmp_path / "ecg.csv"
    measured = [n for n in rec.leads if n not in rec.derived_leads]
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(measured)
        w.writerows(np.round(np.vstack([rec.lead(n) for n in measured]).T, 3).tolist())
    out = tmp_path / "clean.csv"
    doc = _json(capsys, ["ecg", "analyze", str(src), "--rate", "500", "--json", "--clean-out", str(out),
                         "--lang", "en"])
    assert doc["leads"] == list(rec.leads)
    assert doc["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert doc["quality"]["verdict"] == "acceptable"
    assert abs(doc["heart_rate_bpm"] - 72.0) < 0.5
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(rec.leads)
    assert len(lines) == 1 + rec.n_samples


def test_csv_needs_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "ecg.csv"
    src.write_text("I,II\n1,2\n", encoding="utf-8")
    assert main(["ecg", "analyze", str(src)]) == 2
    assert "--rate" in capsys.readouterr().err


def test_text_output_contec(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ecg", "analyze", str(shared_data / "ecg/contec-ecg90a/0000037.ECG")]) == 0
    out = capsys.readouterr().out
    assert "Électrodes V1, V2, V3, V4, V5, V6 déconnectées" in out
    assert "applied filters:" in out and "heart rate:" in out and "RR intervals:" in out


@pytest.mark.parametrize("name", ["ecgtoolkit-example/Example.scp", "ecgtoolkit-example/Example.xml",
                                  "ecgtoolkit-example/Example.dcm", "ge-muse/MUSE_20200923_093504_79000_example.xml",
                                  "mortara-eli250-dicom/waveform_ecg.dcm", "philips-sierra/129DYPRG.XML"])
def test_every_readable_format_is_analyzable(shared_data: Path, capsys: pytest.CaptureFixture[str],
                                             name: str) -> None:
    doc = _json(capsys, ["ecg", "analyze", str(shared_data / "ecg" / name), "--json"])
    assert doc["heart_rate_bpm"] is not None and len(doc["r_peaks_s"]) >= 5
    assert doc["quality"]["verdict"] in ("acceptable", "retake")


def test_read_still_works(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["ecg", "read", str(shared_data / "ecg/wfdb/ptb-s0010_re/s0010_re"), "--json"])
    assert doc["format"] == "wfdb" and doc["n_samples"] == 38400
