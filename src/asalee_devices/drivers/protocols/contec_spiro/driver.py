"""Contec spirometer host side: the download handshake (clock sync, device info, record count), record summaries
and curve validation. The record loop with its watchdog lives in :mod:`asalee_devices.devices.spirometer`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.contec_spiro import codec
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceTimeoutError, ProtocolError

NAME = "contec-spiro"
MODEL_CODES = {1: "SP70B", 2: "SP80B"}
MAX_RECORDS = 1000
MAX_CURVE_FRAMES = 6000  # 60 s at 100 Hz: longer than any forced manoeuvre


@dataclass(frozen=True)
class ContecInfo:
    identity: DeviceIdentity
    record_count: int


@dataclass(frozen=True)
class RecordSummary:
    number: int
    test_type: int
    taken_at: datetime  # device clock (no time zone: the device's local time as set by our clock sync)
    fvc_l: float
    fev1_l: float
    pef_l_s: float


class ContecDriver:
    name = NAME

    def __init__(self, transport: Transport, *, reply_timeout_s: float = 1.0,
                 clock: type[datetime] = datetime) -> None:
        self.transport = transport
        self.reply_timeout_s = reply_timeout_s
        self.decoder = codec.ContecDecoder()
        self._queue: list[codec.Message | codec.CurveFrames] = []
        self._clock = clock

    def _error(self, message: str, field: str, value: object, expected: str) -> ProtocolError:
        return ProtocolError(f"Contec spirometer at {self.transport.address}: {message}", field=field, value=value,
                             expected=expected)

    def send(self, frame_type: int, *payload: int) -> None:
        self.transport.write(codec.host_frame(frame_type, *payload))

    def poll(self, timeout_s: float) -> list[codec.Message | codec.CurveFrames]:
        if self._queue:
            out, self._queue = self._queue, []
            return out
        return self.decoder.feed(self.transport.read(65536, timeout_s))

    def expect(self, frame_type: int, timeout_s: float | None = None) -> codec.Message:
        """The next message, which must be of ``frame_type``."""
        deadline = time.monotonic() + (timeout_s or self.reply_timeout_s)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeoutError(f"Contec spirometer at {self.transport.address} did not answer",
                                         field="reply type", value=hex(frame_type),
                                         expected=f"a reply within {self.reply_timeout_s:g} s")
            items = self.poll(min(left, 0.05))
            if not items:
                continue
            first, rest = items[0], items[1:]
            self._queue = rest + self._queue
            if isinstance(first, codec.CurveFrames) or first.frame_type != frame_type:
                got = "curve data" if isinstance(first, codec.CurveFrames) else hex(first.frame_type)
                raise self._error("unexpected message type", "type byte", got, hex(frame_type))
            return first

    def negotiate(self) -> ContecInfo:
        """Start the download transaction up to the record count; returns identity and number of records."""
        self.decoder.reset()
        self._queue.clear()
        # drop stale bytes (a device that froze may flush old output when it comes back)
        drain_until = time.monotonic() + 0.5
        while self.transport.read(65536, 0.03) and time.monotonic() < drain_until:
            pass
        self.send(codec.H_START)
        self.expect(codec.CLOCK_REQUEST)
        now = self._clock.now()
        ms = now.microsecond // 1000
        self.send(codec.H_CLOCK, now.year - 2000, now.month, now.day, now.hour, now.minute, now.second,
                  *codec.split14(ms))
        self.expect(codec.STATUS)
        self.send(codec.H_STATUS_ACK)
        info = self.expect(codec.DEVICE_INFO).payload
        model = MODEL_CODES.get(info[0])
        if model is None:
            raise self._error("unknown model code", "model code", info[0], "one of " + str(sorted(MODEL_CODES)))
        serial = sum(b << (7 * k) for k, b in enumerate(info[3:7]))
        identity = DeviceIdentity("Contec", model, str(serial), f"{info[1]}.{info[2]}", NAME)
        self.send(codec.H_INFO_ACK)
        self.expect(codec.PREDICTED)
        self.send(codec.H_PREDICTED_ACK)
        count_msg = self.expect(codec.RECORD_COUNT)
        count = codec.u14(count_msg.payload[0], count_msg.payload[1])
        if count > MAX_RECORDS:
            raise self._error("impossible record count", "record count", count, f"<= {MAX_RECORDS}")
        return ContecInfo(identity, count)

    def parse_summary(self, payload: bytes) -> RecordSummary:
        p = payload
        number = codec.u14(p[2], p[3])
        try:
            taken = datetime(2000 + p[4], p[5], p[6], p[7], p[8], p[9])
        except ValueError:
            raise self._error("impossible test date in record summary", "test date",
                              f"{p[4]:02d}-{p[5]:02d}-{p[6]:02d} {p[7]:02d}:{p[8]:02d}:{p[9]:02d}",
                              "a valid date and time") from None
        if p[1] > 4:
            raise self._error("unknown test type", "test type", p[1], "0-4")

        def pair(k: int) -> float:
            return codec.u14(p[16 + 2 * k], p[17 + 2 * k]) / 100.0

        return RecordSummary(number, p[1], taken, pair(0), pair(2), pair(6))


def plausible_frames(frames_index: NDArray[np.int64], time_100us: NDArray[np.int64], flow_ml_s: NDArray[np.int64],
                     volume_ml: NDArray[np.int64], seven_bit_ok: NDArray[np.bool_]) -> tuple[NDArray[np.bool_], int]:
    """Which curve frames can be trusted (the protocol has no checksum): 7-bit rule, time on the grid
    ``t0 + index x step`` (step = the most common increment), volume increment consistent with the flow
    (trapezoid, +/- 2 mL) with at least one neighbour. Returns (valid mask, time step in 0.1 ms)."""
    n = time_100us.size
    valid = seven_bit_ok.copy()
    if n < 2:
        return valid, 0
    d = np.diff(time_100us[valid]) // np.maximum(np.diff(frames_index[valid]), 1)
    if d.size == 0:
        return np.zeros(n, dtype=bool), 0
    vals, counts = np.unique(d[d > 0], return_counts=True)
    if vals.size == 0:
        return np.zeros(n, dtype=bool), 0
    step = int(vals[np.argmax(counts)])
    t0s, c0 = np.unique((time_100us - frames_index * step)[valid], return_counts=True)
    t0 = int(t0s[np.argmax(c0)])
    valid &= time_100us == t0 + frames_index * step
    valid &= np.abs(flow_ml_s) <= 20_000
    dt_s = step / 10_000.0
    adjacent = np.diff(frames_index) == 1
    pair_ok = adjacent & (np.abs(np.diff(volume_ml) - (flow_ml_s[1:] + flow_ml_s[:-1]) / 2.0 * dt_s) <= 2.0)
    pair_ok &= valid[1:] & valid[:-1]
    left = np.concatenate(([False], pair_ok))
    right = np.concatenate((pair_ok, [False]))
    valid &= left | right
    return valid, step
