"""What every device session shares: the lifecycle states, connection with backoff, the quiet-time watchdog
settings, and live-block subscribers (OpenICE state machine + python-can notifier/listener ideas)."""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceError, InputError, ProtocolError

log = logging.getLogger(__name__)


class SessionState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    NEGOTIATING = "negotiating"
    READY = "ready"
    ACQUIRING = "acquiring"
    DONE = "done"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class LiveBlock:
    """Samples published to subscribers while acquiring (20-100 ms of signal per block).

    ``samples`` is (n_channels, n) in the session's unit (µV for ECG, L/s for flow) with NaN in gaps;
    ``first_index`` counts samples from the start of the take; ``device_time_s`` is the device clock of the
    first sample; ``host_received_monotonic_s`` is when the earliest bytes of the block came off the transport
    (``time.monotonic()``), ``host_published_monotonic_s`` when the block was handed to subscribers.
    """

    take: int
    first_index: int
    fs_hz: float
    channels: tuple[str, ...]
    samples: NDArray[np.float64]
    device_time_s: float
    host_received_monotonic_s: float
    host_published_monotonic_s: float


Subscriber = Callable[[LiveBlock], None]


@dataclass(frozen=True)
class SessionOptions:
    quiet_time_s: float = 2.0
    connect_attempts: int = 3
    reconnects: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 5.0
    block_s: float = 0.02
    poll_s: float = 0.01
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.02 <= self.block_s <= 0.1:
            raise InputError("Live block length out of range", field="block_s", value=self.block_s,
                             expected="0.02-0.1 s")
        if self.quiet_time_s <= 0 or self.connect_attempts < 1 or self.reconnects < 0:
            raise InputError("Invalid session options", field="quiet_time_s/connect_attempts/reconnects",
                             value=(self.quiet_time_s, self.connect_attempts, self.reconnects))


@dataclass(frozen=True)
class TakeInfo:
    """Bookkeeping of one take (one contiguous acquisition on one connection)."""

    status: str  # "done" | "interrupted"
    reason: str  # "" when done; "unplugged", "stalled", ...
    host_start_utc: datetime
    host_end_utc: datetime
    device_start_s: float  # device clock of the first sample (sequence x period or the device's time field)
    counters: dict[str, int] = field(default_factory=dict)


T = TypeVar("T")


class Lifecycle(Generic[T]):
    """State holder + connection helper. ``open_transport`` makes a fresh transport for every (re)connection (it
    is where re-finding a re-enumerated device by VID/PID/serial happens)."""

    def __init__(self, open_transport: Callable[[], Transport], options: SessionOptions) -> None:
        self.open_transport = open_transport
        self.options = options
        self.state = SessionState.DISCONNECTED
        self.history: list[SessionState] = [self.state]
        self.subscribers: list[Subscriber] = []
        self._rng = random.Random(options.seed)

    def set_state(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self.history.append(state)

    def publish(self, block: LiveBlock) -> None:
        for sub in list(self.subscribers):
            try:
                sub(block)
            except Exception:  # a faulty display must not stop the acquisition
                log.exception("live subscriber failed; unsubscribing it")
                self.subscribers.remove(sub)

    def connect(self, negotiate: Callable[[Transport], T], attempts: int) -> tuple[Transport, T]:
        """Connecting -> negotiating -> ready, retried with exponential backoff and jitter.

        Raises the last :class:`DeviceError` when every attempt failed (a protocol error in the handshake is
        raised at once: retrying a device that answers wrongly does not help)."""
        last: DeviceError | None = None
        for attempt in range(attempts):
            if attempt:
                delay = min(self.options.backoff_s * 2 ** (attempt - 1), self.options.backoff_max_s)
                time.sleep(delay * (0.8 + 0.4 * self._rng.random()))
            self.set_state(SessionState.CONNECTING)
            transport: Transport | None = None
            try:
                transport = self.open_transport()
                transport.open()
                self.set_state(SessionState.NEGOTIATING)
                info = negotiate(transport)
            except ProtocolError:
                if transport is not None:
                    transport.close()
                self.set_state(SessionState.DISCONNECTED)
                raise
            except DeviceError as exc:
                if transport is not None:
                    transport.close()
                self.set_state(SessionState.DISCONNECTED)
                last = exc
                continue
            self.set_state(SessionState.READY)
            return transport, info
        assert last is not None
        raise last


class DeviceSession(Generic[T]):
    """The front every device session shares: options, lifecycle, identity, live subscribers and construction from
    a device URL (``DRIVER`` names the driver the URL must speak). ``T`` is what negotiation returns."""

    DRIVER: ClassVar[str] = ""

    def __init__(self, open_transport: Callable[[], Transport], *, options: SessionOptions | None = None) -> None:
        self.options = options or SessionOptions()
        self._life: Lifecycle[T] = Lifecycle(open_transport, self.options)
        self.identity: DeviceIdentity | None = None
        self.counters: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        from asalee_devices.drivers.registry import transport_factory

        return cls(transport_factory(url, expect_driver=cls.DRIVER), **kwargs)

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
