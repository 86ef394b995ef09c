"""The toy ECG's session (file 3 of 4): the negotiation and the take; the connection, reconnection, identity check,
watchdog and live blocks come from asalee-devices (``EcgSession`` and ``devices.assembly``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from toyecg import protocol

from asalee_devices.devices.assembly import LivePublisher, SequencedTake, stop_quietly, stream_take
from asalee_devices.devices.electrocardiograph import EcgSession, EcgTake
from asalee_devices.devices.session import TakeInfo, ended
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceTimeoutError
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set


@dataclass
class ToyLink:
    """What the negotiation gives: the open transport, the frame decoder and what the device said."""

    transport: Transport
    decoder: protocol.Decoder
    identity: DeviceIdentity
    fs_hz: float


class ToyEcg(EcgSession[ToyLink]):
    def _negotiate(self, transport: Transport) -> ToyLink:
        transport.write(protocol.IDENTIFY)
        line = b""
        deadline = time.monotonic() + min(1.0, self.options.quiet_time_s)
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise DeviceTimeoutError("The toy ECG did not identify itself", field="address",
                                         value=transport.address)
            line += transport.read(64, 0.05)
        serial, rate = protocol.parse_identity(line)
        identity = DeviceIdentity("Toy", "TOYECG", serial, "1.0", source="toyecg")
        return ToyLink(transport, protocol.Decoder(), identity, float(rate))

    def _identity_of(self, link: ToyLink) -> DeviceIdentity:
        return link.identity

    def _take(self, link: ToyLink, duration_s: float, take_no: int) -> EcgTake:
        opts, fs = self.options, link.fs_hz
        take = SequencedTake(int(round(duration_s * fs)), len(protocol.CHANNELS))
        live = LivePublisher(self._life.publish, take_no, fs, protocol.CHANNELS, opts.block_s,
                             lambda: (take.first_seq or 0) / fs)
        host_start = datetime.now(UTC)

        def poll() -> bool:
            batch = link.decoder.feed(link.transport.read(4096, opts.poll_s))
            if batch.n:
                live.received(time.monotonic())
                take.place(batch.seq, batch.counts * protocol.RESOLUTION_UV)
            return batch.n > 0

        def tick(now: float, arrived: bool) -> bool:
            live.offer(take, now)
            return take.complete

        reason = stream_take(opts, self._life.set_state, start=lambda: link.transport.write(protocol.START),
                             poll=poll, tick=tick)
        live.offer(take, time.monotonic(), final=True)
        status = ended(reason)
        if status == "done":
            stop_quietly(lambda: link.transport.write(protocol.STOP))
        n = take.n_target if status == "done" else take.n_received
        self.counters = link.decoder.counters.as_dict()
        rec = EcgRecording(np.ascontiguousarray(take.values[:n].T), fs, protocol.CHANNELS,
                           resolution_uv=protocol.RESOLUTION_UV, interrupted=status != "done", gaps=take.gaps(n))
        return EcgTake(complete_lead_set(rec), link.identity,
                       TakeInfo(status, reason, host_start, datetime.now(UTC), (take.first_seq or 0) / fs,
                                dict(self.counters)))
