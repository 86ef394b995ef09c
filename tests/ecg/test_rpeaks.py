"""R peaks on MIT-BIH record 100 against its reference annotations (50 ms tolerance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from tests.ecg.synth import beat_times, synthetic_ecg

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.drivers.ecg_files.wfdb import read_annotations
from asalee_devices.signal.ecg.rpeaks import detect_r_peaks, heart_rate

TOL_S = 0.050


def match(detected_s: np.ndarray, reference_s: np.ndarray, tol_s: float = TOL_S) -> tuple[float, float]:
    """Sensitivity and positive predictivity with one-to-one matching within ``tol_s``."""
    used = np.zeros(detected_s.size, dtype=bool)
    tp = 0
    for t in reference_s:
        j = int(np.searchsorted(detected_s, t))
        best = -1
        for c in (j - 1, j):
            if 0 <= c < detected_s.size and not used[c] and abs(detected_s[c] - t) <= tol_s and (
                    best < 0 or abs(detected_s[c] - t) < abs(detected_s[best] - t)):
                best = c
        if best >= 0:
            used[best] = True
            tp += 1
    return tp / reference_s.size, tp / max(detected_s.size, 1)


@pytest.fixture(scope="module")
def mitdb100(shared_data: Path) -> tuple[np.ndarray, float, tuple[str, ...], np.ndarray]:
    rec = read_ecg_file(shared_data / "ecg/wfdb/mitdb-100/100").recording
    ann = read_annotations(shared_data / "ecg/wfdb/mitdb-100/100.atr")
    beats = np.array([a.sample for a in ann if a.is_beat]) / rec.fs_hz
    assert beats.size == 2273  # README of the data set
    return rec.samples_uv, rec.fs_hz, rec.leads, beats


def test_mitdb100(mitdb100: tuple[np.ndarray, float, tuple[str, ...], np.ndarray]) -> None:
    x, fs, leads, ref = mitdb100
    idx, used = detect_r_peaks(x, fs, leads)
    se, ppv = match(idx / fs, ref)
    print(f"\nMIT-BIH 100 (360 Hz, {', '.join(used)}): Se {100 * se:.3f} %, +P {100 * ppv:.3f} % "
          f"({idx.size} detected / {ref.size} reference, tolerance 50 ms)")
    assert se >= 0.999 and ppv >= 0.999


@pytest.mark.parametrize("fs_new", [250, 500, 1000])
def test_mitdb100_inverted_resampled(mitdb100: tuple[np.ndarray, float, tuple[str, ...], np.ndarray],
                                     fs_new: int) -> None:
    x, fs, leads, ref = mitdb100
    y = -signal.resample_poly(x, fs_new, int(fs), axis=-1)
    idx, _ = detect_r_peaks(y, float(fs_new), leads)
    se, ppv = match(idx / fs_new, ref)
    print(f"\nMIT-BIH 100 inverted, resampled to {fs_new} Hz: Se {100 * se:.3f} %, +P {100 * ppv:.3f} %")
    assert se >= 0.995 and ppv >= 0.995


@pytest.mark.parametrize("fs", [250.0, 500.0, 800.0, 1000.0])
def test_synthetic_rates_and_heart_rate(fs: float) -> None:
    rec = synthetic_ecg(fs, duration_s=10.0, hr_bpm=72.0)
    hr = heart_rate(-rec.samples_uv, fs, rec.leads)
    truth = beat_times(10.0, 72.0)
    se, ppv = match(hr.r_peaks_s, truth, 0.02)
    assert se == 1.0 and ppv == 1.0
    assert hr.heart_rate_bpm is not None and abs(hr.heart_rate_bpm - 72.0) < 0.5
    assert hr.rr_ms.size == truth.size - 1


def test_no_signal_gives_no_peaks() -> None:
    hr = heart_rate(np.zeros((2, 5000)), 500.0)
    assert hr.r_peaks_s.size == 0 and hr.heart_rate_bpm is None
