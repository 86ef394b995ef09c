"""Drivers registered by name, and device URLs that name both the protocol and the transport.

``<driver>+<transport>://...``: ``ecg12+socket://127.0.0.1:5555``, ``contec-spiro+serial:///dev/ttyUSB0?baud=115200``,
``ecg12+serial://COM3?vid=0x1209&pid=0xEC12&serial=ABC`` (re-found by VID/PID/serial after re-enumeration),
``ecg12+loop://``, ``turbine+usb://1209:5407?serial=ABC``; ``sim://<device>?seed=1&speed=10`` is an in-process
simulator.

Like python-can's ``BACKENDS`` (``interface name -> (module, class)``, imported only when a bus of that interface is
opened), each :class:`DriverSpec` names its session class as a ``"module:Class"`` string that is imported when a
session is opened (:func:`session_class`), and each transport names its factory the same way. Third-party packages
add drivers through the entry-point group ``asalee_devices.drivers``; an entry point's value is
``"package.module:SPEC"`` where ``SPEC`` is a :class:`DriverSpec` (whose ``session`` names the package's session
class). A module that fails to import becomes a :class:`~asalee_devices.errors.ConfigError` naming the driver.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, cast

from asalee_devices.drivers.url import DeviceUrl, TransportFactory, parse_url
from asalee_devices.errors import ConfigError

__all__ = ["DeviceUrl", "DriverSpec", "ENTRY_POINT_GROUP", "TransportFactory", "check_url", "driver_for_url",
           "drivers", "get_driver", "parse_url", "register_driver", "session_class", "transport_factory"]

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
    #: the session class, imported lazily: ``"package.module:Class"`` (a :class:`~asalee_devices.devices.session.
    #: DeviceSession` subclass)
    session: str = ""


_BUILTIN: dict[str, DriverSpec] = {
    "ecg12": DriverSpec("ecg12", "ecg", "12-lead ECG module, ADS1298-style frames over USB-CDC serial",
                        ("serial", "socket", "loop"), ((0x1209, 0xEC12),), 921600, "ecg12",
                        "asalee_devices.devices.electrocardiograph:Electrocardiograph"),
    "contec-spiro": DriverSpec("contec-spiro", "spirometer",
                               "Contec-family spirometer record download (reverse-engineered; BLE serial bridge)",
                               ("serial", "socket", "loop"), (), 115200, "contec-spiro",
                               "asalee_devices.devices.spirometer:Spirometer"),
    "turbine": DriverSpec("turbine", "spirometer", "live turbine spirometer, vendor-class USB (interrupt IN)",
                          ("usb",), ((0x1209, 0x7B10),), 0, "turbine",
                          "asalee_devices.devices.turbine:TurbineSpirometer"),
}
_REGISTRY: dict[str, DriverSpec] = dict(_BUILTIN)
_LOADED_ENTRY_POINTS = False
#: entry points that failed to load: name -> why (a configuration naming one gets that reason, not "unknown")
_BROKEN: dict[str, str] = {}


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
        except Exception as exc:  # a broken third-party plug-in must not break discovery
            log.warning("driver entry point %s failed to load", ep.name)
            _BROKEN[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(spec, DriverSpec):
            log.warning("driver entry point %s is not a DriverSpec", ep.name)
            _BROKEN[ep.name] = f"the entry point gives a {type(spec).__name__}, not a DriverSpec"
            continue
        _REGISTRY.setdefault(spec.name, spec)


def drivers() -> dict[str, DriverSpec]:
    _load_entry_points()
    return dict(_REGISTRY)


def get_driver(name: str) -> DriverSpec:
    known = drivers()
    if name not in known:
        if name in _BROKEN:
            raise ConfigError(f"The {name} driver's entry point failed to load", field="driver", value=name,
                              expected=f"an installable plug-in ({_BROKEN[name]})")
        raise ConfigError("Unknown device driver", field="driver", value=name, expected=", ".join(sorted(known)))
    return known[name]


def _import_target(target: str, driver: str, what: str) -> object:
    """``"module:attribute"`` imported now; any failure is a configuration error naming the driver (python-can's
    ``_get_class_for_interface`` turns it into an ``ImportError`` naming the interface)."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"The {driver} driver's {what} cannot be imported", field="driver", value=driver,
                          expected=f"module {module_name} importable ({type(exc).__name__}: {exc})") from exc
    try:
        return cast(object, getattr(module, attr))
    except AttributeError:
        raise ConfigError(f"The {driver} driver's {what} is missing", field="driver", value=driver,
                          expected=f"{attr} defined in {module_name}") from None


def session_class(spec: DriverSpec) -> type:
    """The session class of ``spec`` (imported on first use)."""
    if ":" not in spec.session:
        raise ConfigError(f"The {spec.name} driver names no session class", field="driver", value=spec.name,
                          expected='DriverSpec(session="package.module:Class")')
    cls = _import_target(spec.session, spec.name, "session class")
    if not isinstance(cls, type):
        raise ConfigError(f"The {spec.name} driver's session is not a class", field="driver", value=spec.name,
                          expected=f"{spec.session} naming a DeviceSession subclass")
    return cls


#: pyserial URL schemes any serial driver can use (``asaleesim`` = our simulators as a pyserial URL handler)
SERIAL_URL_SCHEMES = frozenset({"serial", "socket", "loop", "rfc2217", "asaleesim"})


class _FactoryFromUrl(Protocol):
    def __call__(self, dev: DeviceUrl, /) -> TransportFactory: ...


_TRANSPORTS: dict[str, str] = {
    "serial": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "socket": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "loop": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "rfc2217": "asalee_devices.drivers.transports.serial_port:factory_from_url",
    "asaleesim": "asalee_devices.simulators.urlhandler:factory_from_url",
    "usb": "asalee_devices.drivers.transports.usb:factory_from_url",
    "sim": "asalee_devices.simulators.registry:factory_from_url",
}
_SIMULATORS = "asalee_devices.simulators.registry:get_simulator"


class SimulatedDevice(Protocol):
    """What :func:`_driver_of` needs of a registered simulator: the driver whose device it simulates."""

    driver: str


def _driver_of(dev: DeviceUrl) -> DriverSpec:
    """The driver a parsed URL speaks to; for ``sim://NAME`` the simulated device's own driver."""
    if dev.transport == "sim":
        # named like the transports above: drivers/ never imports the simulators (they depend on drivers' codecs)
        get_simulator = cast(Callable[[str], SimulatedDevice], _import_target(_SIMULATORS, "sim", "simulator registry"))
        return get_driver(get_simulator(dev.location).driver)
    spec = get_driver(dev.driver)
    accepted = sorted(set(spec.transports) | (SERIAL_URL_SCHEMES if "serial" in spec.transports else set()))
    if dev.transport not in accepted or dev.transport not in _TRANSPORTS:
        raise ConfigError(f"Unknown transport for the {spec.name} driver", field="transport", value=dev.transport,
                          expected=", ".join(accepted))
    return spec


def transport_factory(url: str) -> TransportFactory:
    """A callable making a fresh transport for ``url`` at every (re)connection. Nothing is opened here; the URL's
    driver, transport and options are checked (unknown options refused with the accepted list)."""
    dev = parse_url(url)
    spec = _driver_of(dev)
    target = _TRANSPORTS[dev.transport]  # _driver_of refused a transport without a factory
    make = cast("_FactoryFromUrl", _import_target(target, spec.name, f"{dev.transport} transport"))
    return make(dev)


def check_url(url: str, kind: str | None = None) -> None:
    """Refuse a device URL whose driver, transport, options or simulator is unknown, whose session class cannot be
    imported, or whose driver is not a ``kind`` device, without opening anything (``config check``); the error
    lists what is accepted."""
    spec = _driver_of(parse_url(url))
    if kind is not None and spec.kind != kind:
        raise ConfigError(f"Device URL is not for a {kind} device", field="driver", value=spec.name,
                          expected=", ".join(sorted(n for n, d in drivers().items() if d.kind == kind)))
    transport_factory(url)  # the options (and the simulator's parameters), the transport module
    session_class(spec)


def driver_for_url(url: str) -> DriverSpec:
    """The driver a device URL speaks to (for ``sim://NAME``, the simulated device's driver)."""
    return _driver_of(parse_url(url))
