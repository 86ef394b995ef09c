"""A simple CSV of leads: a header of lead names, then one row per sample in µV (empty cell = no data).

The file carries no sampling rate, so it is not a registered (auto-detected) format: the caller gives the rate.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from asalee_devices.drivers.ecg_files._util import MAX_LEADS, MAX_SAMPLES_PER_LEAD, read_bounded
from asalee_devices.drivers.ecg_files.base import EcgFile
from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import from_leads
from asalee_devices.signal.validate import check_sampling_rate

NAME = "csv"


def read_csv_leads(path: str | Path, fs_hz: float) -> EcgFile:
    """Read ``path`` (header of lead names, values in µV) sampled at ``fs_hz``; missing limb leads are derived.

    Parameters
    ----------
    path : str or Path
        The CSV file: a header of lead names, then one row of values (µV) per sample.
    fs_hz : float
        Its sampling rate (Hz; a CSV does not carry it).

    Returns
    -------
    EcgFile
        The recording (format ``csv``).

    Raises
    ------
    SignalError
        When ``fs_hz`` is not a finite, positive sampling rate (the shared sampling-rate check).
    FormatError
        When the file cannot be opened, is empty, or has a bad header, row or value, or too many samples.
    """
    check_sampling_rate(fs_hz, field="rate")
    p = Path(path)
    text = read_bounded(p).decode("utf-8-sig", errors="strict") if p.exists() else None
    if text is None:
        raise FormatError("Cannot open the CSV file", field="path", value=p.name)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise FormatError("CSV file is empty", field="header", expected="a header of lead names") from None
    names = [h.strip() for h in header]
    if not names or len(names) > MAX_LEADS or any(not n for n in names):
        raise FormatError("CSV header must name every column", field="header", value=len(names),
                          expected=f"1-{MAX_LEADS} lead names")
    rows: list[list[float]] = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(names):
            raise FormatError("CSV row has a different number of values than the header", field="line",
                              value=line_no, expected=f"{len(names)} values")
        try:
            rows.append([float(v) if v.strip() else float("nan") for v in row])
        except ValueError:
            raise FormatError("CSV value is not a number", field="line", value=line_no,
                              expected="values in µV") from None
        if len(rows) > MAX_SAMPLES_PER_LEAD:
            raise FormatError("CSV file has too many samples", field="samples", value=len(rows),
                              expected=f"at most {MAX_SAMPLES_PER_LEAD}")
    if not rows:
        raise FormatError("CSV file has no samples", field="samples", value=0, expected="at least one row")
    data = np.asarray(rows, dtype=np.float64).T
    rec = from_leads({n: data[k] for k, n in enumerate(names)}, float(fs_hz))
    off = ~np.isfinite(rec.samples_uv)
    if off.any():
        rec = rec.with_samples(rec.samples_uv, lead_off=off)
    return EcgFile(format=NAME, recording=rec)
