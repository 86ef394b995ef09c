"""Helpers shared by the ECG file readers: bounded file reading, deviation bookkeeping, XML parsing, filters."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pybase64
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files.base import MAX_FILE_BYTES, FormatWarning
from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import lead_sort_key
from asalee_devices.signal.filters import FilterStep

#: Largest number of samples per lead any reader accepts (10 min at 1 kHz): bounds every allocation.
MAX_SAMPLES_PER_LEAD = 600_000
#: Largest number of leads in one file.
MAX_LEADS = 64


def read_bounded(path: Path) -> bytes:
    """The file content, refused before reading when larger than :data:`MAX_FILE_BYTES`."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block open() or read forever
            raise FormatError("Not a regular file", field="path", value=path.name, expected="a regular file")
        size = st.st_size
        if size > MAX_FILE_BYTES:
            raise FormatError("ECG file too large", field="size_bytes", value=size,
                              expected=f"at most {MAX_FILE_BYTES} bytes")
        with path.open("rb") as fh:
            # read the size stat() gave plus one byte (asking for MAX_FILE_BYTES + 1 at once makes Python allocate
            # the whole 64 MiB buffer first); a file still growing is read on, up to the limit
            data = fh.read(size + 1)
            if len(data) > size:
                data += fh.read(MAX_FILE_BYTES + 1 - len(data))
    except OSError as exc:
        raise FormatError("Cannot read the ECG file", field="path", value=path.name) from exc
    if len(data) > MAX_FILE_BYTES:
        raise FormatError("ECG file too large", field="size_bytes", value=len(data),
                          expected=f"at most {MAX_FILE_BYTES} bytes")
    return data


def decode_base64(text: str | bytes, fmt: str, field: str, value: object = None) -> bytes:
    """Base64 text (line breaks and indentation ignored, as binascii does) decoded with pybase64 (SIMD, 5-6x
    binascii on the MUSE and Sierra waveforms); anything that is not base64 is a :class:`FormatError`."""
    try:
        return pybase64.b64decode(text)
    except ValueError as exc:  # binascii.Error, and non-ASCII text
        raise FormatError(f"{fmt} data are not base64", field=field, value=value) from exc


def check_count(what: str, value: int, maximum: int, minimum: int = 0) -> int:
    """Validate a count read from a file before it is used to allocate."""
    if value < minimum or value > maximum:
        raise FormatError(f"Implausible {what}", field=what, value=value, expected=f"{minimum}..{maximum}")
    return value


class Deviations:
    """Collects tolerated deviations as :class:`FormatWarning`s; in strict mode every deviation is an error."""

    def __init__(self, fmt: str, strict: bool) -> None:
        self.fmt = fmt
        self.strict = strict
        self.items: list[FormatWarning] = []

    def warn(self, code: str, message: str) -> None:
        if self.strict:
            raise FormatError(f"{self.fmt}: {message} (refused in strict mode)", field=code)
        if all(w.code != code or w.message != message for w in self.items):
            self.items.append(FormatWarning(code, message))

    def note(self, code: str, message: str) -> None:
        """Informational warning that strict mode does not refuse (not a deviation from the format)."""
        self.items.append(FormatWarning(code, message))

    def as_tuple(self) -> tuple[FormatWarning, ...]:
        return tuple(self.items)


def parse_xml(data: bytes | str, fmt: str) -> Any:
    """Parse an XML document with defusedxml (no entities, no external references); any parse failure is a
    :class:`FormatError`. Returns the root element."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    try:
        return DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError, SyntaxError) as exc:
        raise FormatError(f"{fmt}: the XML document cannot be parsed", field="xml",
                          value=type(exc).__name__) from exc


_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)[\s>/]")


def xml_root_name(head: bytes) -> str | None:
    """Local name of the root element of an XML document from its first bytes (UTF-8, Latin-1 or UTF-16 with
    BOM), skipping the declaration, comments, processing instructions and the DOCTYPE; None if not XML."""
    text = head
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = head[: len(head) - (len(head) % 2)].decode("utf-16").encode("utf-8", "replace")
        except UnicodeError:
            return None
    elif head.startswith(b"\xef\xbb\xbf"):
        text = head[3:]
    text = text.lstrip()
    if not text.startswith(b"<"):
        return None
    pos = 0
    n = len(text)
    while pos < n:
        lt = text.find(b"<", pos)
        if lt < 0:
            return None
        if text.startswith(b"<?", lt):
            end = text.find(b"?>", lt)
            pos = end + 2 if end >= 0 else n
        elif text.startswith(b"<!--", lt):
            end = text.find(b"-->", lt)
            pos = end + 3 if end >= 0 else n
        elif text.startswith(b"<!", lt):
            end = text.find(b">", lt)
            # a DOCTYPE with an internal subset: skip to "]>"
            bracket = text.find(b"[", lt, end if end >= 0 else n)
            if bracket >= 0:
                end = text.find(b"]>", bracket)
                pos = end + 2 if end >= 0 else n
            else:
                pos = end + 1 if end >= 0 else n
        else:
            m = _ROOT_RE.match(text, lt)
            return m.group(2).decode("ascii", "replace") if m else None
    return None


def local(tag: str) -> str:
    """Element name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def to_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None


def filter_steps(highpass_hz: float | None, lowpass_hz: float | None, notch_hz: Iterable[float] = (),
                 note: str = "") -> tuple[FilterStep, ...]:
    """Device filter settings as :class:`FilterStep`s (applied_by="device")."""
    out: list[FilterStep] = []
    if highpass_hz is not None and highpass_hz > 0:
        out.append(FilterStep("highpass", "device", cutoff_hz=highpass_hz, note=note))
    if lowpass_hz is not None and lowpass_hz > 0:
        out.append(FilterStep("lowpass", "device", cutoff_hz=lowpass_hz, note=note))
    for f in notch_hz:
        out.append(FilterStep("notch", "device", cutoff_hz=f, note=note))
    return tuple(out)


def safe_datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
                  ) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second)
    except (ValueError, OverflowError):
        return None


def decode_text(raw: bytes) -> str:
    """Text field of a binary format: NUL-terminated, UTF-8 when valid, else Latin-1."""
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def lead_layout(present: Iterable[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The lead order and the derived leads :func:`~asalee_devices.signal.ecg.recording.complete_lead_set` gives
    for a recording holding the leads ``present`` (no lead-off masks): lets a reader allocate the final array once,
    write the stored leads into their rows and derive the others in place (:func:`derive_limb_leads`)."""
    have = set(present)
    new: set[str] = set()
    has_i, has_ii = "I" in have, "II" in have
    if not has_i and has_ii and "III" in have:
        new.add("I")
        has_i = True
    if not has_ii and has_i and "III" in have:
        new.add("II")
        has_ii = True
    if has_i and has_ii:
        new |= {n for n in ("III", "aVR", "aVL", "aVF") if n not in have}
    return tuple(sorted(have | new, key=lead_sort_key)), frozenset(new)


def derive_limb_leads(samples: NDArray[np.float64], names: tuple[str, ...], derived: frozenset[str]) -> None:
    """Fill the rows of ``derived`` leads in place, with the same float64 operations, in the same order, as
    :func:`~asalee_devices.signal.ecg.recording.complete_lead_set` (bit-identical results)."""
    if not derived:
        return
    row = {n: samples[k] for k, n in enumerate(names)}
    if "I" in derived:
        np.subtract(row["II"], row["III"], out=row["I"])
    if "II" in derived:
        np.add(row["I"], row["III"], out=row["II"])
    i, ii = row["I"], row["II"]
    if "III" in derived:
        np.subtract(ii, i, out=row["III"])
    if "aVR" in derived:
        out = row["aVR"]
        np.add(i, ii, out=out)
        np.negative(out, out=out)
        np.divide(out, 2.0, out=out)
    if "aVL" in derived:
        out = row["aVL"]
        np.divide(ii, 2.0, out=out)
        np.subtract(i, out, out=out)
    if "aVF" in derived:
        out = row["aVF"]
        np.divide(i, 2.0, out=out)
        np.subtract(ii, out, out=out)
