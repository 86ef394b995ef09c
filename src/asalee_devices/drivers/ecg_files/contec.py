"""Contec ECG90A native ``.ECG`` reader (reverse-engineered layout, see docs/devices-and-protocols §5).

43-byte header (case id, acquisition timestamp, name, sex, age, weight), rows of 8 little-endian uint16 channels
II, III, V1-V6 offset by 2048 at 800 Hz and 5 µV/LSB, 0x6800 = no data (electrode off -> NaN and ``lead_off``), an
all-zero row ends the data, then a 37-byte footer. I is derived as II - III, then aVR, aVL, aVF.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from asalee_devices.drivers.ecg_files._util import (
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    decode_text,
    read_bounded,
    safe_datetime,
)
from asalee_devices.drivers.ecg_files.base import EcgFile, EcgFormat, PatientDemographics, register_format
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set

NAME = "contec-ecg90a"
HEADER_BYTES = 43
FOOTER_BYTES = 37
ROW_BYTES = 16
CHANNELS = ("II", "III", "V1", "V2", "V3", "V4", "V5", "V6")
FS_HZ = 800.0
UV_PER_LSB = 5.0
OFFSET = 2048
LEAD_OFF = 0x6800
_STAMP = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are a Contec ECG90A ``.ECG`` file.

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
    if len(head) < HEADER_BYTES + ROW_BYTES:
        return False
    case = head[:8].rstrip(b"\x00")
    return bool(case) and case.isdigit() and _STAMP.fullmatch(head[10:29]) is not None


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read a Contec ECG90A ``.ECG`` file.

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
    """Decode the bytes of a Contec ECG90A ``.ECG`` file.

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
    dev = Deviations("Contec ECG90A", strict)
    if len(data) < HEADER_BYTES + ROW_BYTES:
        raise FormatError("Contec ECG file too short", field="size_bytes", value=len(data),
                          expected=f">= {HEADER_BYTES + ROW_BYTES} bytes")
    if _STAMP.fullmatch(data[10:29]) is None:
        raise FormatError("Contec ECG header has no timestamp", field="timestamp", expected="YYYY-MM-DD HH:MM:SS")
    body = data[HEADER_BYTES:]
    n_rows_all = len(body) // ROW_BYTES
    n_rows_all = min(n_rows_all, MAX_SAMPLES_PER_LEAD + 1)
    rows = np.frombuffer(body, "<u2", count=n_rows_all * 8).reshape(n_rows_all, 8)
    zero = np.flatnonzero(~rows.any(axis=1))
    if zero.size:
        n = int(zero[0])
        trailing = len(body) - (n + 1) * ROW_BYTES
        # after the terminating row: zero padding and the footer
        if trailing < FOOTER_BYTES - ROW_BYTES or trailing > FOOTER_BYTES + 4 * ROW_BYTES:
            dev.warn("unexpected_trailer", f"{trailing} bytes after the terminating row (a 37-byte footer expected)")
    else:
        dev.warn("no_terminating_row", "no all-zero row ends the data; the data run to the footer")
        n = (len(body) - FOOTER_BYTES) // ROW_BYTES
    if n > MAX_SAMPLES_PER_LEAD:
        raise FormatError("Contec recording too long", field="samples", value=n, expected=f"<= {MAX_SAMPLES_PER_LEAD}")
    if n < 1:
        raise FormatError("Contec ECG file holds no sample", field="samples", value=n, expected=">= 1")
    raw = rows[:n].T
    off = raw == LEAD_OFF
    samples = (raw.astype(np.float64) - OFFSET) * UV_PER_LSB
    samples[off] = np.nan
    try:
        rec = EcgRecording(samples, FS_HZ, CHANNELS, resolution_uv=UV_PER_LSB, lead_off=off)
        rec = complete_lead_set(rec)
    except SignalError as exc:
        raise FormatError("Contec leads cannot form a recording", field="leads", value=str(exc)) from exc
    off_leads = [CHANNELS[k] for k in range(8) if off[k].all()]
    if off_leads:
        dev.note("leads_off", "electrodes off for the whole recording: " + ", ".join(off_leads))
    stamp = data[10:29].decode("ascii")
    acquired = safe_datetime(int(stamp[:4]), int(stamp[5:7]), int(stamp[8:10]), int(stamp[11:13]),
                             int(stamp[14:16]), int(stamp[17:19]))
    sex, age, weight = data[40], data[41], data[42]
    patient = PatientDemographics(
        patient_id=decode_text(data[:8]), family_name=decode_text(data[32:40]),
        sex={0: "female", 1: "male"}.get(sex, ""), age_years=float(age) if 0 < age < 255 else None,
        weight_kg=float(weight) if 0 < weight < 255 else None)
    return EcgFile(format=NAME, recording=rec, device=DeviceIdentity("Contec", "ECG90A", source=NAME),
                   acquired_at=acquired, patient=patient, warnings=dev.as_tuple(), format_version="")


register_format(EcgFormat(NAME, "Contec ECG90A native .ECG", sniff, read, decode))
