"""Simulator endpoints: the same device model reachable in memory (a :class:`Transport` the driver uses directly),
through a TCP server (``socket://host:port``, every OS) or a pty (POSIX only).

Each (re)connection gets a fresh device model from ``model_factory`` (the device was re-plugged or re-opened);
one :class:`FaultInjector` spans all connections so a stall or unplug happens once. After an unplug the endpoint
refuses new connections (the device is gone). ``speed`` > 1 runs the device clock faster than real time.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable

from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceDisconnectedError, DeviceNotFoundError
from asalee_devices.simulators.base import DeviceModel
from asalee_devices.simulators.faults import FaultInjector, FaultPlan

ModelFactory = Callable[[], DeviceModel]
_TICK_S = 0.002


class _Pump:
    """Clocked model + fault injector for one connection: what should reach the host by now."""

    def __init__(self, model: DeviceModel, injector: FaultInjector, speed: float) -> None:
        self.model = model
        self.injector = injector
        self.speed = speed
        self.t0 = time.monotonic()
        self.stalled_until = 0.0
        self.stall_offset = 0.0

    def elapsed(self) -> float:
        return (time.monotonic() - self.t0 - self.stall_offset) * self.speed

    def step(self) -> tuple[bytes, bool]:
        """Returns (bytes due now, unplugged). During a stall the device is frozen (its clock stops)."""
        now = time.monotonic()
        if now < self.stalled_until:
            return b"", False
        data = self.model.output(self.elapsed())
        if not data:
            return b"", False
        out, stall, unplug = self.injector.process(data)
        if stall > 0:
            self.stalled_until = now + stall
            self.stall_offset += stall
        return out, unplug


class InMemoryEndpoint:
    """Owns the device across connections; :meth:`transport` hands out the host side."""

    def __init__(self, model_factory: ModelFactory, faults: FaultPlan | None = None, speed: float = 1.0,
                 label: str = "sim://") -> None:
        self.model_factory = model_factory
        self.injector = FaultInjector(faults or FaultPlan())
        self.speed = speed
        self.label = label
        self.models: list[DeviceModel] = []
        self.connections = 0

    def transport(self) -> SimTransport:
        return SimTransport(self)


class SimTransport(Transport):
    """Host side of an in-memory simulator: synchronous, no threads; reads advance the device clock."""

    def __init__(self, endpoint: InMemoryEndpoint) -> None:
        self.endpoint = endpoint
        self.address = endpoint.label
        self._pump: _Pump | None = None
        self._buf = bytearray()
        self._dying = False

    def open(self) -> None:
        if self._pump is not None:
            return
        ep = self.endpoint
        if ep.injector.unplugged:
            raise DeviceNotFoundError("Simulated device is unplugged", field="address", value=self.address)
        model = ep.model_factory()
        ep.models.append(model)
        ep.connections += 1
        self._pump = _Pump(model, ep.injector, ep.speed)
        self._buf.clear()

    @property
    def is_open(self) -> bool:
        return self._pump is not None

    def _require(self) -> _Pump:
        if self._pump is None:
            raise DeviceDisconnectedError("Simulated link is closed", field="address", value=self.address)
        return self._pump

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        pump = self._require()
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            if not self._dying:
                data, unplug = pump.step()
                self._buf += data
                self._dying = unplug
            if self._buf:
                out = bytes(self._buf[:max_bytes])
                del self._buf[:max_bytes]
                return out
            if self._dying:
                self.close()
                raise DeviceDisconnectedError("Simulated device unplugged", field="address", value=self.address)
            left = deadline - time.monotonic()
            if left <= 0:
                return b""
            time.sleep(min(left, _TICK_S))

    def write(self, data: bytes) -> None:
        pump = self._require()
        if self._dying:
            self.close()
            raise DeviceDisconnectedError("Simulated device unplugged", field="address", value=self.address)
        if time.monotonic() >= pump.stalled_until:
            pump.model.on_host_bytes(data)

    def close(self) -> None:
        self._pump = None
        self._dying = False
        self._buf.clear()


class _SocketChannel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, timeout_s: float) -> bytes | None:
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        if not ready:
            return b""
        try:
            data = self.sock.recv(65536)
        except OSError:
            return None
        return data or None

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _serve_connection(channel: _SocketChannel | _PtyChannel, model: DeviceModel, injector: FaultInjector,
                      speed: float, stop: threading.Event) -> bool:
    """Run one connection until the host hangs up, ``stop`` is set or the device is unplugged (returns True)."""
    pump = _Pump(model, injector, speed)
    while not stop.is_set():
        got = channel.recv(_TICK_S)
        if got is None:
            return False
        if got and time.monotonic() >= pump.stalled_until:  # a frozen device ignores its input too
            model.on_host_bytes(got)
        data, unplug = pump.step()
        if data and not channel.send(data):
            return False
        if unplug:
            time.sleep(0.1)  # the bytes already on the wire arrive before the cable goes (a pty drops them)
            return True
    return False


class TcpSimulatorServer:
    """A TCP server speaking the device side; connect with ``<driver>+socket://host:port``. One host at a time."""

    def __init__(self, model_factory: ModelFactory, *, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultPlan | None = None, speed: float = 1.0) -> None:
        self.model_factory = model_factory
        self.injector = FaultInjector(faults or FaultPlan())
        self.speed = speed
        self._sock = socket.create_server((host, port))
        self._sock.settimeout(0.05)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-simulator", daemon=True)
        self.models: list[DeviceModel] = []
        self.connections = 0

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> TcpSimulatorServer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            model = self.model_factory()
            self.models.append(model)
            self.connections += 1
            channel = _SocketChannel(conn)
            unplugged = _serve_connection(channel, model, self.injector, self.speed, self._stop)
            channel.close()
            if unplugged:
                break
        self._sock.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()

    def __enter__(self) -> TcpSimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _PtyChannel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def recv(self, timeout_s: float) -> bytes | None:
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self.fd, 65536)
        except OSError:
            return b""  # no reader on the slave side yet

    def send(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return False
            view = view[n:]
        return True

    def close(self) -> None:
        os.close(self.fd)


class PtySimulator:
    """POSIX only: the simulator owns a pty master; the driver opens :attr:`port` (``<driver>+serial://PATH``).
    An unplug closes the master (a hang-up for the host)."""

    def __init__(self, model_factory: ModelFactory, *, faults: FaultPlan | None = None, speed: float = 1.0) -> None:
        if sys.platform == "win32":
            raise DeviceNotFoundError("pty simulators need a POSIX system", field="endpoint", value="pty",
                                      expected="--tcp on Windows")
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        self.model_factory = model_factory
        self.injector = FaultInjector(faults or FaultPlan())
        self.speed = speed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-simulator", daemon=True)
        self.models: list[DeviceModel] = []

    def start(self) -> PtySimulator:
        self._thread.start()
        return self

    def _run(self) -> None:
        model = self.model_factory()
        self.models.append(model)
        channel = _PtyChannel(self._master)
        _serve_connection(channel, model, self.injector, self.speed, self._stop)
        channel.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        try:
            os.close(self._slave)
        except OSError:
            pass

    def __enter__(self) -> PtySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
