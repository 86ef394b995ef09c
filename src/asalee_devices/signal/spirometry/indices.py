"""Per-manoeuvre indices (ATS/ERS 2019): back-extrapolated time zero, BEV, PEF, timed volumes, flows, FET, EOFE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import InputError, SignalError
from asalee_devices.signal.spirometry.recording import MIN_SPIRO_FS_HZ, FlowRecording
from asalee_devices.signal.validate import check_sampling_rate

#: Flow below which the patient is considered not blowing (L/s).
ZERO_FLOW_L_S = 0.025
#: Smallest exhaled volume that counts as a blow (L).
MIN_BLOW_VOLUME_L = 0.1
#: Inspiratory flow a forced inspiration after the blow must reach to be read as one (L/s): a small constant negative
#: flow is a zero-flow offset, not an inspiration.
MIN_INSPIRATORY_FLOW_L_S = 0.5


@dataclass(frozen=True)
class EofeRule:
    """End-of-forced-expiration rule; default ATS/ERS 2019 (< 0.025 L over the last 1 s, or FET >= 15 s)."""

    plateau_volume_l: float = 0.025
    plateau_window_s: float = 1.0
    max_fet_s: float = 15.0


EOFE_2019 = EofeRule()


@dataclass(frozen=True)
class ManoeuvreIndices:
    """Indices of one forced expiration. Times are from the start of the recording unless named otherwise."""

    fs_hz: float
    blow_start_s: float
    t0_s: float
    pef_time_s: float
    end_of_expiration_s: float
    pef_l_s: float
    bev_l: float
    rise_time_ms: float
    time_to_pef_ms: float
    fev0_75_l: float | None
    fev1_l: float | None
    fev6_l: float | None
    fvc_l: float
    fev1_fvc: float | None
    fef25_l_s: float
    fef50_l_s: float
    fef75_l_s: float
    fef25_75_l_s: float
    fet_s: float
    hesitation_time_s: float | None
    plateau_volume_change_l: float | None
    eofe_plateau: bool
    eofe_fet: bool
    fivc_l: float | None
    #: end of the exhaled segment: the first inspiratory sample after PEF, or the end of the recording
    exhaled_segment_end_s: float = float("nan")


def validate_recording(rec: FlowRecording) -> NDArray[np.float64]:
    """Check the recording is analysable.

    Parameters
    ----------
    rec : FlowRecording
        One manoeuvre (flow in L/s).

    Returns
    -------
    ndarray of float
        Its flow samples (L/s).

    Raises
    ------
    InputError
        When the recording has no samples.
    SignalError
        When a sample is not finite or the sampling rate is below ``MIN_SPIRO_FS_HZ``.
    """
    flow = rec.flow_l_s
    if flow.size == 0:
        raise InputError("The manoeuvre has no samples", field="flow_l_s", expected="a non-empty flow signal")
    if not np.all(np.isfinite(flow)):
        raise SignalError("The flow signal contains NaN or infinite values", field="flow_l_s",
                          value=int(np.count_nonzero(~np.isfinite(flow))), expected="finite values only")
    check_sampling_rate(rec.fs_hz, minimum_hz=MIN_SPIRO_FS_HZ, purpose="forced spirometry")
    return flow


def from_volume(volume_l: NDArray[np.float64], fs_hz: float) -> FlowRecording:
    """Build a flow recording from a regularly sampled volume-time curve (exhaled positive).

    Parameters
    ----------
    volume_l : ndarray of float
        Volume samples (L), at least 3.
    fs_hz : float
        Sampling rate (Hz).

    Returns
    -------
    FlowRecording
        The flow (L/s) by central differences (its trapezoid integral gives back the volume to O(dt^2)).

    Raises
    ------
    InputError
        When the curve is not 1-D with at least 3 samples.
    SignalError
        When a sample is not finite or the sampling rate is not positive.
    """
    v = np.asarray(volume_l, dtype=np.float64)
    if v.ndim != 1 or v.size < 3:
        raise InputError("Volume-time curve must be 1-D with at least 3 samples", field="volume_l",
                         expected="1-D array in L")
    if not np.all(np.isfinite(v)):
        raise SignalError("The volume signal contains NaN or infinite values", field="volume_l",
                          expected="finite values only")
    check_sampling_rate(fs_hz)
    # Central differences: the trapezoid integral of this flow reproduces v to O(dt^2).
    return FlowRecording(flow_l_s=np.gradient(v, 1.0 / fs_hz), fs_hz=fs_hz)


def _cross_time(t: NDArray[Any], y: NDArray[Any], level: float) -> float:
    """First time y reaches ``level`` (y increasing overall), linearly interpolated."""
    idx = int(np.argmax(y >= level))
    if idx == 0:
        return float(t[0])
    y0, y1 = y[idx - 1], y[idx]
    return float(t[idx - 1] + (level - y0) / (y1 - y0) * (t[idx] - t[idx - 1]))


def manoeuvre_indices(rec: FlowRecording, eofe: EofeRule = EOFE_2019) -> ManoeuvreIndices:
    """Compute all indices of one forced expiration (flow-time, exhaled positive).

    Parameters
    ----------
    rec : FlowRecording
        The manoeuvre (flow in L/s).
    eofe : EofeRule, optional
        End-of-forced-expiration criteria (ATS/ERS 2019 by default).

    Returns
    -------
    ManoeuvreIndices
        t0 by back-extrapolation, BEV, FEV0.75/FEV1/FVC (L), PEF (L/s), FEF25-75, FET, EOFE flags, hesitation.

    Raises
    ------
    SignalError
        When the recording is unusable or holds no forced expiration.
    """
    flow = validate_recording(rec)
    fs = rec.fs_hz
    dt = 1.0 / fs
    n = flow.size
    t = np.arange(n) * dt
    ipef = int(np.argmax(flow))
    pef = float(flow[ipef])
    if pef <= ZERO_FLOW_L_S:
        raise SignalError("No expiration found in the manoeuvre", field="flow_l_s", value=round(pef, 3),
                          expected=f"a forced blow with peak flow > {ZERO_FLOW_L_S} L/s")
    # Start of the blow: last sample at or below zero flow before PEF (start of the exhaled segment).
    before = np.nonzero(flow[: ipef + 1] <= 0.0)[0]
    istart = int(before[-1]) if before.size else 0
    # End of the exhaled segment: first sample after PEF where flow turns inspiratory.
    after = np.nonzero(flow[ipef:] < -ZERO_FLOW_L_S)[0]
    iend_seg = ipef + int(after[0]) if after.size else n - 1
    seg = flow[istart: iend_seg + 1]
    vol = np.concatenate(([0.0], np.cumsum((seg[1:] + seg[:-1]) * 0.5 * dt)))
    ts = t[istart: iend_seg + 1]
    fvc = float(vol.max())
    if fvc < MIN_BLOW_VOLUME_L:
        raise SignalError("No expiration found in the manoeuvre", field="flow_l_s", value=round(fvc, 3),
                          expected=f"an exhaled volume >= {MIN_BLOW_VOLUME_L} L")
    iv_end = int(np.argmax(vol >= fvc - 1e-12))
    t_pef = float(t[ipef])
    v_pef = float(vol[ipef - istart])
    t0 = t_pef - v_pef / pef
    bev = float(np.interp(t0, ts, vol)) if t0 > ts[0] else 0.0

    def fev(sec: float) -> float | None:
        tt = t0 + sec
        if tt > ts[iv_end]:
            return fvc if ts[iv_end] < ts[-1] or tt <= ts[-1] else None
        return float(np.interp(tt, ts, vol))

    # Rise time 10-90 % of PEF, on the rising limb before PEF.
    rise = seg[: ipef - istart + 1]
    trise = ts[: ipef - istart + 1]
    t10 = _cross_time(trise, rise, 0.1 * pef)
    t90 = _cross_time(trise, rise, 0.9 * pef)
    # Volume-based flows, on the monotone envelope of the exhaled volume.
    venv = np.maximum.accumulate(vol)
    t25, t50, t75 = (_cross_time(ts, venv, q * fvc) for q in (0.25, 0.5, 0.75))
    fef = [float(np.interp(x, ts, seg)) for x in (t25, t50, t75)]
    fef25_75 = 0.5 * fvc / (t75 - t25) if t75 > t25 else float("nan")
    # End of expiration read from the flow itself: where the exhaled volume stops growing (the last exhaled flow);
    # zero samples recorded after the patient stopped never lengthen FET.
    t_end = float(ts[iv_end])
    fet = t_end - t0
    # Plateau: volume change over the last window of expiration (to the end of the exhaled segment).
    t_last = float(ts[-1])
    if t_last - t0 >= eofe.plateau_window_s:
        plateau_dv: float | None = float(venv[-1] - np.interp(t_last - eofe.plateau_window_s, ts, venv))
    else:
        plateau_dv = None
    eofe_plateau = plateau_dv is not None and plateau_dv < eofe.plateau_volume_l
    # Hesitation: from maximal inspiration (lowest volume before the blow) to t0, when inspiration is recorded.
    hesitation: float | None = None
    pre = flow[: istart + 1]
    if pre.size > 1 and float(pre.min()) < -ZERO_FLOW_L_S:
        vpre = np.concatenate(([0.0], np.cumsum((pre[1:] + pre[:-1]) * 0.5 * dt)))
        hesitation = t0 - float(t[int(np.argmin(vpre))])
    # Forced inspiration after the blow (FIVC), when recorded.
    fivc: float | None = None
    post = flow[iend_seg:]
    if post.size > 1 and float(post.min()) < -MIN_INSPIRATORY_FLOW_L_S:
        vpost = np.cumsum((post[1:] + post[:-1]) * 0.5 * dt)
        fivc = float(-vpost.min())
    fev1 = fev(1.0)
    return ManoeuvreIndices(
        fs_hz=fs, blow_start_s=float(t[istart]), t0_s=t0, pef_time_s=t_pef, end_of_expiration_s=t_end,
        pef_l_s=pef, bev_l=bev, rise_time_ms=(t90 - t10) * 1000.0, time_to_pef_ms=(t_pef - t0) * 1000.0,
        fev0_75_l=fev(0.75), fev1_l=fev1, fev6_l=fev(6.0) if fet >= 6.0 else None, fvc_l=fvc,
        fev1_fvc=None if fev1 is None else fev1 / fvc,
        fef25_l_s=fef[0], fef50_l_s=fef[1], fef75_l_s=fef[2], fef25_75_l_s=fef25_75, fet_s=fet,
        hesitation_time_s=hesitation, plateau_volume_change_l=plateau_dv, eofe_plateau=eofe_plateau,
        eofe_fet=fet >= eofe.max_fet_s, fivc_l=fivc, exhaled_segment_end_s=float(t[iend_seg]),
    )
