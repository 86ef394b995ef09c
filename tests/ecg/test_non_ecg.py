"""Parts of device files that are not ECG (the cart's calibration signal, pacing spikes) and the cart's own heart
rate: measured on the shared real files and on synthetic records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.ecg.synth import GAINS, beat_times, ecg_from_beats

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.messages.ecg import notes_text
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.recording import from_leads
from asalee_devices.signal.ecg.segments import find_calibration


@pytest.fixture
def ecg_dir(shared_data: Path) -> Path:
    return shared_data / "ecg"


#: shared files that carry the cart's own heart rate (or mean RR)
CART_RATE = ["ge-muse/MUSE_20200923_093504_79000_example.xml", "philips-sierra/129DYPRG.XML",
             "philips-sierra/ad4d3d80-d165_1-04_orig.xml", "mortara-eli250-dicom/waveform_ecg.dcm"]


@pytest.mark.parametrize("rel", CART_RATE)
def test_real_files_rate_within_2_per_min_of_the_cart(ecg_dir: Path, rel: str) -> None:
    e = read_ecg_file(ecg_dir / rel)
    device = e.device_heart_rate_bpm
    assert device is not None
    a = analyze_ecg(e.recording, device_heart_rate_bpm=device)
    assert a.heart_rate_bpm is not None
    print(f"\n{rel}: ours {a.heart_rate_bpm:.1f}/min, cart {device:.1f}/min")
    assert abs(a.heart_rate_bpm - device) <= 2.0
    assert not any(n.code == "device_rate_differs" for n in a.notes)
    assert a.quality.leads and not any(f.code == "flat" for f in a.quality.findings)


@pytest.mark.parametrize("name", ["129DYPRG.XML", "ad4d3d80-d165_1-04_orig.xml"])
def test_sierra_calibration_signal_is_recognised_and_left_out(ecg_dir: Path, name: str) -> None:
    e = read_ecg_file(ecg_dir / "philips-sierra" / name)
    rec = e.recording
    a = analyze_ecg(rec)
    assert len(a.non_ecg) == 1
    seg = a.non_ecg[0]
    # the pulse itself: every lead at 1000 µV from sample 5350 to 5449 (read from the file, not assumed)
    pulse = np.flatnonzero(np.all(rec.samples_uv == 1000.0, axis=0))
    assert seg.kind == "calibration" and seg.stop == rec.n_samples and seg.start <= pulse[0]
    assert seg.start / rec.fs_hz > 10.4  # the ECG before it is kept
    assert not np.any(a.heart.r_peaks_s * rec.fs_hz >= seg.start)  # no beat in the calibration signal
    assert a.heart.rr_min_ms is not None and a.heart.rr_min_ms > 1000.0  # (was 200 ms: the pulse's two edges)
    text = notes_text(a.notes)
    assert any("étalonnage" in t for t in text)
    # printed as stored: the cleaned trace keeps the cart's pulse
    np.testing.assert_array_equal(a.cleaned.samples_uv[:, seg.start:], rec.samples_uv[:, seg.start:])


def test_no_calibration_found_in_other_real_files(ecg_dir: Path) -> None:
    for rel in ["ge-muse/MUSE_20200923_093504_79000_example.xml", "mortara-eli250-dicom/waveform_ecg.dcm",
                "ecgtoolkit-example/Example.scp", "contec-ecg90a/0000053.ECG", "contec-ecg90a/0000037.ECG",
                "wfdb/mitdb-100/100", "wfdb/ptb-s0010_re/s0010_re"]:
        rec = read_ecg_file(ecg_dir / rel).recording
        assert find_calibration(rec.samples_uv, rec.fs_hz, rec.resolution_uv) == (), rel


def _calibration(fs: float, n: int, lead_count: int = 8) -> np.ndarray:
    """0 µV for 100 ms, 1 mV for 200 ms, 0 µV for 100 ms (as the Sierra carts store it)."""
    one = np.concatenate([np.zeros(int(0.1 * fs)), np.full(int(0.2 * fs), 1000.0), np.zeros(int(0.1 * fs))])
    return np.tile(one, (lead_count, 1))[:, :n]


@pytest.mark.parametrize("fs", [500.0, 1000.0])
def test_prepended_and_appended_calibration(fs: float) -> None:
    beats = beat_times(10.0, 60.0)
    ecg = ecg_from_beats(beats, fs, 10.0)
    measured = {n: ecg.lead(n) for n in GAINS}
    cal = _calibration(fs, int(0.4 * fs))
    leads = {n: np.concatenate([cal[k], measured[n] - measured[n][0], cal[k]]) for k, n in enumerate(GAINS)}
    rec = from_leads(leads, fs)
    a = analyze_ecg(rec, device_heart_rate_bpm=60.0)
    # (within a sample: the first ECG sample, at 0 µV, continues the calibration's last plateau)
    got = np.array([(s.start, s.stop) for s in a.non_ecg])
    want = np.array([(0, int(0.4 * fs)), (rec.n_samples - int(0.4 * fs), rec.n_samples)])
    assert got.shape == want.shape and np.abs(got - want).max() <= 1
    assert a.heart_rate_bpm == pytest.approx(60.0, abs=1.0)
    assert a.heart.r_peaks_s.size == beats.size
    np.testing.assert_allclose(a.heart.r_peaks_s, beats + 0.4, atol=0.01)
    assert not any(n.code == "device_rate_differs" for n in a.notes)


def test_device_rate_differs_is_a_note_for_the_gp() -> None:
    rec = ecg_from_beats(beat_times(10.0, 49.0), 500.0, 10.0)
    a = analyze_ecg(rec, device_heart_rate_bpm=41.0)
    notes = [n for n in a.notes if n.code == "device_rate_differs"]
    assert len(notes) == 1 and notes[0].for_gp
    assert notes_text(a.notes, for_gp=True) == ("FC mesurée 49/min, appareil 41/min — vérifier le tracé",)
    assert analyze_ecg(rec, device_heart_rate_bpm=45.0).notes == ()  # within 5/min: nothing to say


def test_calibration_covering_the_whole_record() -> None:
    fs = 500.0
    cal = _calibration(fs, int(0.4 * fs))
    x = np.tile(cal, (1, 25))  # 10 s of nothing but calibration pulses
    rec = from_leads({n: x[k] for k, n in enumerate(GAINS)}, fs)
    a = analyze_ecg(rec, device_heart_rate_bpm=60.0)
    assert a.heart.r_peaks_s.size == 0 and a.heart_rate_bpm is None
    assert [n.code for n in a.notes] == ["calibration_whole_record"]
    assert a.quality.verdict == "retake"
    assert "que le signal d'étalonnage" in notes_text(a.notes)[0]


def test_pacemaker_flag_without_spikes() -> None:
    from dataclasses import replace

    rec = replace(ecg_from_beats(beat_times(10.0, 70.0), 500.0, 10.0), pacemaker=True)
    a = analyze_ecg(rec)
    assert [n.code for n in a.notes] == ["pacemaker_flag_no_spikes"]
    assert a.pacing_spikes == ()
    assert a.heart_rate_bpm == pytest.approx(70.0, abs=1.0)
    assert "aucune impulsion visible" in notes_text(a.notes)[0]


@pytest.mark.parametrize("fs", [500.0, 1000.0])
def test_pacing_spikes_are_bridged_and_counted(fs: float) -> None:
    beats = beat_times(10.0, 70.0)
    rec = ecg_from_beats(beats, fs, 10.0)
    x = rec.samples_uv.copy()
    spikes = np.round((beats - 0.05) * fs).astype(int)  # a 3 mV one-sample spike 50 ms before every R
    x[:, spikes] += 3000.0
    paced = from_leads({n: x[k] for k, n in enumerate(rec.leads) if n not in rec.derived_leads}, fs)
    a = analyze_ecg(paced)
    assert list(a.pacing_spikes) == spikes.tolist()
    assert a.heart.r_peaks_s.size == beats.size
    np.testing.assert_allclose(a.heart.r_peaks_s, beats, atol=0.01)
    assert [n.code for n in a.notes] == ["pacing_spikes_excluded"]
    assert not any(s.kind == "mains_canceller" for s in a.cleaned.applied_filters)  # spikes are not mains
    # the printed (cleaned) trace still shows each spike
    k = rec.leads.index("V4")
    assert np.all(a.cleaned.samples_uv[k, spikes] > a.cleaned.samples_uv[k, spikes - 3] + 500.0)
