"""DICOM waveform ECG reader (Supplement 30): 12-lead ECG and General ECG SOP classes.

Plain implicit/explicit VR little-endian files are read by a small bounded element walker that keeps only the
elements used here (:mod:`._dicom_walk`, no pydicom Datasets: 10-20x faster); anything else — other transfer
syntaxes, irregular structure, values pydicom would convert or correct — goes through pydicom, which is also the
test oracle of the fast path (same samples bit for bit, same metadata, same format errors).

Multiplex groups are read from ``WaveformData`` directly (sizes checked before any array is built); each channel is
scaled by sensitivity x correction factor + baseline (pydicom's convention) into µV. Rhythm groups with the same
rate and length are merged; a group labelled MEDIAN becomes the median beats. ``WaveformPaddingValue`` only marks
trailing runs of a channel as gaps, and a padding value of 0 (written by ECG Toolkit) is ignored, so real zero
samples are never turned into gaps.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files._util import (
    MAX_LEADS,
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    filter_steps,
    read_bounded,
    safe_datetime,
    to_float,
)
from asalee_devices.drivers.ecg_files.base import (
    DeviceStatement,
    EcgFile,
    EcgFormat,
    PatientDemographics,
    register_format,
)
from asalee_devices.drivers.ecg_files.scp import LEAD_CODES
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import (
    EcgRecording,
    canonical_lead_name,
    complete_lead_set,
    lead_sort_key,
)

NAME = "dicom-ecg"
SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG",
}
_UNITS_UV = {"uV": 1.0, "mV": 1000.0, "V": 1e6, "nV": 1e-3}
_DTYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "<i2", (16, "US"): "<u2", (32, "SL"): "<i4",
           (32, "UL"): "<u4"}


_TAGS = {
    "CodeValue": 0x00080100, "CodingSchemeDesignator": 0x00080102, "CodeMeaning": 0x00080104,
    "ChannelSensitivity": 0x003A0210, "ChannelSensitivityCorrectionFactor": 0x003A0212,
    "ChannelBaseline": 0x003A0213, "FilterLowFrequency": 0x003A0220, "FilterHighFrequency": 0x003A0221,
    "NotchFilterFrequency": 0x003A0222, "NumericValue": 0x0040A30A, "UnformattedTextValue": 0x00700006,
}


def _val(ds: Any, keyword: str, default: str = "") -> str:
    """A text/number attribute as a string, read from the raw element when pydicom has not converted it yet
    (several times faster than keyword access for the many small items of a waveform)."""
    try:
        elem = ds.get_item(_TAGS[keyword])
    except (KeyError, TypeError, ValueError):
        return default
    if elem is None:
        return default
    v = elem.value
    if isinstance(v, bytes):
        text = v.decode("latin-1").strip("\x00 ").split("\\")[0]
        return text or default
    if v is None:
        return default
    if isinstance(v, list | tuple):
        return str(v[0]) if v else default
    return str(v) or default


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are a DICOM 12-lead ECG waveform.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (at least the format's signature).
    path : Path
        The file's path (its name, for formats known by extension).

    Returns
    -------
    bool
        True when this reader recognises the file.
    """
    return len(head) >= 132 and head[128:132] == b"DICM"


def _lead_name(ch: Any) -> str | None:
    src = ch.get("ChannelSourceSequence")
    if not src:
        return None
    item = src[0]
    code = _val(item, "CodeValue")
    scheme = _val(item, "CodingSchemeDesignator")
    num: int | None = None
    if scheme == "SCPECG" and code.startswith("5.6.3-9-"):
        tail = code.rsplit("-", 1)[-1]
        num = int(tail) if tail.isdigit() else None
    elif scheme == "MDC" and code.startswith("2:"):
        tail = code[2:]
        num = int(tail) if tail.isdigit() else None
    if num is not None and num in LEAD_CODES:
        return LEAD_CODES[num]
    meaning = _val(item, "CodeMeaning").split("(")[0].strip()
    try:
        return canonical_lead_name(meaning)
    except SignalError:
        return None


_Filters = tuple[float | None, float | None, float | None]
_Group = tuple[str, float, dict[str, NDArray[np.float64]], float | None, list[_Filters], list[str],
               NDArray[np.float64]]


def _group(ds_group: Any, dev: Deviations, index: int) -> _Group:
    n_ch = int(ds_group.get("NumberOfWaveformChannels", 0))
    n_s = int(ds_group.get("NumberOfWaveformSamples", 0))
    fs = to_float(str(ds_group.get("SamplingFrequency", "")))
    bits = int(ds_group.get("WaveformBitsAllocated", 16))
    interp = str(ds_group.get("WaveformSampleInterpretation", "SS"))
    label = str(ds_group.get("MultiplexGroupLabel", "")).upper()
    if not 1 <= n_ch <= MAX_LEADS:
        raise FormatError("Implausible number of DICOM waveform channels", field="channels", value=n_ch,
                          expected=f"1..{MAX_LEADS}")
    if not 1 <= n_s <= MAX_SAMPLES_PER_LEAD:
        raise FormatError("Implausible number of DICOM waveform samples", field="samples", value=n_s,
                          expected=f"1..{MAX_SAMPLES_PER_LEAD}")
    if fs is None or fs <= 0 or fs > 100_000:
        raise FormatError("Invalid DICOM sampling frequency", field="SamplingFrequency", value=fs, expected="> 0 Hz")
    dtype = _DTYPES.get((bits, interp))
    if dtype is None:
        raise FormatError("Unsupported DICOM waveform sample encoding", field="encoding", value=f"{bits} {interp}",
                          expected="8/16/32-bit signed or unsigned integers")
    raw = ds_group.get("WaveformData")
    raw = bytes(raw) if raw is not None else b""
    need = n_ch * n_s * (bits // 8)
    if len(raw) < need:
        raise FormatError("DICOM WaveformData shorter than channels x samples", field="WaveformData",
                          value=len(raw), expected=f"{need} bytes")
    if len(raw) > need + 1:
        dev.warn("waveform_data_too_long", f"group {index}: WaveformData longer than channels x samples")
    arr = np.frombuffer(raw, dtype, count=n_ch * n_s).reshape(n_s, n_ch)
    pad_raw = ds_group.get("WaveformPaddingValue")
    pad: int | None = None
    if pad_raw is not None and len(bytes(pad_raw)) >= bits // 8:
        pad = int(np.frombuffer(bytes(pad_raw), dtype, count=1)[0])
    chans = ds_group.get("ChannelDefinitionSequence") or []
    if len(chans) != n_ch:
        raise FormatError("DICOM channel definitions do not match the channel count", field="channels",
                          value=len(chans), expected=str(n_ch))
    names: list[str] = []
    columns: list[int] = []
    scales: list[float] = []
    offsets: list[float] = []
    filters: list[tuple[float | None, float | None, float | None]] = []
    for k, ch in enumerate(chans):
        name = _lead_name(ch)
        if name is None:
            dev.note("unknown_channel", f"group {index}: channel {k + 1} is not an ECG lead we know; ignored")
            continue
        if name in names:
            raise FormatError("DICOM lead given twice in a group", field="lead", value=name)
        sens = to_float(_val(ch, "ChannelSensitivity"))
        units_seq = ch.get("ChannelSensitivityUnitsSequence")
        unit = _val(units_seq[0], "CodeValue", "uV") if units_seq else "uV"
        factor = _UNITS_UV.get(unit)
        if sens is None or sens == 0 or factor is None:
            raise FormatError("DICOM channel sensitivity missing, zero or in an unknown unit", field="lead",
                              value=name, expected="a non-zero sensitivity in uV, mV or V")
        corr = to_float(_val(ch, "ChannelSensitivityCorrectionFactor", "1"))
        if corr is None or corr == 0:
            dev.warn("zero_correction_factor", f"lead {name}: sensitivity correction factor 0 or invalid; 1 used")
            corr = 1.0
        baseline = to_float(_val(ch, "ChannelBaseline", "0")) or 0.0
        names.append(name)
        columns.append(k)
        scales.append(sens * corr * factor)
        offsets.append(baseline * factor)
        filters.append((to_float(_val(ch, "FilterLowFrequency")), to_float(_val(ch, "FilterHighFrequency")),
                        to_float(_val(ch, "NotchFilterFrequency"))))
    # one pass over the multiplexed block: channels become rows, scaled as sample x scale + baseline (the same
    # float64 operations, element by element, as one channel at a time)
    stored = arr.T[columns] if columns != list(range(n_ch)) else arr.T
    block = np.empty(stored.shape, dtype=np.float64)
    block[...] = stored
    block *= np.asarray(scales, dtype=np.float64)[:, None]
    block += np.asarray(offsets, dtype=np.float64)[:, None]
    gaps_at: list[str] = []
    if pad is not None and pad != 0:
        for row, name in enumerate(names):
            off = stored[row] == pad
            if off[-1]:
                last_valid = int(np.flatnonzero(~off)[-1]) + 1 if np.any(~off) else 0
                block[row, last_valid:] = np.nan
                gaps_at.append(name)
    leads = {name: block[row] for row, name in enumerate(names)}
    steps = set(scales)
    if pad == 0:
        dev.note("padding_value_zero", f"group {index}: WaveformPaddingValue 0 not used (real zero samples)")
    return label, fs, leads, (steps.pop() if len(steps) == 1 else None), filters, gaps_at, block


def _text(ds: Any, key: str) -> str:
    v = ds.get(key)
    return str(v).strip() if v is not None else ""


def _acquired(ds: Any) -> datetime | None:
    dt = _text(ds, "AcquisitionDateTime")
    if len(dt) >= 14 and dt[:14].isdigit():
        return safe_datetime(int(dt[:4]), int(dt[4:6]), int(dt[6:8]), int(dt[8:10]), int(dt[10:12]),
                             int(dt[12:14]))
    d, t = _text(ds, "ContentDate") or _text(ds, "AcquisitionDate"), _text(ds, "ContentTime")
    if len(d) == 8 and d.isdigit():
        t = (t.split(".")[0] + "000000")[:6]
        hh, mm, ss = (int(t[:2]), int(t[2:4]), int(t[4:6])) if t.isdigit() else (0, 0, 0)
        return safe_datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), hh, mm, ss)
    return None


def _patient(ds: Any) -> PatientDemographics:
    name = ds.get("PatientName")
    family = str(name.family_name) if name is not None else ""
    given = str(name.given_name) if name is not None else ""
    birth = _text(ds, "PatientBirthDate")
    age = _text(ds, "PatientAge")
    age_years = None
    if len(age) == 4 and age[:3].isdigit():
        age_years = int(age[:3]) / {"Y": 1.0, "M": 12.0, "W": 52.18, "D": 365.25}.get(age[3], float("nan"))
        age_years = age_years if age_years == age_years else None
    size = to_float(_text(ds, "PatientSize"))
    weight = to_float(_text(ds, "PatientWeight"))
    return PatientDemographics(
        patient_id=_text(ds, "PatientID"), family_name=family, given_name=given,
        birth_date=f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}" if len(birth) == 8 and birth.isdigit() else "",
        sex={"M": "male", "F": "female"}.get(_text(ds, "PatientSex"), ""), age_years=age_years,
        height_cm=size * 100 if size else None, weight_kg=weight or None)


def _annotations(ds: Any) -> list[DeviceStatement]:
    out: list[DeviceStatement] = []
    for item in ds.get("WaveformAnnotationSequence") or []:
        concept = item.get("ConceptNameCodeSequence")
        code = (_val(concept[0], "CodeMeaning") or _val(concept[0], "CodeValue")) if concept else ""
        text = _val(item, "UnformattedTextValue").strip()
        num = _val(item, "NumericValue")
        if num and code:
            value = to_float(num)
            units = item.get("MeasurementUnitsCodeSequence")
            unit = _val(units[0], "CodeValue") if units else ""
            if value is not None:
                out.append(DeviceStatement("measurement", code, value=value, unit=unit))
        elif text:
            out.append(DeviceStatement("statement", code or "text", text=text))
    return out


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read a DICOM 12-lead ECG waveform.

    Parameters
    ----------
    path : Path
        The file.
    strict : bool, optional
        Refuse the deviations from the format the reader otherwise tolerates (and reports as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the file cannot be read, is malformed, or (``strict``) deviates from the format.
    """
    return decode(read_bounded(path), strict)


def decode(data: bytes, strict: bool = False) -> EcgFile:
    """Decode a DICOM ECG: the fast element walker when the file is plain implicit/explicit VR little endian
    (see :mod:`._dicom_walk`), pydicom otherwise; both give the same result wherever the fast path answers.

    Parameters
    ----------
    data : bytes
        The whole file.
    strict : bool, optional
        Refuse the deviations from the format the reader otherwise tolerates (and reports as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the data are malformed or (``strict``) deviate from the format.
    """
    fast = decode_fast(data, strict)
    return fast if fast is not None else decode_pydicom(data, strict)


def decode_fast(data: bytes, strict: bool = False) -> EcgFile | None:
    """Decode with the fast element walker; None when the file needs pydicom.

    Parameters
    ----------
    data : bytes
        The whole file.
    strict : bool, optional
        Refuse the tolerated deviations.

    Returns
    -------
    EcgFile or None
        As :func:`decode`, or None.

    Raises
    ------
    FormatError
        When the data are malformed.
    """
    from asalee_devices.drivers.ecg_files._dicom_walk import Unsupported, parse

    try:
        return _decode_dataset(lambda: parse(data), strict)
    except Unsupported:
        return None


def decode_pydicom(data: bytes, strict: bool = False) -> EcgFile:
    """Decode through pydicom Datasets (the reference path, and the fallback of :func:`decode`).

    Parameters
    ----------
    data : bytes
        The whole file.
    strict : bool, optional
        Refuse the deviations from the format the reader otherwise tolerates (and reports as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the data are malformed or (``strict``) deviate from the format.
    """
    import io

    import pydicom

    return _decode_dataset(lambda: pydicom.dcmread(io.BytesIO(data)), strict)


def _decode_dataset(load: Callable[[], Any], strict: bool) -> EcgFile:
    from pydicom.errors import BytesLengthException, InvalidDicomError

    dev = Deviations("DICOM ECG", strict)
    try:
        ds = load()
        sop = str(ds.get("SOPClassUID", ""))
        kind = SOP_CLASSES.get(sop)
        if kind is None:
            raise FormatError("DICOM file is not a 12-lead or General ECG waveform", field="SOPClassUID",
                              value=sop, expected=" or ".join(SOP_CLASSES))
        groups = ds.get("WaveformSequence")
        if not groups:
            raise FormatError("DICOM ECG has no waveform", field="WaveformSequence")
        if kind == "12-lead ECG" and len(groups) > 5:
            dev.warn("too_many_groups", f"{len(groups)} multiplex groups (the 12-lead IOD allows 5)")
        parsed = [_group(g, dev, i + 1) for i, g in enumerate(groups)]
        device = DeviceIdentity(manufacturer=_text(ds, "Manufacturer"), model=_text(ds, "ManufacturerModelName"),
                                serial_number=_text(ds, "DeviceSerialNumber"),
                                firmware=_text(ds, "SoftwareVersions"), source=NAME)
        patient = _patient(ds)
        acquired = _acquired(ds)
        statements = _annotations(ds)
    except FormatError:
        raise
    except (InvalidDicomError, BytesLengthException, ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
            EOFError, OSError, NotImplementedError, RecursionError, MemoryError, struct.error, UnicodeError,
            LookupError) as exc:
        raise FormatError("DICOM file cannot be decoded", field="dicom", value=type(exc).__name__) from exc
    rhythm_groups = [g for g in parsed if "MEDIAN" not in g[0] and g[2]]
    median_groups = [g for g in parsed if "MEDIAN" in g[0] and g[2]]
    if not rhythm_groups:
        raise FormatError("DICOM ECG has no rhythm group with ECG leads", field="WaveformSequence")
    rec = _merge(rhythm_groups, dev, "rhythm")
    med = _merge(median_groups, dev, "median") if median_groups else None
    return EcgFile(format=NAME, recording=rec, device=device, acquired_at=acquired, patient=patient,
                   device_data=tuple(statements), warnings=dev.as_tuple(), median_beats=med, format_version=kind)


def _merge(groups: list[_Group], dev: Deviations, what: str) -> EcgRecording:
    first = groups[0]
    fs, n = first[1], next(iter(first[2].values())).size
    leads: dict[str, NDArray[np.float64]] = {}
    steps: set[float | None] = set()
    filters: list[tuple[float | None, float | None, float | None]] = []
    gaps: list[str] = []
    blocks: list[tuple[list[str], NDArray[np.float64]]] = []
    for _label, gfs, gleads, step, gfilt, ggaps, block in groups:
        if gfs != fs or next(iter(gleads.values())).size != n:
            dev.note("group_skipped", f"{what}: a multiplex group with another rate or length is not merged")
            continue
        blocks.append((list(gleads), block))
        for name, x in gleads.items():
            if name in leads:
                dev.warn("duplicate_lead", f"{what}: lead {name} in two groups; the first is kept")
                continue
            leads[name] = x
        steps.add(step)
        filters += gfilt
        gaps += ggaps
    hp = {f[0] for f in filters if f[0] is not None}
    lp = {f[1] for f in filters if f[1] is not None}
    notch = {f[2] for f in filters if f[2] is not None}
    steps_f = [f for f in (hp, lp, notch) if len(f) > 1]
    if steps_f:
        dev.note("channel_filters_differ", f"{what}: channels report different filters; the first is kept")
    f0 = filters[0] if filters else (None, None, None)
    dfilters = filter_steps(f0[0], f0[1], [f0[2]] if f0[2] else [])
    names = sorted(leads, key=lead_sort_key)
    if len(blocks) == 1 and blocks[0][0] == names:
        samples = blocks[0][1]  # one group already in standard order: its block is the recording
    else:
        samples = np.vstack([leads[k] for k in names])
    gap_list: tuple[tuple[int, int], ...] = ()
    if gaps:
        finite = np.all(np.isfinite(samples), axis=0)
        last = int(np.flatnonzero(finite)[-1]) + 1 if np.any(finite) else 0
        gap_list = ((last, n),) if last < n else ()
    res = next(iter(steps)) if len(steps) == 1 else None
    try:
        rec = EcgRecording(samples, fs, tuple(names), resolution_uv=res, device_filters=dfilters, gaps=gap_list)
        return complete_lead_set(rec)
    except SignalError as exc:
        raise FormatError(f"DICOM {what} leads cannot form a recording", field="leads", value=str(exc)) from exc


register_format(EcgFormat(NAME, "DICOM waveform ECG (12-lead, General ECG)", sniff, read, decode))
