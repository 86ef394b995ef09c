"""Calibration verification with a 3-L syringe (ATS/ERS 2019): the volume the spirometer reads for each syringe
stroke must be within +/-3 % of the syringe's volume (2.5 % for the spirometer + 0.5 % for the syringe: 2.91-3.09 L
for a 3-L syringe), and a flow-sensing spirometer is verified at three different flows, from about 0.5 to 12 L/s
(injection times of about 6 s down to under 1 s). Codes and numbers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import InputError, SignalError
from asalee_devices.signal.validate import check_sampling_rate

TOLERANCE_PCT = 3.0
SYRINGE_VOLUME_RANGE_L = (1.0, 3.0)
SYRINGE_ACCURACY_MAX_PCT = 1.0
#: Flow bands of the three strokes, by the stroke's mean flow (L/s): ~6 s, ~1.5 s and < 1 s for 3 L.
FLOW_BANDS: tuple[tuple[str, float, float], ...] = (("low", 0.2, 1.5), ("mid", 1.5, 4.0), ("high", 4.0, 14.0))
#: Flow above which the syringe is moving (L/s).
MOVING_FLOW_L_S = 0.05


@dataclass(frozen=True)
class Stroke:
    """One syringe stroke as the spirometer measured it."""

    volume_l: float
    mean_flow_l_s: float
    peak_flow_l_s: float | None = None


@dataclass(frozen=True)
class StrokeResult:
    volume_l: float
    mean_flow_l_s: float
    band: str  # low / mid / high / out_of_range
    error_pct: float
    passed: bool


@dataclass(frozen=True)
class SyringeVerification:
    """The verdict of one calibration verification."""

    syringe_volume_l: float
    syringe_accuracy_pct: float
    tolerance_pct: float
    strokes: tuple[StrokeResult, ...]
    missing_bands: tuple[str, ...]
    passed: bool


def check_syringe(volume_l: float, accuracy_pct: float) -> None:
    """Refuse a syringe the verification cannot use (volume 1-3 L, accuracy within 1 %).

    Parameters
    ----------
    volume_l : float
        Nominal syringe volume (L).
    accuracy_pct : float
        Syringe accuracy (% of its volume).

    Raises
    ------
    InputError
        When the volume or the accuracy is out of range.
    """
    lo, hi = SYRINGE_VOLUME_RANGE_L
    if isinstance(volume_l, bool) or not isinstance(volume_l, int | float) or not lo <= volume_l <= hi:
        raise InputError("Calibration syringe volume out of range", field="syringe_volume_l", value=volume_l,
                         expected=f"{lo:g}-{hi:g} L (a 3-L syringe)")
    if isinstance(accuracy_pct, bool) or not isinstance(accuracy_pct, int | float) or not (
            0.0 < accuracy_pct <= SYRINGE_ACCURACY_MAX_PCT):
        raise InputError("Calibration syringe accuracy out of range", field="syringe_accuracy_pct",
                         value=accuracy_pct, expected=f"0-{SYRINGE_ACCURACY_MAX_PCT:g} % (ATS/ERS: 0.5 %, 15 mL)")


def stroke_from_flow(flow_l_s: NDArray[np.float64], fs_hz: float) -> Stroke:
    """The stroke in a flow recording: the volume pushed (positive flow integrated) and its mean and peak flow.

    Parameters
    ----------
    flow_l_s : ndarray of float
        Flow samples of one syringe stroke (L/s, pushed positive).
    fs_hz : float
        Sampling rate (Hz).

    Returns
    -------
    Stroke
        Volume (L), mean and peak flow (L/s).

    Raises
    ------
    SignalError
        When the samples are not finite or hold no stroke of at least 0.1 L.
    """
    flow = np.asarray(flow_l_s, dtype=np.float64)
    check_sampling_rate(fs_hz)
    if flow.size < 2 or not np.all(np.isfinite(flow)):
        raise SignalError("Syringe stroke recording unusable", field="flow_l_s", expected="finite flow samples")
    pushed = np.clip(flow, 0.0, None)
    volume = float(np.sum((pushed[1:] + pushed[:-1]) * 0.5)) / fs_hz
    moving = int(np.count_nonzero(flow > MOVING_FLOW_L_S))
    if moving == 0 or volume < 0.1:
        raise SignalError("No syringe stroke in the recording", field="flow_l_s", value=round(volume, 3),
                          expected="one stroke of the syringe (>= 0.1 L)")
    return Stroke(volume, volume / (moving / fs_hz), float(flow.max()))


def band_of(mean_flow_l_s: float) -> str:
    """The flow band (low, mid, high) a stroke's mean flow falls in.

    Parameters
    ----------
    mean_flow_l_s : float
        Mean flow of the stroke (L/s).

    Returns
    -------
    str
        The band's name (``FLOW_BANDS``), ``"out_of_range"`` outside every band.
    """
    return next((name for name, lo, hi in FLOW_BANDS if lo <= mean_flow_l_s < hi), "out_of_range")


def verify_syringe(syringe_volume_l: float, strokes: Sequence[Stroke], *, syringe_accuracy_pct: float = 0.5,
                   tolerance_pct: float = TOLERANCE_PCT) -> SyringeVerification:
    """Each stroke within +/-``tolerance_pct`` of the syringe volume, and the three flow bands covered.

    Parameters
    ----------
    syringe_volume_l : float
        Nominal syringe volume (L).
    strokes : sequence of Stroke
        The measured strokes (3 to 12: low, mid and high flow).
    syringe_accuracy_pct : float, optional
        Syringe accuracy (% of its volume).
    tolerance_pct : float, optional
        Accepted error of each stroke (% of the syringe volume; ATS/ERS 2019: 3 %).

    Returns
    -------
    SyringeVerification
        Per-stroke results, the flow bands not covered and the verdict.

    Raises
    ------
    InputError
        When the syringe is unusable, the number of strokes is out of range or a stroke is not positive.
    """
    check_syringe(syringe_volume_l, syringe_accuracy_pct)
    if not 1 <= len(strokes) <= 12:
        raise InputError("Calibration needs one stroke per flow", field="strokes", value=len(strokes),
                         expected="3 strokes (low, mid and high flow), at most 12")
    results: list[StrokeResult] = []
    for s in strokes:
        if not (np.isfinite(s.volume_l) and np.isfinite(s.mean_flow_l_s)) or s.volume_l <= 0 or s.mean_flow_l_s <= 0:
            raise InputError("Measured syringe stroke is not a positive volume and flow", field="strokes",
                             value=f"{s.volume_l} L at {s.mean_flow_l_s} L/s", expected="positive numbers")
        error = 100.0 * (s.volume_l - syringe_volume_l) / syringe_volume_l
        results.append(StrokeResult(s.volume_l, s.mean_flow_l_s, band_of(s.mean_flow_l_s), error,
                                    abs(error) <= tolerance_pct + 1e-9))
    covered = {r.band for r in results}
    missing = tuple(name for name, _, _ in FLOW_BANDS if name not in covered)
    return SyringeVerification(syringe_volume_l, syringe_accuracy_pct, tolerance_pct, tuple(results), missing,
                               passed=all(r.passed for r in results) and not missing)
