"""Registry and URLs, discovery and simulate commands, and the ECG generator's physiology."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from asalee_devices.cli.main import main
from asalee_devices.devices.electrocardiograph import Electrocardiograph
from asalee_devices.devices.session import SessionOptions
from asalee_devices.drivers.registry import (
    DriverSpec,
    drivers,
    get_driver,
    parse_url,
    register_driver,
    transport_factory,
)
from asalee_devices.errors import ConfigError, InputError
from asalee_devices.signal.ecg.recording import einthoven_residual_uv
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg

ROOT = Path(__file__).resolve().parents[2]


def test_urls_and_registry() -> None:
    u = parse_url("contec-spiro+serial:///dev/ttyUSB0?baud=115200")
    assert (u.driver, u.transport, u.location, u.params) == ("contec-spiro", "serial", "/dev/ttyUSB0",
                                                             {"baud": "115200"})
    u = parse_url("ecg12+socket://127.0.0.1:5555")
    assert (u.driver, u.transport, u.location) == ("ecg12", "socket", "127.0.0.1:5555")
    assert parse_url("turbine+usb://1209:7b10?serial=X").params == {"serial": "X"}
    assert parse_url("sim://ecg12?seed=3").location == "ecg12"
    for bad, field in [("ecg12://x", "url"), ("nope+socket://h:1", "driver"), ("ecg12+usb://1:2", "transport"),
                       ("ecg12+carrier-pigeon://x", "transport"), ("sim://toaster", "device"),
                       ("sim://ecg12?heart_rate_bpm=fast", "heart_rate_bpm"), ("sim://ecg12?colour=red", "colour")]:
        with pytest.raises(ConfigError) as info:
            transport_factory(bad)
        assert info.value.field == field, bad
    with pytest.raises(ConfigError, match="another driver"):
        Electrocardiograph.from_url("contec-spiro+socket://127.0.0.1:1")


def test_drivers_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from asalee_devices.drivers import registry

    spec = DriverSpec("acme-ecg", "ecg", "third-party module", ("serial", "socket"), ((0x1234, 0x0001),))

    class EntryPoint:
        def __init__(self, name: str, value: object) -> None:
            self.name, self.value = name, value

        def load(self) -> object:
            if isinstance(self.value, Exception):
                raise self.value
            return self.value

    monkeypatch.setattr(registry, "_LOADED_ENTRY_POINTS", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [EntryPoint("acme-ecg", spec), EntryPoint("broken", ImportError("x"))])
    assert get_driver("acme-ecg") is spec  # loaded lazily; the broken plug-in is skipped
    assert "broken" not in drivers()
    register_driver(DriverSpec("local", "spirometer", "registered in code", ("usb",)))
    assert get_driver("local").kind == "spirometer"


def test_devices_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in doc["drivers"]} >= {"ecg12", "contec-spiro", "turbine"}
    assert {s["url"] for s in doc["simulators"]} == {"sim://ecg12", "sim://contec-spiro", "sim://turbine"}
    assert "serial_ports" in doc and "usb_devices" in doc


@pytest.mark.parametrize("where", [["--tcp", "0"], ["--pty"]])
def test_simulate_command_serves_the_real_driver(where: list[str]) -> None:
    if where == ["--pty"] and sys.platform == "win32":
        pytest.skip("POSIX only")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "asalee_devices.cli.main", "simulate", "ecg", *where,
                             "--seed", "2", "--speed", "10", "--duration", "20"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = next(line.split(": ", 1)[1].strip() for line in proc.stdout if line.startswith("connect with: "))
        assert url.startswith("ecg12+socket://127.0.0.1:" if where[0] == "--tcp" else "ecg12+serial:///dev/")
        take = Electrocardiograph.from_url(url, options=SessionOptions(quiet_time_s=1.0)).record(1.0).complete
        assert take is not None and take.recording.n_samples == 500 and take.identity.model == "ECG12-SIM"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert main(["simulate", "turbine", "--duration", "0"]) == 2  # a virtual USB device: in process only


@pytest.mark.parametrize("bpm", [50.0, 72.0, 110.0])
def test_ecg_generator_heart_rate_and_einthoven(bpm: float) -> None:
    rec = twelve_lead_ecg(duration_s=20.0, fs_hz=500.0, heart_rate_bpm=bpm, seed=1, rr_jitter=0.0)
    assert rec.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    resid = einthoven_residual_uv(rec)
    assert resid is not None and resid < 1e-9
    ii = rec.lead("II")
    peaks, _ = find_peaks(ii, height=0.6 * ii.max(), distance=int(0.25 * rec.fs_hz))
    measured = 60.0 / np.median(np.diff(peaks) / rec.fs_hz)
    assert measured == pytest.approx(bpm, rel=0.01)
    # physiological morphology: R in II 0.5-2.5 mV, aVR negative, R/S transition across the precordium
    assert 500 < ii.max() < 2500 and rec.lead("aVR").min() < -300
    r_v1, r_v5 = rec.lead("V1").max(), rec.lead("V5").max()
    assert r_v5 > 2 * r_v1 and rec.lead("V1").min() < -0.5 * r_v5
    print(f"\n{bpm} bpm: measured {measured:.1f} bpm, R(II) {ii.max():.0f} µV, Einthoven residual {resid:.1e} µV")


def test_ecg_generator_artefacts() -> None:
    base = twelve_lead_ecg(duration_s=4.0, fs_hz=1000.0, seed=3)
    mains = twelve_lead_ecg(duration_s=4.0, fs_hz=1000.0, seed=3, mains_uv=100.0)
    diff = mains.lead("V2") - base.lead("V2")
    spectrum = np.abs(np.fft.rfft(diff))
    assert np.fft.rfftfreq(diff.size, 1 / 1000.0)[np.argmax(spectrum)] == pytest.approx(50.0)
    wander = twelve_lead_ecg(duration_s=8.0, fs_hz=500.0, seed=3, baseline_wander_uv=300.0)
    drift = wander.lead("I") - twelve_lead_ecg(duration_s=8.0, fs_hz=500.0, seed=3).lead("I")
    f = np.fft.rfftfreq(drift.size, 1 / 500.0)[np.argmax(np.abs(np.fft.rfft(drift)))]
    assert f < 0.5 and np.ptp(drift) > 300
    sat = twelve_lead_ecg(duration_s=2.0, fs_hz=500.0, seed=3, saturation_uv=800.0)
    assert np.abs(sat.samples_uv).max() <= 1600 and sat.lead_off is not None and sat.lead_off.any()
    noisy = twelve_lead_ecg(duration_s=2.0, fs_hz=500.0, seed=3, muscle_noise_uv=30.0)
    assert 10 < np.std(noisy.lead("V4") - twelve_lead_ecg(duration_s=2.0, fs_hz=500.0, seed=3).lead("V4")) < 60
    with pytest.raises(InputError):
        twelve_lead_ecg(electrode_off="V7")


def test_pyserial_url_handler_reaches_a_simulator() -> None:
    import serial

    from asalee_devices.drivers.protocols.ecg12 import codec as ecg_codec
    from asalee_devices.simulators.urlhandler import register

    register()
    port = serial.serial_for_url("asaleesim://ecg12?seed=1&speed=10", timeout=1.0)
    port.write(ecg_codec.encode_frame(ecg_codec.CMD_IDENTIFY))
    raw = port.read(4)
    assert raw[:3] == b"\xa5\x5a\x90"
    payload = port.read(raw[3] + 2)[:-2]
    assert ecg_codec.decode_identity(payload).serial_number == "SIM-ECG12-0001"
    port.close()
    # and the real session over it, through the generic serial transport
    take = Electrocardiograph.from_url("ecg12+asaleesim://ecg12?speed=10").record(0.5).complete
    assert take is not None and take.recording.n_samples == 250
