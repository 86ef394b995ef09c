"""Drivers registered by name, and device URLs that name both the protocol and the transport.

``<driver>+<transport>://...``: ``ecg12+socket://127.0.0.1:5555``, ``contec-spiro+serial:///dev/ttyUSB0?baud=115200``,
``ecg12+serial://COM3?vid=0x1209&pid=0xEC12&serial=ABC`` (re-found by VID/PID/serial after re-enumeration),
``ecg12+loop://``, ``turbine+usb://1209:5407?serial=ABC``; ``sim://<device>?seed=1&speed=10`` is an in-process
simulator. Third-party packages add drivers through the entry-point group ``asalee_devices.drivers`` whose
values point at a :class:`DriverSpec` (``"package.module:SPEC"``), loaded lazily like python-can's backends.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import parse_qsl, urlsplit

from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import ConfigError

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "asalee_devices.drivers"


@dataclass(frozen=True)
class DriverSpec:
    name: str
    kind: str  # "ecg" | "spirometer"
    description: str
    transports: tuple[str, ...]  # "serial", "socket", "loop", "usb"
    usb_ids: tuple[tuple[int, int], ...] = ()
    default_baud: int = 115200
    simulator: str = ""  # name in the simulator registry (sim://NAME)


_BUILTIN: dict[str, DriverSpec] = {
    "ecg12": DriverSpec("ecg12", "ecg", "12-lead ECG module, ADS1298-style frames over USB-CDC serial",
                        ("serial", "socket", "loop"), ((0x1209, 0xEC12),), 921600, "ecg12"),
    "contec-spiro": DriverSpec("contec-spiro", "spirometer",
                               "Contec-family spirometer record download (reverse-engineered; BLE serial bridge)",
                               ("serial", "socket", "loop"), (), 115200, "contec-spiro"),
    "turbine": DriverSpec("turbine", "spirometer", "live turbine spirometer, vendor-class USB (interrupt IN)",
                          ("usb",), ((0x1209, 0x7B10),), 0, "turbine"),
}
_REGISTRY: dict[str, DriverSpec] = dict(_BUILTIN)
_LOADED_ENTRY_POINTS = False


def register_driver(spec: DriverSpec) -> None:
    _REGISTRY[spec.name] = spec


def _load_entry_points() -> None:
    global _LOADED_ENTRY_POINTS
    if _LOADED_ENTRY_POINTS:
        return
    _LOADED_ENTRY_POINTS = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception:  # a broken third-party plug-in must not break discovery
            log.warning("driver entry point %s failed to load", ep.name)
            continue
        if isinstance(spec, DriverSpec):
            _REGISTRY.setdefault(spec.name, spec)


def drivers() -> dict[str, DriverSpec]:
    _load_entry_points()
    return dict(_REGISTRY)


def get_driver(name: str) -> DriverSpec:
    known = drivers()
    if name not in known:
        raise ConfigError("Unknown device driver", field="driver", value=name, expected=", ".join(sorted(known)))
    return known[name]


@dataclass(frozen=True)
class DeviceUrl:
    driver: str
    transport: str
    location: str  # host:port, device path, VID:PID or simulator name
    params: dict[str, str]
    raw: str


def parse_url(url: str) -> DeviceUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    params = dict(parse_qsl(parts.query))
    if scheme == "sim":
        return DeviceUrl(parts.netloc, "sim", parts.netloc, params, url)
    if "+" not in scheme:
        raise ConfigError("Device URL must name driver and transport", field="url", value=url,
                          expected="DRIVER+TRANSPORT://..., e.g. ecg12+socket://127.0.0.1:5555, or sim://DEVICE")
    driver, transport = scheme.split("+", 1)
    location = parts.netloc + parts.path if transport != "serial" else (parts.netloc + parts.path or "")
    return DeviceUrl(driver, transport, location, params, url)


def _int(value: str, field: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise ConfigError("Not an integer in the device URL", field=field, value=value) from None


#: pyserial URL schemes any serial driver can use (``asaleesim`` = our simulators as a pyserial URL handler)
SERIAL_URL_SCHEMES = frozenset({"serial", "socket", "loop", "rfc2217", "asaleesim"})

_TRANSPORTS: dict[str, str] = {
    "serial": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "socket": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "loop": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "rfc2217": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "asaleesim": "asalee_devices.simulators.urlhandler:factory_from_url",
    "usb": "asalee_devices.drivers.transports.usb:factory_from_url",
    "sim": "asalee_devices.simulators.registry:factory_from_url",
}


def transport_factory(url: str, *, expect_driver: str | None = None) -> Callable[[], Transport]:
    """A callable making a fresh transport for ``url`` at every (re)connection."""
    dev = parse_url(url)
    if dev.transport != "sim":
        spec = get_driver(dev.driver)
        serial_family = dev.transport in SERIAL_URL_SCHEMES and "serial" in spec.transports
        if dev.transport not in spec.transports and not serial_family:
            raise ConfigError("Transport not supported by this driver", field="transport", value=dev.transport,
                              expected=", ".join(spec.transports))
    if expect_driver is not None and dev.transport != "sim" and dev.driver != expect_driver:
        raise ConfigError("Device URL is for another driver", field="driver", value=dev.driver,
                          expected=expect_driver)
    target = _TRANSPORTS.get(dev.transport)
    if target is None:
        raise ConfigError("Unknown transport in device URL", field="transport", value=dev.transport,
                          expected=", ".join(sorted(_TRANSPORTS)))
    module, func = target.split(":")
    make: Callable[[DeviceUrl], Callable[[], Transport]] = getattr(importlib.import_module(module), func)
    return make(dev)


def check_url(url: str, kind: str | None = None) -> None:
    """Refuse a device URL whose driver, transport or simulator is unknown, or whose driver is not a ``kind``
    device, without opening anything (``config check``); the error lists what is accepted."""
    dev = parse_url(url)
    if dev.transport == "sim":
        simulators = importlib.import_module("asalee_devices.simulators.registry")
        sim = simulators.get_simulator(dev.location)
        sim.make(dev.params)  # the simulator's parameters (names and values)
        spec = get_driver(sim.driver)
    else:
        spec = get_driver(dev.driver)
        accepted = sorted(set(spec.transports) | (SERIAL_URL_SCHEMES if "serial" in spec.transports else set()))
        if dev.transport not in accepted or dev.transport not in _TRANSPORTS:
            raise ConfigError(f"Unknown transport for the {spec.name} driver", field="transport",
                              value=dev.transport, expected=", ".join(accepted))
    if kind is not None and spec.kind != kind:
        raise ConfigError(f"Device URL is not for a {kind} device", field="driver", value=spec.name,
                          expected=", ".join(sorted(n for n, d in drivers().items() if d.kind == kind)))


def driver_for_url(url: str) -> DriverSpec:
    """The driver a device URL speaks to (for ``sim://NAME``, the simulated device's driver)."""
    dev = parse_url(url)
    if dev.transport == "sim":
        simulators = importlib.import_module("asalee_devices.simulators.registry")
        return get_driver(simulators.get_simulator(dev.location).driver)
    return get_driver(dev.driver)
