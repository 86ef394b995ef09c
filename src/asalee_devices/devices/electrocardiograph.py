"""The 12-lead ECG session: connect, negotiate, acquire takes with a quiet-time watchdog and reconnection, and
hand back :class:`EcgRecording` takes (interrupted ones kept and flagged, never merged)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from asalee_devices.devices.assembly import LivePublisher, ReadPacer, SequencedTake
from asalee_devices.devices.session import (
    DeviceSession,
    SessionOptions,
    SessionState,
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


class Electrocardiograph(DeviceSession[tuple[Ecg12Driver, Ecg12Info]]):
    """A 12-lead ECG device session (ECG12 protocol). Build it with :meth:`from_url` or a transport factory."""

    DRIVER = "ecg12"

    def __init__(self, open_transport: Callable[[], Transport], *, rate_hz: int | None = None,
                 options: SessionOptions | None = None) -> None:
        if rate_hz is not None and rate_hz not in codec.RATES_HZ:
            raise InputError("ECG sampling rate not offered by ECG12 modules", field="rate_hz", value=rate_hz,
                             expected=" or ".join(map(str, codec.RATES_HZ)) + " Hz")
        super().__init__(open_transport, options=options)
        self.rate_hz = rate_hz

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
        take = SequencedTake(int(round(duration_s * fs)), len(codec.CHANNELS))
        live = LivePublisher(life.publish, take_no, fs, codec.CHANNELS, opts.block_s,
                             lambda: (take.first_seq or 0) / fs)
        pacer = ReadPacer(opts.block_s / 2)
        host_start = datetime.now(UTC)
        reason = ""
        try:
            driver.start()
        except DeviceError as exc:
            reason = "unplugged" if isinstance(exc, DeviceDisconnectedError) else "no start acknowledgement"
        life.set_state(SessionState.ACQUIRING)
        last_rx = time.monotonic()
        while not reason:
            pacer.wait()
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
                live.received(now)
                take.place(batch.seq, batch.counts * info.resolution_uv, codec.loff_mask(batch.status))
            live.offer(take, now)
            if take.complete:
                break
        live.offer(take, time.monotonic(), final=True)
        done = not reason
        if done:
            try:
                driver.stop()
            except DeviceError:
                pass
        n = take.n_target if done else take.n_received
        self.counters = driver.decoder.counters.as_dict()
        rec = EcgRecording(np.ascontiguousarray(take.values[:n].T), fs, codec.CHANNELS,
                           resolution_uv=info.resolution_uv, lead_off=np.ascontiguousarray(take.flags[:n].T),
                           interrupted=not done, gaps=take.gaps(n))
        result = EcgTake(complete_lead_set(rec), info.identity,
                         TakeInfo("done" if done else "interrupted", reason, host_start, datetime.now(UTC),
                                  (take.first_seq or 0) / fs, dict(self.counters)))
        return result, done
