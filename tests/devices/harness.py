"""Back-to-back harness (python-can style): the same driver test suite runs against one simulator reached through
different endpoints (in memory, TCP, pty)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from asalee_devices.drivers.registry import transport_factory
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.simulators.base import DeviceModel
from asalee_devices.simulators.endpoints import InMemoryEndpoint, PtySimulator, TcpSimulatorServer
from asalee_devices.simulators.faults import FaultInjector, FaultPlan

ENDPOINTS = ["memory", "tcp"] + (["pty"] if sys.platform != "win32" else [])


@dataclass
class Link:
    open_transport: Callable[[], Transport]
    models: list[DeviceModel]
    injector: FaultInjector
    address: str


@contextmanager
def link(endpoint: str, driver: str, model_factory: Callable[[], DeviceModel], faults: FaultPlan | None = None,
         speed: float = 10.0) -> Iterator[Link]:
    if endpoint == "memory":
        ep = InMemoryEndpoint(model_factory, faults, speed, label=f"sim://{driver}")
        yield Link(ep.transport, ep.models, ep.injector, ep.label)
    elif endpoint == "tcp":
        with TcpSimulatorServer(model_factory, faults=faults, speed=speed) as srv:
            url = f"{driver}+{srv.url}"
            yield Link(transport_factory(url), srv.models, srv.injector, url)
    elif endpoint == "pty":
        with PtySimulator(model_factory, faults=faults, speed=speed) as pty:
            url = f"{driver}+serial://{pty.port}"
            yield Link(transport_factory(url), pty.models, pty.injector, url)
    else:
        raise AssertionError(endpoint)
