"""Live spirometry with the USB turbine: one blow recorded as a :class:`FlowRecording` (pulses linearised by the
device's own table), the same lifecycle, watchdog and reconnection as the other sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from asalee_devices.devices.assembly import LivePublisher, ReadPacer, SequencedTake
from asalee_devices.devices.session import (
    DeviceSession,
    SessionState,
    TakeInfo,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.turbine import codec
from asalee_devices.drivers.protocols.turbine.driver import TurbineDriver, TurbineInfo
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceDisconnectedError, DeviceError, DeviceTimeoutError, InputError
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording


@dataclass(frozen=True)
class LiveFlowTake:
    recording: FlowRecording
    identity: DeviceIdentity
    info: TakeInfo


@dataclass(frozen=True)
class FlowAcquisition:
    takes: tuple[LiveFlowTake, ...]

    @property
    def complete(self) -> LiveFlowTake | None:
        return next((t for t in self.takes if t.info.status == "done"), None)


class TurbineSpirometer(DeviceSession[tuple[TurbineDriver, TurbineInfo]]):
    DRIVER = "turbine"

    def _negotiate(self, transport: Transport) -> tuple[TurbineDriver, TurbineInfo]:
        driver = TurbineDriver(transport, reply_timeout_s=min(1.0, self.options.quiet_time_s))
        return driver, driver.negotiate()

    def record(self, duration_s: float, *, until: Callable[[NDArray[np.float64], float], bool] | None = None
               ) -> FlowAcquisition:
        """Record one blow of at most ``duration_s``; with ``until`` (called with the flow received so far, L/s, and the rate, Hz),
        the take ends early, complete, as soon as it returns True (e.g. at the end of the forced expiration)."""
        if not 0.5 <= duration_s <= 60:
            raise InputError("Blow recording duration out of range", field="duration_s", value=duration_s,
                             expected="0.5-60 s")
        life = self._life
        transport, (driver, info) = life.connect(self._negotiate, self.options.connect_attempts)
        self.identity = info.identity
        takes: list[LiveFlowTake] = []
        reconnects = self.options.reconnects
        while True:
            take = self._take(driver, info, duration_s, len(takes), until)
            takes.append(take)
            transport.close()
            if take.info.status == "done":
                life.set_state(SessionState.DONE)
                break
            life.set_state(SessionState.INTERRUPTED)
            if reconnects <= 0:
                break
            reconnects -= 1
            try:
                transport, (driver, info) = life.connect(self._negotiate, self.options.connect_attempts)
            except DeviceError:
                life.set_state(SessionState.INTERRUPTED)
                break
            if info.identity != self.identity:
                transport.close()
                life.set_state(SessionState.INTERRUPTED)
                break
        return FlowAcquisition(tuple(takes))

    def _take(self, driver: TurbineDriver, info: TurbineInfo, duration_s: float, take_no: int,
              until: Callable[[NDArray[np.float64], float], bool] | None = None) -> LiveFlowTake:
        opts = self.options
        fs = info.fs_hz
        take = SequencedTake(int(round(duration_s * fs)), 1)
        first_ts = [0]
        live = LivePublisher(self._life.publish, take_no, fs, ("flow",), opts.block_s, lambda: first_ts[0] / 1e6)
        pacer = ReadPacer(opts.block_s / 2)
        host_start = datetime.now(UTC)
        reason = ""
        ended_early = False
        checked_n, end_n = 0, 0
        try:
            driver.start()
        except DeviceError as exc:
            reason = "unplugged" if isinstance(exc, DeviceDisconnectedError) else "no start acknowledgement"
        self._life.set_state(SessionState.ACQUIRING)
        last_rx = time.monotonic()
        while not reason:
            pacer.wait()
            try:
                fr = driver.poll(opts.poll_s)
            except DeviceDisconnectedError:
                reason = "unplugged"
                break
            except DeviceTimeoutError:
                fr = codec.TurbineFrames(*(np.zeros(0, dtype=np.int64),) * 5)
            now = time.monotonic()
            if fr.n == 0:
                if now - last_rx > opts.quiet_time_s:
                    reason = "stalled"
                    break
            else:
                last_rx = now
                live.received(now)
                if take.first_seq is None:
                    first_ts[0] = int(fr.timestamp_us[0])
                flow = codec.pulses_to_flow(fr.pulses, fr.direction, info.identify)
                take.place(fr.seq, flow[:, None])
            live.offer(take, now)
            if take.complete:
                break
            if until is not None and fr.n:
                n_now = take.n_received
                if until(take.values[:n_now, 0], fs):
                    ended_early = True
                    end_n = _first_true(lambda k: until(take.values[:k, 0], fs), checked_n, n_now)
                    break
                checked_n = n_now
        live.offer(take, time.monotonic(), final=True)
        done = not reason
        if done:
            try:
                driver.stop()
            except DeviceError:
                pass
        n = take.n_target if done and not ended_early else (end_n if ended_early and done else take.n_received)
        self.counters = driver.decoder.counters.as_dict()
        rec = FlowRecording(take.values[:n, 0].copy(), fs, btps=BtpsCorrection(source="none"),
                            interrupted=not done, gaps=take.gaps(n))
        return LiveFlowTake(rec, info.identity,
                            TakeInfo("done" if done else "interrupted", reason, host_start, datetime.now(UTC),
                                     first_ts[0] / 1e6, dict(self.counters)))


def _first_true(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest k in (lo, hi] with pred(k), pred(hi) being True (bisection; pred monotone): the early end of a
    take does not depend on how the samples happened to be grouped in transport reads."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi
