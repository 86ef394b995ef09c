"""Turbine host side over :class:`UsbTransport`: identity (string descriptors + IDENTIFY), zero, start, stop."""

from __future__ import annotations

import time
from dataclasses import dataclass

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.turbine import codec
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.drivers.transports.usb import UsbTransport
from asalee_devices.errors import ConfigError, ProtocolError

NAME = "turbine"
#: the longest a flush before a take reads (what a stopped device had queued is read in a few milliseconds)
FLUSH_MAX_S = 0.5
USB_IDS: tuple[tuple[int, int], ...] = ((0x1209, 0x7B10),)


@dataclass(frozen=True)
class TurbineInfo:
    identity: DeviceIdentity
    identify: codec.TurbineIdentify

    @property
    def fs_hz(self) -> float:
        return float(self.identify.rate_hz)


class TurbineDriver:
    name = NAME

    def __init__(self, transport: Transport, *, reply_timeout_s: float = 1.0) -> None:
        if not isinstance(transport, UsbTransport):
            raise ConfigError("The turbine driver needs a USB transport", field="transport",
                              value=type(transport).__name__, expected="turbine+usb://VID:PID")
        self.transport: UsbTransport = transport
        self.reply_timeout_s = reply_timeout_s
        self.decoder = codec.TurbineDecoder()
        #: input dropped before takes (the stale end of earlier takes), for diagnostics
        self.flushed_bytes = 0

    def negotiate(self) -> TurbineInfo:
        manufacturer, product, serial, firmware = self.transport.identity_strings()
        raw = self.transport.control_in(codec.REQ_IDENTIFY, 64, timeout_s=self.reply_timeout_s)
        try:
            ident = codec.decode_identify(raw)
        except codec.IdentifyFieldError as exc:
            raise ProtocolError(f"Turbine spirometer at {self.transport.address}: impossible identify reply",
                                field=exc.field, value=exc.value, expected=exc.expected) from None
        return TurbineInfo(DeviceIdentity(manufacturer, product, serial, firmware, NAME), ident)

    def start(self) -> None:
        """Zero the device and start a take, after flushing what it sent before: frames of the previous take
        still queued on the IN endpoint (the host stopped reading at the end of that blow, or fell behind) would
        otherwise be placed as the first samples of this one."""
        self.flush()
        self.transport.control_out(codec.REQ_ZERO, timeout_s=self.reply_timeout_s)
        self.transport.control_out(codec.REQ_START, timeout_s=self.reply_timeout_s)

    def flush(self, *, timeout_s: float = 0.01, max_s: float = FLUSH_MAX_S) -> int:
        """Read and drop whatever is queued (a stopped device sends nothing more), and any partial frame the
        decoder holds; returns the bytes dropped. A device that is still streaming ends the flush after
        ``max_s``."""
        dropped = self.decoder.drop_partial()
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            data = self.transport.read(4096, timeout_s)
            if not data:
                break
            dropped += len(data)
        self.flushed_bytes += dropped
        return dropped

    def stop(self) -> None:
        self.transport.control_out(codec.REQ_STOP, timeout_s=self.reply_timeout_s)

    def poll(self, timeout_s: float) -> codec.TurbineFrames:
        return self.decoder.feed(self.transport.read(4096, timeout_s))
