"""One sampling-rate check: every place that refuses a rate (recordings, spirometry and ECG analysis, resampling,
R peaks, syringe strokes, the CSV readers) says it in the same words, with the offending field and the range."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.errors import InputError, SignalError
from asalee_devices.signal.validate import check_sampling_rate


def _ecg(fs: float = 500.0) -> object:
    from asalee_devices.signal.ecg.recording import STANDARD_LEADS, EcgRecording

    return EcgRecording(np.zeros((12, 5000)), fs, STANDARD_LEADS)


def _csv(tmp: Path) -> Path:
    path = tmp / "leads.csv"
    path.write_text("I,II\n" + "\n".join("10,20" for _ in range(600)) + "\n")
    return path


def _flow_csv(tmp: Path) -> Path:
    path = tmp / "flow.csv"
    path.write_text("\n".join(str(v) for v in np.linspace(0.0, 5.0, 400)) + "\n")
    return path


def _sites(tmp: Path) -> dict[str, tuple[Callable[[float], object], str, float]]:
    """name -> (call with a rate, the field named, the minimum it needs)."""
    from asalee_devices.cli._flow_csv import read_flow_csv
    from asalee_devices.drivers.ecg_files.csv_leads import read_csv_leads
    from asalee_devices.signal.ecg.analysis import analyze_ecg
    from asalee_devices.signal.ecg.cleaning import resample
    from asalee_devices.signal.ecg.recording import STANDARD_LEADS, EcgRecording
    from asalee_devices.signal.ecg.rpeaks import detect_r_peaks
    from asalee_devices.signal.spirometry.calibration import stroke_from_flow
    from asalee_devices.signal.spirometry.indices import from_volume, validate_recording
    from asalee_devices.signal.spirometry.recording import FlowRecording

    flow = np.concatenate([np.linspace(0, 8, 50), np.linspace(8, 0, 550)])
    return {
        "FlowRecording": (lambda fs: FlowRecording(flow, fs), "fs_hz", 0.0),
        "validate_recording": (lambda fs: validate_recording(FlowRecording(flow, fs)), "fs_hz", 100.0),
        "from_volume": (lambda fs: from_volume(np.cumsum(flow) / 100.0, fs), "fs_hz", 0.0),
        "stroke_from_flow": (lambda fs: stroke_from_flow(flow, fs), "fs_hz", 0.0),
        "EcgRecording": (lambda fs: EcgRecording(np.zeros((12, 5000)), fs, STANDARD_LEADS), "fs_hz", 0.0),
        "resample": (lambda fs: resample(_ecg(), fs), "resample_hz", 0.0),  # type: ignore[arg-type]
        "analyze_ecg": (lambda fs: analyze_ecg(_ecg(fs)), "fs_hz", 250.0),  # type: ignore[arg-type]
        "analyze_ecg resample": (lambda fs: analyze_ecg(_ecg(), resample_hz=fs), "resample_hz", 250.0),  # type: ignore[arg-type]
        "detect_r_peaks": (lambda fs: detect_r_peaks(np.zeros((1, 5000)), fs), "fs_hz", 250.0),
        "read_csv_leads": (lambda fs: read_csv_leads(_csv(tmp), fs), "rate", 0.0),
        "read_flow_csv": (lambda fs: read_flow_csv(_flow_csv(tmp), fs), "--rate", 0.0),
    }


SITES = ["FlowRecording", "validate_recording", "from_volume", "stroke_from_flow", "EcgRecording", "resample",
         "analyze_ecg", "analyze_ecg resample", "detect_r_peaks", "read_csv_leads", "read_flow_csv"]


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize(("rate", "message"), [
    (0.0, "Sampling rate too low"), (-500.0, "Sampling rate too low"),
    (float("nan"), "Sampling rate is not a finite number"), (float("inf"), "Sampling rate is not a finite number"),
])
def test_every_site_words_a_bad_rate_the_same(tmp_path: Path, site: str, rate: float, message: str) -> None:
    call, field, _minimum = _sites(tmp_path)[site]
    with pytest.raises(SignalError) as exc:
        call(rate)
    assert exc.value.message == message and exc.value.field == field
    assert isinstance(exc.value, InputError)  # the CLI's one-line error, exit 2
    assert exc.value.expected is not None and exc.value.expected.startswith((">= ", "a positive rate (> 0 Hz)"))


@pytest.mark.parametrize("site", [s for s in SITES if s in ("validate_recording", "analyze_ecg",
                                                           "analyze_ecg resample", "detect_r_peaks")])
def test_below_a_minimum_same_words_and_what_for(tmp_path: Path, site: str) -> None:
    call, field, minimum = _sites(tmp_path)[site]
    with pytest.raises(SignalError) as exc:
        call(minimum - 1.0)
    assert exc.value.message == "Sampling rate too low" and exc.value.field == field
    assert exc.value.expected is not None and exc.value.expected.startswith(f">= {minimum:g} Hz for ")
    assert exc.value.value == minimum - 1.0


def test_the_check_itself() -> None:
    assert check_sampling_rate(500) == 500.0 and isinstance(check_sampling_rate(np.float64(250.0)), float)
    assert check_sampling_rate(250.0, minimum_hz=250.0) == 250.0  # the minimum is allowed
    with pytest.raises(SignalError) as exc:
        check_sampling_rate("fast")  # type: ignore[arg-type]
    assert exc.value.message == "Sampling rate is not a finite number"
    with pytest.raises(SignalError) as exc:
        check_sampling_rate(99.5, minimum_hz=100.0, purpose="forced spirometry", field="fs_hz")
    assert str(exc.value) == "Sampling rate too low (fs_hz = 99.5) — expected >= 100 Hz for forced spirometry"
