"""Diagnostic cleaning of an ECG (IEC 60601-2-25 / AHA 2007): zero-phase, every step recorded.

Chain (each step appended to ``applied_filters`` as ``FilterStep(applied_by="asalee")``; steps 2 and 3 only where
they improve the chain the device's declared filters start, see :func:`~asalee_devices.signal.ecg.chain.plan_steps`):

1. optional polyphase resampling to a common rate (``scipy.signal.resample_poly``, anti-aliasing built in);
2. baseline removal, complementary form of a zero-phase Butterworth order 2 at 0.05 Hz: the baseline is the
   zero-phase (forward-backward) low-pass of the 100-ms means of the lead (a 10 Hz series: the boxcar has its
   nulls at the multiples of 10 Hz, so nothing aliases onto the baseline), linearly interpolated back and
   subtracted. Response 1 - |H_lp|^2: -6 dB at 0.05 Hz, flat from 0.5 Hz; IEC impulse displacement ~35 µV.
   Explicit edge handling for 10-s records: the 10 Hz series is extended at each end by an odd reflection about
   the median of its first/last 200 ms over 8 s (2.5 time constants), so the ends have no step;
3. zero-phase Butterworth low-pass order 2 (4th-order magnitude once forward-backward) whose forward-backward response is -3 dB at 150 Hz (adults) or 250 Hz
   (children), only when the design cut-off stays below 0.8 x Nyquist (odd extension of 0.1 s at the ends);
4. mains cancelling (see :mod:`mains`) only when interference is present and the device has not notched.

NaN / lead-off samples are bridged by linear interpolation for filtering and put back as NaN afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from asalee_devices.errors import SignalError
from asalee_devices.signal.ecg.chain import lowpass_design_hz, plan_steps, restoration_hz, restore_highpass
from asalee_devices.signal.ecg.mains import cancel_mains
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set
from asalee_devices.signal.filters import FilterStep

Mode = Literal["adult", "child"]
HIGHPASS_HZ = 0.05
HIGHPASS_ORDER = 2
LOWPASS_ORDER = 2
LOWPASS_HZ: dict[str, float] = {"adult": 150.0, "child": 250.0}
EDGE_MEDIAN_S = 0.2
PAD_S = 8.0
#: Block length of the baseline estimate (100 ms: boxcar nulls at every multiple of 10 Hz).
BLOCK_S = 0.1


@dataclass(frozen=True)
class CleaningResult:
    recording: EcgRecording
    warnings: tuple[str, ...]


def _design_cutoff_for_zero_phase_lowpass(f3db_hz: float, order: int) -> float:
    """Butterworth design cut-off whose squared magnitude (forward-backward) is -3 dB at ``f3db_hz``:
    |H|^4 = 1/2  <=>  (f/fc)^(2N) = sqrt(2) - 1 (analogue prototype; the bilinear warping is handled by butter)."""
    return f3db_hz / float((np.sqrt(2.0) - 1.0) ** (1.0 / (2 * order)))


def _fill_invalid(x: NDArray[np.float64], flagged: NDArray[np.bool_] | None = None
                  ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Bridge NaN runs, and the samples ``flagged`` invalid (electrode off: a railed value must not enter the
    filters, whose zero-phase response would carry it into the good samples), by linear interpolation (rows
    entirely invalid stay as they are); returns (filled, invalid mask)."""
    bad = ~np.isfinite(x) if flagged is None else (~np.isfinite(x) | flagged)
    if not bad.any():
        return x, bad
    out = x.copy()
    idx = np.arange(x.shape[-1])
    for r in np.flatnonzero(bad.any(axis=-1)):
        good = ~bad[r]
        if good.any():
            out[r, bad[r]] = np.interp(idx[bad[r]], idx[good], x[r, good])
    return out, bad


def _odd_pad(x: NDArray[np.float64], pad: int, edge: int) -> NDArray[np.float64]:
    """Odd extension about the median of the first/last ``edge`` samples, ``pad`` samples on each side
    (reflection repeated when the record is shorter than the pad). The median, not the end sample, is the centre
    of symmetry so that noise on the last sample does not become a step."""
    n = x.shape[-1]
    m0 = np.median(x[:, :edge], axis=-1, keepdims=True)
    m1 = np.median(x[:, -edge:], axis=-1, keepdims=True)
    xp = np.pad(x, ((0, 0), (pad, pad)), mode="reflect", reflect_type="odd")
    xp[:, :pad] += 2 * (m0 - x[:, :1])
    xp[:, pad + n:] += 2 * (m1 - x[:, -1:])
    return xp


@lru_cache(maxsize=32)
def _baseline_sos(block_fs_hz: float, cutoff_hz: float) -> NDArray[np.float64]:
    sos: NDArray[np.float64] = signal.butter(HIGHPASS_ORDER, cutoff_hz, btype="lowpass", fs=block_fs_hz,
                                             output="sos")
    return sos


@lru_cache(maxsize=32)
def _lowpass_sos(fs_hz: float, design_hz: float) -> NDArray[np.float64]:
    sos: NDArray[np.float64] = signal.butter(LOWPASS_ORDER, design_hz, btype="lowpass", fs=fs_hz, output="sos")
    return sos


def lowpass_sos(fs_hz: float, mode: Mode, device_lowpass_hz: tuple[float, ...] = ()) -> tuple[
        NDArray[np.float64] | None, float]:
    """The low-pass SOS (None when the sampling rate does not allow it) and its design cut-off: the whole chain,
    with the device's declared low-passes, is -2.9 dB at the corner (:func:`~.chain.lowpass_design_hz`)."""
    design = lowpass_design_hz(float(fs_hz), LOWPASS_HZ[mode], device_lowpass_hz, LOWPASS_ORDER)
    if design is None:
        return None, _design_cutoff_for_zero_phase_lowpass(LOWPASS_HZ[mode], LOWPASS_ORDER)
    return _lowpass_sos(float(fs_hz), design), design


def baseline(x: NDArray[np.float64], fs_hz: float, cutoff_hz: float = HIGHPASS_HZ) -> NDArray[np.float64]:
    """The baseline of the finite rows of ``x`` (see step 2 of the module docstring); ``x - baseline(x)`` is the
    baseline-corrected trace."""
    if not 0 < cutoff_hz <= 0.15:
        raise SignalError("Baseline high-pass cut-off out of the diagnostic range", field="cutoff_hz",
                          value=cutoff_hz, expected="0 < cut-off <= 0.15 Hz (IEC impulse test)")
    rows, n = x.shape
    block = max(1, int(round(BLOCK_S * fs_hz)))
    nb = -(-n // block)
    if nb * block != n:  # partial last block: pad with its own mean (its centre is taken as regular)
        tail = x[:, (nb - 1) * block:]
        x = np.concatenate([x, np.repeat(tail.mean(axis=-1, keepdims=True), nb * block - n, axis=-1)], axis=-1)
    means = x.reshape(rows, nb, block).mean(axis=-1)
    block_fs = fs_hz / block
    edge = max(1, min(nb, int(round(EDGE_MEDIAN_S * block_fs))))
    pad = int(round(PAD_S * block_fs))
    ext = _odd_pad(means, pad, edge)
    low: NDArray[np.float64] = signal.sosfiltfilt(_baseline_sos(float(block_fs), float(cutoff_hz)), ext,
                                                  axis=-1, padtype=None)[:, pad:pad + nb]
    # Linear interpolation between block centres c_k = k*block + (block-1)/2, flat beyond the first/last centre.
    le = np.concatenate([low[:, :1], low, low[:, -1:]], axis=-1)  # le[k+1] = low[k]
    c0 = (block - 1) / 2.0
    u = (np.arange(block) - c0) / block  # position of each sample of a block relative to its centre
    m = int(np.count_nonzero(u < 0))  # samples before the centre (a prefix of the block)
    out = np.empty((rows, nb, block))
    a, b, c = le[:, :-2, None], le[:, 1:-1, None], le[:, 2:, None]
    out[:, :, :m] = a + (b - a) * (1 + u[:m])
    out[:, :, m:] = b + (c - b) * u[m:]
    res: NDArray[np.float64] = out.reshape(rows, nb * block)[:, :n]
    return res


@lru_cache(maxsize=32)
def _sos_zi(sos_key: bytes, n_sections: int) -> NDArray[np.float64]:
    sos = np.frombuffer(sos_key).reshape(n_sections, 6)
    zi: NDArray[np.float64] = signal.sosfilt_zi(sos)
    return zi


def lowpass(x: NDArray[np.float64], sos: NDArray[np.float64], fs_hz: float) -> NDArray[np.float64]:
    """Zero-phase (forward-backward) low-pass of the finite rows of ``x``, odd extension of 0.1 s about the end
    samples (what ``sosfiltfilt`` does, without its per-call set-up)."""
    n = x.shape[-1]
    padlen = min(n - 1, int(round(0.1 * fs_hz)))
    if padlen < 1:
        return x.copy()
    ext = np.concatenate([2 * x[:, :1] - x[:, padlen:0:-1], x, 2 * x[:, -1:] - x[:, -2:-padlen - 2:-1]], axis=-1)
    zi = _sos_zi(np.ascontiguousarray(sos).tobytes(), sos.shape[0])  # (sections, 2)
    y, _ = signal.sosfilt(sos, ext, axis=-1, zi=zi[:, None, :] * ext[None, :, :1])
    y = np.ascontiguousarray(y[:, ::-1])
    y, _ = signal.sosfilt(sos, y, axis=-1, zi=zi[:, None, :] * y[None, :, :1])
    out: NDArray[np.float64] = y[:, ::-1][:, padlen:padlen + n]
    return out


def resample(rec: EcgRecording, target_hz: float) -> EcgRecording:
    """Polyphase resampling of every lead to ``target_hz`` (Kaiser-windowed FIR anti-aliasing of resample_poly)."""
    if not np.isfinite(target_hz) or target_hz <= 0:
        raise SignalError("Resampling rate must be positive", field="resample_hz", value=target_hz,
                          expected="> 0 Hz")
    if abs(target_hz - rec.fs_hz) < 1e-9:
        return rec
    ratio = Fraction(target_hz / rec.fs_hz).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    if abs(rec.fs_hz * up / down - target_hz) > 1e-6 * target_hz:
        raise SignalError("Resampling ratio not representable", field="resample_hz", value=target_hz,
                          expected="a rational multiple of the sampling rate (denominator <= 1000)")
    filled, bad = _fill_invalid(rec.samples_uv)
    dead = np.asarray(~np.isfinite(filled).all(axis=-1), dtype=bool)
    work = np.where(dead[:, None], 0.0, filled)
    med = np.median(work, axis=-1, keepdims=True)
    y = signal.resample_poly(work - med, up, down, axis=-1, padtype="line") + med
    n_out = y.shape[-1]
    src_idx = np.minimum((np.arange(n_out) * down) // up, rec.n_samples - 1)
    off = bad[:, src_idx]
    if rec.lead_off is not None:
        off = off | rec.lead_off[:, src_idx]
    y[off] = np.nan
    y[dead] = np.nan
    step = FilterStep(kind="resample", applied_by="asalee", cutoff_hz=float(target_hz), design="polyphase",
                      note=f"{rec.fs_hz:g} -> {target_hz:g} Hz (x{up}/{down}, Kaiser FIR anti-aliasing)")
    gaps = tuple((int(a * up // down), int(b * up // down)) for a, b in rec.gaps)
    return replace(rec, samples_uv=y, fs_hz=float(target_hz),
                   lead_off=None if rec.lead_off is None else rec.lead_off[:, src_idx],
                   applied_filters=rec.applied_filters + (step,), gaps=gaps)


def _device_notched(rec: EcgRecording) -> bool:
    return any(f.kind in ("notch", "mains_canceller") for f in rec.device_filters)


def clean_ecg(rec: EcgRecording, *, mains_hz: float = 50.0, mode: Mode = "adult",
              resample_hz: float | None = None, mains: Literal["auto", "on", "off"] = "auto") -> CleaningResult:
    """Run the diagnostic chain on ``rec``; returns the cleaned recording (``applied_filters`` extended) and
    warnings (steps skipped and why).

    Every step is linear and shared by all leads, so limb leads that ``rec`` marks as derived are not filtered
    themselves but derived again from the cleaned measured leads (same result, exact identities, less work)."""
    if mode not in LOWPASS_HZ:
        raise SignalError("Unknown cleaning mode", field="mode", value=mode, expected="adult or child")
    if resample_hz is not None:
        rec = resample(rec, resample_hz)
    if rec.derived_leads and rec.derived_leads <= _LIMB and len(_LIMB - rec.derived_leads) < len(_LIMB):
        keep = [k for k, n in enumerate(rec.leads) if n not in rec.derived_leads]
        base = replace(rec, samples_uv=rec.samples_uv[keep], leads=tuple(rec.leads[k] for k in keep),
                       lead_off=None if rec.lead_off is None else rec.lead_off[keep], derived_leads=frozenset())
        if complete_lead_set(base).leads == rec.leads:
            res = _clean(base, mains_hz, mode, mains)
            full = complete_lead_set(res.recording)
            return CleaningResult(replace(full, derived_leads=rec.derived_leads), res.warnings)
    return _clean(rec, mains_hz, mode, mains)


_LIMB = frozenset({"I", "II", "III", "aVR", "aVL", "aVF"})


def _clean(rec: EcgRecording, mains_hz: float, mode: Mode, mains: Literal["auto", "on", "off"]) -> CleaningResult:
    warnings: list[str] = []
    fs = rec.fs_hz
    steps: list[FilterStep] = []
    filled, bad = _fill_invalid(rec.samples_uv, rec.lead_off)
    live = np.isfinite(filled).all(axis=-1) & ~bad.all(axis=-1)
    all_live = bool(live.all())
    x = filled if all_live else filled[live]
    if x.shape[0] and rec.n_samples >= 2:
        want_hp, want_lp = plan_steps(rec.device_filters, LOWPASS_HZ[mode])
        undo = restoration_hz(rec.device_filters)
        if undo is not None:
            x = restore_highpass(x, fs, undo)
            steps.append(FilterStep(kind="highpass", applied_by="asalee", cutoff_hz=HIGHPASS_HZ, order=1,
                                    zero_phase=False, design="first-order restoration", restores_hz=undo,
                                    note=f"undoes the device's {undo:g} Hz high-pass (taken as first order): the "
                                         f"chain is a {HIGHPASS_HZ:g} Hz first-order high-pass"))
        elif want_hp:
            x = x - baseline(x, fs)
            steps.append(FilterStep(kind="highpass", applied_by="asalee", cutoff_hz=HIGHPASS_HZ,
                                    order=HIGHPASS_ORDER, zero_phase=True, design="Butterworth (complementary)",
                                    note="baseline = forward-backward low-pass of 100-ms means, subtracted; "
                                         "odd extension about the edge medians"))
        device_lp = tuple(float(s.cutoff_hz) for s in rec.device_filters
                          if s.kind == "lowpass" and s.cutoff_hz and s.cutoff_hz > LOWPASS_HZ[mode])
        lp, design = lowpass_sos(fs, mode, device_lp)
        if not want_lp:
            pass  # the device's low-pass already bounds the band: a second one would only lower the corner
        elif lp is not None:
            x = lowpass(x, lp, fs)
            steps.append(FilterStep(kind="lowpass", applied_by="asalee", cutoff_hz=LOWPASS_HZ[mode],
                                    order=LOWPASS_ORDER, zero_phase=True, design="Butterworth", design_hz=design,
                                    note=f"whole chain -2.9 dB at {LOWPASS_HZ[mode]:g} Hz after forward-backward "
                                         f"(design cut-off {design:.1f} Hz)"))
        else:
            warnings.append(f"low-pass {LOWPASS_HZ[mode]:g} Hz skipped: sampling rate {fs:g} Hz too low "
                            "(the band is limited by the sampling itself)")
        if mains != "off":
            # Detected on the band-limited trace (baseline power would dilute the fraction).
            res = cancel_mains(x, fs, mains_hz, device_notched=_device_notched(rec), force=(mains == "on"))
            if res.step is not None:
                x = res.samples_uv
                steps.append(res.step)
            elif "device" in res.reason:
                warnings.append("mains cancelling skipped: " + res.reason)
    if all_live and x.shape == filled.shape:
        out = x if x is not filled else x.copy()
    else:
        out = np.full_like(filled, np.nan)
        if x.shape[0]:
            out[live] = x
    if bad.any():
        out[bad] = np.nan
    cleaned = replace(rec, samples_uv=out, applied_filters=rec.applied_filters + tuple(steps))
    return CleaningResult(cleaned, tuple(warnings))
