"""The filter chain as one system: device filters declared in the file, then ours. For each device combination
(high-pass 0.05 Hz first order or 0.5 Hz; low-pass 40, 100, 150 Hz) the IEC 60601-2-25 impulse test passes through
the CLI (`ecg analyze --clean-out`) on a file declaring them, and the band printed is the chain's -3 dB points,
checked against the gain measured with sine waves through the same chain."""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from asalee_devices.drivers.ecg_files._util import filter_steps
from asalee_devices.signal.ecg.chain import chain_band
from asalee_devices.signal.ecg.cleaning import clean_ecg
from asalee_devices.signal.ecg.recording import EcgRecording

FS = 500.0
SRC = Path(__file__).resolve().parents[2] / "src"


def _device(x: np.ndarray, hp: float, lp: float, fs: float = FS) -> np.ndarray:
    """What a cart's first-order filters do to the input (causal Butterworth order 1, -3 dB at the declared
    cut-offs)."""
    b, a = signal.butter(1, hp, btype="highpass", fs=fs)
    x = signal.lfilter(b, a, x)
    b, a = signal.butter(1, lp, btype="lowpass", fs=fs)
    return np.asarray(signal.lfilter(b, a, x))


def _sierra_104(x_uv: np.ndarray, hp: float, lp: float) -> bytes:
    """A minimal Philips Sierra 1.04 document (uncompressed base64 int16, 1 µV/LSB) declaring the filters."""
    ints = np.round(x_uv).astype("<i2")
    data = base64.b64encode(ints.tobytes()).decode("ascii")
    ms = int(round(1000 * x_uv.size / FS))
    xml = f"""<?xml version="1.0" encoding="utf-16"?>
<restingecgdata status="Confirmed" lang="en"><documentinfo><documenttype>PhilipsECG</documenttype>
<documentversion>1.04</documentversion></documentinfo><dataacquisition><signalcharacteristics>
<samplingrate>{FS:g}</samplingrate><resolution>1</resolution><hipass>{hp:g}</hipass><lowpass>{lp:g}</lowpass>
<notchfiltered>False</notchfiltered><numberchannelsvalid>1</numberchannelsvalid></signalcharacteristics>
</dataacquisition><waveforms><parsedwaveforms dataencoding="Base64" numberofleads="1" leadlabels="II"
durationperchannel="{ms}" samplespersecond="{FS:g}" resolution="1" signalsigned="True" bitspersample="16"
hipass="{hp:g}" lowpass="{lp:g}" notchfiltered="False">{data}</parsedwaveforms></waveforms></restingecgdata>"""
    return b"\xff\xfe" + xml.encode("utf-16-le")


@pytest.mark.parametrize("lp", [40.0, 100.0, 150.0])
@pytest.mark.parametrize("hp", [0.05, 0.5])
def test_iec_impulse_through_the_cli(tmp_path: Path, hp: float, lp: float) -> None:
    n = int(10 * FS)
    x = np.zeros(n)
    a, b = int(4.5 * FS), int(4.6 * FS)
    x[a:b] = 3000.0  # 3 mV x 100 ms
    src = tmp_path / "impulse.xml"
    src.write_bytes(_sierra_104(_device(x, hp, lp), hp, lp))
    out = tmp_path / "clean.csv"
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "ecg", "analyze", str(src), "--json",
                           "--clean-out", str(out)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC)})
    doc = json.loads(proc.stdout)
    with out.open() as fh:
        rows = list(csv.reader(fh))
    y = np.array([float(r[rows[0].index("II")]) for r in rows[1:]])
    guard = int(round(0.010 * FS))
    outside = np.ones(n, dtype=bool)
    outside[a - guard:b + guard] = False
    disp = float(np.max(np.abs(y[outside] - np.median(y[:a - guard]))))
    tail = y[b + guard:]
    tail = tail[: tail.size // 50 * 50].reshape(-1, 50).mean(axis=1)
    slope = float(np.max(np.abs(np.diff(tail)))) / 0.1 / 1000.0
    band = doc["band"]
    print(f"\ndevice HP {hp:g} Hz, LP {lp:g} Hz: ours {[f['description'] for f in doc['applied_filters']]}; "
          f"impulse displacement {disp:.1f} µV, slope {slope:.3f} mV/s; {band['text']}")
    assert disp < 100.0 and slope < 0.3
    # the chain's low corner is the diagnostic 0.05 Hz; the high corner never below the device's or 150 Hz
    assert band["low_hz"] == pytest.approx(0.05, abs=0.002)
    assert band["high_hz"] >= min(lp, 150.0) - 0.5
    assert band["text"] == f"Bande passante : 0,05–{band['high_hz']:.0f} Hz ; filtre secteur 50 Hz : non"


def _measured_gain_db(rec: EcgRecording, f: float) -> float:
    """Gain of device + our chain for a sine at ``f``; the device's first-order analogue filters applied exactly
    (steady state: gain and phase of H(j 2 pi f))."""
    t = np.arange(rec.n_samples) / rec.fs_hz
    steps = rec.device_filters
    h = 1.0 + 0.0j
    for s in steps:
        r = f / float(s.cutoff_hz or 1.0)
        h *= (1j * r / (1 + 1j * r)) if s.kind == "highpass" else (1 / (1 + 1j * r))
    x = 1000.0 * abs(h) * np.sin(2 * np.pi * f * t + 0.3 + np.angle(h))
    y = clean_ecg(EcgRecording(x[None, :], rec.fs_hz, ("II",), device_filters=steps), mains="off"
                  ).recording.samples_uv[0]
    m = slice(int(0.4 * y.size), int(0.8 * y.size))
    basis = np.vstack([np.sin(2 * np.pi * f * t[m]), np.cos(2 * np.pi * f * t[m])]).T
    c = np.linalg.lstsq(basis, y[m], rcond=None)[0]
    return float(20 * np.log10(np.hypot(*c) / 1000.0))


@pytest.mark.parametrize("fs, device", [(500.0, (None, None)), (1000.0, (None, None)), (500.0, (0.05, 150.0)),
                                        (1000.0, (0.05, 300.0)), (500.0, (0.5, 100.0))])
def test_printed_band_is_the_measured_minus_3_db_points(fs: float, device: tuple[float | None, float | None]) -> None:
    rec = EcgRecording(np.zeros((1, int(60 * fs))), fs, ("II",), device_filters=filter_steps(*device))
    chain = clean_ecg(rec, mains="off").recording
    band = chain_band(chain.device_filters + chain.applied_filters, fs)
    assert band.high_hz is not None and band.low_hz is not None
    hi = _measured_gain_db(rec, band.high_hz)
    ref = _measured_gain_db(rec, 10.0)
    print(f"\nfs {fs:g}, device {device}: band {band.low_hz:.3f}-{band.high_hz:.1f} Hz, measured "
          f"{hi - ref:+.2f} dB at the high corner")
    assert hi - ref == pytest.approx(-3.01, abs=0.15)
    assert band.high_hz >= 150.0 or (device[1] is not None and device[1] < 150.0)
