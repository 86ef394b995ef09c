"""GE MUSE XML reader (``RestingECG`` documents, ISO-8859-1): rhythm and median waveforms as base64 little-endian
int16 per lead (usually I, II, V1-V6: III, aVR, aVL, aVF are derived), per-lead CRC-32 checked, filters from
``HighPassFilter`` (0.01 Hz), ``LowPassFilter`` (Hz) and ``ACFilter``, device measurements and statements kept as
device-provided data."""

from __future__ import annotations

import zlib
from datetime import datetime
from pathlib import Path

import numpy as np

from asalee_devices.drivers.ecg_files._util import (
    MAX_LEADS,
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    decode_base64,
    derive_limb_leads,
    filter_steps,
    lead_layout,
    read_bounded,
    safe_datetime,
    to_float,
    xml_root_name,
)
from asalee_devices.drivers.ecg_files._xml import Node, parse
from asalee_devices.drivers.ecg_files.base import (
    DeviceStatement,
    EcgFile,
    EcgFormat,
    PatientDemographics,
    register_format,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import (
    EcgRecording,
    canonical_lead_name,
)

NAME = "ge-muse-xml"
_UNITS = {"MICROVOLTS": 1.0, "MILLIVOLTS": 1000.0, "UV": 1.0, "MV": 1000.0}
_MEAS_UNITS = {"VentricularRate": "/min", "AtrialRate": "/min", "PAxis": "deg", "RAxis": "deg", "TAxis": "deg",
               "QRSCount": "1", "QOnset": "sample", "QOffset": "sample", "POnset": "sample",
               "POffset": "sample", "TOffset": "sample"}


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are a GE MUSE XML export.

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
    return xml_root_name(head) == "RestingECG"


def _date(d: str, t: str = "") -> datetime | None:
    parts = d.replace("/", "-").split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    if len(parts[0]) == 4:
        y, m, dd = (int(p) for p in parts)
    else:
        m, dd, y = (int(p) for p in parts)
    hms = [int(x) for x in t.split(":") if x.isdigit()] if t else []
    hms = (hms + [0, 0, 0])[:3]
    return safe_datetime(y, m, dd, *hms)


def _waveform(root: Node, wf: Node, dev: Deviations) -> tuple[str, EcgRecording]:
    kind = wf.findtext("WaveformType")
    base = to_float(wf.findtext("SampleBase"))
    exp = to_float(wf.findtext("SampleExponent") or "0") or 0.0
    if base is None or base <= 0 or not -3 <= exp <= 3:
        raise FormatError("MUSE waveform sampling rate invalid", field="SampleBase", value=wf.findtext("SampleBase"),
                          expected="> 0 Hz")
    fs = base * 10.0 ** exp
    leads: dict[str, tuple[bytes, int, float]] = {}  # raw little-endian int16, sample count, µV per LSB
    steps: set[float] = set()
    for ld in wf.findall("LeadData"):
        if len(leads) >= MAX_LEADS:
            raise FormatError("Too many MUSE leads", field="leads", expected=f"<= {MAX_LEADS}")
        texts = ld.child_texts()  # every field of the lead in one pass
        lead_id = texts.get("LeadID", "")
        try:
            name = canonical_lead_name(lead_id)
        except SignalError:
            dev.note("unknown_lead", f"{kind}: lead {lead_id!r} not supported; ignored")
            continue
        if name in leads:
            raise FormatError("MUSE lead given twice", field="lead", value=name)
        n = int(to_float(texts.get("LeadSampleCountTotal", "")) or 0)
        size = int(to_float(texts.get("LeadSampleSize", "") or "2") or 0)
        if not 1 <= n <= MAX_SAMPLES_PER_LEAD:
            raise FormatError("Implausible MUSE lead sample count", field="LeadSampleCountTotal", value=n,
                              expected=f"1..{MAX_SAMPLES_PER_LEAD}")
        if size != 2:
            raise FormatError("Unsupported MUSE sample size", field="LeadSampleSize", value=size, expected="2")
        upb = to_float(texts.get("LeadAmplitudeUnitsPerBit", ""))
        unit = _UNITS.get(texts.get("LeadAmplitudeUnits", "MICROVOLTS").upper())
        if upb is None or unit is None:
            raise FormatError("MUSE lead amplitude scale missing or unknown", field="lead", value=name)
        if upb == 0:
            raise FormatError("MUSE lead amplitude scale is zero", field="LeadAmplitudeUnitsPerBit", value=0,
                              expected="> 0")
        text = root.lifted(texts["WaveFormData"]) if "WaveFormData" in texts else b""
        if len(text) > 4 * MAX_SAMPLES_PER_LEAD:
            raise FormatError("MUSE lead data too long", field="WaveFormData", value=len(text))
        raw = decode_base64(text, "MUSE lead", "lead", name)
        if len(raw) < 2 * n:
            raise FormatError("MUSE lead data shorter than its sample count", field="lead", value=name,
                              expected=f"{2 * n} bytes, got {len(raw)}")
        crc = texts.get("LeadDataCRC32", "")
        if crc.isdigit() and zlib.crc32(raw) != int(crc):
            dev.warn("crc_mismatch", f"{kind} lead {name}: CRC-32 does not match (reading continues)")
        step = upb * unit
        leads[name] = (raw, n, step)
        steps.add(step)
    if not leads:
        raise FormatError("MUSE waveform has no lead", field="Waveform", value=kind)
    lengths = {x[1] for x in leads.values()}
    if len(lengths) != 1:
        dev.warn("unequal_lead_lengths", f"{kind}: leads have different lengths; the shortest is kept")
    m = min(lengths)
    hp = to_float(wf.findtext("HighPassFilter"))
    lp = to_float(wf.findtext("LowPassFilter"))
    ac = wf.findtext("ACFilter").upper()
    notch = [float(ac)] if ac.isdigit() else []
    # the final array (stored + derived leads, standard order) is allocated once and filled in place
    names, derived = lead_layout(leads)
    samples = np.empty((len(names), m))
    for row, name in enumerate(names):
        if name in leads:
            raw, _n, step = leads[name]
            np.multiply(np.frombuffer(raw, "<i2", count=m), step, out=samples[row])
    derive_limb_leads(samples, names, derived)
    try:
        rec = EcgRecording(samples, fs, names, resolution_uv=steps.pop() if len(steps) == 1 else None,
                           device_filters=filter_steps(hp / 100.0 if hp else None, lp, notch),
                           derived_leads=derived)
        return kind, rec
    except SignalError as exc:
        raise FormatError("MUSE leads cannot form a recording", field="leads", value=str(exc)) from exc


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read a GE MUSE XML export.

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
    """Decode the bytes of a GE MUSE XML export.

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
    dev = Deviations("GE MUSE XML", strict)
    root = parse(data, "GE MUSE XML", bulk=("WaveFormData",),
                 drop=("AmplitudeMeasurements", "IntervalMeasurements", "QRSTimesTypes", "MeasurementMatrix",
                       "OriginalRestingECGMeasurements", "OriginalDiagnosis", "Order", "PharmaData"))
    if root.tag != "RestingECG":
        raise FormatError("Not a GE MUSE document", field="root", value=root.tag, expected="RestingECG")
    rhythm = median = None
    for wf in root.findall("Waveform"):
        kind, rec = _waveform(root, wf, dev)
        if kind.lower() == "rhythm" and rhythm is None:
            rhythm = rec
        elif kind.lower() == "median" and median is None:
            median = rec
    if rhythm is None:
        raise FormatError("MUSE document has no rhythm waveform", field="Waveform", expected="WaveformType Rhythm")
    pd_node, td_node = root.find("PatientDemographics"), root.find("TestDemographics")
    pd = pd_node.child_texts() if pd_node is not None else {}  # every field in one pass
    td = td_node.child_texts() if td_node is not None else {}
    age = to_float(pd.get("PatientAge", ""))
    age_unit = pd.get("AgeUnits", "").upper()
    if age is not None and age_unit and age_unit != "YEARS":
        age = age / {"MONTHS": 12.0, "WEEKS": 52.18, "DAYS": 365.25}.get(age_unit, float("nan"))
        age = age if age == age else None
    birth = _date(pd.get("DateofBirth", ""))
    patient = PatientDemographics(
        patient_id=pd.get("PatientID", ""), family_name=pd.get("PatientLastName", ""),
        given_name=pd.get("PatientFirstName", ""), birth_date=birth.date().isoformat() if birth else "",
        sex={"MALE": "male", "FEMALE": "female"}.get(pd.get("Gender", "").upper(), ""), age_years=age,
        height_cm=to_float(pd.get("HeightCM", "")) or None, weight_kg=to_float(pd.get("WeightKG", "")) or None)
    device = DeviceIdentity(manufacturer="", model=td.get("AcquisitionDevice", ""), serial_number="",
                            firmware=td.get("AcquisitionSoftwareVersion", ""), source=NAME)
    statements: list[DeviceStatement] = []
    meas = root.find("RestingECGMeasurements")
    if meas is not None:
        for child in meas.children:
            v = to_float(child.text)
            if v is not None and not child.tag.startswith("ECGSample"):
                statements.append(DeviceStatement("measurement", child.tag, value=v,
                                                  unit=_MEAS_UNITS.get(child.tag, "ms")))
    diag = root.find("Diagnosis")
    if diag is not None:
        for st in diag.findall("DiagnosisStatement"):
            text = st.findtext("StmtText")
            if text:
                statements.append(DeviceStatement("statement", "diagnosis", text=text))
    extra = {k: v for k, v in (("cart_number", td.get("CartNumber", "")),
                               ("muse_version", root.findtext("MuseInfo", "MuseVersion"))) if v}
    return EcgFile(format=NAME, recording=rhythm, device=device,
                   acquired_at=_date(td.get("AcquisitionDate", ""), td.get("AcquisitionTime", "")),
                   patient=patient, device_data=tuple(statements), warnings=dev.as_tuple(), median_beats=median,
                   format_version=root.findtext("MuseInfo", "MuseVersion"), extra=extra)


register_format(EcgFormat(NAME, "GE MUSE XML (RestingECG)", sniff, read, decode))
