"""What every device session shares: the lifecycle states, connection with backoff, the one connect / work /
reconnect / same-identity loop, the quiet-time watchdog settings, live-block subscribers, and construction from a
device URL through the driver registry (OpenICE state machine; python-can's ``BusABC``, whose ``recv`` loop calls
the backend's ``_recv_internal``, and its ``Bus(interface=...)`` factory; python-can notifier/listener ideas).

A session class writes only what is its own: :meth:`DeviceSession._negotiate` (the handshake on a fresh transport)
and the take (the work done on one connection, handed to :meth:`DeviceSession._acquire`). Sessions are context
managers; :meth:`DeviceSession.close` is idempotent (python-can's ``shutdown``)."""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from asalee_devices.backoff import Backoff
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import ConfigError, DeviceDisconnectedError, DeviceError, InputError, ProtocolError

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
        _ = self.backoff  # the backoff settings are checked now, not at the first reconnection

    @property
    def backoff(self) -> Backoff:
        """The connection retry policy (the one shared with the outbox: exponential, full jitter, capped)."""
        return Backoff(base_s=self.backoff_s, cap_s=self.backoff_max_s, max_attempts=self.connect_attempts)


class TakeStatus(enum.StrEnum):
    """How a take (or a download transaction) ended."""

    DONE = "done"
    INTERRUPTED = "interrupted"


class TakeReason(enum.StrEnum):
    """Why a take ended early (``NONE`` when it ran to its end)."""

    NONE = ""
    UNPLUGGED = "unplugged"
    STALLED = "stalled"
    NO_START_ACK = "no start acknowledgement"
    PROTOCOL_ERROR = "protocol error"


@dataclass(frozen=True)
class LinkEnd:
    """How the work on one connection ended; ``detail`` says more (the protocol error's text)."""

    status: TakeStatus
    reason: TakeReason = TakeReason.NONE
    detail: str = ""


@dataclass(frozen=True)
class TakeInfo:
    """Bookkeeping of one take (one contiguous acquisition on one connection)."""

    status: TakeStatus
    reason: TakeReason  # NONE when done
    host_start_utc: datetime
    host_end_utc: datetime
    device_start_s: float  # device clock of the first sample (sequence x period or the device's time field)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def end(self) -> LinkEnd:
        return LinkEnd(self.status, self.reason)


R = TypeVar("R")


@dataclass(frozen=True)
class Take(Generic[R]):
    """One take: the recording ``R`` (an ECG or a flow recording), who recorded it, how it went."""

    recording: R
    identity: DeviceIdentity
    info: TakeInfo


@dataclass(frozen=True)
class Acquisition(Generic[R]):
    """The takes of one ``record`` call (one per connection; interrupted ones kept and flagged, never merged)."""

    takes: tuple[Take[R], ...]

    @property
    def complete(self) -> Take[R] | None:
        """The first take that ran to its planned end, if any."""
        return next((t for t in self.takes if t.info.status == "done"), None)


def ended(reason: TakeReason) -> TakeStatus:
    """The status of a take that ended for ``reason``."""
    return TakeStatus.DONE if reason is TakeReason.NONE else TakeStatus.INTERRUPTED


def start_failure(exc: DeviceError) -> TakeReason:
    """The reason of a take whose start command failed."""
    return TakeReason.UNPLUGGED if isinstance(exc, DeviceDisconnectedError) else TakeReason.NO_START_ACK


T = TypeVar("T")
S = TypeVar("S", bound="DeviceSession[Any]")


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
        """Connecting -> negotiating -> ready, retried with the shared backoff policy (``options.backoff``:
        exponential, full jitter, capped at ``backoff_max_s``).

        Raises the last :class:`DeviceError` when every attempt failed (a protocol error in the handshake is
        raised at once: retrying a device that answers wrongly does not help)."""
        last: DeviceError | None = None
        policy = self.options.backoff
        for attempt in range(attempts):
            if attempt:
                time.sleep(policy.delay_s(attempt, self._rng))
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
    """The front every device session shares: options, lifecycle, identity, live subscribers, the connection loop
    and construction from a device URL. ``T`` is what negotiation returns (the "link": protocol driver + what the
    device said about itself)."""

    def __init__(self, open_transport: Callable[[], Transport], *, options: SessionOptions | None = None) -> None:
        self.options = options or SessionOptions()
        self._life: Lifecycle[T] = Lifecycle(open_transport, self.options)
        self.identity: DeviceIdentity | None = None
        self.counters: dict[str, int] = {}
        self._transport: Transport | None = None
        self._link: T | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Self:
        """The session of the driver ``url`` speaks to (for ``sim://NAME``, the simulated device's driver), which
        must be this class or a subclass of it: ``TurbineSpirometer.from_url("sim://ecg12")`` is refused here, when
        the URL is read, not at the first connection."""
        from asalee_devices.drivers.registry import driver_for_url, drivers, transport_factory

        spec = driver_for_url(url)
        target = session_class_of(spec.name)
        if not issubclass(target, cls):
            fitting = sorted(n for n in drivers() if _session_fits(n, cls)) or [f"a {cls.__qualname__} driver"]
            said = (f"{url.split('?', 1)[0]} simulates the {spec.name} driver's device" if url.startswith("sim://")
                    else f"the {spec.name} driver")
            raise ConfigError(f"Device URL is for another driver: {said} ({target.__qualname__} session), not one "
                              f"for {cls.__qualname__}", field="driver", value=spec.name, expected=", ".join(fitting))
        return target(transport_factory(url), **kwargs)

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

    # -- what a session class writes (hooks raising NotImplementedError, like python-can's ``_recv_internal``: the
    # kind bases — EcgSession, LiveFlowSession, StoredFlowSession — stay concrete types a caller can ask for) ----

    def _negotiate(self, transport: Transport) -> T:
        """The handshake on a freshly opened transport: what the device is, its settings. A
        :class:`ProtocolError` is final; any other :class:`DeviceError` is retried with backoff."""
        raise NotImplementedError

    def _identity_of(self, link: T) -> DeviceIdentity:
        """Who answered the handshake (compared at every reconnection: another device is never continued on)."""
        raise NotImplementedError

    # -- the one loop ---------------------------------------------------------------------------------------------

    def _connect(self) -> T:
        if self._closed:
            raise DeviceDisconnectedError("The device session is closed", expected="a new session")
        transport, link = self._life.connect(self._negotiate, self.options.connect_attempts)
        self._transport, self._link = transport, link
        return link

    def _hang_up(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _acquire(self, work: Callable[[T], LinkEnd]) -> tuple[LinkEnd, ...]:
        """Connect (with backoff), run ``work`` on the link, hang up; when it ended interrupted, reconnect (up to
        ``options.reconnects`` times) and run it again, but only on the same device (identity compared). A device
        that cannot be reached at first raises its :class:`DeviceError`; later failures end the loop quietly, the
        state saying ``INTERRUPTED``. Returns how each connection's work ended."""
        life = self._life
        link = self._connect()
        self.identity = self._identity_of(link)
        ends: list[LinkEnd] = []
        reconnects = self.options.reconnects
        while True:
            try:
                end = work(link)
            finally:
                self._hang_up()
            ends.append(end)
            if end.status is TakeStatus.DONE:
                life.set_state(SessionState.DONE)
                break
            life.set_state(SessionState.INTERRUPTED)
            if reconnects <= 0:
                break
            reconnects -= 1
            try:
                link = self._connect()
            except DeviceError:
                life.set_state(SessionState.INTERRUPTED)
                break
            if self._identity_of(link) != self.identity:  # another device answered: never continue on it
                self._hang_up()
                life.set_state(SessionState.INTERRUPTED)
                break
        return tuple(ends)

    # -- closing --------------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Hang up and refuse further takes. Idempotent."""
        self._closed = True
        self._hang_up()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def session_class_of(driver: str) -> type[DeviceSession[Any]]:
    """The registered session class of ``driver``, imported now; a configuration error names the driver when it
    cannot be imported or is not a :class:`DeviceSession`."""
    from asalee_devices.drivers.registry import get_driver, session_class

    spec = get_driver(driver)
    cls = session_class(spec)
    if not issubclass(cls, DeviceSession):
        raise ConfigError(f"The {driver} driver's session is not a device session", field="driver", value=driver,
                          expected=f"{spec.session} deriving from asalee_devices.devices.session.DeviceSession")
    return cls


def _session_fits(driver: str, kind: type[DeviceSession[Any]]) -> bool:
    """Whether ``driver``'s session is a ``kind`` (for the list of drivers that fit; unimportable ones do not)."""
    try:
        return issubclass(session_class_of(driver), kind)
    except ConfigError:
        return False


@overload
def open_session(url: str, options: SessionOptions | None = None) -> DeviceSession[Any]: ...


@overload
def open_session(url: str, options: SessionOptions | None = None, *, expect: type[S]) -> S: ...


def open_session(url: str, options: SessionOptions | None = None, *,
                 expect: type[DeviceSession[Any]] | None = None) -> DeviceSession[Any]:
    """The session of the device at ``url``, of the class its driver registers (nothing opened yet): the one way
    the CLI, the web app and the workflow open a device. With ``expect``, a URL whose session is not that class
    (or a subclass) is refused with the drivers that fit."""
    return (expect or DeviceSession).from_url(url, options=options)
