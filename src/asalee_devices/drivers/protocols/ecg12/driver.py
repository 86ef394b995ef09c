"""ECG12 host side: handshake (identify, optional rate change), start/stop, and frame decoding over a transport."""

from __future__ import annotations

import time
from dataclasses import dataclass

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.ecg12 import codec
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceTimeoutError, ProtocolError

NAME = "ecg12"
#: a USB-CDC module (the simulator and our reference firmware use these ids; real modules override them)
USB_IDS: tuple[tuple[int, int], ...] = ((0x1209, 0xEC12),)
DEFAULT_BAUD = 921600  # 35 bytes x 1000 Hz x 10 bits = 350 kbit/s; USB-CDC ignores it anyway


@dataclass(frozen=True)
class Ecg12Info:
    identity: DeviceIdentity
    fs_hz: float
    resolution_uv: float


class Ecg12Driver:
    """One connection's protocol state (the decoder and its counters live as long as the connection)."""

    name = NAME

    def __init__(self, transport: Transport, *, rate_hz: int | None = None, reply_timeout_s: float = 1.0) -> None:
        self.transport = transport
        self.rate_hz = rate_hz
        self.reply_timeout_s = reply_timeout_s
        self.decoder = codec.Ecg12Decoder()
        self._pending: list[codec.DataBatch] = []

    def _error(self, message: str, field: str, value: object, expected: str) -> ProtocolError:
        return ProtocolError(f"ECG12 device at {self.transport.address}: {message}", field=field, value=value,
                             expected=expected)

    def _await(self, frame_type: int) -> codec.Frame:
        deadline = time.monotonic() + self.reply_timeout_s
        crc_before = self.decoder.counters.crc_errors
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if self.decoder.counters.crc_errors > crc_before:
                    raise self._error("reply failed its checksum", "crc16", None, "a valid CRC-16")
                raise DeviceTimeoutError(f"ECG12 device at {self.transport.address} did not answer",
                                         field="reply type", value=hex(frame_type),
                                         expected=f"a reply within {self.reply_timeout_s:g} s")
            frames, batch = self.decoder.feed(self.transport.read(4096, min(left, 0.05)))
            if batch.n:
                self._pending.append(batch)
            for f in frames:
                if f.frame_type == frame_type:
                    return f
                if f.frame_type not in (codec.T_ACK, codec.T_IDENTITY):
                    raise self._error("unexpected frame type in the handshake", "type byte",
                                      hex(f.frame_type), hex(frame_type))

    def _command(self, cmd: int, payload: bytes = b"") -> None:
        self.transport.write(codec.encode_frame(cmd, payload))
        while True:
            ack = self._await(codec.T_ACK)
            if len(ack.payload) != 2:
                raise self._error("malformed acknowledgement", "ack length", len(ack.payload), "2 bytes")
            if ack.payload[0] != cmd:
                continue  # a late ack of an earlier command
            if ack.payload[1] != codec.ACK_OK:
                raise self._error("command refused", "ack status", ack.payload[1], f"0 for command {cmd:#x}")
            return

    def negotiate(self) -> Ecg12Info:
        """Stop any running stream, identify, set the rate if asked; returns identity and scaling."""
        self.transport.write(codec.encode_frame(codec.CMD_STOP))
        self._pending.clear()
        self.transport.write(codec.encode_frame(codec.CMD_IDENTIFY))
        frame = self._await(codec.T_IDENTITY)
        try:
            ident = codec.decode_identity(frame.payload)
        except codec.IdentityFieldError as exc:
            raise self._error("impossible identity", exc.field, exc.value, exc.expected) from None
        rate = ident.rate_hz
        if self.rate_hz is not None and self.rate_hz != rate:
            if self.rate_hz not in codec.RATES_HZ:
                raise self._error("rate not supported", "rate_hz", self.rate_hz, "500 or 1000 Hz")
            self._command(codec.CMD_SET_RATE, self.rate_hz.to_bytes(2, "big"))
            rate = self.rate_hz
        identity = DeviceIdentity(ident.manufacturer, ident.model, ident.serial_number, ident.firmware, NAME)
        return Ecg12Info(identity, float(rate), ident.resolution_pv / 1e6)

    def start(self) -> None:
        self._pending.clear()  # frames of a stream that ran before our STOP are stale
        self._command(codec.CMD_START)

    def stop(self) -> None:
        self.transport.write(codec.encode_frame(codec.CMD_STOP))

    def poll(self, timeout_s: float) -> codec.DataBatch:
        """Data frames that arrived within ``timeout_s`` (control frames are dropped once streaming)."""
        if self._pending:
            pending, self._pending = self._pending, []
            return codec.concat(pending)
        _, batch = self.decoder.feed(self.transport.read(65536, timeout_s))
        return batch
