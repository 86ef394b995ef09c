"""PhysioNet WFDB records: header (``.hea``) + signal files in formats 16, 212 and 80, and MIT annotation files.

A record is given by its header path or by its path without extension (``.../mitdb-100/100``). Detection is by
the content of the header: a record line ``name nsig fs [nsamp]`` followed by one signal line per signal whose
second field is a supported format. Physical values are ``(adc - baseline) / gain`` in the signal's units,
converted to µV; the format's invalid-sample code becomes NaN and ``lead_off``. Signals with a label that is not
an ECG lead name are skipped with a warning.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files._util import MAX_LEADS, Deviations, check_count, read_bounded
from asalee_devices.drivers.ecg_files.base import EcgFile, EcgFormat, register_format
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import (
    EcgRecording,
    canonical_lead_name,
    complete_lead_set,
    lead_sort_key,
)

NAME = "wfdb"
#: A WFDB record may be long (MIT-BIH: 30 min at 360 Hz); the 64 MiB file limit bounds it as well.
MAX_SAMPLES = 4_000_000
_UNITS_TO_UV = {"mv": 1000.0, "uv": 1.0, "µv": 1.0, "v": 1e6, "nu": 1000.0}
_INVALID = {16: -32768, 212: -2048, 80: -128}
_RECORD = re.compile(r"^(\S+?)(?:/(\d+))?\s+(\d+)(?:\s+([0-9.eE+-]+)(?:/[0-9.eE+-]+)?(?:\(([-0-9.eE+]+)\))?"
                     r"(?:\s+(\d+))?)?")
_FMT = re.compile(r"^(\d+)(?:x\d+)?(?::\d+)?(?:\+(\d+))?$")
_GAIN = re.compile(r"^([-0-9.eE+]+)(?:\(([-0-9]+)\))?(?:/(\S+))?$")


@dataclass(frozen=True)
class _Signal:
    file: str
    fmt: int
    byte_offset: int
    gain: float
    baseline: int
    units: str
    description: str


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are a PhysioNet WFDB record.

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
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = _lines(text)
    if len(lines) < 2:
        return False
    m = _RECORD.match(lines[0])
    if not m or int(m.group(3)) < 1 or len(lines[0].split()) > 6:
        return False
    parts = lines[1].split()
    if len(parts) < 2:
        return False
    f = _FMT.match(parts[1])
    return bool(f and int(f.group(1)) in _INVALID)


def header_path(path: str | Path) -> Path:
    """The ``.hea`` of a record given with or without extension.

    Parameters
    ----------
    path : str or Path
        ``rec``, ``rec.hea``, or ``rec.dat`` / ``rec.atr`` beside a ``rec.hea``.

    Returns
    -------
    Path
        ``rec.hea``.
    """
    p = Path(path)
    if p.suffix.lower() == ".hea":
        return p
    if p.suffix.lower() in (".dat", ".atr") and p.with_suffix(".hea").is_file():
        return p.with_suffix(".hea")
    return Path(str(p) + ".hea")


def _num(conv: type[int] | type[float], text: str, field: str) -> Any:
    """``conv(text)`` for a header field, a :class:`FormatError` naming the field when it is not a number (the
    field patterns let ``1e`` or ``--`` through), or when it is not finite."""
    try:
        value = conv(text)
    except (ValueError, OverflowError):
        raise FormatError("WFDB header field is not a number", field=field, value=text[:20],
                          expected="an integer" if conv is int else "a decimal number") from None
    if conv is float and not math.isfinite(value):
        raise FormatError("WFDB header field is not finite", field=field, value=text[:20])
    return value


def _parse_header(text: str) -> tuple[int, float, int | None, list[_Signal]]:
    lines = _lines(text)
    if not lines:
        raise FormatError("WFDB header is empty", field="header")
    m = _RECORD.match(lines[0])
    if not m:
        raise FormatError("WFDB record line not understood", field="record_line",
                          expected="name nsig fs nsamp")
    if m.group(2):
        raise FormatError("Multi-segment WFDB records are not supported", field="segments", value=m.group(2))
    nsig = check_count("signals", _num(int, m.group(3), "signals"), MAX_LEADS, 1)
    fs = _num(float, m.group(4), "fs_hz") if m.group(4) else 250.0
    nsamp = _num(int, m.group(6), "samples") if m.group(6) else None
    if len(lines) < 1 + nsig:
        raise FormatError("WFDB header has fewer signal lines than announced", field="signals", value=nsig)
    sigs: list[_Signal] = []
    for ln in lines[1:1 + nsig]:
        parts = ln.split(None, 8)
        if len(parts) < 2:
            raise FormatError("WFDB signal line too short", field="signal_line")
        f = _FMT.match(parts[1])
        if not f or int(f.group(1)) not in _INVALID:
            raise FormatError("Unsupported WFDB signal format", field="format", value=parts[1],
                              expected="16, 212 or 80")
        gain, baseline, units = 200.0, None, "mV"
        if len(parts) > 2:
            g = _GAIN.match(parts[2])
            if not g:
                raise FormatError("WFDB gain field not understood", field="gain", value=parts[2])
            gain = _num(float, g.group(1), "gain") or 200.0
            baseline = _num(int, g.group(2), "baseline") if g.group(2) else None
            units = g.group(3) or "mV"
        adczero = _num(int, parts[4], "adc_zero") if len(parts) > 4 else 0
        desc = parts[8].strip() if len(parts) > 8 else ""
        sigs.append(_Signal(parts[0], int(f.group(1)), _num(int, f.group(2) or "0", "byte_offset"), gain,
                            adczero if baseline is None else baseline, units, desc))
    return nsig, fs, nsamp, sigs


def _decode(data: bytes, fmt: int, nsig: int) -> NDArray[np.int64]:
    """Interleaved samples of ``nsig`` signals -> (nsig, n) int array."""
    if fmt == 16:
        n = len(data) // (2 * nsig)
        v = np.frombuffer(data[:n * 2 * nsig], dtype="<i2").astype(np.int64)
    elif fmt == 80:
        n = len(data) // nsig
        v = np.frombuffer(data[:n * nsig], dtype=np.uint8).astype(np.int64) - 128
    else:  # 212: two 12-bit two's-complement samples in 3 bytes
        nb = (len(data) // 3) * 3
        b = np.frombuffer(data[:nb], dtype=np.uint8).astype(np.int64).reshape(-1, 3)
        s0 = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        s1 = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        v = np.empty(2 * b.shape[0], dtype=np.int64)
        v[0::2], v[1::2] = s0, s1
        v[v >= 2048] -= 4096
        n = v.size // nsig
        v = v[:n * nsig]
    return v.reshape(n, nsig).T


def read(path: Path, strict: bool) -> EcgFile:
    """Read a PhysioNet WFDB record.

    Parameters
    ----------
    path : Path
        The file (the ``.hea`` header, or the record name without extension).
    strict : bool
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
    dev = Deviations(NAME, strict)
    hea = header_path(path)
    text = read_bounded(hea).decode("ascii", errors="replace")
    nsig, fs, nsamp, sigs = _parse_header(text)
    if not 0 < fs <= 100_000:
        raise FormatError("Implausible WFDB sampling frequency", field="fs_hz", value=fs, expected="0-100000 Hz")
    by_file: dict[str, list[int]] = {}
    for k, s in enumerate(sigs):
        by_file.setdefault(s.file, []).append(k)
    rows: dict[int, NDArray[np.float64]] = {}
    offs: dict[int, NDArray[np.bool_]] = {}
    length: int | None = nsamp
    for fname, ks in by_file.items():
        if Path(fname).name != fname or fname in ("-", ""):
            raise FormatError("WFDB signal file name not supported", field="file", value=fname,
                              expected="a file next to the header")
        fmts = {sigs[k].fmt for k in ks}
        if len(fmts) != 1:
            raise FormatError("Signals of one WFDB file use different formats", field="format", value=str(fmts))
        fmt = fmts.pop()
        data = read_bounded(hea.parent / fname)[sigs[ks[0]].byte_offset:]
        adc = _decode(data, fmt, len(ks))
        check_count("samples", adc.shape[1], MAX_SAMPLES)
        if length is None:
            length = adc.shape[1]
        if adc.shape[1] < length:
            dev.warn("truncated", f"{fname} holds {adc.shape[1]} samples, header says {length}")
            length = adc.shape[1]
        for j, k in enumerate(ks):
            s = sigs[k]
            scale = _UNITS_TO_UV.get(s.units.lower())
            if scale is None:
                raise FormatError("Unsupported WFDB signal units", field="units", value=s.units,
                                  expected="mV, uV or V")
            a = adc[j]
            bad = a == _INVALID[fmt]
            rows[k] = (a - s.baseline) * (scale / s.gain)
            rows[k][bad] = np.nan
            offs[k] = bad
    assert length is not None
    names: list[str] = []
    keep: list[int] = []
    for k, s in enumerate(sigs):
        try:
            name = canonical_lead_name(s.description or f"signal {k}")
        except SignalError:
            dev.note("unknown_lead", f"signal {k} ({s.description or 'no label'}) is not an ECG lead: skipped")
            continue
        if name in names:
            dev.note("duplicate_lead", f"signal {k} repeats lead {name}: skipped")
            continue
        names.append(name)
        keep.append(k)
    if not keep:
        raise FormatError("WFDB record has no ECG lead", field="signals", expected="at least one ECG lead")
    order = sorted(range(len(keep)), key=lambda j: lead_sort_key(names[j]))
    samples = np.vstack([rows[keep[j]][:length] for j in order])
    lead_off = np.vstack([offs[keep[j]][:length] for j in order])
    gains = {sigs[k].gain / _UNITS_TO_UV[sigs[k].units.lower()] for k in keep}
    resolution = 1.0 / gains.pop() if len(gains) == 1 else None
    rec = EcgRecording(samples, fs, tuple(names[j] for j in order), resolution_uv=resolution,
                       lead_off=lead_off if lead_off.any() else None)
    rec = complete_lead_set(rec)
    return EcgFile(format=NAME, recording=rec, warnings=dev.as_tuple(), format_version="WFDB")


@dataclass(frozen=True)
class Annotation:
    """One MIT-format annotation: sample index, code (1 = normal beat...), and the beat flag."""

    sample: int
    code: int
    is_beat: bool


#: MIT annotation codes that mark a QRS complex (WFDB ``isqrs``).
BEAT_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 25, 30, 34, 35, 38, 41})


def read_annotations(path: str | Path) -> list[Annotation]:
    """Decode an MIT-format annotation file (``.atr``): 16-bit little-endian words, type in the top 6 bits and
    interval in the low 10; SKIP (59) carries a 32-bit interval, AUX (63) a string, NUM/SUB/CHN (60-62) fields.

    Parameters
    ----------
    path : str or Path
        The annotation file.

    Returns
    -------
    list of Annotation
        Sample index, code and beat flag of each annotation, in order.

    Raises
    ------
    FormatError
        When the file is too large or a SKIP is truncated.
    """
    data = read_bounded(Path(path))
    w = np.frombuffer(data[: len(data) // 2 * 2], dtype="<u2")
    out: list[Annotation] = []
    t = 0
    i = 0
    nw = w.size
    while i < nw:
        a, interval = int(w[i]) >> 10, int(w[i]) & 0x3FF
        i += 1
        if a == 0 and interval == 0:
            break
        if a == 59:  # SKIP: next two words, high word first
            if i + 2 > nw:
                raise FormatError("Truncated SKIP in annotation file", field="annotation")
            skip = (int(w[i]) << 16) | int(w[i + 1])
            if skip >= 1 << 31:
                skip -= 1 << 32
            t += skip
            i += 2
        elif a == 63:  # AUX: interval = byte count, padded to an even length
            i += (interval + 1) // 2
        elif a in (60, 61, 62):
            continue
        else:
            t += interval
            out.append(Annotation(t, a, a in BEAT_CODES))
    return out


register_format(EcgFormat(NAME, "PhysioNet WFDB record (header + format 16/212/80 signals)", sniff, read))
