"""The 12-lead ECG session: connect, negotiate, acquire takes with a quiet-time watchdog and reconnection, and
hand back :class:`EcgRecording` takes (interrupted ones kept and flagged, never merged)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

from asalee_devices.devices.assembly import LivePublisher, SequencedTake, stop_quietly, stream_take
from asalee_devices.devices.session import (
    Acquisition,
    DeviceSession,
    LinkEnd,
    SessionOptions,
    Take,
    TakeInfo,
    ended,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.ecg12 import codec
from asalee_devices.drivers.protocols.ecg12.driver import Ecg12Driver, Ecg12Info
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import InputError
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set

EcgTake = Take[EcgRecording]
EcgAcquisition = Acquisition[EcgRecording]


L = TypeVar("L")


def check_ecg_duration(duration_s: float) -> None:
    if not 0.1 <= duration_s <= 600:
        raise InputError("ECG duration out of range", field="duration_s", value=duration_s, expected="0.1-600 s")


class EcgSession(DeviceSession[L]):
    """What the ECG examination needs from any electrocardiograph driver: ``record(duration_s)`` giving
    :class:`EcgTake` takes (interrupted ones kept and flagged). A driver's session derives from this class (or from
    :class:`Electrocardiograph` when it speaks the ECG12 protocol) and writes the negotiation and the take."""

    def _take(self, link: L, duration_s: float, take_no: int) -> EcgTake:
        """One take of ``duration_s`` on a negotiated link (its ``info.status`` says whether it ran to its end)."""
        raise NotImplementedError

    def record(self, duration_s: float) -> EcgAcquisition:
        """Acquire ``duration_s`` of ECG. Raises a :class:`DeviceError` only when the device cannot be reached (or
        answers the handshake wrongly); link losses during acquisition end the take as ``interrupted`` and the
        session reconnects (with backoff) and starts a new take, up to ``options.reconnects`` times."""
        check_ecg_duration(duration_s)
        takes: list[EcgTake] = []

        def work(link: L) -> LinkEnd:
            takes.append(self._take(link, duration_s, len(takes)))
            return takes[-1].info.end

        self._acquire(work)
        return EcgAcquisition(tuple(takes))


class Electrocardiograph(EcgSession[tuple[Ecg12Driver, Ecg12Info]]):
    """A 12-lead ECG device session (ECG12 protocol). Build it with :meth:`from_url` or a transport factory; any
    registered driver whose session is this class (or a subclass) is accepted (an ECG12 module sold under another
    name, with its own USB ids, registers ``session="asalee_devices.devices.electrocardiograph:Electrocardiograph"``).
    """

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

    def _identity_of(self, link: tuple[Ecg12Driver, Ecg12Info]) -> DeviceIdentity:
        return link[1].identity

    def _take(self, link: tuple[Ecg12Driver, Ecg12Info], duration_s: float, take_no: int) -> EcgTake:
        driver, info = link
        opts = self.options
        fs = info.fs_hz
        take = SequencedTake(int(round(duration_s * fs)), len(codec.CHANNELS))
        live = LivePublisher(self._life.publish, take_no, fs, codec.CHANNELS, opts.block_s,
                             lambda: (take.first_seq or 0) / fs)
        host_start = datetime.now(UTC)

        def poll() -> bool:
            batch = driver.poll(opts.poll_s)
            if batch.n == 0:
                return False
            live.received(time.monotonic())
            take.place(batch.seq, batch.counts * info.resolution_uv, codec.loff_mask(batch.status))
            return True

        def tick(now: float, arrived: bool) -> bool:
            live.offer(take, now)
            return take.complete

        reason = stream_take(opts, self._life.set_state, start=driver.start, poll=poll, tick=tick)
        live.offer(take, time.monotonic(), final=True)
        status = ended(reason)
        if status == "done":
            stop_quietly(driver.stop)
        n = take.n_target if status == "done" else take.n_received
        self.counters = driver.decoder.counters.as_dict()
        rec = EcgRecording(np.ascontiguousarray(take.values[:n].T), fs, codec.CHANNELS,
                           resolution_uv=info.resolution_uv, lead_off=np.ascontiguousarray(take.flags[:n].T),
                           interrupted=status != "done", gaps=take.gaps(n))
        return EcgTake(complete_lead_set(rec), info.identity,
                       TakeInfo(status, reason, host_start, datetime.now(UTC), (take.first_seq or 0) / fs,
                                dict(self.counters)))
