"""ECG12 driver + Electrocardiograph session against the ECG12 simulator, through every endpoint."""

from __future__ import annotations

import socket
from dataclasses import replace

import numpy as np
import pytest

from asalee_devices.devices.electrocardiograph import Electrocardiograph
from asalee_devices.devices.session import LiveBlock, SessionOptions, SessionState
from asalee_devices.drivers.protocols.ecg12 import codec
from asalee_devices.errors import AsaleeError, DeviceNotFoundError, ProtocolError
from asalee_devices.signal.ecg.recording import einthoven_residual_uv
from asalee_devices.simulators.ecg12 import Ecg12DeviceModel, Ecg12Settings, quantise
from asalee_devices.simulators.faults import FaultPlan
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg

from .harness import ENDPOINTS, link

#: generous quiet time so a loaded CI machine never looks like a stalled device; stall tests use 0.4 s
OPTS = SessionOptions(quiet_time_s=2.0, connect_attempts=3, reconnects=1, backoff_s=0.05, seed=1)


def _session(ln: object, rate_hz: int | None = None, options: SessionOptions = OPTS) -> Electrocardiograph:
    return Electrocardiograph(ln.open_transport, rate_hz=rate_hz, options=options)  # type: ignore[attr-defined]


@pytest.fixture(params=ENDPOINTS)
def endpoint(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("rate", [500, 1000])
def test_round_trip_sample_for_sample(endpoint: str, rate: int) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=7, heart_rate_bpm=72)
    with link(endpoint, "ecg12", lambda: Ecg12DeviceModel(settings)) as ln:
        ecg = _session(ln, rate_hz=rate)
        blocks: list[LiveBlock] = []
        ecg.subscribe(blocks.append)
        acq = ecg.record(1.5)
    take = acq.complete
    assert take is not None and len(acq.takes) == 1
    rec = take.recording
    assert rec.fs_hz == rate and rec.n_samples == int(1.5 * rate)
    assert take.identity.serial_number == "SIM-ECG12-0001" and take.identity.model == "ECG12-SIM"
    assert take.identity.source == "ecg12"
    assert rec.gaps == () and not rec.interrupted
    # the generator's signal, as generated (before quantisation) and as quantised by the device
    truth = twelve_lead_ecg(duration_s=10.0, fs_hz=rate, heart_rate_bpm=72, seed=7)
    counts, _ = quantise(truth, settings.resolution_pv)
    res = settings.resolution_pv / 1e6
    assert rec.resolution_uv == pytest.approx(res)
    worst = 0.0
    for k, name in enumerate(codec.CHANNELS):
        got = rec.lead(name)
        np.testing.assert_array_equal(np.rint(got / res).astype(np.int64), counts[: rec.n_samples, k])
        worst = max(worst, float(np.max(np.abs(got - truth.lead(name)[: rec.n_samples]))))
    assert worst <= res / 2 + 1e-9
    assert set(rec.leads) == set(truth.leads) and {"III", "aVR", "aVL", "aVF"} <= rec.derived_leads
    resid = einthoven_residual_uv(rec)
    assert resid is not None and resid < 1e-6
    print(f"\n[{endpoint} {rate} Hz] max |driver - generator| = {worst:.4f} µV (LSB {res:.4f} µV)")
    # live blocks: 20-100 ms each, and together they are the recording
    sizes = [b.samples.shape[1] for b in blocks]
    assert sum(sizes) == rec.n_samples
    assert all(0.02 * rate <= s <= 0.1 * rate for s in sizes[:-1])
    live = np.concatenate([b.samples for b in blocks], axis=1)
    np.testing.assert_array_equal(live, np.vstack([rec.lead(n) for n in codec.CHANNELS]))
    assert ecg.history[-1] is SessionState.DONE


def test_corrupted_bytes_lose_only_affected_frames(endpoint: str) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=2)
    faults = FaultPlan(corrupt_rate=0.01, seed=11)
    with link(endpoint, "ecg12", lambda: Ecg12DeviceModel(settings), faults) as ln:
        ecg = _session(ln)
        acq = ecg.record(2.0)
        model = ln.models[0]
        hits = np.asarray(ln.injector.corrupted_offsets)
    assert isinstance(model, Ecg12DeviceModel)
    take = acq.complete
    assert take is not None
    rec = take.recording
    offsets = np.asarray([o for o, _ in model.frame_offsets])
    seqs = np.asarray([s for _, s in model.frame_offsets])
    frame_of_hit = np.searchsorted(offsets, hits, side="right") - 1
    inside = (frame_of_hit >= 0) & (hits < offsets[frame_of_hit] + codec.DATA_FRAME_LEN)
    affected = set(seqs[frame_of_hit[inside]].tolist())
    affected = {s for s in affected if s < rec.n_samples}
    lost = set(np.nonzero(np.isnan(rec.lead("V1")))[0].tolist())
    print(f"\n[{endpoint}] corrupted bytes {hits.size}, frames hit {len(affected)}, frames lost {len(lost)}, "
          f"counters {take.info.counters}, gaps {len(rec.gaps)}")
    assert lost == affected and len(lost) > 0
    assert sum(b - a for a, b in rec.gaps) == len(lost)
    # a frame whose sync bytes were hit is skipped as garbage, one whose length byte was hit is rejected at once;
    # any other hit frame fails its CRC
    head_hit = set(seqs[frame_of_hit[inside & (hits - offsets[frame_of_hit] < 4)]].tolist())
    assert take.info.counters["crc_errors"] >= len(affected - head_hit)
    assert take.info.counters["bytes_discarded"] > 0
    # every other sample is intact
    counts, _ = quantise(twelve_lead_ecg(duration_s=10.0, fs_hz=500, seed=2), settings.resolution_pv)
    good = ~np.isnan(rec.lead("I"))
    np.testing.assert_array_equal(np.rint(rec.lead("I")[good] / rec.resolution_uv).astype(np.int64),
                                  counts[: rec.n_samples, 0][good])


def test_stall_beyond_quiet_time_reconnects(endpoint: str) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=3)
    faults = FaultPlan(stall_after_bytes=5_000, stall_s=1.0)
    with link(endpoint, "ecg12", lambda: Ecg12DeviceModel(settings), faults) as ln:
        ecg = _session(ln, options=replace(OPTS, quiet_time_s=0.4))
        acq = ecg.record(1.0)
        connections = len(ln.models)
    assert [t.info.status for t in acq.takes] == ["interrupted", "done"]
    first = acq.takes[0]
    assert first.info.reason == "stalled" and first.recording.interrupted
    assert 0 < first.recording.n_samples < 500
    assert acq.takes[1].recording.n_samples == 500 and not acq.takes[1].recording.interrupted
    # a pty is one serial device reopened (same device model); memory and TCP hand out a new connection
    assert connections == (1 if endpoint == "pty" else 2)
    assert ecg.history.count(SessionState.NEGOTIATING) >= 2  # the pty device may still be frozen: retried
    print(f"\n[{endpoint}] stall: take 1 kept {first.recording.n_samples} samples, reconnected, take 2 complete")


def test_unplug_mid_recording_keeps_data(endpoint: str) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=4)
    cut = 10_000
    faults = FaultPlan(unplug_after_bytes=cut)
    with link(endpoint, "ecg12", lambda: Ecg12DeviceModel(settings), faults) as ln:
        ecg = _session(ln)
        acq = ecg.record(2.0)
        model = ln.models[0]
    assert isinstance(model, Ecg12DeviceModel)
    assert len(acq.takes) == 1 and acq.complete is None
    take = acq.takes[0]
    assert take.info.status == "interrupted" and take.info.reason == "unplugged"
    rec = take.recording
    sent_whole = sum(1 for off, _ in model.frame_offsets if off + codec.DATA_FRAME_LEN <= cut)
    assert rec.interrupted and rec.n_samples == sent_whole and rec.gaps == ()
    assert not np.isnan(rec.samples_uv).any()
    assert ecg.state is SessionState.INTERRUPTED
    print(f"\n[{endpoint}] unplug after {cut} bytes: {rec.n_samples} samples kept of {sent_whole} sent")


def test_unreachable_device_raises_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ecg = Electrocardiograph.from_url(f"ecg12+socket://127.0.0.1:{port}", options=OPTS)
    with pytest.raises(DeviceNotFoundError, match="127.0.0.1"):
        ecg.record(1.0)
    with pytest.raises(DeviceNotFoundError):
        Electrocardiograph.from_url("ecg12+serial:///dev/does-not-exist-asalee", options=OPTS).record(1.0)
    assert ecg.state is SessionState.DISCONNECTED


class _BadIdentity(Ecg12DeviceModel):
    def __init__(self, mode: str) -> None:
        super().__init__(Ecg12Settings())
        self.mode = mode

    def on_host_bytes(self, data: bytes) -> None:
        if codec.encode_frame(codec.CMD_IDENTIFY) in data:
            frame = codec.encode_identity(self.identity())
            if self.mode == "type":
                frame = codec.encode_frame(0x55, frame[4:-2])
            elif self.mode == "crc":
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            elif self.mode == "rate":
                ident = self.identity()
                frame = codec.encode_identity(codec.Identity(1, 700, ident.resolution_pv, 8, "A", "B", "C", "D"))
            elif self.mode == "channels":
                frame = codec.encode_identity(codec.Identity(1, 500, 47684, 12, "A", "B", "C", "D"))
            self._reply(frame)
        else:
            super().on_host_bytes(data)


@pytest.mark.parametrize(("mode", "field"), [("type", "type byte"), ("crc", "crc16"), ("rate", "sampling rate"),
                                             ("channels", "channel count")])
def test_malformed_handshake_names_device_and_field(mode: str, field: str) -> None:
    with link("memory", "ecg12", lambda: _BadIdentity(mode)) as ln:
        with pytest.raises(ProtocolError) as info:
            _session(ln).record(1.0)
    assert info.value.field == field
    assert "ECG12 device at sim://ecg12" in str(info.value)
    print(f"\n[{mode}] {info.value}")


@pytest.mark.parametrize(("electrode", "flagged"), [
    ("V3", {"V3"}),
    ("LA", {"I", "III", "aVR", "aVL", "aVF"}),
    ("RA", {"I", "II", "III", "aVR", "aVL", "aVF"}),
])
def test_electrode_off_flags_the_right_lead(electrode: str, flagged: set[str]) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=5, electrode_off=electrode, electrode_off_from_s=0.5)
    with link("memory", "ecg12", lambda: Ecg12DeviceModel(settings)) as ln:
        rec = _session(ln).record(1.0).takes[0].recording
    assert rec.lead_off is not None
    off_leads = {rec.leads[k] for k in range(len(rec.leads)) if rec.lead_off[k].any()}
    assert off_leads == flagged
    k = rec.leads.index(next(iter(flagged)))
    assert not rec.lead_off[k, :250].any() and rec.lead_off[k, 250:].all()


def test_codec_counts_and_resyncs_on_garbage() -> None:
    dec = codec.Ecg12Decoder()
    frames = b"".join(codec.encode_data(i, codec.status_word(0, 0), [i] * 8) for i in range(10))
    stream = b"\x00\xa5" + frames[:50] + b"\xa5\x5a\x01" + frames[50:]
    got = [dec.feed(stream[i:i + 7])[1] for i in range(0, len(stream), 7)]
    seq = np.concatenate([g.seq for g in got])
    assert seq.tolist() == [0] + list(range(2, 10))
    assert dec.counters.frames_ok == 9 and dec.counters.crc_errors >= 1 and dec.counters.bytes_discarded > 0
    with pytest.raises(AsaleeError):
        Electrocardiograph.from_url("ecg12+usb://1:2")


def test_dropped_bytes_resync_and_mark_gaps(endpoint: str) -> None:
    settings = Ecg12Settings(rate_hz=500, seed=6)
    with link(endpoint, "ecg12", lambda: Ecg12DeviceModel(settings), FaultPlan(drop_rate=0.005, seed=3)) as ln:
        acq = _session(ln).record(1.0)
        model = ln.models[0]
        dropped = np.asarray(ln.injector.dropped_offsets)
    assert isinstance(model, Ecg12DeviceModel)
    take = acq.complete
    assert take is not None
    rec = take.recording
    offsets = np.asarray([o for o, _ in model.frame_offsets])
    seqs = np.asarray([s for _, s in model.frame_offsets])
    k = np.searchsorted(offsets, dropped, side="right") - 1
    inside = (k >= 0) & (dropped < offsets[k] + codec.DATA_FRAME_LEN)
    affected = {s for s in seqs[k[inside]].tolist() if s < rec.n_samples}
    lost = set(np.nonzero(np.isnan(rec.lead("V6")))[0].tolist())
    print(f"\n[{endpoint}] dropped bytes {dropped.size}: frames hit {len(affected)}, lost {len(lost)}, "
          f"resyncs {take.info.counters['resyncs']}")
    assert lost == affected and rec.gaps


def test_serial_device_refound_by_vid_pid_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from serial.tools import list_ports

    from asalee_devices.simulators.endpoints import PtySimulator

    if not hasattr(__import__("os"), "openpty"):
        pytest.skip("POSIX only")
    with PtySimulator(lambda: Ecg12DeviceModel(Ecg12Settings()), speed=10) as pty:
        ports = [SimpleNamespace(device="/dev/ttyS0", vid=None, pid=None, serial_number=None),
                 SimpleNamespace(device=pty.port, vid=0x1209, pid=0xEC12, serial_number="SIM-ECG12-0001")]
        monkeypatch.setattr(list_ports, "comports", lambda: ports)
        url = "ecg12+serial:///dev/ttyACM7?vid=0x1209&pid=0xec12&serial=SIM-ECG12-0001"  # old node name
        take = Electrocardiograph.from_url(url, options=OPTS).record(0.5).complete
        assert take is not None and take.identity.serial_number == "SIM-ECG12-0001"
        monkeypatch.setattr(list_ports, "comports", lambda: ports[:1])
        with pytest.raises(DeviceNotFoundError, match="VID/PID"):
            Electrocardiograph.from_url(url, options=OPTS).record(0.5)
