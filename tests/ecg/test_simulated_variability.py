"""Issue 20: the simulated ECG varies like patients do (rate, frontal QRS axis, amplitude), reproducibly from a
seed. Measured by our own analysis (R peaks, heart rate) and, for the axis, by the classic two-lead method: the
net QRS deflection in I and aVF (the hexaxial reference, independent of how the generator builds its leads)."""

from __future__ import annotations

import numpy as np

from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.simulators.generators.ecg import ecg_patient, twelve_lead_ecg
from asalee_devices.simulators.registry import model_factory


def _net_qrs(rec: EcgRecording, lead: str, peaks_s: np.ndarray) -> float:
    x = rec.samples_uv[rec.leads.index(lead)]
    w = int(0.06 * rec.fs_hz)
    total = 0.0
    for p in peaks_s:
        k = int(round(p * rec.fs_hz))
        if w <= k < x.size - w:
            seg = x[k - w:k + w]
            total += float(np.max(seg) + np.min(seg))  # R minus |Q or S|: the net deflection
    return total


def test_twenty_seeded_patients_rate_axis_amplitude() -> None:
    rates, axes, amps = [], [], []
    for seed in range(20):
        p = ecg_patient(seed)
        rec = twelve_lead_ecg(fs_hz=500.0, heart_rate_bpm=p.heart_rate_bpm, axis_deg=p.axis_deg,
                              amplitude_scale=p.amplitude_scale, respiration_mod=0.05, seed=seed)
        a = analyze_ecg(rec)
        assert a.heart_rate_bpm is not None and abs(a.heart_rate_bpm - p.heart_rate_bpm) <= 0.05 * p.heart_rate_bpm
        peaks = a.heart.r_peaks_s
        measured = float(np.degrees(np.arctan2(_net_qrs(rec, "aVF", peaks), _net_qrs(rec, "I", peaks))))
        assert abs(measured - p.axis_deg) <= 20.0, (seed, measured, p.axis_deg)
        rates.append(a.heart_rate_bpm)
        axes.append(measured)
        amps.append(float(np.ptp(rec.samples_uv[rec.leads.index("V5")])))
    assert np.ptp(rates) > 25 and np.ptp(axes) > 60 and max(amps) / min(amps) > 1.5
    print(f"\n20 ECG patients: rate {min(rates):.0f}-{max(rates):.0f} bpm, axis {min(axes):+.0f}..{max(axes):+.0f} deg")


def test_reproducible_and_default_unchanged() -> None:
    a = twelve_lead_ecg(seed=3)
    np.testing.assert_array_equal(a.samples_uv, twelve_lead_ecg(seed=3).samples_uv)
    np.testing.assert_array_equal(a.samples_uv, twelve_lead_ecg(seed=3, axis_deg=float(np.degrees(np.arctan2(0.8, 0.5)))
                                                                ).samples_uv)
    assert ecg_patient(4) == ecg_patient(4) != ecg_patient(5)


def test_sim_url_patient_seed_reaches_the_device() -> None:
    m1 = model_factory("ecg12", {"patient_seed": "1"})()
    m2 = model_factory("ecg12", {"patient_seed": "2"})()
    assert not np.array_equal(m1.signal(500)[0], m2.signal(500)[0])  # type: ignore[attr-defined]
