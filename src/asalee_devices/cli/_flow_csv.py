"""One spirometry manoeuvre from a CSV file (``spirometry analyze FILE``), read as a stream with every failure
named: the header expected (``time_s,flow_l_s`` or ``time_s,volume_l``, or one flow column with ``--rate``), the
row and column of a value that is not a finite number, the row where time stops increasing or the step changes,
physiological bounds (|flow| <= 20 L/s, |volume| <= 20 L) and the longest manoeuvre (60 s; at most 600 000 rows,
so memory stays bounded whatever the file holds)."""

from __future__ import annotations

import math
from array import array
from pathlib import Path
from typing import Any

from asalee_devices.errors import FormatError, InputError
from asalee_devices.signal.validate import check_sampling_rate

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 600_000  # 60 s at 10 kHz
MAX_DURATION_S = 60.0  # a forced manoeuvre lasts well under a minute (ATS/ERS 2019: end of test <= 15 s)
MAX_FLOW_L_S = 20.0  # PEF of a tall young adult is ~12 L/s; ATS/ERS 2019 flow range +/- 14 L/s
MAX_VOLUME_L = 20.0
HEADERS = ("time_s,flow_l_s", "time_s,volume_l")


def _number(text: str, row: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"Not a number at row {row}", field=column, value=text.strip()[:20],
                          expected="a decimal number (point as decimal separator)") from None
    if not math.isfinite(value):
        raise FormatError(f"Not a finite number at row {row}", field=column, value=text.strip()[:20],
                          expected="a finite decimal number")
    return value


def read_flow_csv(path: Path, rate: float | None) -> Any:
    """The manoeuvre of ``path`` as a :class:`FlowRecording` (``rate``: Hz, for one-column flow files)."""
    import numpy as np

    from asalee_devices.signal.spirometry import FlowRecording
    from asalee_devices.signal.spirometry.indices import from_volume

    if not path.is_file():
        raise InputError("File not found", field="FILE", value=str(path.name), expected="a readable file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise FormatError("File too large for one manoeuvre", field="FILE", value=path.stat().st_size,
                          expected=f"<= {MAX_FILE_BYTES} bytes")
    times, values = array("d"), array("d")
    kind = ""
    step = 0.0
    with path.open(encoding="utf-8", errors="replace") as fh:
        row = 0
        for line in fh:
            row += 1
            line = line.strip()
            if not line:
                continue
            cells = [c.strip() for c in line.split(",")]
            if not kind:
                head = ",".join(c.lower() for c in cells)
                if head in HEADERS:
                    kind = head.split(",")[1]
                    continue
                if cells[0][:1].isalpha() and cells[0].lower() not in ("nan", "inf", "infinity"):
                    raise FormatError("Unknown CSV header", field="header", value=head[:60],
                                      expected=" or ".join(HEADERS) + ", or one column of flow values (L/s)")
                kind = "flow-only"
            want = 1 if kind == "flow-only" else 2
            if len(cells) != want:
                raise FormatError(f"Row {row} has {len(cells)} columns", field="FILE", value=path.name,
                                  expected=f"{want} ({'flow_l_s' if want == 1 else 'time_s,' + kind})")
            if len(values) >= MAX_ROWS:
                raise FormatError("Too many rows for one manoeuvre", field="FILE", value=f"> {MAX_ROWS} rows",
                                  expected=f"<= {MAX_ROWS} ({MAX_DURATION_S:.0f} s at 10 kHz)")
            name = "flow_l_s" if kind in ("flow-only", "flow_l_s") else "volume_l"
            value = _number(cells[-1], row, name)
            bound = MAX_VOLUME_L if name == "volume_l" else MAX_FLOW_L_S
            if abs(value) > bound:
                unit = "L" if name == "volume_l" else "L/s"
                raise InputError(f"Value outside physiological bounds at row {row}", field=name,
                                 value=f"{value:g} {unit}", expected=f"|{name}| <= {bound:g} {unit}")
            if want == 2:
                t = _number(cells[0], row, "time_s")
                if times:
                    dt = t - times[-1]
                    if dt <= 0:
                        raise InputError(f"Time not increasing at row {row}", field="time_s",
                                         value=f"{times[-1]:g} then {t:g}", expected="strictly increasing time")
                    if step == 0.0:
                        step = dt
                    elif abs(dt - step) > 0.01 * step:
                        raise InputError(f"Time step changes at row {row}", field="time_s",
                                         value=f"{dt:g} s after {step:g} s", expected="constant step (within 1 %)")
                    if t - times[0] > MAX_DURATION_S:
                        raise InputError(f"Manoeuvre longer than {MAX_DURATION_S:.0f} s at row {row}",
                                         field="time_s", value=f"{t - times[0]:g} s",
                                         expected=f"<= {MAX_DURATION_S:.0f} s")
                times.append(t)
            values.append(value)
    if not kind:
        raise InputError("Empty manoeuvre file", field="FILE", value=path.name, expected="flow samples")
    if len(values) < 3:
        raise FormatError(f"{len(values)} data row(s) after the header" if kind != "flow-only" else
                          f"{len(values)} flow value(s)", field="FILE", value=path.name,
                          expected="at least 3 rows of samples")
    data = np.frombuffer(values, dtype=np.float64).copy()
    if kind == "flow-only":
        if rate is None:
            raise InputError("One-column flow files need the sampling rate", field="--rate",
                             expected="e.g. --rate 500")
        check_sampling_rate(rate, field="--rate")
        if len(data) / rate > MAX_DURATION_S:
            raise InputError(f"Manoeuvre longer than {MAX_DURATION_S:.0f} s", field="FILE",
                             value=f"{len(data) / rate:g} s", expected=f"<= {MAX_DURATION_S:.0f} s")
        return FlowRecording(flow_l_s=data, fs_hz=rate)
    ts = np.frombuffer(times, dtype=np.float64)
    fs = round(1.0 / float(np.median(np.diff(ts))), 6)
    if kind == "volume_l":
        return from_volume(data, fs)
    return FlowRecording(flow_l_s=data, fs_hz=fs)
