"""Device side of the USB turbine spirometer: pulses from a generated forced expiration through the inverse of the
linearisation table, streamed as 16-byte frames on the interrupt IN endpoint at the device's rate."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.turbine import codec
from asalee_devices.simulators.generators.spirometry import SimPatient, simulated_blow
from asalee_devices.simulators.usb_virtual import VirtualUsbDevice

VID, PID = 0x1209, 0x7B10
DEFAULT_TABLE = ((0.0, 1.25), (0.2, 1.12), (0.5, 1.05), (1.0, 1.02), (2.0, 1.0), (16.0, 0.99))


@dataclass(frozen=True)
class TurbineSettings:
    profile: str = "normal"  # generators.spirometry.PATIENT_PROFILES (normal, obstructive-moderate, ...)
    #: the simulated patient (GLI Global 2022 predicted values, their own z-scores drawn from ``patient_seed``)
    sex: str = "female"
    age_years: float = 47.0
    height_cm: float = 165.0
    patient_seed: int = 0
    #: a fixed blow instead of the patient's (both > 0): FVC and PEF as given
    fvc_l: float = 0.0
    pef_l_s: float = 0.0
    fault: str = ""
    rate_hz: int = 100
    nl_per_pulse: int = 200_000  # 0.2 mL per pulse (nominal)
    seed: int = 0
    serial_number: str = "SIM-TURB-0001"
    lead_in_s: float = 0.5  # turbine still before the manoeuvre starts
    #: a session script: one entry per START (blow), a fault name or "ok", comma-separated, e.g.
    #: "hesitant_start,ok,ok,ok". Blow k varies like a real patient's (seed + k; a fixed blow: FVC/PEF +-1 %);
    #: after the script, blows are good ones. Empty: every START replays the configured blow.
    script: str = ""
    #: syringe mode (calibration verification): each START gives one stroke of this volume (L) instead of a blow,
    #: at a low, mid then high flow (mean 0.5, 2 and 6 L/s), cycling; 0 = off
    syringe_l: float = 0.0
    #: the device's volume error in % (every flow it reports is multiplied by 1 + error/100)
    device_error_pct: float = 0.0
    #: the stroke number (set per START in syringe mode)
    stroke: int = 0


def blow_settings(s: TurbineSettings, k: int) -> TurbineSettings:
    """The settings of the k-th blow (0-based) of a scripted session (``s`` itself without a script)."""
    if s.syringe_l > 0:
        return replace(s, stroke=k)
    if not s.script:
        return s
    items = [item.strip() for item in s.script.split(",")]
    fault = items[k] if k < len(items) else "ok"
    wobble = 1.0 + 0.01 * ((k % 3) - 1)
    return replace(s, fault="" if fault in ("", "ok") else fault, seed=s.seed + k, fvc_l=s.fvc_l * wobble,
                   pef_l_s=s.pef_l_s * (2.0 - wobble), script="")


class BlowCounter:
    """Blows started on one simulated device, shared by its successive connections (re-plugs)."""

    def __init__(self) -> None:
        self.started = 0


def identify_info(s: TurbineSettings) -> codec.TurbineIdentify:
    return codec.TurbineIdentify(codec.PROTOCOL_VERSION, s.rate_hz, s.nl_per_pulse,
                                 tuple(p[0] for p in DEFAULT_TABLE), tuple(p[1] for p in DEFAULT_TABLE))


SYRINGE_MEAN_FLOWS_L_S = (0.5, 2.0, 6.0)


def syringe_flow(volume_l: float, mean_flow_l_s: float, fs_hz: float) -> NDArray[np.float64]:
    """One syringe stroke: a half-sine of ``volume_l`` at ``mean_flow_l_s`` mean flow, with still air around it."""
    n = max(int(round(volume_l / mean_flow_l_s * fs_hz)), 3)
    shape = np.sin(np.pi * (np.arange(n) + 0.5) / n)
    stroke = shape * volume_l / (np.sum(shape) / fs_hz)
    return np.concatenate((np.zeros(int(0.3 * fs_hz)), stroke, np.zeros(int(1.2 * fs_hz))))


def true_flow(s: TurbineSettings) -> NDArray[np.float64]:
    gain = 1.0 + s.device_error_pct / 100.0
    if s.syringe_l > 0:
        mean = SYRINGE_MEAN_FLOWS_L_S[s.stroke % len(SYRINGE_MEAN_FLOWS_L_S)]
        return gain * np.concatenate((np.zeros(int(s.lead_in_s * s.rate_hz)),
                                      syringe_flow(s.syringe_l, mean, float(s.rate_hz))))
    patient = SimPatient(s.sex, s.age_years, s.height_cm, s.profile, s.patient_seed)
    rec = simulated_blow(profile=s.profile, fvc_l=s.fvc_l, pef_l_s=s.pef_l_s, patient=patient, seed=s.seed,
                         fs_hz=float(s.rate_hz), fault=s.fault)
    return gain * np.concatenate((np.zeros(int(s.lead_in_s * s.rate_hz)), rec.flow_l_s))


def flow_to_pulses(flow_l_s: NDArray[np.float64], info: codec.TurbineIdentify
                   ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pulses per sample and direction: invert raw -> raw x k(raw) on a dense grid, integrate the raw volume and
    emit whole pulses (the remainder carries over, so the cumulative volume stays within one pulse)."""
    grid = np.linspace(0.0, 20.0, 20001)
    corrected = grid * np.interp(grid, info.table_flow_l_s, info.table_correction)
    raw = np.interp(np.abs(flow_l_s), corrected, grid)
    v_pulse = info.nl_per_pulse * 1e-9
    cum = np.floor(np.cumsum(raw / info.rate_hz) / v_pulse + 1e-9).astype(np.int64)
    pulses = np.diff(np.concatenate(([0], cum)))
    return pulses, np.sign(flow_l_s).astype(np.int64)


class TurbineDeviceModel:
    """One plug-in of the turbine: vendor requests and the paced frame stream."""

    def __init__(self, settings: TurbineSettings, counter: BlowCounter | None = None) -> None:
        self.settings = settings
        self.counter = counter or BlowCounter()
        self.info = identify_info(settings)
        self._load(blow_settings(settings, self.counter.started))
        self._streaming = False
        self._t0 = 0.0
        self._sent = 0
        self._seq = 0
        self._clock_us = 0
        self._now = 0.0
        self.frame_offsets: list[tuple[int, int]] = []
        self._emitted = 0

    def _load(self, blow: TurbineSettings) -> None:
        self.flow = true_flow(blow)
        self.pulses, self.direction = flow_to_pulses(self.flow, self.info)

    def control_in(self, request: int, value: int, index: int, length: int) -> bytes | None:
        if request == codec.REQ_IDENTIFY:
            return codec.encode_identify(self.info)
        return None

    def control_out(self, request: int, value: int, index: int, data: bytes) -> bool:
        if request == codec.REQ_START:
            if self.settings.script or self.settings.syringe_l > 0:
                self._load(blow_settings(self.settings, self.counter.started))
                self.counter.started += 1
            self._streaming, self._t0, self._sent = True, self._now, 0
        elif request == codec.REQ_STOP:
            self._streaming = False
        elif request == codec.REQ_ZERO:
            self._seq, self._clock_us = 0, 0
        else:
            return False
        return True

    def on_host_bytes(self, data: bytes) -> None:
        return None

    def output(self, elapsed_s: float) -> bytes:
        self._now = elapsed_s
        if not self._streaming:
            return b""
        due = int((elapsed_s - self._t0) * self.settings.rate_hz) + 1
        out = bytearray()
        period_us = 1_000_000 // self.settings.rate_hz
        for k in range(self._sent, due):
            p, d = (int(self.pulses[k]), int(self.direction[k])) if k < self.pulses.size else (0, 0)
            self.frame_offsets.append((self._emitted + len(out), self._seq))
            out += codec.encode_frame(self._seq, self._clock_us, p, d if p else 0, codec.STATUS_TURBINE_PRESENT)
            self._seq = (self._seq + 1) & 0xFFFF
            self._clock_us += period_us
        self._sent = max(self._sent, due)
        self._emitted += len(out)
        return bytes(out)


def virtual_turbine(settings: TurbineSettings | None = None, *, faults: object = None,
                    speed: float = 1.0) -> VirtualUsbDevice:
    from asalee_devices.simulators.faults import FaultPlan

    s = settings or TurbineSettings()
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan()
    counter = BlowCounter()
    return VirtualUsbDevice(VID, PID, lambda: TurbineDeviceModel(s, counter), manufacturer="Asalee Sim",
                            product="Turbine USB SIM", serial_number=s.serial_number, bcd_device=0x0103,
                            faults=plan, speed=speed)
