"""Synthetic forced expirations (pure numpy): normal/obstructive/restrictive shapes and known technical faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import InputError
from asalee_devices.signal.spirometry.recording import FlowRecording

Profile = Literal["normal", "obstructive", "restrictive"]
Fault = Literal["hesitant_start", "cough", "slow_rise", "early_termination", "glottic_closure", "leak", "no_plateau"]

#: profile -> (fraction of the fast compartment, fast time constant s); the slow one is solved from FVC.
_PROFILES: dict[str, tuple[float, float]] = {
    "normal": (0.0, 0.0), "restrictive": (0.0, 0.0), "obstructive": (0.6, 0.12),
}


def _blow(fvc_l: float, pef_l_s: float, profile: str, rise_s: float, fs_hz: float) -> NDArray[np.float64]:
    a, tau1 = _PROFILES[profile]
    remaining = fvc_l - pef_l_s * rise_s / 2.0
    tau2 = (remaining / pef_l_s - a * tau1) / (1.0 - a)
    if tau2 <= 0:
        raise InputError("PEF too high for this FVC", field="pef_l_s", value=pef_l_s, expected="a lower PEF")
    duration = rise_s + max(12.0 * tau2, 4.0) + 1.0
    t = np.arange(int(duration * fs_hz)) / fs_hz
    rise = 0.5 * (1.0 - np.cos(np.pi * np.clip(t / rise_s, 0.0, 1.0)))
    x = np.clip(t - rise_s, 0.0, None)
    decay = a * np.exp(-x / tau1) + (1.0 - a) * np.exp(-x / tau2) if a > 0 else np.exp(-x / tau2)
    flow = pef_l_s * np.where(t < rise_s, rise, decay)
    return np.asarray(flow * fvc_l / (np.sum((flow[1:] + flow[:-1]) * 0.5) / fs_hz), dtype=np.float64)


def _hesitant(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    n_pre = int(0.5 * fs)
    out = np.concatenate((np.full(n_pre, 0.6), flow))
    n_rise = n_pre + int(0.06 * fs)
    out[:n_rise] = np.maximum(out[:n_rise], 0.6)
    return out


def _cough(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    out = flow.copy()
    i0, i1 = int(0.35 * fs), int(0.43 * fs)
    out[i0:i1] *= 0.3
    return out


def _early(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    """The patient stops blowing 2 s into the blow (after the first second: FVC not acceptable)."""
    out = flow.copy()
    out[int(2.0 * fs):] = 0.0
    return out


def _glottic(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    """Glottic closure 0.6 s into the blow: the flow stops within the first second (nothing of the blow usable)."""
    out = flow.copy()
    out[int(0.6 * fs):] = 0.0
    return out


def _leak(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    return flow * 0.93


def _no_plateau(flow: NDArray[np.float64], fs: float) -> NDArray[np.float64]:
    return flow[: int(2.0 * fs)]


_FAULTS: dict[str, Callable[[NDArray[np.float64], float], NDArray[np.float64]]] = {
    "hesitant_start": _hesitant, "cough": _cough, "early_termination": _early, "glottic_closure": _glottic, "leak": _leak,
    "no_plateau": _no_plateau,
}


def forced_expiration(profile: Profile = "normal", *, fvc_l: float, pef_l_s: float, fs_hz: float = 1000.0,
                      fault: Fault | None = None, inspiration: bool = True, seed: int = 0) -> FlowRecording:
    """One synthetic manoeuvre: optional full inspiration (FIVC = FVC), then the forced blow."""
    if profile not in _PROFILES:
        raise InputError("Unknown profile", field="profile", value=profile, expected=", ".join(_PROFILES))
    if fault is not None and fault not in _FAULTS and fault != "slow_rise":
        raise InputError("Unknown fault", field="fault", value=fault, expected=", ".join([*_FAULTS, "slow_rise"]))
    if not (fvc_l > 0 and pef_l_s > 0 and fs_hz >= 100):
        raise InputError("FVC, PEF must be positive and fs >= 100 Hz", field="fvc_l/pef_l_s/fs_hz",
                         value=(fvc_l, pef_l_s, fs_hz))
    rise_s = 0.30 if fault == "slow_rise" else 0.06
    flow = _blow(fvc_l, pef_l_s, profile, rise_s, fs_hz)
    if fault is not None and fault in _FAULTS:
        flow = _FAULTS[fault](flow, fs_hz)
    rng = np.random.default_rng(seed)
    flow = flow + rng.normal(0.0, 0.0005, flow.size) * (flow > 0)
    if inspiration:
        ti = 1.5
        n = int(ti * fs_hz)
        shape = np.sin(np.pi * np.arange(n) / n)
        insp = -shape * fvc_l / (np.sum(shape) / fs_hz)
        flow = np.concatenate((np.zeros(int(0.2 * fs_hz)), insp, np.zeros(int(0.3 * fs_hz)), flow))
    return FlowRecording(flow_l_s=np.ascontiguousarray(flow, dtype=np.float64), fs_hz=fs_hz)
