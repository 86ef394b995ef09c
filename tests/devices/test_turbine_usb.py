"""USB turbine driver + TurbineSpirometer session through pyusb and the virtual USB backend."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import usb.core

from asalee_devices.devices.session import LiveBlock, SessionOptions, SessionState
from asalee_devices.devices.turbine import TurbineSpirometer
from asalee_devices.drivers.protocols.turbine import codec
from asalee_devices.drivers.transports.usb import UsbTransport
from asalee_devices.errors import DeviceNotFoundError, ProtocolError
from asalee_devices.signal.spirometry.session import analyse_session
from asalee_devices.simulators.faults import FaultPlan
from asalee_devices.simulators.turbine import (
    PID,
    VID,
    TurbineDeviceModel,
    TurbineSettings,
    true_flow,
    virtual_turbine,
)
from asalee_devices.simulators.usb_virtual import VirtualUsbBackend, VirtualUsbDevice

#: generous quiet time so a loaded CI machine never looks like a stalled device; stall tests use 0.4 s
OPTS = SessionOptions(quiet_time_s=2.0, connect_attempts=3, reconnects=1, backoff_s=0.05, seed=1)
SPEED = 10.0


def _session(device: VirtualUsbDevice, serial: str | None = None,
             options: SessionOptions = OPTS) -> tuple[TurbineSpirometer, VirtualUsbBackend]:
    backend = VirtualUsbBackend([device])
    return TurbineSpirometer(lambda: UsbTransport(VID, PID, serial_number=serial, backend=backend),
                             options=options), backend


def test_virtual_backend_speaks_pyusb() -> None:
    backend = VirtualUsbBackend([virtual_turbine()])
    dev = usb.core.find(idVendor=VID, idProduct=PID, backend=backend)
    assert dev is not None
    assert usb.util.get_string(dev, dev.iSerialNumber) == "SIM-TURB-0001"
    cfg = dev.get_active_configuration()
    assert cfg[(0, 0)].bInterfaceClass == 0xFF
    raw = bytes(dev.ctrl_transfer(codec.VENDOR_IN, codec.REQ_IDENTIFY, 0, 0, 64))
    assert codec.decode_identify(raw).rate_hz == 100
    assert usb.core.find(idVendor=VID, idProduct=PID + 1, backend=backend) is None


def test_round_trip_identity_and_acceptable_blow() -> None:
    settings = TurbineSettings(seed=3)
    spiro, _ = _session(virtual_turbine(settings, speed=SPEED), serial="SIM-TURB-0001")
    blocks: list[LiveBlock] = []
    spiro.subscribe(blocks.append)
    acq = spiro.record(11.0)
    take = acq.complete
    assert take is not None and len(acq.takes) == 1
    ident = take.identity
    assert (ident.manufacturer, ident.model, ident.serial_number, ident.firmware, ident.source) == (
        "Asalee Sim", "Turbine USB SIM", "SIM-TURB-0001", "1.03", "turbine")
    rec = take.recording
    truth = true_flow(settings)
    n = min(truth.size, rec.n_samples)
    info = TurbineDeviceModel(settings).info
    one_pulse_l_s = info.nl_per_pulse * 1e-9 * info.rate_hz * max(info.table_correction)
    err = np.abs(rec.flow_l_s[:n] - truth[:n])
    vol_err = np.abs(np.cumsum(rec.flow_l_s[:n]) - np.cumsum(truth[:n])) / rec.fs_hz
    print(f"\nturbine: max flow error {err.max() * 1000:.1f} mL/s (one pulse per sample = "
          f"{one_pulse_l_s * 1000:.1f} mL/s), max cumulative volume error {vol_err.max() * 1000:.2f} mL")
    assert err.max() <= one_pulse_l_s * 1.05
    # the table corrects each quantised sample (non-linear), so a few pulses of volume can accumulate
    assert vol_err.max() <= 3 * info.nl_per_pulse * 1e-9 * max(info.table_correction)
    result = analyse_session([rec], age_years=50)
    assert result.blows[0].acceptability.acceptable_fvc and result.blows[0].acceptability.acceptable_fev1
    # the generator's own exhaled volume (was a hard-coded 4.5 L, the former fixed blow)
    assert result.fvc_l == pytest.approx(float(np.sum(np.clip(truth, 0.0, None))) / rec.fs_hz, abs=0.01)
    assert sum(b.samples.shape[1] for b in blocks) == rec.n_samples


def test_corrupted_bytes_lose_only_affected_frames() -> None:
    device = virtual_turbine(TurbineSettings(seed=1), faults=FaultPlan(corrupt_rate=0.01, seed=8), speed=SPEED)
    spiro, _ = _session(device)
    take = spiro.record(3.0).complete
    assert take is not None and device.injector is not None
    model = device.functions[0]
    assert isinstance(model, TurbineDeviceModel)
    hits = np.asarray(device.injector.corrupted_offsets)
    offsets = np.asarray([o for o, _ in model.frame_offsets])
    seqs = np.asarray([s for _, s in model.frame_offsets])
    k = np.searchsorted(offsets, hits, side="right") - 1
    inside = (k >= 0) & (hits < offsets[k] + codec.FRAME_LEN)
    affected = {s for s in seqs[k[inside]].tolist() if s < take.recording.n_samples}
    lost = set(np.nonzero(np.isnan(take.recording.flow_l_s))[0].tolist())
    print(f"\nturbine: corrupted bytes {hits.size}, frames hit {len(affected)}, lost {len(lost)}, "
          f"counters {take.info.counters}")
    assert lost == affected and take.recording.gaps
    assert take.info.counters["crc_errors"] > 0


def test_stall_reconnects() -> None:
    device = virtual_turbine(TurbineSettings(), faults=FaultPlan(stall_after_bytes=1200, stall_s=1.0), speed=SPEED)
    spiro, _ = _session(device, options=replace(OPTS, quiet_time_s=0.4))
    acq = spiro.record(2.0)
    assert [t.info.status for t in acq.takes] == ["interrupted", "done"]
    assert acq.takes[0].info.reason == "stalled" and 0 < acq.takes[0].recording.n_samples < 200
    assert spiro.history.count(SessionState.NEGOTIATING) >= 2


def test_unplug_keeps_data_and_device_is_not_refound() -> None:
    cut = 16 * 150
    device = virtual_turbine(TurbineSettings(), faults=FaultPlan(unplug_after_bytes=cut), speed=SPEED)
    spiro, backend = _session(device)
    acq = spiro.record(5.0)
    assert len(acq.takes) == 1 and acq.takes[0].info.reason == "unplugged"
    rec = acq.takes[0].recording
    assert rec.interrupted and rec.n_samples == 150 and not np.isnan(rec.flow_l_s).any()
    assert not device.plugged and spiro.state is SessionState.INTERRUPTED


def test_replug_under_new_address_is_refound_by_serial() -> None:
    device = virtual_turbine(TurbineSettings(), speed=SPEED)
    other = virtual_turbine(TurbineSettings(serial_number="OTHER-0002"), speed=SPEED)
    backend = VirtualUsbBackend([other, device])
    device.unplug()
    device.address = 9  # re-enumerated
    device.plug()
    transport = UsbTransport(VID, PID, serial_number="SIM-TURB-0001", backend=backend)
    transport.open()
    assert transport.identity_strings()[2] == "SIM-TURB-0001"
    transport.close()


def test_unreachable_and_malformed() -> None:
    spiro, _ = _session(VirtualUsbDevice(VID, PID, lambda: TurbineDeviceModel(TurbineSettings()), plugged=False))
    with pytest.raises(DeviceNotFoundError, match="VID/PID"):
        spiro.record(1.0)

    class BadRate(TurbineDeviceModel):
        def control_in(self, request: int, value: int, index: int, length: int) -> bytes | None:
            raw = bytearray(super().control_in(request, value, index, length) or b"")
            raw[1:3] = (5000).to_bytes(2, "little")
            return bytes(raw)

    spiro, _ = _session(VirtualUsbDevice(VID, PID, lambda: BadRate(TurbineSettings())))
    with pytest.raises(ProtocolError) as info:
        spiro.record(1.0)
    assert info.value.field == "sampling rate" and "Turbine spirometer at usb://1209:7b10" in str(info.value)


def _blows(slow_host_s: float) -> list[str]:
    """Two scripted blows, each ended at the end of the forced expiration, on a fresh simulated turbine; the host
    sleeps ``slow_host_s`` whenever it checks for the end (a loaded machine): the device streams on meanwhile."""
    import time

    from asalee_devices.signal.spirometry.live import end_of_forced_expiration
    from asalee_devices.workflow.recording_store import recording_digest

    def until(flow: np.ndarray, fs_hz: float) -> bool:
        time.sleep(slow_host_s)
        return end_of_forced_expiration(flow, fs_hz)

    settings = TurbineSettings(script="ok,ok", fvc_l=3.3, pef_l_s=6.8)
    spiro, _ = _session(virtual_turbine(settings, speed=50.0))
    takes = [spiro.record(15.0, until=until).complete for _ in range(2)]
    return [recording_digest(t.recording) for t in takes if t is not None]


def test_a_blow_is_the_same_however_late_the_host_reads() -> None:
    """Frames the device sent before this blow's START (the end of the previous blow, still queued on the IN
    endpoint because the host fell behind) are not this blow's samples: they are flushed before START. Without
    that, the second blow began with the tail of the first (and the demo's examination id changed under load)."""
    prompt, late = _blows(0.0), _blows(0.12)  # 0.12 s at 50x = 6 s of frames per check: more than one read holds
    assert len(prompt) == len(late) == 2
    assert late == prompt
