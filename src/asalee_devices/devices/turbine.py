"""Live spirometry with the USB turbine: one blow recorded as a :class:`FlowRecording` (pulses linearised by the
device's own table), the same lifecycle, watchdog and reconnection as the other sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from asalee_devices.devices.assembly import LivePublisher, SequencedTake, stop_quietly, stream_take
from asalee_devices.devices.session import Acquisition, DeviceSession, LinkEnd, Take, TakeInfo, ended
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.turbine import codec
from asalee_devices.drivers.protocols.turbine.driver import TurbineDriver, TurbineInfo
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceTimeoutError, InputError
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording

LiveFlowTake = Take[FlowRecording]
FlowAcquisition = Acquisition[FlowRecording]


L = TypeVar("L")
#: ends a live take early: called with the flow received so far (L/s) and the rate (Hz)
Until = Callable[[NDArray[np.float64], float], bool]


class LiveFlowSession(DeviceSession[L]):
    """What live spirometry needs from any spirometer that streams flow: ``record(duration_s, until=...)`` giving
    one :class:`LiveFlowTake` per connection. A driver's session derives from it and writes the negotiation and
    the take."""

    def _take(self, link: L, duration_s: float, take_no: int, until: Until | None) -> LiveFlowTake:
        """One blow of at most ``duration_s`` on a negotiated link (ended early, complete, when ``until`` says)."""
        raise NotImplementedError

    def record(self, duration_s: float, *, until: Until | None = None) -> FlowAcquisition:
        """Record one blow of at most ``duration_s``; with ``until`` (called with the flow received so far, L/s, and
        the rate, Hz), the take ends early, complete, as soon as it returns True (e.g. at the end of the forced
        expiration)."""
        if not 0.5 <= duration_s <= 60:
            raise InputError("Blow recording duration out of range", field="duration_s", value=duration_s,
                             expected="0.5-60 s")
        takes: list[LiveFlowTake] = []

        def work(link: L) -> LinkEnd:
            takes.append(self._take(link, duration_s, len(takes), until))
            return takes[-1].info.end

        self._acquire(work)
        return FlowAcquisition(tuple(takes))


class TurbineSpirometer(LiveFlowSession[tuple[TurbineDriver, TurbineInfo]]):
    def _negotiate(self, transport: Transport) -> tuple[TurbineDriver, TurbineInfo]:
        driver = TurbineDriver(transport, reply_timeout_s=min(1.0, self.options.quiet_time_s))
        return driver, driver.negotiate()

    def _identity_of(self, link: tuple[TurbineDriver, TurbineInfo]) -> DeviceIdentity:
        return link[1].identity

    def _take(self, link: tuple[TurbineDriver, TurbineInfo], duration_s: float, take_no: int,
              until: Until | None) -> LiveFlowTake:
        driver, info = link
        opts = self.options
        fs = info.fs_hz
        take = SequencedTake(int(round(duration_s * fs)), 1)
        first_ts = [0]
        live = LivePublisher(self._life.publish, take_no, fs, ("flow",), opts.block_s, lambda: first_ts[0] / 1e6)
        host_start = datetime.now(UTC)
        early = [0, 0]  # samples checked by ``until``; where the take ended early (0: not ended early)

        def poll() -> bool:
            try:
                fr = driver.poll(opts.poll_s)
            except DeviceTimeoutError:
                return False
            if fr.n == 0:
                return False
            live.received(time.monotonic())
            if take.first_seq is None:
                first_ts[0] = int(fr.timestamp_us[0])
            take.place(fr.seq, codec.pulses_to_flow(fr.pulses, fr.direction, info.identify)[:, None])
            return True

        def tick(now: float, arrived: bool) -> bool:
            live.offer(take, now)
            if take.complete:
                return True
            if until is not None and arrived:
                n_now = take.n_received
                if until(take.values[:n_now, 0], fs):
                    early[1] = _first_true(lambda k: until(take.values[:k, 0], fs), early[0], n_now)
                    return True
                early[0] = n_now
            return False

        reason = stream_take(opts, self._life.set_state, start=driver.start, poll=poll, tick=tick)
        live.offer(take, time.monotonic(), final=True)
        status = ended(reason)
        if status == "done":
            stop_quietly(driver.stop)
        n = (early[1] or take.n_target) if status == "done" else take.n_received
        self.counters = driver.decoder.counters.as_dict()
        rec = FlowRecording(take.values[:n, 0].copy(), fs, btps=BtpsCorrection(source="none"),
                            interrupted=status != "done", gaps=take.gaps(n))
        return LiveFlowTake(rec, info.identity, TakeInfo(status, reason, host_start, datetime.now(UTC),
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
