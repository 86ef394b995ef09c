"""Philips Sierra ECG XML reader (``restingecgdata``, versions 1.03, 1.04, 1.04.01/02; 1.04+ are UTF-16 with BOM).

Waveforms are XLI-compressed (LZW + delta prediction, see :mod:`._xli`) or plain base64 int16. In XLI data the
limb leads III, aVR, aVL, aVF are stored as residuals from I and II and rebuilt here as the reference decoder does.
The record ends with the cart's 1 mV calibration signal, kept as stored: the analysis recognises it and leaves it
out (:mod:`asalee_devices.signal.ecg.segments`). The stored-data bandwidth (``signalbandwidth`` in 1.03,
``hipass``/``lowpass`` in 1.04) becomes the device filters; the report (display) bandwidth is kept in ``extra``
only, it does not describe the stored samples.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files._util import (
    MAX_LEADS,
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    decode_base64,
    filter_steps,
    read_bounded,
    to_float,
    xml_root_name,
)
from asalee_devices.drivers.ecg_files._xli import xli_decode
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
    STANDARD_LEADS,
    EcgRecording,
    canonical_lead_name,
    lead_sort_key,
)

NAME = "philips-sierra-xml"
_MEAS = {"heartrate": "/min", "meanventrate": "/min", "atrialrate": "/min", "meanprint": "ms", "meanqrsdur": "ms",
         "meanqtint": "ms", "meanqtc": "ms", "pfrontaxis": "deg", "qrsfrontaxis": "deg", "tfrontaxis": "deg",
         "rrint": "ms", "print": "ms", "qrsdur": "ms", "qtint": "ms", "qtcb": "ms", "qtcf": "ms"}


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are a Philips Sierra ECG XML.

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
    return xml_root_name(head) == "restingecgdata"


def _rebuild_limb_leads(x: list[NDArray[np.int64]]) -> None:
    i, ii = x[0], x[1]
    iii = ii - i - x[2]
    x[2] = iii
    x[3] = -x[3] - ((i + ii) >> 1)
    x[4] = ((i - iii) >> 1) - x[4]
    x[5] = ((ii + iii) >> 1) - x[5]


def _when(node: Node | None) -> datetime | None:
    if node is None:
        return None
    d, t = node.attrib.get("date", ""), node.attrib.get("time", "")
    try:
        return datetime.fromisoformat(f"{d}T{t}" if t else d)
    except ValueError:
        return None


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read a Philips Sierra ECG XML.

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
    """Decode the bytes of a Philips Sierra ECG XML.

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
    dev = Deviations("Philips Sierra XML", strict)
    root = parse(data, "Philips Sierra XML", bulk=("parsedwaveforms",))
    if root.tag != "restingecgdata":
        raise FormatError("Not a Philips Sierra document", field="root", value=root.tag, expected="restingecgdata")
    version = root.findtext("documentinfo", "documentversion")
    acq = root.find("dataacquisition")
    sig = acq.find("signalcharacteristics") if acq is not None else None
    if sig is None:
        raise FormatError("Sierra document has no signal characteristics", field="signalcharacteristics")
    pw = root.find("waveforms", "parsedwaveforms")
    if pw is None:
        raise FormatError("Sierra document has no parsed waveforms", field="parsedwaveforms")
    # 1.03 names the settings signalresolution / compressflag + compressmethod / signalbandwidth; 1.04 (and
    # 1.04.01, 1.04.02) resolution / compression / hipass + lowpass, repeated on parsedwaveforms, whose attributes
    # describe the stored samples when a later system modified them (schema 1.04.01, "waveforms")
    fs_text = pw.attrib.get("samplespersecond") or sig.findtext("samplingrate")
    fs = to_float(fs_text)
    res_text = pw.attrib.get("resolution") or sig.findtext("signalresolution") or sig.findtext("resolution")
    res = to_float(res_text)
    if fs is None or fs <= 0:
        raise FormatError("Sierra sampling rate invalid", field="samplingrate", value=fs_text, expected="> 0 Hz")
    if res is None or res <= 0:
        raise FormatError("Sierra signal resolution missing or zero", field="signalresolution", value=res_text,
                          expected="> 0 µV (signalresolution in 1.03, resolution in 1.04)")
    declared_fs = to_float(sig.findtext("samplingrate"))
    if declared_fs is not None and declared_fs != fs:
        dev.warn("sampling_rate_differs", f"acquisition at {declared_fs:g} Hz, stored waveforms at {fs:g} Hz "
                                          "(the waveforms' rate is used)")
    n_text = pw.attrib.get("numberofleads") or sig.findtext("numberchannelsvalid")
    n_valid = int(to_float(n_text) or 12)
    if not 1 <= n_valid <= MAX_LEADS:
        raise FormatError("Implausible number of Sierra channels", field="numberchannelsvalid", value=n_valid,
                          expected=f"1..{MAX_LEADS}")
    duration_ms = to_float(pw.attrib.get("durationperchannel"))
    if duration_ms is None or duration_ms <= 0:
        raise FormatError("Sierra waveform duration invalid", field="durationperchannel",
                          value=pw.attrib.get("durationperchannel"), expected="> 0 ms")
    samples_f = duration_ms * fs / 1000.0  # both finite, but their product may overflow to infinity
    n = int(round(samples_f)) if samples_f < MAX_SAMPLES_PER_LEAD + 1 else MAX_SAMPLES_PER_LEAD + 1
    if not 1 <= n <= MAX_SAMPLES_PER_LEAD:
        raise FormatError("Sierra waveform too long", field="samples", value=n, expected=f"<= {MAX_SAMPLES_PER_LEAD}")
    labels_attr = pw.attrib.get("leadlabels", "")
    labels = labels_attr.split() if labels_attr else list(STANDARD_LEADS)
    if len(labels) < n_valid:
        raise FormatError("Sierra lead labels fewer than the valid channels", field="leadlabels", value=len(labels),
                          expected=f">= {n_valid}")
    encoding = pw.attrib.get("dataencoding", "Base64")
    method = pw.attrib.get("compressmethod", "") or pw.attrib.get("compression", "")
    flag = pw.attrib.get("compressflag")
    compressed = flag.lower() == "true" if flag is not None else bool(method.strip())
    if encoding.lower() != "base64":
        raise FormatError("Unsupported Sierra waveform encoding", field="dataencoding", value=encoding,
                          expected="Base64")
    offset = to_float(pw.attrib.get("signaloffset")) or 0.0
    text = root.content(pw)
    if len(text) > 8 * MAX_SAMPLES_PER_LEAD * MAX_LEADS // 3:
        raise FormatError("Sierra waveform data too long", field="parsedwaveforms", value=len(text))
    blob = decode_base64(text, "Sierra waveform", "parsedwaveforms")
    arrays: list[NDArray[np.int64]]
    if compressed:
        if method.upper() != "XLI":
            raise FormatError("Unsupported Sierra compression", field="compressmethod", value=method,
                              expected="XLI")
        chunks = xli_decode(blob, max(MAX_LEADS, n_valid), wanted=n_valid)
        if len(chunks) < n_valid:
            raise FormatError("Sierra XLI data hold fewer leads than declared", field="chunks", value=len(chunks),
                              expected=f">= {n_valid}")
        for c in chunks[:n_valid]:
            if c.size < n:
                raise FormatError("Sierra XLI lead shorter than the declared duration", field="samples",
                                  value=int(c.size), expected=f">= {n}")
        arrays = [c[:n].astype(np.int64) for c in chunks[:n_valid]]
        if [canonical_name(x) for x in labels[:6]] == list(STANDARD_LEADS[:6]):
            _rebuild_limb_leads(arrays)
            arrays = [a.astype(np.int16).astype(np.int64) for a in arrays]
    else:
        if len(blob) < 2 * n * n_valid:
            raise FormatError("Sierra waveform data shorter than leads x samples", field="bytes", value=len(blob),
                              expected=f">= {2 * n * n_valid}")
        flat = np.frombuffer(blob, "<i2", count=n * n_valid).astype(np.int64)
        arrays = [flat[k * n:(k + 1) * n] for k in range(n_valid)]
    leads: dict[str, NDArray[np.float64]] = {}
    for label, arr in zip(labels[:n_valid], arrays, strict=True):
        name = canonical_name(label)
        if name is None:
            dev.note("unknown_lead", f"lead {label!r} not supported; ignored")
            continue
        if name in leads:
            raise FormatError("Sierra lead given twice", field="lead", value=name)
        leads[name] = (arr.astype(np.float64) - offset) * res
    if not leads:
        raise FormatError("Sierra document has no ECG lead", field="leadlabels")
    hp, lp, notch = _device_filters(sig, pw)
    pace_text = root.findtext("patient", "generalpatientdata", "pacestatus").strip().lower()
    pacemaker = _PACE.get(pace_text)
    names = sorted(leads, key=lead_sort_key)
    samples = np.vstack([leads[k] for k in names])
    try:
        rec = EcgRecording(samples, fs, tuple(names), resolution_uv=res,
                           pacemaker=pacemaker, device_filters=filter_steps(hp, lp, notch))
    except SignalError as exc:
        raise FormatError("Sierra leads cannot form a recording", field="leads", value=str(exc)) from exc
    gp = root.find("patient", "generalpatientdata")
    patient = PatientDemographics()
    if gp is not None:
        patient = PatientDemographics(
            patient_id=gp.findtext("patientid"), family_name=gp.findtext("name", "lastname"),
            given_name=gp.findtext("name", "firstname"),
            # 1.03: generalpatientdata/dateofbirth; 1.04: generalpatientdata/age/dateofbirth
            birth_date=gp.findtext("dateofbirth") or gp.findtext("age", "dateofbirth"),
            sex={"male": "male", "female": "female"}.get(gp.findtext("sex").lower(), ""),
            age_years=to_float(gp.findtext("age", "years")))
    machine = acq.find("machine") if acq is not None else None
    device = DeviceIdentity(manufacturer="", model=machine.text.strip() if machine is not None else "",
                            serial_number=machine.attrib.get("machineid", "") if machine is not None else "",
                            firmware="", source=NAME)
    # 1.03: measurements/globalmeasurements; 1.04: internalmeasurements/crossleadmeasurements, superseded by the
    # interpretation's globalmeasurements (the final, possibly edited, values: schema 1.04.01)
    found: dict[str, DeviceStatement] = {}
    groups = [root.find("measurements", "globalmeasurements"),
              root.find("internalmeasurements", "crossleadmeasurements")]
    groups += [i.find("globalmeasurements") for i in root.iter("interpretation")]
    for gm in groups:
        if gm is None:
            continue
        for child in gm.children:
            unit = _MEAS.get(child.tag)
            v = to_float(child.text)
            if unit and v is not None:
                found[child.tag] = DeviceStatement("measurement", child.tag, value=v, unit=unit)
    statements: list[DeviceStatement] = list(found.values())
    for interp in root.iter("interpretation"):
        sev = interp.findtext("severity")
        if sev:
            statements.append(DeviceStatement("statement", "severity", text=sev))
        for st in interp.findall("statement"):
            text = " ".join(x for x in (st.findtext("leftstatement"), st.findtext("rightstatement")) if x)
            if text:
                statements.append(DeviceStatement("statement", st.findtext("statementcode") or "interpretation",
                                                  text=text))
    extra: dict[str, str] = {}
    rb = root.find("reportinfo", "reportbandwidth")
    if rb is not None:
        extra["display_bandwidth"] = (f"{rb.findtext('highpassfiltersetting')}-{rb.findtext('lowpassfiltersetting')}"
                                      f" Hz, notch {rb.findtext('notchfiltersetting') or 'none'}")
    return EcgFile(format=NAME, recording=_complete(rec), device=device, acquired_at=_when(acq),
                   patient=patient, device_data=tuple(statements), warnings=dev.as_tuple(), format_version=version,
                   extra=extra)


_PACE = {"yes": True, "paced": True, "paced with magnet": True, "no": False, "notpaced": False,
         "non paced": False}


def _device_filters(sig: Node, pw: Node) -> tuple[float | None, float | None, list[float]]:
    """High-pass, low-pass (Hz) and notch frequencies the cart applied to the stored samples: 1.03's
    ``signalbandwidth`` ("0.05-150") and ``notchfilterapplied``; 1.04's ``hipass``/``lowpass`` and
    ``notchfiltered`` (the parsedwaveforms attributes first: they describe the stored data)."""
    hp = lp = None
    band = sig.findtext("signalbandwidth")
    if "-" in band:
        lo, hi = band.split("-", 1)
        hp, lp = to_float(lo), to_float(hi)
    else:
        hp = to_float(pw.attrib.get("hipass")) or to_float(sig.findtext("hipass"))
        lp = to_float(pw.attrib.get("lowpass")) or to_float(sig.findtext("lowpass"))
    applied_text = pw.attrib.get("notchfiltered") or sig.findtext("notchfilterapplied") or sig.findtext(
        "notchfiltered")
    notch_text = pw.attrib.get("notchfilterfreqs") or sig.findtext("notchfilterfreqs")
    notch: list[float] = []
    if applied_text.strip().lower() == "true":
        notch = [f for f in (to_float(t) for t in notch_text.split()[:8]) if f]
    return hp, lp, notch


def canonical_name(label: str) -> str | None:
    """A Sierra lead label as a canonical lead name, or None for a label that is no ECG lead we know.

    Parameters
    ----------
    label : str
        The label (``"I"``, ``"aVR"``, ``"V1"``...).

    Returns
    -------
    str or None
        The canonical name.
    """
    try:
        return canonical_lead_name(label)
    except SignalError:
        return None


def _complete(rec: EcgRecording) -> EcgRecording:
    from asalee_devices.signal.ecg.recording import complete_lead_set

    return complete_lead_set(rec)


register_format(EcgFormat(NAME, "Philips Sierra ECG XML 1.03/1.04", sniff, read, decode))
