"""ECG signal processing vs NeuroKit2 and sleepecg, in the same run: the whole analysis, cleaning throughput,
R-peak time and accuracy, and the two fidelity figures NeuroKit2's default ``ecg_clean`` fails (IEC impulse test, QRS
amplitude).

Run: PYTHONPATH=src .venv/bin/python bench/bench_ecg_signal.py [--repeat N]
``analyze_ecg``: 12 leads x 10 s at 500 Hz (PTB s0010_re resampled), target < 30 ms median. Cleaning: the same
record, median of N runs after a warm-up; ratio = NeuroKit2 / asalee-devices (higher = we are faster; target >= 5).
R peaks: MIT-BIH 100, 30 min at 360 Hz, MLII: ours vs sleepecg's ``detect_heartbeats`` (C backend), time ratio
(target >= 1: no slower) and Se / +P of both against the 2273 reference annotations (50 ms).
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
from asalee_devices.drivers.ecg_files.wfdb import read_annotations
from asalee_devices.signal.ecg.analysis import analyze_ecg
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


def median_cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU time (process_time) of ``fn``: steadier than wall time on a machine shared with other jobs."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
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


def se_ppv(detected_s: np.ndarray, reference_s: np.ndarray, tol_s: float = 0.05) -> tuple[float, float]:
    """Sensitivity and positive predictivity, one-to-one matching within ``tol_s``."""
    used = np.zeros(detected_s.size, dtype=bool)
    tp = 0
    for t in reference_s:
        j = int(np.searchsorted(detected_s, t))
        cands = [c for c in (j - 1, j) if 0 <= c < detected_s.size and not used[c]
                 and abs(detected_s[c] - t) <= tol_s]
        if cands:
            used[min(cands, key=lambda c: abs(detected_s[c] - t))] = True
            tp += 1
    return tp / reference_s.size, tp / max(detected_s.size, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    import neurokit2 as nk
    import sleepecg

    warnings.simplefilter("ignore")
    ptb = read_ecg_file(DATA / "wfdb/ptb-s0010_re/s0010_re").recording
    ptb500 = resample(ptb, 500.0)
    twelve = EcgRecording(ptb500.samples_uv[:12, :5000].copy(), 500.0, ptb500.leads[:12])
    eight = from_leads({n: twelve.lead(n) for n in INDEPENDENT_LEADS}, 500.0)  # III, aVR, aVL, aVF derived
    fs = 500.0

    def nk_clean() -> object:
        return [nk.ecg_clean(row, sampling_rate=500) for row in twelve.samples_uv]

    t_an = median_ms(lambda: analyze_ecg(twelve), args.repeat)
    c_an = median_cpu_ms(lambda: analyze_ecg(twelve), args.repeat)
    print(f"analyze_ecg, 12 leads x 10 s at 500 Hz  {t_an:7.2f} ms wall, {c_an:6.2f} ms CPU (target < 30 ms)")
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
    t_sl = median_ms(lambda: sleepecg.detect_heartbeats(mlii, mit.fs_hz), max(5, args.repeat // 10))
    c_rp1 = median_cpu_ms(lambda: detect_r_peaks(mlii[None, :], mit.fs_hz), max(5, args.repeat // 10))
    c_sl = median_cpu_ms(lambda: sleepecg.detect_heartbeats(mlii, mit.fs_hz), max(5, args.repeat // 10))
    ref = np.array([a.sample for a in read_annotations(DATA / "wfdb/mitdb-100/100.atr") if a.is_beat]) / mit.fs_hz
    ours_idx, _ = detect_r_peaks(mlii[None, :], mit.fs_hz)
    se_o, p_o = se_ppv(ours_idx / mit.fs_hz, ref)
    se_s, p_s = se_ppv(np.sort(sleepecg.detect_heartbeats(mlii, mit.fs_hz)) / mit.fs_hz, ref)
    print("R peaks, MIT-BIH 100 (30 min, 360 Hz)")
    print(f"  asalee detect_r_peaks, 2 leads        {t_rp:7.1f} ms (target < 100 ms)")
    print(f"  asalee detect_r_peaks, MLII only      {t_rp1:7.1f} ms   Se {100 * se_o:.2f} %, +P {100 * p_o:.2f} %")
    print(f"  sleepecg detect_heartbeats (C), MLII  {t_sl:7.1f} ms   ratio {t_sl / t_rp1:5.2f}x   "
          f"Se {100 * se_s:.2f} %, +P {100 * p_s:.2f} %")
    print(f"  CPU time, MLII: asalee {c_rp1:.1f} ms, sleepecg {c_sl:.1f} ms   ratio {c_sl / c_rp1:5.2f}x")
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
