"""``asaleesim://NAME?params``: a pyserial port whose other end is an in-process simulator (same parameters as
``sim://`` URLs). Reads advance the device clock; closing the port is a hang-up for the device."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, Timeout

from asalee_devices.errors import AsaleeError


class Serial(SerialBase):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._transport: Any = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if getattr(self, "is_open", False):
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        from asalee_devices.drivers.registry import DeviceUrl
        from asalee_devices.simulators.registry import factory_from_url

        parts = urlsplit(self._port)
        if parts.scheme != "asaleesim":
            raise SerialException(f"expected an asaleesim:// URL, got {self._port!r}")
        dev = DeviceUrl(parts.netloc, "sim", parts.netloc, dict(parse_qsl(parts.query)), self._port)
        try:
            self._transport = factory_from_url(dev)()
            self._transport.open()
        except AsaleeError as exc:
            raise SerialException(str(exc)) from exc
        self.is_open = True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.is_open = False

    def _reconfigure_port(self) -> None:
        return None

    @property
    def in_waiting(self) -> int:
        return 0 if self._transport is None else 1

    def read(self, size: int = 1) -> bytes:
        if not self.is_open or self._transport is None:
            raise PortNotOpenError()
        out = bytearray()
        timeout = Timeout(self._timeout)
        try:
            while len(out) < size:
                left = timeout.time_left()
                chunk = self._transport.read(size - len(out), 0.0 if left is None else max(left, 0.0))
                out += chunk
                if timeout.expired() or (not chunk and self._timeout == 0):
                    break
                if not chunk:
                    time.sleep(0.001)
        except AsaleeError as exc:
            raise SerialException(str(exc)) from exc
        return bytes(out)

    def write(self, data: bytes) -> int:
        if not self.is_open or self._transport is None:
            raise PortNotOpenError()
        try:
            self._transport.write(bytes(data))
        except AsaleeError as exc:
            raise SerialException(str(exc)) from exc
        return len(data)

    def reset_input_buffer(self) -> None:
        return None

    def reset_output_buffer(self) -> None:
        return None
