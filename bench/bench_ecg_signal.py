"""ECG signal processing vs NeuroKit2, in the same run: cleaning throughput, R-peak time, and the two fidelity
figures NeuroKit2's default ``ecg_clean`` fails (IEC impulse test, QRS amplitude).

Run: PYTHONPATH=src /work/devvenv/bin/python bench/bench_ecg_signal.py [--repeat N]
Cleaning: a real 12-lead, 10-s record (PTB s0010_re resampled to 500 Hz), median of N runs after a warm-up;
ratio = NeuroKit2 / asalee-devices (higher = we are faster; target >= 4). R peaks: MIT-BIH 100, 30 min at 360 Hz
(target < 0.1 s).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import signal

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.signal.ecg.cleaning import clean_ecg, resample
from asalee_devices.signal.ecg.recording import INDEPENDENT_LEADS, EcgRecording, from_leads
from asalee_devices.signal.ecg.rpeaks import detect_r_peaks

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def impulse_figures(y: np.ndarray, fs: float, start: int, stop: int) -> tuple[float, float]:
    """Max displacement outside the pulse (10 ms guard at each edge) in µV, and slope after it in mV/s."""
    guard = int(round(0.01 * fs))
    outside = np.ones(y.size, dtype=bool)
    outside[max(0, start - guard):stop + guard] = False
    disp = float(np.max(np.abs(y[outside])))
    block = int(round(0.1 * fs))
    tail = y[stop + guard:]
    tail = tail[: tail.size // block * block].reshape(-1, block).mean(axis=1)
    return disp, float(np.max(np.abs(np.diff(tail)))) / 0.1 / 1000.0


def median_qrs_pp(x: np.ndarray, fs: float, peaks: np.ndarray) -> float:
    w = int(0.06 * fs)
    return float(np.median([np.ptp(x[p - w:p + w]) for p in peaks if w <= p < x.size - w]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    import neurokit2 as nk

    warnings.simplefilter("ignore")
    ptb = read_ecg_file(DATA / "wfdb/ptb-s0010_re/s0010_re").recording
    ptb500 = resample(ptb, 500.0)
    twelve = EcgRecording(ptb500.samples_uv[:12, :5000].copy(), 500.0, ptb500.leads[:12])
    eight = from_leads({n: twelve.lead(n) for n in INDEPENDENT_LEADS}, 500.0)  # III, aVR, aVL, aVF derived
    fs = 500.0

    def nk_clean() -> object:
        return [nk.ecg_clean(row, sampling_rate=500) for row in twelve.samples_uv]

    t_nk = median_ms(nk_clean, args.repeat)
    t_12 = median_ms(lambda: clean_ecg(twelve), args.repeat)
    t_8 = median_ms(lambda: clean_ecg(eight), args.repeat)
    print("Cleaning a 12-lead, 10-s, 500 Hz record (PTB s0010_re), median of", args.repeat, "runs")
    print(f"  NeuroKit2 ecg_clean x 12 leads        {t_nk:7.2f} ms")
    print(f"  asalee clean_ecg, 12 stored leads     {t_12:7.2f} ms   ratio {t_nk / t_12:5.1f}x")
    print(f"  asalee clean_ecg, 8 stored + 4 derived {t_8:6.2f} ms   ratio {t_nk / t_8:5.1f}x")

    mit = read_ecg_file(DATA / "wfdb/mitdb-100/100").recording
    t_rp = median_ms(lambda: detect_r_peaks(mit.samples_uv, mit.fs_hz, mit.leads), max(5, args.repeat // 10))
    mlii = mit.lead("MLII")
    t_rp1 = median_ms(lambda: detect_r_peaks(mlii[None, :], mit.fs_hz), max(5, args.repeat // 10))

    def nk_peaks() -> object:
        return nk.ecg_peaks(nk.ecg_clean(mlii, sampling_rate=360), sampling_rate=360)

    t_nkp = median_ms(nk_peaks, max(3, args.repeat // 20))
    print("R peaks, MIT-BIH 100 (30 min, 360 Hz)")
    print(f"  asalee detect_r_peaks, 2 leads        {t_rp:7.1f} ms (target < 100 ms)")
    print(f"  asalee detect_r_peaks, MLII only      {t_rp1:7.1f} ms")
    print(f"  NeuroKit2 ecg_clean + ecg_peaks, MLII {t_nkp:7.1f} ms   ratio {t_nkp / t_rp1:5.1f}x")

    print("IEC 60601-2-25 impulse test, 3 mV x 100 ms in 10 s at 500 Hz (limits 100 µV, 0.3 mV/s)")
    n = 5000
    pulse = np.zeros(n)
    a, b = 2250, 2300
    pulse[a:b] = 3000.0
    ours = clean_ecg(EcgRecording(pulse[None, :], fs, ("II",))).recording.samples_uv[0]
    theirs = np.asarray(nk.ecg_clean(pulse, sampling_rate=500))
    for name, y in (("asalee", ours), ("NeuroKit2", theirs)):
        d, s = impulse_figures(y, fs, a, b)
        verdict = "pass" if d <= 100 and s <= 0.3 else "FAIL"
        print(f"  {name:<10} displacement {d:7.1f} µV, slope after {s:6.3f} mV/s  {verdict}")

    print("Median QRS peak-to-peak vs baseline-only (0.05 Hz) reference, PTB s0010_re at 500 Hz, 38 s")
    sos = signal.butter(2, 0.05, btype="highpass", fs=fs, output="sos")
    x = ptb500.samples_uv[:12]
    ref = signal.sosfiltfilt(sos, x - np.median(x, axis=1, keepdims=True), axis=1, padlen=2500)
    peaks, _ = detect_r_peaks(x, fs)
    ours_all = clean_ecg(EcgRecording(x.copy(), fs, ptb500.leads[:12])).recording.samples_uv
    for name, get in (("asalee", lambda k: ours_all[k]),
                      ("NeuroKit2", lambda k: np.asarray(nk.ecg_clean(x[k], sampling_rate=500)))):
        ratios = [median_qrs_pp(get(k), fs, peaks) / median_qrs_pp(ref[k], fs, peaks) for k in range(12)]
        ii = ratios[1]
        print(f"  {name:<10} lead II {100 * ii:6.1f} %, all 12 leads {100 * min(ratios):5.1f}-{100 * max(ratios):5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
