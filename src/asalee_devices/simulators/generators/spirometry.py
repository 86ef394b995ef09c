"""Synthetic forced expirations (pure numpy): normal/obstructive/restrictive shapes and known technical faults.

Two levels: :func:`forced_expiration` draws one blow of a given FVC and PEF; :func:`patient_blow` draws the blows of
a simulated *patient* (sex, age, height -> GLI Global 2022 predicted values; a clinical profile -> the patient's own
z-scores, drawn once from ``patient_seed``) with a blow-to-blow variability within ATS/ERS 2019 repeatability
(``seed`` = the blow). The descending limb follows flow = PEF (1 - V/Vr)^k after the peak: k = 1 is the straight
flow-volume line, k > 1 the concave limb of airflow obstruction, k < 1 the convex limb of a restrictive pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
        flow = _with_inspiration(flow, fvc_l, fs_hz)
    return FlowRecording(flow_l_s=np.ascontiguousarray(flow, dtype=np.float64), fs_hz=fs_hz)


#: clinical profiles of :func:`patient_blow`: z-score ranges (FEV1, FVC, FEV1/FVC) of the patient's true values and
#: the exponent k of the descending limb. Obstruction severity follows the ERS/ATS 2022 interpretation strategy
#: (FEV1 z: mild > -2.5, moderate -2.5 to -4, severe < -4), with FEV1/FVC below its LLN (z < -1.645).
@dataclass(frozen=True)
class PatientProfile:
    fev1_z: tuple[float, float]
    fvc_z: tuple[float, float]
    ratio_z: tuple[float, float]
    k: tuple[float, float]
    poor_effort: bool = False


PATIENT_PROFILES: dict[str, PatientProfile] = {
    "normal": PatientProfile((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (0.85, 1.15)),
    "obstructive-mild": PatientProfile((-2.4, -0.6), (-1.5, 0.8), (-2.8, -2.1), (1.5, 1.8)),
    "obstructive-moderate": PatientProfile((-3.9, -2.6), (-3.0, 0.5), (-3.8, -2.4), (2.0, 2.4)),
    "obstructive-severe": PatientProfile((-5.0, -4.1), (-5.0, -0.5), (-5.0, -3.0), (2.6, 3.0)),
    "restrictive": PatientProfile((-3.5, -1.7), (-3.3, -2.0), (-0.5, 1.2), (0.75, 0.9)),
    "poor-effort": PatientProfile((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (0.85, 1.15), poor_effort=True),
}
#: earlier profile names of the simulators' ``profile`` parameter
PROFILE_ALIASES = {"obstructive": "obstructive-moderate"}


@dataclass(frozen=True)
class SimPatient:
    sex: str = "female"
    age_years: float = 47.0
    height_cm: float = 165.0
    profile: str = "normal"
    patient_seed: int = 0  # draws the patient's own z-scores within the profile (the same for all their blows)


@dataclass(frozen=True)
class PatientLungs:
    """The patient's true (best-effort) values and the shape of their descending limb."""

    fev1_l: float
    fvc_l: float
    k: float
    z_fev1: float
    z_fvc: float
    z_ratio: float


def _profile(name: str) -> PatientProfile:
    key = PROFILE_ALIASES.get(name, name)
    if key not in PATIENT_PROFILES:
        raise InputError("Unknown simulated patient profile", field="profile", value=name,
                         expected=", ".join(PATIENT_PROFILES))
    return PATIENT_PROFILES[key]


def _lms_value(pred: object, z: float) -> float:
    """The value at z-score ``z`` of a one-subject GLI prediction (inverse of the LMS z-score)."""
    m = float(pred.predicted[0])  # type: ignore[attr-defined]
    lam = float(pred.l_value[0])  # type: ignore[attr-defined]
    s = float(pred.s_value[0])  # type: ignore[attr-defined]
    if lam == 0:
        return m * float(np.exp(s * z))
    base = 1.0 + lam * s * z
    return m * base ** (1.0 / lam) if base > 0 else float("nan")


def patient_lungs(p: SimPatient) -> PatientLungs:
    """Draw the patient's true FEV1/FVC within the profile's z ranges (rejection sampling, reproducible)."""
    from asalee_devices.signal.spirometry.reference import predict

    prof = _profile(p.profile)
    kw = {"sex": p.sex, "age_years": p.age_years, "height_cm": p.height_cm}
    fev1_p, fvc_p, ratio_p = (predict(name, **kw) for name in ("fev1", "fvc", "fev1_fvc"))  # type: ignore[arg-type]
    rng = np.random.default_rng([p.patient_seed, 7919])
    for _ in range(5000):
        z_fvc, z_ratio = rng.uniform(*prof.fvc_z), rng.uniform(*prof.ratio_z)
        fvc = _lms_value(fvc_p, z_fvc)
        fev1 = fvc * _lms_value(ratio_p, z_ratio)
        if not np.isfinite(fev1) or fev1 < 0.35 * fvc:  # below ~0.35 the blow would not end within 15 s
            continue
        z_fev1 = float(fev1_p.z_score(fev1)[0])
        if prof.fev1_z[0] <= z_fev1 <= prof.fev1_z[1]:
            return PatientLungs(fev1, fvc, float(rng.uniform(*prof.k)), z_fev1, z_fvc, z_ratio)
    raise InputError("No lung function of this profile for this patient", field="profile", value=p.profile,
                     expected="another profile or patient")


def _limb(fvc_l: float, c: float, k: float, rise_s: float, fs_hz: float, max_s: float) -> NDArray[np.float64]:
    """Raised-cosine rise to PEF, then flow = PEF u^k with du/dt = -c u^k (u: fraction of the volume left)."""
    n_rise = max(int(round(rise_s * fs_hz)), 1)
    t = np.arange(int(max_s * fs_hz)) / fs_hz
    if abs(k - 1.0) < 1e-6:
        u = np.exp(-c * t)
    else:
        u = np.clip(1.0 + (k - 1.0) * c * t, 0.0, None) ** (-1.0 / (k - 1.0)) if k > 1 else \
            np.clip(1.0 - (1.0 - k) * c * t, 0.0, None) ** (1.0 / (1.0 - k))
    decay = u ** k
    end = int(np.argmax(decay < 0.004)) if np.any(decay < 0.004) else decay.size
    rise = 0.5 * (1.0 - np.cos(np.pi * (np.arange(n_rise) + 0.5) / n_rise))
    flow = np.concatenate((rise, decay[:end], np.zeros(int(1.5 * fs_hz))))
    return np.asarray(flow * fvc_l / (np.sum(flow) / fs_hz), dtype=np.float64)


def _shaped_blow(fvc_l: float, fev1_l: float, k: float, rise_s: float, fs_hz: float) -> NDArray[np.float64]:
    """The blow of FVC ``fvc_l`` whose FEV1 (from the back-extrapolated time zero) is ``fev1_l``: bisection on c."""
    target = fev1_l / fvc_l
    n1 = int(round((rise_s / 2.0 + 1.0) * fs_hz))
    lo, hi = np.log(0.02), np.log(60.0)
    flow = _limb(fvc_l, 1.0, k, rise_s, fs_hz, 15.0)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        flow = _limb(fvc_l, float(np.exp(mid)), k, rise_s, fs_hz, 15.0)
        if float(np.sum(flow[:n1]) / fs_hz) / fvc_l < target:
            lo = mid
        else:
            hi = mid
    return flow


def patient_blow(p: SimPatient, *, seed: int = 0, fs_hz: float = 1000.0, fault: Fault | None = None,
                 inspiration: bool = True) -> FlowRecording:
    """One blow of the simulated patient: their true values lowered by this blow's effort (seeded; any two good
    blows differ by at most 100 mL, within the ATS/ERS 2019 repeatability limit of 150 mL), ``fault`` as in
    :func:`forced_expiration`. A poor-effort profile blows sub-maximally: slow rise, 8-20 % short, stops early."""
    if fault is not None and fault not in _FAULTS and fault != "slow_rise":
        raise InputError("Unknown fault", field="fault", value=fault, expected=", ".join([*_FAULTS, "slow_rise"]))
    if fs_hz < 100:
        raise InputError("Sampling rate too low", field="fs_hz", value=fs_hz, expected=">= 100 Hz")
    lungs = patient_lungs(p)
    prof = _profile(p.profile)
    rng = np.random.default_rng([p.patient_seed, seed, 104729])
    effort = min(abs(rng.normal(0.0, 0.012)), 0.03)
    fvc = lungs.fvc_l - min(effort * lungs.fvc_l, 0.10)
    fev1 = lungs.fev1_l - min((0.7 * effort + 0.3 * min(abs(rng.normal(0.0, 0.012)), 0.03)) * lungs.fev1_l, 0.10)
    rise_s = 0.30 if fault == "slow_rise" else float(rng.uniform(0.05, 0.07))
    k = lungs.k * float(rng.uniform(0.97, 1.03))
    if prof.poor_effort:
        short = float(rng.uniform(0.08, 0.20))
        fvc, fev1, rise_s = fvc * (1 - short), fev1 * (1 - 1.5 * short), float(rng.uniform(0.15, 0.30))
    flow = _shaped_blow(fvc, min(fev1, 0.99 * fvc), k, rise_s, fs_hz)
    if prof.poor_effort:
        flow = flow.copy()
        flow[int(rng.uniform(1.2, 2.0) * fs_hz):] = 0.0
    if fault is not None and fault in _FAULTS:
        flow = _FAULTS[fault](flow, fs_hz)
    flow = flow + rng.normal(0.0, 0.0005, flow.size) * (flow > 0)
    if inspiration:
        flow = _with_inspiration(flow, fvc, fs_hz)
    return FlowRecording(flow_l_s=np.ascontiguousarray(flow, dtype=np.float64), fs_hz=fs_hz)


def _with_inspiration(flow: NDArray[np.float64], fvc_l: float, fs_hz: float) -> NDArray[np.float64]:
    """A full inspiration (FIVC = FVC over 1.5 s) before the blow."""
    n = int(1.5 * fs_hz)
    shape = np.sin(np.pi * np.arange(n) / n)
    insp = -shape * fvc_l / (np.sum(shape) / fs_hz)
    return np.concatenate((np.zeros(int(0.2 * fs_hz)), insp, np.zeros(int(0.3 * fs_hz)), flow))


def simulated_blow(*, profile: str, fvc_l: float, pef_l_s: float, patient: SimPatient, seed: int, fs_hz: float,
                   fault: str | None) -> FlowRecording:
    """The simulators' blow: the fixed ``fvc_l``/``pef_l_s`` blow when both are given (> 0), else ``patient``'s."""
    f: Fault | None = fault or None  # type: ignore[assignment]
    if fvc_l > 0 and pef_l_s > 0:
        key = PROFILE_ALIASES.get(profile, profile)
        shape = "obstructive" if key.startswith("obstructive") else "normal" if key == "poor-effort" else key
        return forced_expiration(shape, fvc_l=fvc_l, pef_l_s=pef_l_s, fs_hz=fs_hz,  # type: ignore[arg-type]
                                 fault=f, seed=seed)
    return patient_blow(patient, seed=seed, fs_hz=fs_hz, fault=f)
