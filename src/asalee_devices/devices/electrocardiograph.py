"""The 12-lead ECG session: connect, negotiate, acquire takes with a quiet-time watchdog and reconnection, and
hand back :class:`EcgRecording` takes (interrupted ones kept and flagged, never merged)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from asalee_devices.devices.session import (
    Lifecycle,
    LiveBlock,
    SessionOptions,
    SessionState,
    Subscriber,
    TakeInfo,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.ecg12 import codec
from asalee_devices.drivers.protocols.ecg12.driver import Ecg12Driver, Ecg12Info
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceDisconnectedError, DeviceError, InputError
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set


@dataclass(frozen=True)
class EcgTake:
    recording: EcgRecording
    identity: DeviceIdentity
    info: TakeInfo


@dataclass(frozen=True)
class EcgAcquisition:
    takes: tuple[EcgTake, ...]

    @property
    def complete(self) -> EcgTake | None:
        """The first take that ran to its planned end, if any."""
        return next((t for t in self.takes if t.info.status == "done"), None)


def gaps_from_mask(filled: NDArray[np.bool_]) -> tuple[tuple[int, int], ...]:
    """Runs of False as (start, stop) sample ranges."""
    missing = np.concatenate(([False], ~filled, [False])).astype(np.int8)
    edges = np.diff(missing)
    return tuple(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


class Electrocardiograph:
    """A 12-lead ECG device session (ECG12 protocol). Build it with :meth:`from_url` or a transport factory."""

    def __init__(self, open_transport: Callable[[], Transport], *, rate_hz: int | None = None,
                 options: SessionOptions | None = None) -> None:
        if rate_hz is not None and rate_hz not in codec.RATES_HZ:
            raise InputError("ECG sampling rate not offered by ECG12 modules", field="rate_hz", value=rate_hz,
                             expected=" or ".join(map(str, codec.RATES_HZ)) + " Hz")
        self.options = options or SessionOptions()
        self._life: Lifecycle[tuple[Ecg12Driver, Ecg12Info]] = Lifecycle(open_transport, self.options)
        self.rate_hz = rate_hz
        self.identity: DeviceIdentity | None = None
        self.counters: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> Electrocardiograph:
        from asalee_devices.drivers.registry import transport_factory

        return cls(transport_factory(url, expect_driver="ecg12"), **kwargs)  # type: ignore[arg-type]

    @property
    def state(self) -> SessionState:
        return self._life.state

    @property
    def history(self) -> tuple[SessionState, ...]:
        return tuple(self._life.history)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._life.subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._life.subscribers.remove(subscriber)

    def _negotiate(self, transport: Transport) -> tuple[Ecg12Driver, Ecg12Info]:
        driver = Ecg12Driver(transport, rate_hz=self.rate_hz, reply_timeout_s=min(1.0, self.options.quiet_time_s))
        return driver, driver.negotiate()

    def record(self, duration_s: float) -> EcgAcquisition:
        """Acquire ``duration_s`` of ECG. Raises a :class:`DeviceError` only when the device cannot be reached (or
        answers the handshake wrongly); link losses during acquisition end the take as ``interrupted`` and the
        session reconnects (with backoff) and starts a new take, up to ``options.reconnects`` times."""
        if not 0.1 <= duration_s <= 600:
            raise InputError("ECG duration out of range", field="duration_s", value=duration_s,
                             expected="0.1-600 s")
        life = self._life
        transport, (driver, info) = life.connect(self._negotiate, self.options.connect_attempts)
        self.identity = info.identity
        takes: list[EcgTake] = []
        reconnects = self.options.reconnects
        while True:
            take, done = self._take(driver, info, duration_s, len(takes))
            takes.append(take)
            if done:
                transport.close()
                life.set_state(SessionState.DONE)
                break
            transport.close()
            life.set_state(SessionState.INTERRUPTED)
            if reconnects <= 0:
                break
            reconnects -= 1
            try:
                transport, (driver, info) = life.connect(self._negotiate, self.options.connect_attempts)
            except DeviceError:
                life.set_state(SessionState.INTERRUPTED)
                break
            if info.identity != self.identity:  # another device answered: never continue on it
                transport.close()
                life.set_state(SessionState.INTERRUPTED)
                break
        return EcgAcquisition(tuple(takes))

    def _take(self, driver: Ecg12Driver, info: Ecg12Info, duration_s: float,
              take_no: int) -> tuple[EcgTake, bool]:
        opts = self.options
        life = self._life
        fs = info.fs_hz
        n_target = int(round(duration_s * fs))
        uv = np.full((n_target, 8), np.nan)
        off = np.zeros((n_target, 8), dtype=bool)
        filled = np.zeros(n_target, dtype=bool)
        block_n = max(1, int(round(opts.block_s * fs)))
        max_block_n = max(block_n, int(0.1 * fs))
        host_start = datetime.now(UTC)
        reason = ""
        first_seq: int | None = None
        prev_seq = 0
        last_idx = -1
        published = 0
        pending_rx: float | None = None
        try:
            driver.start()
        except DeviceError as exc:
            reason = "unplugged" if isinstance(exc, DeviceDisconnectedError) else "no start acknowledgement"
        life.set_state(SessionState.ACQUIRING)
        last_rx = time.monotonic()
        next_read = 0.0
        while not reason:
            # coalesce reads: a few per live block is enough, and each read costs a fixed overhead
            pause = next_read - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_read = time.monotonic() + opts.block_s / 2
            try:
                batch = driver.poll(opts.poll_s)
            except DeviceDisconnectedError:
                reason = "unplugged"
                break
            now = time.monotonic()
            if batch.n == 0:
                if now - last_rx > opts.quiet_time_s:
                    reason = "stalled"
                    break
            else:
                last_rx = now
                pending_rx = now if pending_rx is None else pending_rx
                seq = batch.seq
                if first_seq is None:
                    first_seq = int(seq[0])
                    prev_seq = (first_seq - 1) & 0xFFFF
                steps = np.diff(np.concatenate(([prev_seq], seq))) % 0x10000
                keep = steps > 0  # a repeated sequence number is a duplicate frame
                idx_all = last_idx + np.cumsum(steps)
                keep &= idx_all < n_target
                idx = idx_all[keep]
                if idx.size:
                    uv[idx] = batch.counts[keep] * info.resolution_uv
                    off[idx] = codec.loff_mask(batch.status[keep])
                    filled[idx] = True
                # a frame past the end proves the last planned samples are lost, not late
                last_idx = min(int(idx_all[-1]), n_target - 1)
                prev_seq = int(seq[-1])
            ready = last_idx + 1 - published
            if ready >= block_n or (pending_rx is not None and ready > 0 and now - pending_rx >= opts.block_s):
                assert pending_rx is not None
                # everything ready goes out now; a late (or fast-forwarded) read is split evenly so that no block
                # exceeds 100 ms of signal
                parts = -(-ready // max_block_n)
                for k in range(parts):
                    lo = published + ready * k // parts
                    hi = published + ready * (k + 1) // parts
                    life.publish(LiveBlock(take_no, lo, fs, codec.CHANNELS, uv[lo:hi].T.copy(),
                                           ((first_seq or 0) + lo) / fs, pending_rx, time.monotonic()))
                published, pending_rx = published + ready, None
            if last_idx + 1 >= n_target:
                break
        if last_idx + 1 > published:
            life.publish(LiveBlock(take_no, published, fs, codec.CHANNELS, uv[published:last_idx + 1].T.copy(),
                                   ((first_seq or 0) + published) / fs, pending_rx or time.monotonic(),
                                   time.monotonic()))
        done = not reason
        if done:
            try:
                driver.stop()
            except DeviceError:
                pass
        n = n_target if done else last_idx + 1
        self.counters = driver.decoder.counters.as_dict()
        rec = EcgRecording(np.ascontiguousarray(uv[:n].T), fs, codec.CHANNELS, resolution_uv=info.resolution_uv,
                           lead_off=np.ascontiguousarray(off[:n].T), interrupted=not done,
                           gaps=gaps_from_mask(filled[:n]))
        take = EcgTake(complete_lead_set(rec), info.identity,
                       TakeInfo("done" if done else "interrupted", reason, host_start, datetime.now(UTC),
                                (first_seq or 0) / fs, dict(self.counters)))
        return take, done
