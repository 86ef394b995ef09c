"""pyserial URL handlers for the simulators: after :func:`register`, ``serial.serial_for_url("asaleesim://ecg12?seed=1")``
opens an in-process simulator, so any pyserial-based program (ours or an integrator's) talks to it unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import serial

if TYPE_CHECKING:
    from asalee_devices.drivers.url import DeviceUrl, TransportFactory

PACKAGE = "asalee_devices.simulators.urlhandler"


def register() -> None:
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)


def factory_from_url(dev: DeviceUrl) -> TransportFactory:
    """Transport factory for ``<driver>+asaleesim://NAME?params``: the generic serial transport over this handler
    (each connection is a fresh in-process simulator). The simulator and its parameters are checked here, when the
    URL is read (an unknown parameter is refused with the list of accepted ones), not at the first connection."""
    from asalee_devices.drivers.transports.serial_port import SerialTransport
    from asalee_devices.simulators.registry import get_simulator

    get_simulator(dev.location).make(dev.params)
    register()
    url = dev.raw.split("+", 1)[1]
    label = dev.label
    return lambda: SerialTransport(url, label=label)
