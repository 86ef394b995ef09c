"""The ECG recording type used everywhere (drivers, devices, analysis, FHIR, reports), and lead-set handling.

Samples are float64 microvolts, one row per lead, in the standard order I, II, III, aVR, aVL, aVF, V1..V6 (other
leads follow). Integer device data keep their quantisation step in ``resolution_uv`` so exporters can emit the
device's integers with a ``factor``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import SignalError
from asalee_devices.signal.filters import FilterStep
from asalee_devices.signal.validate import check_sampling_rate

#: The 12 standard leads, in display order.
STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: The 8 independent leads a 12-lead acquisition measures simultaneously.
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: Leads that may appear beyond the standard 12 (Frank XYZ, right-sided, posterior, single-channel monitors).
EXTRA_LEADS: tuple[str, ...] = ("V3R", "V4R", "V5R", "V7", "V8", "V9", "X", "Y", "Z", "MLII", "MLI", "MLIII", "ECG")

_CANONICAL = {name.upper(): name for name in STANDARD_LEADS + EXTRA_LEADS}
_ALIASES = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF", "-AVR": "-aVR", "VX": "X", "VY": "Y", "VZ": "Z", "D1": "I",
            "D2": "II", "D3": "III", "DI": "I", "DII": "II", "DIII": "III", "V": "ECG"}


def canonical_lead_name(name: str) -> str:
    """Map a lead label as written by devices and files (``"avr"``, ``"MDC_ECG_LEAD_AVR"``, ``"D2"``...) to our
    canonical name, or raise :class:`SignalError` for an unknown lead.

    Parameters
    ----------
    name : str
        The label as found.

    Returns
    -------
    str
        The canonical name (``"aVR"``, ``"II"``, ``"V1"``...).

    Raises
    ------
    SignalError
        When the label is no ECG lead we know.
    """
    key = name.strip().upper()
    for prefix in ("MDC_ECG_LEAD_", "LEAD_", "LEAD "):
        if key.startswith(prefix):
            key = key[len(prefix):]
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _CANONICAL:
        return _CANONICAL[key]
    raise SignalError(
        "Unknown ECG lead name",
        field="lead",
        value=name,
        expected="one of " + ", ".join(STANDARD_LEADS + EXTRA_LEADS),
    )


def lead_sort_key(name: str) -> tuple[int, int]:
    """Sort key putting leads in standard order, extra leads after.

    Parameters
    ----------
    name : str
        A canonical lead name.

    Returns
    -------
    tuple of (int, int)
        (0, position) for the 12 standard leads, (1, position) for the known extra leads, (2, 0) after.
    """
    if name in STANDARD_LEADS:
        return (0, STANDARD_LEADS.index(name))
    if name in EXTRA_LEADS:
        return (1, EXTRA_LEADS.index(name))
    return (2, 0)


@dataclass(frozen=True, eq=False)
class EcgRecording:
    """A multi-lead ECG recording.

    Attributes:
        samples_uv: float64 array (n_leads, n_samples), microvolts. NaN marks samples with no valid data.
        fs_hz: sampling rate in hertz.
        leads: lead names (canonical, see :func:`canonical_lead_name`), one per row of ``samples_uv``.
        resolution_uv: quantisation step of the source data in µV/LSB (None for float sources).
        lead_off: optional bool array of the same shape; True where the device flagged the electrode off or the
            sample invalid.
        derived_leads: names of leads computed from others (not measured).
        pacemaker: the device's pacemaker flag (True/False), or None when the device does not say.
        device_filters: filters the device or its software already applied.
        applied_filters: filters applied by asalee-devices (filled by the cleaning chain).
        interrupted: True when acquisition stopped before the planned end (device unplugged...).
        gaps: sample ranges ``(start, stop)`` lost in transmission (marked NaN in the samples).
    """

    samples_uv: NDArray[np.float64]
    fs_hz: float
    leads: tuple[str, ...]
    resolution_uv: float | None = None
    lead_off: NDArray[np.bool_] | None = None
    derived_leads: frozenset[str] = frozenset()
    pacemaker: bool | None = None
    device_filters: tuple[FilterStep, ...] = ()
    applied_filters: tuple[FilterStep, ...] = ()
    interrupted: bool = False
    gaps: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        s = self.samples_uv
        if not isinstance(s, np.ndarray) or s.ndim != 2:
            raise SignalError("ECG samples must be a 2-D array", expected="shape (n_leads, n_samples)")
        if s.shape[0] != len(self.leads):
            raise SignalError(
                "Number of lead names does not match the number of sample rows",
                field="leads",
                value=len(self.leads),
                expected=f"{s.shape[0]} names",
            )
        if len(set(self.leads)) != len(self.leads):
            raise SignalError("Duplicate lead names", field="leads", value=self.leads)
        check_sampling_rate(self.fs_hz)
        if self.lead_off is not None and self.lead_off.shape != s.shape:
            raise SignalError("lead_off mask shape differs from the samples", field="lead_off",
                              value=self.lead_off.shape, expected=str(s.shape))

    @property
    def n_samples(self) -> int:
        return int(self.samples_uv.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    def lead(self, name: str) -> NDArray[np.float64]:
        """Samples of one lead in µV (a view).

        Parameters
        ----------
        name : str
            Canonical lead name.

        Returns
        -------
        ndarray of float
            The lead's samples (µV).

        Raises
        ------
        SignalError
            When the lead is not in the recording.
        """
        try:
            row: NDArray[np.float64] = self.samples_uv[self.leads.index(name)]
        except ValueError:
            raise SignalError("Lead not present in the recording", field="lead", value=name,
                              expected="one of " + ", ".join(self.leads)) from None
        return row

    def with_samples(self, samples_uv: NDArray[np.float64], **changes: object) -> EcgRecording:
        """A copy with new samples (same lead order) and optionally other fields changed.

        Parameters
        ----------
        samples_uv : ndarray of float
            New samples, leads x samples (µV).
        **changes : object
            Other fields to change.

        Returns
        -------
        EcgRecording
            The copy.
        """
        return replace(self, samples_uv=samples_uv, **changes)  # type: ignore[arg-type]


def from_leads(
    leads: Mapping[str, NDArray[np.floating] | NDArray[np.integer] | Sequence[float]],
    fs_hz: float,
    *,
    resolution_uv: float | None = None,
    derive: bool = True,
    **kwargs: object,
) -> EcgRecording:
    """Build a recording from a mapping lead name -> samples in µV; names are canonicalised, leads sorted in
    standard order and, if ``derive``, the missing limb leads derived (see :func:`complete_lead_set`).

    Parameters
    ----------
    leads : mapping of str to array_like
        Lead name -> samples (µV), all of the same length.
    fs_hz : float
        Sampling rate (Hz).
    resolution_uv : float or None, optional
        Amplitude resolution (µV per LSB).
    derive : bool, optional
        Derive the missing limb leads.
    **kwargs : object
        Other :class:`EcgRecording` fields.

    Returns
    -------
    EcgRecording
        The recording, leads in standard order.

    Raises
    ------
    SignalError
        When no lead is given, a lead is empty, not 1-D, given twice, of another length, or unknown.
    """
    if not leads:
        raise SignalError("No leads given", expected="at least one lead")
    arrays: dict[str, NDArray[np.float64]] = {}
    length: int | None = None
    for raw_name, values in leads.items():
        name = canonical_lead_name(raw_name)
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise SignalError("Each lead must be a 1-D sequence of samples", field="lead", value=name)
        if arr.size == 0:
            raise SignalError("Lead has no samples", field="lead", value=name, expected="at least one sample")
        if length is None:
            length = arr.size
        elif arr.size != length:
            raise SignalError("Leads have different lengths", field="lead", value=f"{name}: {arr.size}",
                              expected=f"{length} samples like the first lead")
        if name in arrays:
            raise SignalError("Lead given twice", field="lead", value=name)
        arrays[name] = arr
    names = tuple(sorted(arrays, key=lead_sort_key))
    rec = EcgRecording(np.vstack([arrays[n] for n in names]), float(fs_hz), names, resolution_uv=resolution_uv,
                       **kwargs)  # type: ignore[arg-type]
    return complete_lead_set(rec) if derive else rec


def _derive(leads: dict[str, NDArray[np.float64]]) -> dict[str, NDArray[np.float64]]:
    out: dict[str, NDArray[np.float64]] = {}
    have = set(leads)
    # Recover I or II from III when only two limb leads are stored (e.g. Contec stores II and III).
    i, ii, iii = leads.get("I"), leads.get("II"), leads.get("III")
    if i is None and ii is not None and iii is not None:
        i = ii - iii
        out["I"] = i
    if ii is None and i is not None and iii is not None:
        ii = i + iii
        out["II"] = ii
    if i is not None and ii is not None:
        formulas: dict[str, NDArray[np.float64]] = {
            "III": ii - i,
            "aVR": -(i + ii) / 2.0,
            "aVL": i - ii / 2.0,
            "aVF": ii - i / 2.0,
        }
        out.update({name: v for name, v in formulas.items() if name not in have})
    return out


def complete_lead_set(rec: EcgRecording) -> EcgRecording:
    """Derive the limb leads missing from ``rec`` (III = II - I, aVR = -(I+II)/2, aVL = I - II/2,
    aVF = II - I/2; I = II - III when only II and III are stored) and return the recording in standard order.

    Derived leads are listed in ``derived_leads``; their lead-off mask is the union of their sources' masks.

    Parameters
    ----------
    rec : EcgRecording
        The recording.

    Returns
    -------
    EcgRecording
        The recording with the derivable limb leads, in standard order.
    """
    current = {n: rec.samples_uv[k] for k, n in enumerate(rec.leads)}
    new = _derive(current)
    if not new:
        return rec
    masks: dict[str, NDArray[np.bool_]] = {}
    if rec.lead_off is not None:
        masks = {n: rec.lead_off[k] for k, n in enumerate(rec.leads)}
        limb_off = np.zeros(rec.n_samples, dtype=bool)
        for src in ("I", "II", "III"):
            if src in masks:
                limb_off |= masks[src]
        for n in new:
            masks[n] = limb_off
    allv = {**current, **new}
    names = tuple(sorted(allv, key=lead_sort_key))
    samples = np.vstack([allv[n] for n in names])
    lead_off = np.vstack([masks[n] for n in names]) if masks else None
    return replace(rec, samples_uv=samples, leads=names, lead_off=lead_off,
                   derived_leads=rec.derived_leads | frozenset(new))


def einthoven_residual_uv(rec: EcgRecording) -> float | None:
    """Largest absolute residual of the limb-lead identities (III - (II - I), aVR + (I+II)/2, aVL - (I - II/2),
    aVF - (II - I/2)) over the samples, in µV, when all the leads involved are present; else None.

    Parameters
    ----------
    rec : EcgRecording
        The recording (µV).

    Returns
    -------
    float or None
        The largest residual (µV), or None.
    """
    need = ("I", "II", "III", "aVR", "aVL", "aVF")
    if not all(n in rec.leads for n in need):
        return None
    i, ii, iii, avr, avl, avf = (rec.lead(n) for n in need)
    res = np.stack([iii - (ii - i), avr + (i + ii) / 2.0, avl - (i - ii / 2.0), avf - (ii - i / 2.0)])
    finite = res[np.isfinite(res)]
    return float(np.max(np.abs(finite))) if finite.size else None
