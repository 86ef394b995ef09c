"""pyserial URL handlers for the simulators: after :func:`register`, ``serial.serial_for_url("asaleesim://ecg12?seed=1")``
opens an in-process simulator, so any pyserial-based program (ours or an integrator's) talks to it unchanged."""

from __future__ import annotations

from typing import Any

import serial

PACKAGE = "asalee_devices.simulators.urlhandler"


def register() -> None:
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)


def factory_from_url(dev: Any) -> Any:
    """Transport factory for ``<driver>+asaleesim://NAME?params``: the generic serial transport over this handler
    (each connection is a fresh in-process simulator)."""
    from asalee_devices.drivers.transports.serial_port import SerialTransport

    register()
    url = dev.raw.split("+", 1)[1]
    return lambda: SerialTransport(url, label=dev.raw.split("?", 1)[0])
