"""Synthetic 12-lead ECGs (pure numpy): a beat is a sum of Gaussian waves (P, Q, R, S, T) of a 3-D heart vector,
projected on each lead's direction, so the 8 independent leads are mutually consistent and the limb leads derived
from I and II satisfy Einthoven exactly. Artefacts: baseline wander, mains (50 Hz), muscle noise, an electrode off,
amplifier saturation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import InputError
from asalee_devices.signal.ecg.recording import INDEPENDENT_LEADS, EcgRecording, complete_lead_set

#: electrodes of a 12-lead acquisition (RL is the driven reference, not measured)
ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")

#: which independent leads an electrode feeds (I = LA - RA, II = LL - RA, Vk = Vk - WCT)
ELECTRODE_LEADS: dict[str, tuple[str, ...]] = {
    "RA": ("I", "II"), "LA": ("I",), "LL": ("II",),
    **{f"V{k}": (f"V{k}",) for k in range(1, 7)},
}


@dataclass(frozen=True)
class _Wave:
    name: str
    delay_s: float  # after the beat onset (P-wave start reference)
    width_s: float
    amplitude_mv: float
    direction: tuple[float, float, float]  # unit-ish heart-vector direction (x left, y down, z anterior)


# A normal adult beat: frontal QRS axis ~ +60 deg, R progression across the precordium, upright T.
_WAVES: tuple[_Wave, ...] = (
    _Wave("P", 0.08, 0.025, 0.15, (0.5, 0.8, 0.1)),
    _Wave("Q", 0.215, 0.010, 0.15, (-0.4, -0.1, -0.6)),
    _Wave("R", 0.24, 0.012, 1.4, (0.5, 0.8, 0.3)),
    _Wave("S", 0.265, 0.012, 0.45, (-0.2, -0.3, 0.9)),
    _Wave("T", 0.50, 0.055, 0.35, (0.6, 0.7, -0.3)),
)

#: lead directions in the (x, y, z) frame: frontal plane for I and II, horizontal plane for V1..V6
_LEAD_AXES: dict[str, tuple[float, float, float]] = {
    "I": (1.0, 0.0, 0.0),
    "II": (0.5, 0.866, 0.0),
    "V1": (-0.45, 0.0, -0.9),
    "V2": (-0.1, 0.0, -1.0),
    "V3": (0.3, 0.1, -0.95),
    "V4": (0.65, 0.2, -0.7),
    "V5": (0.9, 0.2, -0.35),
    "V6": (1.0, 0.2, 0.0),
}


#: frontal angle of the generator's R-wave vector (from lead I toward the feet), before any ``axis_deg`` rotation
NATIVE_AXIS_DEG = float(np.degrees(np.arctan2(0.8, 0.5)))


@dataclass(frozen=True)
class EcgPatient:
    """A simulated patient's resting ECG: rate, frontal QRS axis and amplitude (drawn by :func:`ecg_patient`)."""

    heart_rate_bpm: float
    axis_deg: float
    amplitude_scale: float


def ecg_patient(seed: int) -> EcgPatient:
    """Reproducible adult variability: rate 52-100 bpm, axis -20 to +95 deg, QRS amplitude x0.6-1.5."""
    rng = np.random.default_rng([seed, 6151])
    return EcgPatient(float(rng.uniform(52.0, 100.0)), float(rng.uniform(-20.0, 95.0)), float(rng.uniform(0.6, 1.5)))


def _rotate_frontal(d: NDArray[np.float64], delta_deg: float) -> NDArray[np.float64]:
    c, s = np.cos(np.radians(delta_deg)), np.sin(np.radians(delta_deg))
    return np.asarray([c * d[0] - s * d[1], s * d[0] + c * d[1], d[2]])


def _beat_times(duration_s: float, heart_rate_bpm: float, rr_jitter: float,
                rng: np.random.Generator) -> NDArray[np.float64]:
    rr = 60.0 / heart_rate_bpm
    onsets = [-rr * rng.uniform(0.2, 0.8)]
    while onsets[-1] < duration_s:
        onsets.append(onsets[-1] + rr * (1.0 + rng.normal(0.0, rr_jitter)))
    return np.asarray(onsets, dtype=np.float64)


def twelve_lead_ecg(
    *,
    duration_s: float = 10.0,
    fs_hz: float = 500.0,
    heart_rate_bpm: float = 70.0,
    seed: int = 0,
    rr_jitter: float = 0.02,
    baseline_wander_uv: float = 0.0,
    mains_uv: float = 0.0,
    mains_hz: float = 50.0,
    muscle_noise_uv: float = 0.0,
    electrode_off: str | None = None,
    electrode_off_from_s: float = 0.0,
    saturation_uv: float | None = None,
    axis_deg: float = NATIVE_AXIS_DEG,
    amplitude_scale: float = 1.0,
    respiration_mod: float = 0.0,
) -> EcgRecording:
    """A resting 12-lead ECG in µV (I, II, V1-V6 generated; III, aVR, aVL, aVF derived).

    ``electrode_off`` names an electrode of :data:`ELECTRODES`; from ``electrode_off_from_s`` the leads it feeds
    drift to a railed value and are flagged in ``lead_off``. ``saturation_uv`` clips every independent lead to
    +/- that value (flagged as lead-off too, as an ADC at full scale is invalid data). ``axis_deg`` turns the heart
    vector in the frontal plane (the frontal QRS axis), ``amplitude_scale`` scales every wave, ``respiration_mod``
    modulates the beats' amplitude with breathing (0.25 Hz, fraction of the amplitude).
    """
    if not (1.0 <= duration_s <= 600.0):
        raise InputError("ECG duration out of range", field="duration_s", value=duration_s, expected="1-600 s")
    if not (100.0 <= fs_hz <= 10000.0):
        raise InputError("ECG sampling rate out of range", field="fs_hz", value=fs_hz, expected="100-10000 Hz")
    if not (20.0 <= heart_rate_bpm <= 250.0):
        raise InputError("Heart rate out of range", field="heart_rate_bpm", value=heart_rate_bpm,
                         expected="20-250 bpm")
    if electrode_off is not None and electrode_off not in ELECTRODE_LEADS:
        raise InputError("Unknown electrode", field="electrode_off", value=electrode_off,
                         expected=", ".join(ELECTRODES))
    if not (0.1 <= amplitude_scale <= 5.0 and 0.0 <= respiration_mod < 0.5):
        raise InputError("ECG amplitude out of range", field="amplitude_scale/respiration_mod",
                         value=(amplitude_scale, respiration_mod), expected="0.1-5 and 0-0.5")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs_hz))
    directions = {w.name: _rotate_frontal(np.asarray(w.direction) / np.linalg.norm(w.direction),
                                          axis_deg - NATIVE_AXIS_DEG) for w in _WAVES}
    breath_phase = rng.uniform(0, 2 * np.pi) if respiration_mod else 0.0
    t = np.arange(n) / fs_hz
    # QT shortens with heart rate (Bazett-like scaling of the T delay); the QRS does not.
    qt_scale = np.sqrt(60.0 / heart_rate_bpm)
    heart = np.zeros((3, n))
    for onset in _beat_times(duration_s, heart_rate_bpm, rr_jitter, rng):
        gain = amplitude_scale * (1.0 + respiration_mod * np.sin(2 * np.pi * 0.25 * onset + breath_phase))
        for w in _WAVES:
            delay = w.delay_s if w.name != "T" else 0.24 + (w.delay_s - 0.24) * qt_scale
            centre = onset + delay
            lo, hi = np.searchsorted(t, (centre - 5 * w.width_s, centre + 5 * w.width_s))
            if hi <= lo:
                continue
            g = gain * w.amplitude_mv * 1000.0 * np.exp(-0.5 * ((t[lo:hi] - centre) / w.width_s) ** 2)
            d = directions[w.name]
            heart[:, lo:hi] += d[:, None] * g[None, :]
    rows = []
    for lead in INDEPENDENT_LEADS:
        axis = np.asarray(_LEAD_AXES[lead])
        rows.append(axis @ heart)
    x = np.vstack(rows)
    if baseline_wander_uv:
        phase = rng.uniform(0, 2 * np.pi, (len(rows), 1))
        x += baseline_wander_uv * (np.sin(2 * np.pi * 0.25 * t + phase) + 0.4 * np.sin(2 * np.pi * 0.11 * t))
    if mains_uv:
        x += mains_uv * np.sin(2 * np.pi * mains_hz * t + rng.uniform(0, 2 * np.pi, (len(rows), 1)))
    if muscle_noise_uv:
        # white noise low-passed by a 5-point moving average: broadband EMG-like content up to ~fs/10
        noise = rng.normal(0.0, muscle_noise_uv * np.sqrt(5.0), x.shape)
        kernel = np.ones(5) / 5.0
        x += np.vstack([np.convolve(r, kernel, mode="same") for r in noise])
    off = np.zeros(x.shape, dtype=bool)
    if electrode_off is not None:
        start = int(round(electrode_off_from_s * fs_hz))
        for lead in ELECTRODE_LEADS[electrode_off]:
            k = INDEPENDENT_LEADS.index(lead)
            off[k, start:] = True
            x[k, start:] = 300_000.0  # railed input: the amplifier sits at its positive limit
    if saturation_uv is not None:
        sat = np.abs(x) >= saturation_uv
        x = np.clip(x, -saturation_uv, saturation_uv)
        off |= sat
    rec = EcgRecording(x, float(fs_hz), INDEPENDENT_LEADS, lead_off=off)
    return complete_lead_set(rec)
