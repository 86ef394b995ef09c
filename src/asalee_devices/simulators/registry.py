"""Simulators by name, for ``sim://NAME?params`` URLs, the ``simulate`` command and discovery.

Common parameters: ``seed``, ``speed`` (device clock / real time), fault injection ``corrupt`` and ``drop``
(rates per byte), ``stall_after`` (bytes) + ``stall_s``, ``unplug_after`` (bytes), ``faults_after`` (bytes spared,
default 256). Device parameters are listed per simulator in :data:`SIMULATORS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from asalee_devices.errors import ConfigError

if TYPE_CHECKING:
    from asalee_devices.drivers.url import DeviceUrl, TransportFactory
from asalee_devices.simulators.base import DeviceModel
from asalee_devices.simulators.faults import FaultPlan


@dataclass(frozen=True)
class SimulatorSpec:
    name: str
    driver: str
    description: str
    make: Callable[[Mapping[str, str]], Callable[[], DeviceModel]]
    params: tuple[str, ...]
    usb: bool = False  # reached through the virtual USB backend instead of a byte stream


#: short names of the simulated patient's parameters (``sim://turbine?sex=female&age=47&height=165``)
PARAM_ALIASES = {"age": "age_years", "height": "height_cm"}


def _settings(cls: Any, params: Mapping[str, str], common: set[str]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in ((PARAM_ALIASES.get(k, k) if PARAM_ALIASES.get(k) in known else k, v) for k, v in params.items()):
        if key in common:
            continue
        if key not in known:
            raise ConfigError("Unknown simulator parameter", field=key, value=raw, expected=", ".join(known))
        default = getattr(cls(), key)
        try:
            if isinstance(default, bool):
                kwargs[key] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                kwargs[key] = int(raw, 0)
            elif isinstance(default, float):
                kwargs[key] = float(raw)
            else:
                kwargs[key] = raw or None
        except ValueError:
            raise ConfigError("Bad simulator parameter value", field=key, value=raw) from None
    return cls(**kwargs)


COMMON = {"seed", "speed", "corrupt", "drop", "stall_after", "stall_s", "unplug_after", "faults_after"}


def _ecg12(params: Mapping[str, str]) -> Callable[[], DeviceModel]:
    from asalee_devices.simulators.ecg12 import CaptureCounter, Ecg12DeviceModel, Ecg12Settings

    settings = _settings(Ecg12Settings, {**params, **({"seed": params["seed"]} if "seed" in params else {})},
                         COMMON - {"seed"})
    counter = CaptureCounter()
    return lambda: Ecg12DeviceModel(settings, counter=counter)


def _check_patient(settings: Any) -> None:
    """A simulated spirometer's patient: a known profile and sex (refused when the URL is read, not at a blow)."""
    from asalee_devices.simulators.generators.spirometry import PATIENT_PROFILES, PROFILE_ALIASES

    if PROFILE_ALIASES.get(settings.profile, settings.profile) not in PATIENT_PROFILES:
        raise ConfigError("Unknown simulated patient profile", field="profile", value=settings.profile,
                          expected=", ".join(PATIENT_PROFILES))
    if settings.sex not in ("male", "female"):
        raise ConfigError("Unknown simulated patient sex", field="sex", value=settings.sex, expected="male, female")


def _contec(params: Mapping[str, str]) -> Callable[[], DeviceModel]:
    from asalee_devices.simulators.contec_spiro import ContecSettings, ContecSpirometerModel

    settings = _settings(ContecSettings, params, COMMON - {"seed"})
    _check_patient(settings)
    return lambda: ContecSpirometerModel(settings)


def _turbine(params: Mapping[str, str]) -> Callable[[], DeviceModel]:
    from asalee_devices.simulators.turbine import BlowCounter, TurbineDeviceModel, TurbineSettings

    settings = _settings(TurbineSettings, params, COMMON - {"seed"})
    _check_patient(settings)
    counter = BlowCounter()
    return lambda: TurbineDeviceModel(settings, counter)


SIMULATORS: dict[str, SimulatorSpec] = {
    "ecg12": SimulatorSpec("ecg12", "ecg12", "12-lead ECG module (ECG12 frames, 500/1000 Hz)", _ecg12,
                           ("rate_hz", "heart_rate_bpm", "duration_s", "electrode_off", "mains_uv",
                            "baseline_wander_uv", "muscle_noise_uv", "serial_number", "electrode_off_takes",
                            "patient_seed")),
    "contec-spiro": SimulatorSpec("contec-spiro", "contec-spiro", "Contec-family spirometer holding blows",
                                  _contec, ("profile", "sex", "age_years", "height_cm", "patient_seed", "blows", "fvc_l",
                                            "pef_l_s", "fault", "serial_number")),
    "turbine": SimulatorSpec("turbine", "turbine", "live USB turbine spirometer (virtual USB backend)", _turbine,
                             ("profile", "sex", "age_years", "height_cm", "patient_seed", "fvc_l", "pef_l_s", "fault",
                              "rate_hz", "serial_number", "script", "syringe_l", "device_error_pct"), usb=True),
}
ALIASES = {"ecg": "ecg12", "spirometer": "contec-spiro", "contec": "contec-spiro"}


def get_simulator(name: str) -> SimulatorSpec:
    key = ALIASES.get(name, name)
    if key not in SIMULATORS:
        raise ConfigError("Unknown simulator", field="device", value=name,
                          expected=", ".join(sorted([*SIMULATORS, *ALIASES])))
    return SIMULATORS[key]


def fault_plan(params: Mapping[str, str]) -> FaultPlan:
    def num(key: str, default: float) -> float:
        try:
            return float(params.get(key, default))
        except ValueError:
            raise ConfigError("Bad fault parameter", field=key, value=params.get(key)) from None

    def opt(key: str) -> int | None:
        return int(num(key, -1)) if key in params else None

    return FaultPlan(corrupt_rate=num("corrupt", 0.0), drop_rate=num("drop", 0.0),
                     stall_after_bytes=opt("stall_after"), stall_s=num("stall_s", 0.0),
                     unplug_after_bytes=opt("unplug_after"), start_after_bytes=int(num("faults_after", 256)),
                     seed=int(num("seed", 0)))


def model_factory(name: str, params: Mapping[str, str]) -> Callable[[], DeviceModel]:
    return get_simulator(name).make(params)


def factory_from_url(dev: DeviceUrl) -> TransportFactory:
    """Transport factory for ``sim://NAME?...``: one in-memory device shared by every (re)connection."""
    from asalee_devices.simulators.endpoints import InMemoryEndpoint

    params: Mapping[str, str] = dev.params
    spec = get_simulator(dev.location)
    try:
        speed = float(params.get("speed", "1"))
    except ValueError:
        raise ConfigError("Bad simulator speed", field="speed", value=params.get("speed")) from None
    label = dev.label
    if spec.usb:
        from asalee_devices.drivers.transports.usb import UsbTransport
        from asalee_devices.simulators.turbine import PID, VID
        from asalee_devices.simulators.usb_virtual import VirtualUsbBackend, VirtualUsbDevice

        make = spec.make(params)
        device = VirtualUsbDevice(VID, PID, make, manufacturer="Asalee Sim",  # type: ignore[arg-type]
                                  product="Turbine USB SIM", serial_number=params.get("serial_number",
                                                                                      "SIM-TURB-0001"),
                                  bcd_device=0x0103, faults=fault_plan(params), speed=speed)
        backend = VirtualUsbBackend([device])
        return lambda: UsbTransport(VID, PID, backend=backend, label=label)
    endpoint = InMemoryEndpoint(spec.make(params), fault_plan(params), speed, label=label)
    return endpoint.transport
