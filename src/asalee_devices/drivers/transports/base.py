"""The transport interface every driver talks through (python-can ``BusABC`` / OpenICE transport idea)."""

from __future__ import annotations

import abc
from types import TracebackType


class Transport(abc.ABC):
    """A bidirectional byte pipe to one device.

    ``read`` never blocks longer than its timeout and returns ``b""`` when nothing arrived; it raises
    :class:`~asalee_devices.errors.DeviceDisconnectedError` when the link is gone (unplug, hang-up, socket closed).
    ``open`` raises :class:`~asalee_devices.errors.DeviceNotFoundError` when nothing answers at the address.
    ``close`` is idempotent.
    """

    #: human-readable address (URL without secrets), used in error messages
    address: str = ""

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self, max_bytes: int, timeout_s: float) -> bytes: ...

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def is_open(self) -> bool: ...

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
