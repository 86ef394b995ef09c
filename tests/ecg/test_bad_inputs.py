"""Bad inputs give a clear error or an explicit quality verdict, never a crash or a silently wrong trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg

from asalee_devices.drivers.ecg_files.csv_leads import read_csv_leads
from asalee_devices.errors import AsaleeError, FormatError, SignalError
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.recording import EcgRecording, from_leads


def test_empty_lead() -> None:
    with pytest.raises(SignalError, match="no samples"):
        from_leads({"I": [], "II": [1.0, 2.0]}, 500.0)


def test_mismatched_lead_lengths() -> None:
    with pytest.raises(SignalError, match="different lengths"):
        from_leads({"I": np.zeros(5000), "II": np.zeros(4999)}, 500.0)


def test_unknown_lead_name() -> None:
    with pytest.raises(SignalError, match="Unknown ECG lead name"):
        from_leads({"I": np.zeros(5000), "V13": np.zeros(5000)}, 500.0)


@pytest.mark.parametrize("fs", [100.0, 200.0, 249.0])
def test_sampling_below_250_hz(fs: float) -> None:
    rec = synthetic_ecg(250.0)
    with pytest.raises(SignalError, match="Sampling rate too low") as err:
        analyze_ecg(EcgRecording(rec.samples_uv, fs, rec.leads))
    assert err.value.expected is not None and "250" in str(err.value.expected)


def test_resampling_below_250_hz_refused() -> None:
    with pytest.raises(SignalError):
        analyze_ecg(synthetic_ecg(500.0), resample_hz=200.0)


def test_bad_mains_and_mode() -> None:
    with pytest.raises(SignalError):
        analyze_ecg(synthetic_ecg(500.0), mains_hz=55.0)
    with pytest.raises(SignalError):
        analyze_ecg(synthetic_ecg(500.0), mode="neonate")  # type: ignore[arg-type]


def test_nan_run_is_reported_and_kept_as_gap() -> None:
    rec = synthetic_ecg(500.0)
    x = rec.samples_uv.copy()
    k = rec.leads.index("V2")
    x[k, 1000:2000] = np.nan  # 2 s of no data (20 %)
    a = analyze_ecg(rec.with_samples(x))
    assert a.quality.verdict == "retake"
    assert {(f.code, f.lead) for f in a.quality.findings} == {("lead_off", "V2")}
    assert np.all(np.isnan(a.cleaned.lead("V2")[1000:2000]))
    assert np.all(np.isfinite(a.cleaned.lead("V2")[:1000]))
    assert a.heart.heart_rate_bpm is not None


def test_all_nan_record() -> None:
    rec = synthetic_ecg(500.0)
    a = analyze_ecg(rec.with_samples(np.full(rec.samples_uv.shape, np.nan)))
    assert a.quality.verdict == "retake"
    assert all(not lq.connected for lq in a.quality.leads)
    assert a.heart.heart_rate_bpm is None and a.heart.r_peaks_s.size == 0
    assert np.all(np.isnan(a.cleaned.samples_uv))


def test_infinite_values_are_no_data() -> None:
    rec = synthetic_ecg(500.0)
    x = rec.samples_uv.copy()
    x[rec.leads.index("V1"), 100:200] = np.inf
    a = analyze_ecg(rec.with_samples(x))
    assert np.all(np.isfinite(a.cleaned.lead("V1")[300:]))
    assert not np.any(np.isinf(a.cleaned.samples_uv))


def test_short_record() -> None:
    a = analyze_ecg(synthetic_ecg(500.0, duration_s=4.0))
    assert "too_short" in {f.code for f in a.quality.findings}
    assert a.quality.verdict == "retake"


def test_single_sample_record_is_an_error() -> None:
    with pytest.raises(SignalError):
        analyze_ecg(EcgRecording(np.zeros((2, 1)), 500.0, ("I", "II")))


def test_all_zero_record_has_no_beats_and_is_flat() -> None:
    a = analyze_ecg(EcgRecording(np.zeros((2, 5000)), 500.0, ("I", "II")))
    codes = {f.code for f in a.quality.findings}
    assert "flat" in codes and a.heart.heart_rate_bpm is None


def test_csv_reader_errors(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text("I,II\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(FormatError, match="number of values"):
        read_csv_leads(p, 500.0)
    p.write_text("I,II\n1,x\n", encoding="utf-8")
    with pytest.raises(FormatError, match="not a number"):
        read_csv_leads(p, 500.0)
    p.write_text("I,FOO\n1,2\n", encoding="utf-8")
    with pytest.raises(AsaleeError, match="Unknown ECG lead name"):
        read_csv_leads(p, 500.0)
    with pytest.raises(AsaleeError):
        read_csv_leads(p, 0.0)
