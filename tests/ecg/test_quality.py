"""Technical quality: real Contec files, and each synthetic fault triggers its own message and no other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import signal
from tests.ecg.synth import synthetic_ecg, with_lead

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.messages.ecg import quality_messages
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.recording import EcgRecording

V_LEADS = ("V1", "V2", "V3", "V4", "V5", "V6")


def _summary(rec: EcgRecording) -> tuple[str, set[tuple[str, str | None]], tuple[str, ...]]:
    a = analyze_ecg(rec)
    codes = {(f.code, f.lead) for f in a.quality.findings}
    return a.quality.verdict, codes, quality_messages(a.quality, "fr")


def test_contec_0000037(shared_data: Path) -> None:
    ecg = read_ecg_file(shared_data / "ecg/contec-ecg90a/0000037.ECG")
    q = analyze_ecg(ecg.recording).quality
    by = {lq.lead: lq for lq in q.leads}
    print("\n0000037: " + "; ".join(quality_messages(q, "fr")))
    print("  mains fraction % " + ", ".join(f"{lq.lead} {100 * lq.mains_fraction:.1f}" for lq in q.leads
                                           if lq.connected))
    assert q.verdict == "retake"
    for v in V_LEADS:
        assert not by[v].connected
        assert any(f.code == "lead_off" for f in by[v].findings)
    assert any("V1, V2, V3, V4, V5, V6" in m and "déconnectées" in m for m in quality_messages(q, "fr"))
    for limb in ("I", "II", "III", "aVR", "aVL", "aVF"):
        assert by[limb].connected
    mains_leads = {f.lead for f in q.findings if f.code == "mains"}
    assert {"II", "aVF", "aVR"} <= mains_leads
    assert by["II"].mains_fraction > 0.3  # 41.5 % in the reference note
    assert any("Parasites secteur 50 Hz" in m for m in quality_messages(q, "fr"))


def test_contec_0000053(shared_data: Path) -> None:
    ecg = read_ecg_file(shared_data / "ecg/contec-ecg90a/0000053.ECG")
    q = analyze_ecg(ecg.recording).quality
    print("\n0000053: verdict " + q.verdict + "; " + ("; ".join(quality_messages(q, "fr")) or "no finding"))
    assert all(lq.connected for lq in q.leads)
    assert not any(f.code == "lead_off" for f in q.findings)
    assert len(q.leads) == 12


def test_clean_synthetic_is_acceptable() -> None:
    verdict, codes, msgs = _summary(synthetic_ecg())
    assert verdict == "acceptable" and not codes and not msgs


def _electrode_off(rec: EcgRecording) -> EcgRecording:
    x = rec.samples_uv.copy()
    off = np.zeros(x.shape, dtype=bool)
    k = rec.leads.index("V3")
    x[k] = np.nan
    off[k] = True
    return rec.with_samples(x, lead_off=off)


def _saturation(rec: EcgRecording) -> EcgRecording:
    return with_lead(rec, "V4", np.minimum(rec.lead("V4"), 900.0))


def _baseline(rec: EcgRecording) -> EcgRecording:
    t = np.arange(rec.n_samples) / rec.fs_hz
    return with_lead(rec, "V2", rec.lead("V2") + 800.0 * np.sin(2 * np.pi * 0.3 * t))


def _emg(rec: EcgRecording) -> EcgRecording:
    rng = np.random.default_rng(7)
    sos = signal.butter(4, [20.0, 150.0], btype="bandpass", fs=rec.fs_hz, output="sos")
    noise = signal.sosfiltfilt(sos, rng.standard_normal(rec.n_samples))
    noise *= 40.0 / np.std(noise)
    return with_lead(rec, "V5", rec.lead("V5") + noise)


def _flat(rec: EcgRecording) -> EcgRecording:
    rng = np.random.default_rng(8)
    return with_lead(rec, "V6", 1.0 * rng.standard_normal(rec.n_samples))


def _mains(rec: EcgRecording) -> EcgRecording:
    t = np.arange(rec.n_samples) / rec.fs_hz
    return rec.with_samples(rec.samples_uv + 120.0 * np.sin(2 * np.pi * 50.0 * t + 0.5))


def _low_amplitude(rec: EcgRecording) -> EcgRecording:
    return with_lead(rec, "V1", 0.06 * rec.lead("V1"))


CASES: dict[str, tuple[Callable[[EcgRecording], EcgRecording], str, str | None, str]] = {
    "electrode_off": (_electrode_off, "lead_off", "V3", "Électrode V3 déconnectée ou mal collée"),
    "saturation": (_saturation, "saturation", "V4", "Signal saturé sur V4"),
    "baseline": (_baseline, "baseline_wander", "V2", "Ligne de base instable"),
    "emg": (_emg, "muscle_noise", "V5", "Tremblements musculaires"),
    "flat": (_flat, "flat", "V6", "Signal plat sur V6"),
    "mains": (_mains, "mains", None, "Parasites secteur 50 Hz"),
    "low_amplitude": (_low_amplitude, "amplitude", "V1", "Amplitude hors plage sur V1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_fault_triggers_its_own_message_only(case: str) -> None:
    make, code, lead, text = CASES[case]
    rec = make(synthetic_ecg(500.0, seed=11))
    a = analyze_ecg(rec)
    q = a.quality
    codes = {f.code for f in q.findings}
    print(f"\n{case}: {sorted(codes)} -> " + " | ".join(quality_messages(q, "fr")))
    assert codes == {code}
    if lead is not None:
        assert {f.lead for f in q.findings} == {lead}
    msgs_fr = quality_messages(q, "fr")
    assert len(msgs_fr) == 1 and text in msgs_fr[0]
    assert len(quality_messages(q, "en")) == 1
    assert q.verdict == "retake"
    f = q.findings[0]
    assert f.indicator == f.indicator and f.unit  # numeric indicator with its unit
    if case == "mains":
        assert any(s.kind == "mains_canceller" for s in a.cleaned.applied_filters)
    # the beats are still found on the usable leads
    assert a.heart.heart_rate_bpm is not None and abs(a.heart.heart_rate_bpm - 72.0) < 1.0


def test_inconsistent_limb_leads() -> None:
    from asalee_devices.signal.ecg.recording import from_leads

    rec = synthetic_ecg(500.0, seed=5)
    leads = {n: rec.lead(n).copy() for n in rec.leads if n not in rec.derived_leads}
    t = np.arange(rec.n_samples) / rec.fs_hz
    leads["III"] = leads["II"] - leads["I"] + 60.0 * np.sin(2 * np.pi * 1.3 * t)  # stored III disagrees
    q = analyze_ecg(from_leads(leads, 500.0)).quality
    assert {f.code for f in q.findings} == {"inconsistent"}
    assert quality_messages(q, "fr") == ("Vérifier le placement des électrodes des membres",)
    consistent = analyze_ecg(from_leads({**leads, "III": leads["II"] - leads["I"]}, 500.0)).quality
    assert consistent.verdict == "acceptable"


def test_resampled_analysis_contec(shared_data: Path) -> None:
    ecg = read_ecg_file(shared_data / "ecg/contec-ecg90a/0000053.ECG")
    a = analyze_ecg(ecg.recording, resample_hz=500.0)
    assert a.cleaned.fs_hz == 500.0 and a.raw.fs_hz == 800.0
    assert a.cleaned.applied_filters[0].kind == "resample"
    assert all(lq.connected for lq in a.quality.leads)
    native = analyze_ecg(ecg.recording)
    assert a.heart.r_peaks_s.size == native.heart.r_peaks_s.size
    assert np.max(np.abs(a.heart.r_peaks_s - native.heart.r_peaks_s)) < 0.01
