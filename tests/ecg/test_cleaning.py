"""Diagnostic cleaning: IEC 60601-2-25 impulse test, sine-sweep response, recorded steps, resampling, PTB QRS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg

from asalee_devices.messages.ecg import warnings_text
from asalee_devices.signal.ecg.cleaning import clean_ecg, resample
from asalee_devices.signal.ecg.recording import EcgRecording


def _pulse_record(fs: float, starts_s: list[float]) -> tuple[EcgRecording, np.ndarray]:
    n = int(10 * fs)
    x = np.zeros(n)
    inside = np.zeros(n, dtype=bool)
    for s in starts_s:
        a, b = int(round(s * fs)), int(round((s + 0.1) * fs))
        x[a:b] = 3000.0  # 3 mV x 100 ms
        inside[a:b] = True
    return EcgRecording(x[None, :], fs, ("II",)), inside


@pytest.mark.parametrize("fs", [500.0, 1000.0])
def test_iec_impulse(fs: float) -> None:
    # A single pulse, as the standard's test. (A 30/min pulse *train* has a mean of 150 µV, which any DC-blocking
    # filter, analogue 0.05 Hz included, removes: the inter-pulse baseline then sits ~150 µV low by design.)
    rec, inside = _pulse_record(fs, [4.5])
    y = clean_ecg(rec).recording.samples_uv[0]
    # Outside the pulse, both sides (zero-phase filters ring both ways). The 150 Hz low-pass smears each 3 mV
    # edge over a few samples (its step response): a 10 ms guard is excluded and its own figure printed.
    guard = int(round(0.010 * fs))
    near = np.zeros_like(inside)
    for k in np.flatnonzero(np.diff(inside.astype(int)) != 0):
        near[max(0, k - guard + 1):k + guard + 1] = True
    outside = ~inside & ~near
    disp = float(np.max(np.abs(y[outside])))
    edge = float(np.max(np.abs(y[near & ~inside])))
    # Slope after the last pulse: change of the 100-ms means, from the guard on.
    end = int(np.flatnonzero(inside)[-1]) + 1 + guard
    block = int(round(0.1 * fs))
    tail = y[end:end + (y.size - end) // block * block].reshape(-1, block).mean(axis=1)
    slope_mv_s = float(np.max(np.abs(np.diff(tail)))) / 0.1 / 1000.0
    print(f"\nIEC impulse fs={fs:g} Hz: displacement {disp:.1f} µV "
          f"(limit 100), slope after {slope_mv_s:.3f} mV/s (limit 0.3); within {guard} samples of an edge "
          f"(low-pass step response) {edge:.0f} µV")
    assert disp < 100.0
    assert slope_mv_s < 0.3


def _gain_db(fs: float, f: float, mode: str = "adult") -> float:
    t = np.arange(int(20 * fs)) / fs
    x = 1000.0 * np.sin(2 * np.pi * f * t + 0.3)
    y = clean_ecg(EcgRecording(x[None, :], fs, ("II",)), mode=mode, mains="off").recording.samples_uv[0]  # type: ignore[arg-type]
    m = slice(int(4 * fs), int(16 * fs))
    basis = np.vstack([np.sin(2 * np.pi * f * t[m]), np.cos(2 * np.pi * f * t[m])]).T
    cy = np.linalg.lstsq(basis, y[m], rcond=None)[0]
    return float(20 * np.log10(np.hypot(*cy) / 1000.0))


@pytest.mark.parametrize("fs", [500.0, 1000.0])
def test_sweep_response(fs: float) -> None:
    band = [0.67, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0]
    gains = {f: _gain_db(fs, f) for f in band + [100.0, 150.0]}
    print(f"\nsweep fs={fs:g} Hz: " + ", ".join(f"{f:g} Hz {g:+.3f} dB" for f, g in gains.items()))
    for f in band:
        assert abs(gains[f]) <= 0.9, f  # +/-10 %
    assert gains[150.0] >= -3.0
    # The 0.05 Hz high-pass really removes the baseline: -6 dB (forward-backward) at 0.05 Hz or lower
    assert _gain_db(fs, 0.02) < -10.0


def test_child_mode_keeps_250_hz_band() -> None:
    g = _gain_db(1000.0, 250.0, mode="child")
    print(f"\nchild mode fs=1000 Hz: {g:+.2f} dB at 250 Hz")
    assert g >= -3.0


def test_steps_are_recorded() -> None:
    rec = synthetic_ecg(500.0)
    out = clean_ecg(rec).recording
    kinds = [s.kind for s in out.applied_filters]
    assert kinds == ["highpass", "lowpass"]
    hp, lp = out.applied_filters
    assert hp.cutoff_hz == 0.05 and hp.order == 2 and hp.zero_phase and hp.applied_by == "asalee"
    assert lp.cutoff_hz == 150.0 and lp.zero_phase and lp.applied_by == "asalee"
    assert out.derived_leads == rec.derived_leads and out.leads == rec.leads
    # derived leads of the cleaned trace are exactly the identities of the cleaned measured leads
    i, ii = out.lead("I"), out.lead("II")
    assert np.max(np.abs(out.lead("aVF") - (ii - i / 2))) < 1e-6


def test_low_rate_skips_lowpass_with_warning() -> None:
    res = clean_ecg(synthetic_ecg(360.0))
    assert [s.kind for s in res.recording.applied_filters] == ["highpass"]
    assert any("low-pass" in w for w in warnings_text(res.warnings))


def test_resampling_polyphase_no_alias() -> None:
    fs = 1000.0
    t = np.arange(int(10 * fs)) / fs
    tone10 = 1000 * np.sin(2 * np.pi * 10 * t)
    alias = 1000 * np.sin(2 * np.pi * 300 * t)  # above the 250 Hz Nyquist of 500 Hz: must not fold to 200 Hz
    rec = EcgRecording(np.vstack([tone10, alias]), fs, ("I", "II"))
    out = resample(rec, 500.0)
    assert out.fs_hz == 500.0 and out.n_samples == 5000
    assert out.applied_filters[-1].kind == "resample"
    mid = slice(500, 4500)
    ref10 = 1000 * np.sin(2 * np.pi * 10 * np.arange(5000) / 500.0)
    err10 = float(np.max(np.abs(out.samples_uv[0, mid] - ref10[mid])))
    alias_rms = float(np.sqrt(np.mean(out.samples_uv[1, mid] ** 2)))
    print(f"\nresample 1000->500 Hz: 10 Hz tone max error {err10:.3f} µV, 300 Hz tone residual {alias_rms:.3f} µV RMS")
    assert err10 < 5.0
    assert alias_rms < 10.0  # > 40 dB below the 707 µV RMS input


def test_nan_runs_stay_nan_and_do_not_spread() -> None:
    rec = synthetic_ecg(500.0)
    x = rec.samples_uv.copy()
    k = rec.leads.index("V3")
    x[k, 2000:2100] = np.nan
    out = clean_ecg(rec.with_samples(x)).recording
    assert np.all(np.isnan(out.samples_uv[k, 2000:2100]))
    assert np.all(np.isfinite(out.samples_uv[k, :2000])) and np.all(np.isfinite(out.samples_uv[k, 2100:]))
    assert np.all(np.isfinite(out.samples_uv[[j for j in range(12) if j != k]]))


def _median_qrs_pp(x: np.ndarray, fs: float, peaks: np.ndarray) -> float:
    w = int(0.06 * fs)
    pps = [np.ptp(x[p - w:p + w]) for p in peaks if w <= p < x.size - w]
    return float(np.median(pps))


def test_ptb_qrs_kept_and_derived_leads(shared_data: Path) -> None:
    from scipy import signal

    from asalee_devices.drivers.ecg_files import read_ecg_file
    from asalee_devices.signal.ecg.rpeaks import detect_r_peaks

    rec = read_ecg_file(shared_data / "ecg/wfdb/ptb-s0010_re/s0010_re").recording
    fs = rec.fs_hz
    # The file stores all 12 leads: its own III/aVR/aVL/aVF against the identities (1 µV).
    i, ii = rec.lead("I"), rec.lead("II")
    derived = {"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    worst = {n: float(np.max(np.abs(rec.lead(n) - v))) for n, v in derived.items()}
    print("\nPTB derived-lead residuals µV: " + ", ".join(f"{n} {v:.2f}" for n, v in worst.items()))
    assert max(worst.values()) <= 1.0
    # At the diagnostic 500 Hz (as in the reference note's calculation): within 2 % on every lead. At the
    # file's native 1000 Hz the baseline-only reference still holds the 150-500 Hz noise the diagnostic
    # low-pass is there to remove (it inflates the reference p-p): printed, and bounded at 5 %.
    for target, tol in ((500.0, 0.02), (1000.0, 0.05)):
        r = resample(rec, target)
        fs = r.fs_hz
        cleaned = clean_ecg(r).recording
        # reference: baseline-only correction (0.05 Hz Butterworth order 2 zero-phase, no low-pass)
        sos = signal.butter(2, 0.05, btype="highpass", fs=fs, output="sos")
        ref = signal.sosfiltfilt(sos, r.samples_uv - np.median(r.samples_uv, axis=1, keepdims=True), axis=1,
                                 padlen=int(5 * fs))
        peaks, _ = detect_r_peaks(r.samples_uv[:12], fs)
        assert peaks.size >= 45
        ratios = {name: _median_qrs_pp(cleaned.samples_uv[k], fs, peaks) / _median_qrs_pp(ref[k], fs, peaks)
                  for k, name in enumerate(r.leads[:12])}
        print(f"PTB at {fs:g} Hz, median QRS p-p cleaned/baseline-only ({peaks.size} beats): "
              + ", ".join(f"{n} {100 * v:.2f} %" for n, v in ratios.items()))
        for name, v in ratios.items():
            assert abs(v - 1) <= tol, (fs, name)


def test_edges_of_a_10_s_record_have_no_step() -> None:
    """Explicit edge handling: a large electrode offset does not leave a transient at either end."""
    rec = synthetic_ecg(500.0)
    ref = clean_ecg(rec).recording.samples_uv
    shifted = clean_ecg(rec.with_samples(rec.samples_uv + 5000.0)).recording.samples_uv
    worst = float(np.max(np.abs(shifted - ref)))
    first = clean_ecg(rec).recording.samples_uv[:, :250]
    print(f"\n5 mV offset: largest change {worst:.2e} µV; first 0.5 s of the clean trace within "
          f"{np.max(np.abs(first)):.0f} µV of 0")
    assert worst < 1.0
    # the ends of the cleaned trace sit on the baseline (the synthetic leads start on an isoelectric segment)
    assert float(np.max(np.abs(np.median(first, axis=1)))) < 20.0
