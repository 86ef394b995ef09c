"""Live spirometry with the USB turbine: one blow recorded as a :class:`FlowRecording` (pulses linearised by the
device's own table), the same lifecycle, watchdog and reconnection as the other sessions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from asalee_devices.devices.electrocardiograph import gaps_from_mask
from asalee_devices.devices.session import (
    Lifecycle,
    LiveBlock,
    SessionOptions,
    SessionState,
    Subscriber,
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


class TurbineSpirometer:
    def __init__(self, open_transport: Callable[[], Transport], *, options: SessionOptions | None = None) -> None:
        self.options = options or SessionOptions()
        self._life: Lifecycle[tuple[TurbineDriver, TurbineInfo]] = Lifecycle(open_transport, self.options)
        self.identity: DeviceIdentity | None = None
        self.counters: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> TurbineSpirometer:
        from asalee_devices.drivers.registry import transport_factory

        return cls(transport_factory(url, expect_driver="turbine"), **kwargs)  # type: ignore[arg-type]

    @property
    def state(self) -> SessionState:
        return self._life.state

    @property
    def history(self) -> tuple[SessionState, ...]:
        return tuple(self._life.history)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._life.subscribers.append(subscriber)

    def _negotiate(self, transport: Transport) -> tuple[TurbineDriver, TurbineInfo]:
        driver = TurbineDriver(transport, reply_timeout_s=min(1.0, self.options.quiet_time_s))
        return driver, driver.negotiate()

    def record(self, duration_s: float) -> FlowAcquisition:
        if not 0.5 <= duration_s <= 60:
            raise InputError("Blow recording duration out of range", field="duration_s", value=duration_s,
                             expected="0.5-60 s")
        life = self._life
        transport, (driver, info) = life.connect(self._negotiate, self.options.connect_attempts)
        self.identity = info.identity
        takes: list[LiveFlowTake] = []
        reconnects = self.options.reconnects
        while True:
            take = self._take(driver, info, duration_s, len(takes))
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

    def _take(self, driver: TurbineDriver, info: TurbineInfo, duration_s: float, take_no: int) -> LiveFlowTake:
        opts = self.options
        fs = info.fs_hz
        n_target = int(round(duration_s * fs))
        flow = np.full(n_target, np.nan)
        filled = np.zeros(n_target, dtype=bool)
        block_n = max(1, int(round(opts.block_s * fs)))
        host_start = datetime.now(UTC)
        reason = ""
        first_seq: int | None = None
        first_ts = 0
        prev_seq, last_idx, published = 0, -1, 0
        pending_rx: float | None = None
        try:
            driver.start()
        except DeviceError as exc:
            reason = "unplugged" if isinstance(exc, DeviceDisconnectedError) else "no start acknowledgement"
        self._life.set_state(SessionState.ACQUIRING)
        last_rx = time.monotonic()
        next_read = 0.0
        while not reason:
            # coalesce reads: a few per live block is enough, and each read costs a fixed overhead
            pause = next_read - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_read = time.monotonic() + opts.block_s / 2
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
                pending_rx = now if pending_rx is None else pending_rx
                if first_seq is None:
                    first_seq, first_ts = int(fr.seq[0]), int(fr.timestamp_us[0])
                    prev_seq = (first_seq - 1) & 0xFFFF
                steps = np.diff(np.concatenate(([prev_seq], fr.seq))) % 0x10000
                idx_all = last_idx + np.cumsum(steps)
                keep = (steps > 0) & (idx_all < n_target)
                idx = idx_all[keep]
                flow[idx] = codec.pulses_to_flow(fr.pulses[keep], fr.direction[keep], info.identify)
                filled[idx] = True
                last_idx = min(int(idx_all[-1]), n_target - 1)
                prev_seq = int(fr.seq[-1])
            if last_idx + 1 - published >= block_n or (last_idx + 1 >= n_target and last_idx + 1 > published):
                assert pending_rx is not None
                self._life.publish(LiveBlock(take_no, published, fs, ("flow",), flow[None, published:last_idx + 1],
                                             first_ts / 1e6 + published / fs, pending_rx, time.monotonic()))
                published, pending_rx = last_idx + 1, None
            if last_idx + 1 >= n_target:
                break
        done = not reason
        if done:
            try:
                driver.stop()
            except DeviceError:
                pass
        n = n_target if done else last_idx + 1
        self.counters = driver.decoder.counters.as_dict()
        rec = FlowRecording(flow[:n].copy(), fs, btps=BtpsCorrection(source="none"), interrupted=not done,
                            gaps=gaps_from_mask(filled[:n]))
        return LiveFlowTake(rec, info.identity,
                            TakeInfo("done" if done else "interrupted", reason, host_start, datetime.now(UTC),
                                     first_ts / 1e6, dict(self.counters)))
