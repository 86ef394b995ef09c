"""Per-lead technical quality of an ECG, with a threshold per indicator: codes and numbers only.

Technical facts only ("hors interprétation"); the nurse's message for each code (FR/EN) is in
:mod:`asalee_devices.messages.ecg`, and none describes the heart.
Indicators are computed on the recording as acquired (device-filtered), except the high-frequency noise, which
is measured after baseline removal and mains cancelling so that mains is not counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from asalee_devices.signal.ecg.cleaning import baseline
from asalee_devices.signal.ecg.mains import mains_fraction
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgQuality, LeadQuality, QualityCode, QualityFinding, Verdict

#: Share of samples flagged off / NaN above which a lead is reported (electrode off or intermittent) ...
LEAD_OFF_FRACTION = 0.05
#: ... and above which it is treated as disconnected (no other indicator computed).
DISCONNECTED_FRACTION = 0.5
#: A lead whose peak-to-peak over the whole take (0.5-99.5 percentiles, after baseline removal) is below this is
#: flat: no usable signal for the whole take. Never judged per window: a slow rate or a pause leaves seconds
#: without a QRS on a good lead.
FLAT_PP_UV = 20.0
#: Baseline wander is judged in windows of this length (s): the largest window peak-to-peak counts.
WANDER_WINDOW_S = 10.0
#: Runs of identical values at the lead's extreme, longer than this (s), are clipping; at least SAT_RUNS of them.
SATURATION_RUN_S = 0.02
SAT_RUNS = 2
#: Peak-to-peak of the 0.7 Hz low-passed trace above this is an unstable baseline (µV).
BASELINE_PP_UV = 1000.0
#: Mains fraction (share of 0.5-150 Hz power within mains +/- 1 Hz) above this, with a mains RMS amplitude above
#: MAINS_RMS_UV, is reported.
MAINS_FRACTION = 0.02
MAINS_RMS_UV = 15.0
#: Noise floor of the 40-150 Hz band (25th percentile of the RMS over 100-ms windows, so QRS complexes do not
#: count) above this is muscle noise (µV).
HF_NOISE_UV = 20.0
#: Lead peak-to-peak (1st-99th percentile span of the baseline-corrected trace) outside this range (µV).
AMPLITUDE_MIN_UV = 100.0
AMPLITUDE_MAX_UV = 10000.0
#: Einthoven residual (I, II, III all measured) above max(this, 3 LSB) on more than EINTHOVEN_FRACTION of the
#: samples means inconsistent limb leads (µV).
EINTHOVEN_UV = 10.0
EINTHOVEN_FRACTION = 0.05
#: Records shorter than this are too short for a diagnostic trace (s).
MIN_DURATION_S = 9.9

#: The electrodes of a 12-lead ECG (their names in words are in :mod:`asalee_devices.messages.ecg`).
ELECTRODES = ("RA", "LA", "LL", "RL", *(f"V{k}" for k in range(1, 7)))
_BIPOLAR = {"RA": frozenset({"I", "II"}), "LA": frozenset({"I", "III"}), "LL": frozenset({"II", "III"})}
_LIMB = frozenset({"I", "II", "III", "aVR", "aVL", "aVF"})


def infer_electrodes(affected: set[str], stored: Sequence[str], present: Sequence[str]) -> tuple[str, ...]:
    """The electrodes whose being off explains the ``affected`` leads, from the pattern on the stored bipolar
    limb leads: RA enters I and II (not III), LA enters I and III (not II), LL enters II and III (not I); all
    three bipolar leads at once, with the precordial leads, is the reference RL; a precordial lead alone is its own
    electrode. A limb electrode explains the augmented and precordial leads too (Wilson's terminal). Empty when no
    single limb electrode fits (the leads are then named as they are).

    Parameters
    ----------
    affected : set of str
        The leads with a lead-off finding.
    stored : sequence of str
        The leads the device measured (not derived).
    present : sequence of str
        Every lead of the recording, in order.

    Returns
    -------
    tuple of str
        Electrode names (RA, LA, LL, RL, V1-V6), empty when no pattern fits.
    """
    bip = [n for n in ("I", "II", "III") if n in stored]
    hit = {n for n in bip if n in affected}
    ok = {n for n in bip if n not in affected}
    out: list[str] = []
    if hit:
        fits = [e for e, leads in _BIPOLAR.items() if hit <= leads and not (leads & ok)]
        if len(hit) == 3 and len(bip) == 3:
            precordial = [n for n in present if n.startswith("V") and n[1:].isdigit()]
            if precordial and all(n in affected for n in precordial):
                return ("RL",)
            return ()
        if len(fits) != 1:
            return ()
        out.append(fits[0])
        wct = True
    else:
        wct = False
        if affected & _LIMB:
            return ()
    for n in present:
        if n in affected and n.startswith("V") and n in ELECTRODES and not wct:
            out.append(n)
    return tuple(out)


def _lead_electrodes(lead: str, electrodes: Sequence[str]) -> tuple[str, ...]:
    """The inferred electrodes that enter ``lead`` (a limb electrode enters every limb and precordial lead)."""
    return tuple(e for e in electrodes if e in ("RA", "LA", "LL", "RL") or e == lead)


def _windows(x: NDArray[np.float64], fs_hz: float, length_s: float = 1.0) -> NDArray[np.float64]:
    w = max(1, int(round(fs_hz * length_s)))
    nw = x.shape[-1] // w
    return x[:, :nw * w].reshape(x.shape[0], nw, w)


def _longest_extreme_runs(x: NDArray[np.float64], min_len: int) -> tuple[int, int]:
    """(number of runs of >= min_len identical samples at the row's max or min, samples in those runs)."""
    runs = 0
    total = 0
    for level in (np.max(x), np.min(x)):
        at = x == level
        if not at.any():
            continue
        lab, nlab = ndimage.label(at)
        if nlab == 0:
            continue
        sizes = np.bincount(lab)[1:]
        long = sizes[sizes >= min_len]
        runs = max(runs, int(long.size))
        total += int(long.sum())
    return runs, total


def _largest_window_pp(x: NDArray[np.float64], fs_hz: float) -> float:
    """Largest peak-to-peak of ``x`` over consecutive windows of :data:`WANDER_WINDOW_S` (a remainder shorter than
    half a window joins the last window)."""
    w = int(round(WANDER_WINDOW_S * fs_hz))
    k = max(1, x.size // w)
    if x.size - k * w >= w // 2:
        k += 1
    bounds = [min(x.size, j * w) for j in range(k)] + [x.size]
    return max(float(np.ptp(x[a:b])) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a)


def no_beats_finding(raw: EcgRecording, quality: EcgQuality, beats_found: int,
                     mains_hz: float = 50.0) -> QualityFinding | None:
    """The ``no_beats`` finding when fewer than 2 R peaks were found in a record of at least 3 s that has a
    connected lead (the beats could not be located: a technical problem, never a statement about the heart).

    Parameters
    ----------
    raw : EcgRecording
        The recording as acquired.
    quality : EcgQuality
        Its quality (which leads are connected).
    beats_found : int
        Number of R peaks found.
    mains_hz : float, optional
        Mains frequency (Hz); unused, kept for the callers.

    Returns
    -------
    QualityFinding or None
        The finding (indicator: beats found, threshold 2), or None.
    """
    if beats_found >= 2 or raw.duration_s < 3.0 or not any(lq.connected for lq in quality.leads):
        return None
    return QualityFinding(QualityCode.NO_BEATS, None, float(beats_found), 2.0, "beats")


def assess_quality(raw: EcgRecording, cleaned: EcgRecording, *, mains_hz: float = 50.0) -> EcgQuality:
    """Quality of every lead of ``raw`` (``cleaned`` is the output of the cleaning chain on the same samples and
    rate) and the overall verdict.

    Parameters
    ----------
    raw : EcgRecording
        The recording as acquired (µV).
    cleaned : EcgRecording
        The cleaned recording.
    mains_hz : float, optional
        Mains frequency (Hz).

    Returns
    -------
    EcgQuality
        Per-lead indicators (µV, fractions), the findings (codes, indicator and threshold with their unit) and the
        verdict.
    """
    fs = raw.fs_hz
    x = raw.samples_uv
    off_mask = ~np.isfinite(x)
    if raw.lead_off is not None:
        off_mask = off_mask | raw.lead_off
    n = raw.n_samples
    # Baseline-corrected copy of raw (0.05 Hz zero-phase) for amplitude / flat; 0.7 Hz low-pass for wander.
    clean_same_rate = cleaned.fs_hz == fs and cleaned.n_samples == n
    # amplitude and flatness are judged baseline-free: when the chain did not add our baseline high-pass (the
    # device has its own), the device's slow drift is taken out here, for the judgement only
    ours_hp = any(s.kind == "highpass" and s.applied_by == "asalee" for s in cleaned.applied_filters)
    per: dict[str, dict[str, float]] = {}
    hits: dict[QualityCode, list[tuple[str, float, float, str]]] = {}

    def hit(code: QualityCode, lead: str, value: float, threshold: float, unit: str) -> None:
        hits.setdefault(code, []).append((lead, value, threshold, unit))

    sos_bw = signal.butter(2, 0.7, btype="lowpass", fs=fs, output="sos")
    sos_hf = signal.butter(2, [40.0, min(150.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    # pass 1: which leads are connected, their gap-bridged trace and baseline-free copy (one matrix each, so the
    # filters below run once over all the leads)
    live: list[int] = []
    bridged: list[NDArray[np.float64]] = []
    free: list[NDArray[np.float64]] = []
    for k, lead in enumerate(raw.leads):
        row = x[k]
        off_frac = float(off_mask[k].mean()) if n else 1.0
        per[lead] = {"connected": 1.0, "pp": 0.0, "bw": 0.0, "mains": 0.0, "hf": 0.0, "sat": 0.0}
        if n == 0 or off_frac > LEAD_OFF_FRACTION:
            hit(QualityCode.LEAD_OFF, lead, 100 * off_frac, 100 * LEAD_OFF_FRACTION, "%")
        if n == 0 or off_frac > DISCONNECTED_FRACTION:
            per[lead]["connected"] = 0.0
            continue
        good = ~off_mask[k]
        r = row.copy()
        if not good.all():
            idx = np.arange(n)
            r[~good] = np.interp(idx[~good], idx[good], row[good])
        corr = cleaned.samples_uv[k] if clean_same_rate else r - np.median(r)
        live.append(k)
        bridged.append(r)
        free.append(np.where(np.isfinite(corr), corr, 0.0))
    if live:
        big_r = np.vstack(bridged)
        big_c = np.vstack(free)
        if not ours_hp and n >= 2:
            big_c = big_c - baseline(big_c, fs)
        lo, hi_ = np.percentile(big_c, [0.5, 99.5], axis=-1)
        pps = hi_ - lo
        centred = big_r - np.median(big_r, axis=-1, keepdims=True)
        bws = signal.sosfiltfilt(sos_bw, centred, axis=-1) if n > 3 * fs else np.zeros_like(big_r)
        fracs = mains_fraction(big_r, fs, mains_hz)
        hfs = signal.sosfiltfilt(sos_hf, big_c, axis=-1) if fs > 2 * 60.0 and n >= int(fs) else None
    # pass 2: the indicators of each connected lead
    for j, k in enumerate(live):
        lead = raw.leads[k]
        stats = per[lead]
        r = big_r[j]
        pp = float(pps[j])
        stats["pp"] = pp
        # Saturation: runs of identical extreme values (never on a flat lead, whose every sample is "extreme").
        runs, sat_samples = _longest_extreme_runs(r, max(2, int(round(SATURATION_RUN_S * fs))))
        stats["sat"] = sat_samples / n
        if pp < FLAT_PP_UV:
            hit(QualityCode.FLAT, lead, pp, FLAT_PP_UV, "µV")
            continue
        if runs >= SAT_RUNS:
            hit(QualityCode.SATURATION, lead, 100 * stats["sat"], 0.0, "%")
        # Baseline wander on the raw trace (device-filtered), edges excluded.
        bw = bws[j]
        if n > 3 * fs:
            e = int(0.5 * fs)
            stats["bw"] = _largest_window_pp(bw[e:n - e], fs)
            if stats["bw"] > BASELINE_PP_UV:
                hit(QualityCode.BASELINE_WANDER, lead, stats["bw"], BASELINE_PP_UV, "µV")
        frac = float(fracs[j])
        stats["mains"] = frac
        mains_rms = float(np.sqrt(frac) * np.std(r - bw)) if n > 3 * fs else 0.0
        if frac > MAINS_FRACTION and mains_rms > MAINS_RMS_UV:
            hit(QualityCode.MAINS, lead, 100 * frac, 100 * MAINS_FRACTION, "%")
        if hfs is not None:
            win = _windows(hfs[j][None, :], fs, 0.1)[0]
            stats["hf"] = float(np.percentile(np.sqrt(np.mean(win * win, axis=-1)), 25))
            if stats["hf"] > HF_NOISE_UV:
                hit(QualityCode.MUSCLE_NOISE, lead, stats["hf"], HF_NOISE_UV, "µV")
        if runs < SAT_RUNS and not (AMPLITUDE_MIN_UV <= pp <= AMPLITUDE_MAX_UV):
            hit(QualityCode.AMPLITUDE, lead, pp, AMPLITUDE_MIN_UV if pp < AMPLITUDE_MIN_UV else AMPLITUDE_MAX_UV, "µV")
    record_hits: list[QualityFinding] = []
    stored_limb = [n_ for n_ in ("I", "II", "III") if n_ in raw.leads and n_ not in raw.derived_leads]
    if len(stored_limb) == 3 and all(per[n_]["connected"] for n_ in stored_limb):
        limit = max(EINTHOVEN_UV, 3 * (raw.resolution_uv or 0.0))
        i, ii, iii = raw.lead("I"), raw.lead("II"), raw.lead("III")
        resid = np.abs(iii - (ii - i))
        resid = resid[np.isfinite(resid)]
        share = float(np.mean(resid > limit)) if resid.size else 0.0
        if share > EINTHOVEN_FRACTION:
            record_hits.append(QualityFinding(QualityCode.INCONSISTENT, None, 100 * share,
                                              100 * EINTHOVEN_FRACTION, "%"))
    if raw.duration_s < MIN_DURATION_S:
        record_hits.append(QualityFinding(QualityCode.TOO_SHORT, None, raw.duration_s, MIN_DURATION_S, "s"))
    findings_by_lead: dict[str, list[QualityFinding]] = {lead: [] for lead in raw.leads}
    ordered: list[QualityFinding] = []
    for code in (QualityCode.LEAD_OFF, QualityCode.FLAT, QualityCode.SATURATION, QualityCode.MAINS,
                 QualityCode.BASELINE_WANDER, QualityCode.MUSCLE_NOISE, QualityCode.AMPLITUDE):
        items = hits.get(code, [])
        if not items:
            continue
        names = [i[0] for i in items]
        electrodes: tuple[str, ...] = ()
        if code is QualityCode.LEAD_OFF:
            stored = [n_ for n_ in raw.leads if n_ not in raw.derived_leads]
            electrodes = infer_electrodes(set(names), stored, raw.leads)
        for lead, value, threshold, unit in items:
            f = QualityFinding(code, lead, float(value), float(threshold), unit,
                               electrodes=_lead_electrodes(lead, electrodes))
            findings_by_lead[lead].append(f)
            ordered.append(f)
    ordered.extend(record_hits)
    leads = tuple(
        LeadQuality(lead=lead, connected=bool(per[lead]["connected"]), peak_to_peak_uv=per[lead]["pp"],
                    baseline_wander_uv=per[lead]["bw"], mains_fraction=per[lead]["mains"],
                    hf_noise_uv=per[lead]["hf"], saturated_fraction=per[lead]["sat"],
                    findings=tuple(findings_by_lead[lead]))
        for lead in raw.leads)
    verdict = Verdict.RETAKE if any(f.blocking for f in ordered) else Verdict.ACCEPTABLE
    return EcgQuality(verdict=verdict, leads=leads, findings=tuple(ordered), mains_hz=mains_hz)
