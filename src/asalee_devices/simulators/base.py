"""The device-model interface every simulator implements (bytes in -> bytes out, clocked)."""

from __future__ import annotations

from typing import Protocol


class DeviceModel(Protocol):
    """The device side of one protocol for one connection. Pure: no I/O, no sleeping.

    ``on_host_bytes`` receives what the host wrote; ``output(elapsed_s)`` returns every byte the device has to send
    by ``elapsed_s`` seconds of device time since the connection opened (answers immediately, streams paced).
    """

    def on_host_bytes(self, data: bytes) -> None: ...

    def output(self, elapsed_s: float) -> bytes: ...
