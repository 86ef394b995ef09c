"""Device side of the Contec spirometer download protocol: a device holding a few forced expirations (from
:func:`forced_expiration`) that answers the download transaction and streams curve frames at a BLE-like pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.contec_spiro import codec
from asalee_devices.signal.spirometry.indices import manoeuvre_indices
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.simulators.generators.spirometry import SimPatient, simulated_blow

HOST_PAYLOAD_LEN = {codec.H_START: 0, codec.H_CLOCK: 8, codec.H_STATUS_ACK: 0, codec.H_INFO_ACK: 0,
                    codec.H_PREDICTED_ACK: 0, codec.H_RECORD: 2, codec.H_SUMMARY_ACK: 1, codec.H_DELETE_ALL: 0}
MODEL_CODES = {1: "SP70B", 2: "SP80B"}


@dataclass(frozen=True)
class ContecSettings:
    profile: str = "normal"  # generators.spirometry.PATIENT_PROFILES
    blows: int = 3
    sex: str = "female"
    age_years: float = 47.0
    height_cm: float = 165.0
    patient_seed: int = 0
    #: a fixed blow instead of the patient's (both > 0): blow i has FVC and PEF lowered by i %
    fvc_l: float = 0.0
    pef_l_s: float = 0.0
    fault: str = ""
    rate_hz: int = 100
    seed: int = 0
    serial_number: int = 1234567
    frames_per_s: float = 2000.0  # curve download pace (BLE notifications)


@dataclass(frozen=True)
class StoredRecord:
    number: int
    taken_at: datetime  # device clock
    time_100us: NDArray[np.int64]
    flow_ml_s: NDArray[np.int64]
    volume_ml: NDArray[np.int64]
    fvc_l: float
    fev1_l: float
    pef_l_s: float


def make_records(s: ContecSettings) -> list[StoredRecord]:
    """The blows the simulated device holds: flow quantised to 1 mL/s, volume = the device's running integral."""
    out = []
    patient = SimPatient(s.sex, s.age_years, s.height_cm, s.profile, s.patient_seed)
    for i in range(s.blows):
        rec = simulated_blow(profile=s.profile, fvc_l=s.fvc_l * (1.0 - 0.01 * i), pef_l_s=s.pef_l_s * (1.0 - 0.01 * i),
                             patient=patient, seed=s.seed + i, fs_hz=float(s.rate_hz), fault=s.fault)
        flow = np.rint(rec.flow_l_s * 1000.0).astype(np.int64)
        vol = np.rint(np.concatenate(([0.0], np.cumsum((flow[1:] + flow[:-1]) / 2.0) / s.rate_hz))).astype(np.int64)
        t = np.arange(flow.size, dtype=np.int64) * (10_000 // s.rate_hz)
        ind = manoeuvre_indices(FlowRecording(flow / 1000.0, float(s.rate_hz)))
        out.append(StoredRecord(i + 1, datetime(2026, 3, 2, 9, 15 + i, 4 * i), t, flow, vol, ind.fvc_l,
                                ind.fev1_l or 0.0, ind.pef_l_s))
    return out


def summary_payload(r: StoredRecord) -> bytes:
    p = bytearray(43)
    p[1] = 1  # FVC test
    p[2], p[3] = codec.split14(r.number)
    d = r.taken_at
    p[4:10] = bytes((d.year - 2000, d.month, d.day, d.hour, d.minute, d.second))
    p[10], p[11] = 1, 50  # test subject: sex, age (synthetic)
    p[12], p[13] = codec.split14(170)
    p[14], p[15] = 1, 0
    values = [r.fvc_l, 0.0, r.fev1_l, 100.0 * r.fev1_l / r.fvc_l, 0.0, 0.0, r.pef_l_s, 0.0, 0.0, 0.0, 0.0]
    for k, v in enumerate(values):
        p[16 + 2 * k], p[17 + 2 * k] = codec.split14(int(round(v * 100)))
    return bytes(p)


class ContecSpirometerModel:
    """One connection's device state for the download transaction."""

    def __init__(self, settings: ContecSettings, records: list[StoredRecord] | None = None) -> None:
        self.settings = settings
        self.records = records if records is not None else make_records(settings)
        self._in = bytearray()
        self._out = bytearray()
        self._curve: bytes = b""
        self._curve_pos = 0
        self._curve_t0: float | None = None
        self._now = 0.0
        self._current = 0
        self.host_clock: tuple[int, ...] | None = None
        self.deleted = False
        self.bad_host_checksums = 0
        self.curve_offsets: list[tuple[int, int, int]] = []  # (output offset, record number, frame index)
        self._emitted = 0

    # -- host -> device
    def on_host_bytes(self, data: bytes) -> None:
        self._in += data
        while self._in:
            t = self._in[0]
            if t not in HOST_PAYLOAD_LEN:
                del self._in[0]
                continue
            n = HOST_PAYLOAD_LEN[t] + 2
            if len(self._in) < n:
                return
            frame = bytes(self._in[:n])
            del self._in[:n]
            if codec.checksum(frame[:-1]) != frame[-1]:
                self.bad_host_checksums += 1
                continue
            self._handle(t, frame[1:-1])

    def _send(self, frame_type: int, payload: bytes) -> None:
        self._out += codec.device_frame(frame_type, payload)

    def _handle(self, t: int, p: bytes) -> None:
        if t == codec.H_START:
            self._current = 0
            self._curve = b""
            self._send(codec.CLOCK_REQUEST, b"\x01")
        elif t == codec.H_CLOCK:
            self.host_clock = tuple(p)
            self._send(codec.STATUS, b"\x00\x00")
        elif t == codec.H_STATUS_ACK:
            s = self.settings.serial_number
            serial = bytes(((s >> (7 * k)) & 0x7F) for k in range(4))
            self._send(codec.DEVICE_INFO, bytes((1, 2, 3)) + serial)
        elif t == codec.H_INFO_ACK:
            self._send(codec.PREDICTED, bytes(22))
        elif t == codec.H_PREDICTED_ACK:
            lo, hi = codec.split14(0 if self.deleted else len(self.records))
            self._send(codec.RECORD_COUNT, bytes((lo, hi)) + bytes(7))
        elif t == codec.H_RECORD:
            arg = (p[0], p[1])
            if arg == codec.FIRST_RECORD:
                self._current = 0
                self._summary()
            elif arg == codec.NEXT_RECORD:
                self._current += 1
                self._summary()
            elif arg == codec.DONE_DELETE:
                self.deleted = True
                self._send(codec.DELETE_RESULT, b"\x00\x00")
        elif t == codec.H_SUMMARY_ACK:
            self._start_curve()
        elif t == codec.H_DELETE_ALL:
            self.deleted = True
            self._send(codec.DELETE_RESULT, b"\x00\x00")

    def _summary(self) -> None:
        if self.deleted or self._current >= len(self.records):
            return
        self._send(codec.RECORD_SUMMARY, summary_payload(self.records[self._current]))

    def _start_curve(self) -> None:
        r = self.records[self._current]
        lo, hi = codec.split14(r.number)
        nlo, nhi = codec.split14(r.flow_ml_s.size)
        self._send(codec.CURVE, bytes((lo, hi, nlo, nhi)))
        self._curve = codec.encode_curve_frames(r.time_100us, r.flow_ml_s, r.volume_ml)
        self._curve_pos = 0
        self._curve_t0 = self._now
        base = self._emitted + len(self._out)
        self.curve_offsets.extend((base + 8 * k, r.number, k) for k in range(r.flow_ml_s.size))

    # -- device -> host
    def output(self, elapsed_s: float) -> bytes:
        self._now = elapsed_s
        if self._curve and self._curve_t0 is not None:
            due = min(len(self._curve) // 8, int((elapsed_s - self._curve_t0) * self.settings.frames_per_s) + 1)
            if due * 8 > self._curve_pos:
                self._out += self._curve[self._curve_pos:due * 8]
                self._curve_pos = due * 8
            if self._curve_pos >= len(self._curve):
                self._curve, self._curve_t0 = b"", None
        out = bytes(self._out)
        self._emitted += len(out)
        self._out.clear()
        return out
