"""Mains canceller: >= 30 dB on 50 Hz + harmonics, < 10 µV RMS change on a clean ECG, skipped when not needed."""

from __future__ import annotations

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg

from asalee_devices.messages.ecg import warnings_text
from asalee_devices.signal.ecg.cleaning import clean_ecg
from asalee_devices.signal.ecg.mains import cancel_mains, mains_fraction
from asalee_devices.signal.filters import FilterStep


def _interference(n: int, fs: float, f0: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    amps = (200.0, 60.0, 30.0)  # fundamental, 2nd, 3rd harmonic, µV
    return np.vstack([sum(a * g * np.sin(2 * np.pi * (k + 1) * f0 * t + rng.uniform(0, 2 * np.pi))
                          for k, a in enumerate(amps)) for g in np.linspace(0.5, 1.5, 12)])


@pytest.mark.parametrize(("fs", "f0"), [(500.0, 50.0), (1000.0, 50.0), (500.0, 50.15), (500.0, 60.0)])
def test_canceller_removes_30_db(fs: float, f0: float) -> None:
    clean = synthetic_ecg(fs)
    mains = 60.0 if f0 >= 55 else 50.0
    noise = _interference(clean.n_samples, fs, f0)
    ref = clean_ecg(clean, mains="off", mains_hz=mains).recording.samples_uv
    out = clean_ecg(clean.with_samples(clean.samples_uv + noise), mains_hz=mains).recording
    assert out.applied_filters[-1].kind == "mains_canceller"
    residual = out.samples_uv - ref
    inner = slice(int(0.5 * fs), -int(0.5 * fs))
    att = 10 * np.log10(np.sum(noise[:, inner] ** 2) / np.sum(residual[:, inner] ** 2))
    att_all = 10 * np.log10(np.sum(noise ** 2) / np.sum(residual ** 2))
    print(f"\nmains {f0:g} Hz + 2 harmonics at fs={fs:g} Hz: attenuation {att:.1f} dB "
          f"(whole record incl. edges {att_all:.1f} dB), estimated {out.applied_filters[-1].cutoff_hz} Hz")
    assert att >= 30.0
    assert att_all >= 30.0


def test_clean_ecg_unchanged_when_no_mains() -> None:
    rec = synthetic_ecg(500.0)
    auto = clean_ecg(rec).recording
    off = clean_ecg(rec, mains="off").recording
    forced = clean_ecg(rec, mains="on").recording
    rms_auto = float(np.sqrt(np.mean((auto.samples_uv - off.samples_uv) ** 2)))
    rms_forced = float(np.sqrt(np.mean((forced.samples_uv - off.samples_uv) ** 2)))
    print(f"\nclean ECG, no mains: change {rms_auto:.3f} µV RMS (auto: detector says absent), "
          f"{rms_forced:.3f} µV RMS with the canceller forced on")
    assert all(s.kind != "mains_canceller" for s in auto.applied_filters)
    assert rms_auto < 10.0
    assert rms_forced < 10.0


def test_skipped_when_device_already_notched() -> None:
    rec = synthetic_ecg(500.0)
    noisy = rec.with_samples(rec.samples_uv + _interference(rec.n_samples, 500.0, 50.0),
                             device_filters=(FilterStep(kind="notch", applied_by="device", cutoff_hz=50.0),))
    res = clean_ecg(noisy)
    assert all(s.kind != "mains_canceller" for s in res.recording.applied_filters)
    assert any("device" in w for w in warnings_text(res.warnings))


def test_broadband_noise_is_not_mains() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5000)) * 100.0
    res = cancel_mains(x, 500.0, 50.0)
    assert res.step is None
    frac = mains_fraction(x, 500.0, 50.0)
    assert np.all(frac < 0.05)
