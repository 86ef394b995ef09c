"""What the web app runs on: the configuration, the per-install data directory, the device URLs and, for the bundled
simulators, the demo "simulator script" (what the next blow or capture will be)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from asalee_devices.config import Config
from asalee_devices.errors import ConfigError

#: Demo spirometry: the first blow hesitates (the nurse is told to redo it), the next ones are good.
DEMO_SPIROMETRY_SCRIPT: tuple[str, ...] = ("fault=hesitant_start&seed=1", "seed=2", "seed=3", "seed=4")
#: Demo ECG: the first capture has electrode V3 off (retake advised), the next ones are good.
DEMO_ECG_SCRIPT: tuple[str, ...] = ("electrode_off=V3", "")
#: What the simulator panel may ask for the next blow / capture (demo only)
SPIRO_CHOICES = {"good": "", "hesitant_start": "fault=hesitant_start", "cough": "fault=cough",
                 "early_termination": "fault=early_termination", "unplug": "unplug_after=7000"}
ECG_CHOICES = {"good": "", **{f"electrode_off:{e}": f"electrode_off={e}"
                              for e in ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")}}


def live_spirometer_url(configured: str) -> str:
    """The configuration's default demo device (``sim://spirometer``) becomes the live turbine simulator, for live
    curves; any other URL — a named simulator (``sim://contec-spiro``) or a real device — runs as configured, by its
    own driver's session."""
    if configured.split("?", 1)[0] == "sim://spirometer":
        return "sim://turbine"
    return configured


@dataclass(frozen=True)
class WebSettings:
    config: Config
    data_dir: Path
    spirometer_url: str = "sim://turbine"
    ecg_url: str = "sim://ecg12"
    spirometry_script: tuple[str, ...] = DEMO_SPIROMETRY_SCRIPT
    ecg_script: tuple[str, ...] = DEMO_ECG_SCRIPT
    blow_s: float = 12.0
    capture_s: float = 10.0
    spirometry_speed: float = 1.0  # simulator clock / real time (tests run the spirometer faster)
    ecg_speed: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config, data_dir: Path, **kw: object) -> WebSettings:
        return cls(config=config, data_dir=data_dir, spirometer_url=live_spirometer_url(config.devices.spirometer),
                   ecg_url=config.devices.ecg, **kw)  # type: ignore[arg-type]


def is_simulator(url: str) -> bool:
    return url.startswith("sim://")


def scripted_url(base: str, params: str, *, speed: float, index: int,
                 patient: dict[str, str] | None = None) -> str:
    """``base`` with the script's parameters (simulators only; a real device URL is returned unchanged).
    ``patient`` (sex, age, height of the examined patient) makes the simulated spirometer blow like them, unless
    the configured URL says otherwise."""
    if not is_simulator(base):
        return base
    head, _, query = base.partition("?")
    merged = {**(patient or {}), **dict(parse_qsl(query))}
    merged.setdefault("seed", str(index + 1))
    merged.update(dict(parse_qsl(params)))
    if speed != 1.0:
        merged["speed"] = f"{speed:g}"
    return f"{head}?{urlencode(merged)}"


def simulated_patient(sex: str, age_years: float, height_cm: float | None) -> dict[str, str]:
    """The simulator parameters of the examined patient (no identity: sex, age, height only)."""
    height = height_cm if height_cm else (176.0 if sex == "male" else 163.0)
    return {"sex": sex if sex in ("male", "female") else "female", "age": f"{min(max(age_years, 6.0), 90.0):.1f}",
            "height": f"{height:g}"}


def script_step(script: tuple[str, ...], index: int, choice: str | None, choices: dict[str, str]) -> str:
    if choice is not None:
        if choice not in choices:
            raise ConfigError("Unknown simulator choice", field="sim", value=choice, expected=", ".join(choices))
        return choices[choice]
    return script[index] if index < len(script) else ""
