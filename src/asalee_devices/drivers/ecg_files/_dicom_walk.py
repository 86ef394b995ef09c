"""A small DICOM element walker for the Supplement 30 waveform module (the DICOM ECG reader's fast path).

It reads only implicit and explicit VR little-endian files (the transfer syntaxes ECG devices write) and keeps only
the elements the ECG reader uses, without building pydicom Datasets. It is deliberately narrower than pydicom:
whenever the file is not plainly well formed — an unknown VR, an element or item overrunning its container, a
truncated value, a VR that differs from the dictionary's for an element we read, tags out of order, an encoding
switch inside the file, a multi-valued or non-ASCII text in a character set we do not decode, a deflated or
big-endian transfer syntax... — it raises :class:`Unsupported` and the reader falls back to pydicom, which stays the
reference (tests check that both give the same result wherever the fast path answers). Every length is checked
against its container before any slice; nesting depth is bounded.
"""

from __future__ import annotations

import re
import struct
from typing import Any

_IMPLICIT = struct.Struct("<HHI").unpack_from
_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_U32 = struct.Struct("<I").unpack_from
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_MAX_DEPTH = 16
_IMPLICIT_TS = "1.2.840.10008.1.2"
_EXPLICIT_TS = "1.2.840.10008.1.2.1"

#: VRs pydicom accepts in explicit VR (PS3.5 table 6.2-1) and those with a 4-byte length (PS3.5 7.1.2).
KNOWN_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL",
                       "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US",
                       "UT", "UV"})
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_VR_BYTES = {vr.encode("ascii"): vr for vr in KNOWN_VRS}

# keyword -> (tag, VRs accepted in explicit VR files, conversion)
_KEYWORDS: dict[str, tuple[int, frozenset[str], str]] = {}
for _kw, _tag, _vr, _kind in (
    ("SOPClassUID", 0x00080016, "UI", "ascii"), ("AcquisitionDateTime", 0x0008002A, "DT", "ascii"),
    ("AcquisitionDate", 0x00080022, "DA", "ascii"), ("ContentDate", 0x00080023, "DA", "ascii"),
    ("ContentTime", 0x00080033, "TM", "ascii"), ("Manufacturer", 0x00080070, "LO", "text"),
    ("ManufacturerModelName", 0x00081090, "LO", "text"), ("DeviceSerialNumber", 0x00181000, "LO", "text"),
    ("SoftwareVersions", 0x00181020, "LO", "text"), ("PatientName", 0x00100010, "PN", "pn"),
    ("PatientID", 0x00100020, "LO", "text"), ("PatientBirthDate", 0x00100030, "DA", "ascii"),
    ("PatientSex", 0x00100040, "CS", "ascii"), ("PatientAge", 0x00101010, "AS", "ascii"),
    ("PatientSize", 0x00101020, "DS", "ds"), ("PatientWeight", 0x00101030, "DS", "ds"),
    ("NumberOfWaveformChannels", 0x003A0005, "US", "us"), ("NumberOfWaveformSamples", 0x003A0010, "UL", "ul"),
    ("SamplingFrequency", 0x003A001A, "DS", "ds"), ("MultiplexGroupLabel", 0x003A0020, "SH", "text"),
    ("WaveformBitsAllocated", 0x54001004, "US", "us"), ("WaveformSampleInterpretation", 0x54001006, "CS", "ascii"),
    ("WaveformPaddingValue", 0x5400100A, "OB OW", "bytes"), ("WaveformData", 0x54001010, "OB OW", "bytes"),
    ("WaveformSequence", 0x54000100, "SQ", "sq"), ("WaveformAnnotationSequence", 0x0040B020, "SQ", "sq"),
    ("ChannelDefinitionSequence", 0x003A0200, "SQ", "sq"), ("ChannelSourceSequence", 0x003A0208, "SQ", "sq"),
    ("ChannelSensitivityUnitsSequence", 0x003A0211, "SQ", "sq"),
    ("ConceptNameCodeSequence", 0x0040A043, "SQ", "sq"), ("MeasurementUnitsCodeSequence", 0x004008EA, "SQ", "sq"),
):
    _KEYWORDS[_kw] = (_tag, frozenset(_vr.split()), _kind)
_CHARSET = 0x00080005
_SQ_TAGS = frozenset(t for t, _v, k in _KEYWORDS.values() if k == "sq")
#: Elements read as raw bytes by the reader (``get_item``): code items, channel scaling and filters, annotations.
RAW_TAGS = frozenset({0x00080100, 0x00080102, 0x00080104, 0x003A0210, 0x003A0212, 0x003A0213, 0x003A0220,
                      0x003A0221, 0x003A0222, 0x0040A30A, 0x00700006})
_VALUE_TAGS = frozenset(t for t, _v, k in _KEYWORDS.values() if k != "sq") | RAW_TAGS | {_CHARSET}
_LATIN1_CHARSETS = frozenset({"", "ISO_IR 100", "ISO_IR 6"})
#: Single-valued Specific Character Sets pydicom decodes without correction (other values: pydicom decides).
_CHARSETS = _LATIN1_CHARSETS | {"ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 126", "ISO_IR 127", "ISO_IR 138",
                                "ISO_IR 144", "ISO_IR 148", "ISO_IR 166", "ISO_IR 192", "GB18030", "GBK"}
_DS = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


class Unsupported(Exception):
    """The fast path cannot read this file exactly as pydicom would: use pydicom."""


class PersonName:
    __slots__ = ("family_name", "given_name")

    def __init__(self, family_name: str, given_name: str) -> None:
        self.family_name = family_name
        self.given_name = given_name


class RawItem:
    __slots__ = ("value",)

    def __init__(self, value: bytes | None) -> None:
        self.value = value


class FastDataset:
    """The elements of one dataset the ECG reader uses, with pydicom's ``get``/``get_item`` conversions for the
    plain values (anything else raises :class:`Unsupported`)."""

    __slots__ = ("elems", "latin1")

    def __init__(self, elems: dict[int, tuple[str | None, Any]], latin1: bool) -> None:
        self.elems = elems
        self.latin1 = latin1

    def get_item(self, tag: int) -> RawItem | None:
        item = self.elems.get(tag)
        if item is None:
            return None
        return RawItem(item[1] or None)

    def get(self, keyword: str, default: Any = None) -> Any:
        spec = _KEYWORDS.get(keyword)
        if spec is None:
            raise Unsupported(keyword)
        tag, vrs, kind = spec
        item = self.elems.get(tag)
        if item is None:
            return default
        vr, value = item
        if vr is not None and vr not in vrs:
            raise Unsupported(keyword)
        if kind == "sq":
            return value
        raw: bytes = value
        if kind == "bytes":
            return raw or None
        if kind == "us" or kind == "ul":
            if len(raw) != (2 if kind == "us" else 4):
                raise Unsupported(keyword)
            return int.from_bytes(raw, "little")
        if kind == "ds":
            if not raw:
                return None
            s = raw.decode("latin-1").strip(" \x00")
            if not _DS.fullmatch(s):
                raise Unsupported(keyword)
            return s
        if kind == "pn":
            text = self._text(raw.rstrip(b"\x00 "), True)
            parts = text.split("=", 1)[0].split("^")
            return PersonName(parts[0], parts[1] if len(parts) > 1 else "")
        return self._text(raw, kind == "text").rstrip("\x00 ")

    def _text(self, raw: bytes, charset: bool) -> str:
        if charset and not self.latin1 and not raw.isascii():
            raise Unsupported("character set")
        if b"\x1b" in raw or b"\\" in raw:
            raise Unsupported("escape sequence or multiple values")
        return raw.decode("latin-1")


def _implicit_sq(tag: int, data: bytes, pos: int) -> bool:
    """Whether pydicom reads an undefined-length implicit-VR element as a sequence (dictionary VR, else an item
    tag ahead)."""
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag)) == "SQ"
    except KeyError:
        return data[pos:pos + 4] == b"\xfe\xff\x00\xe0"


def _dataset(data: bytes, pos: int, end: int, implicit: bool, undefined: bool, depth: int, latin1: bool,
             top: bool = False) -> tuple[FastDataset, int]:
    """Elements from ``pos`` to ``end`` (defined length) or to the item delimiter (undefined length)."""
    elems: dict[int, tuple[str | None, Any]] = {}
    last = -1
    while True:
        if pos == end and not undefined:
            break
        if pos + 8 > end:
            raise Unsupported("element header overruns its container")
        group, element, length = _IMPLICIT(data, pos)
        tag = group << 16 | element
        if group == 0xFFFE:
            if tag == _ITEM_END and undefined:
                return FastDataset(elems, latin1), pos + 8
            raise Unsupported("delimiter inside a dataset")
        if tag <= last:
            raise Unsupported("tags out of order")
        last = tag
        vr: str | None = None
        if implicit:
            pos += 8
        else:
            vr = _VR_BYTES.get(data[pos + 4:pos + 6])
            if vr is None:
                raise Unsupported("unknown VR")
            if vr in LONG_VRS:
                if pos + 12 > end:
                    raise Unsupported("element header overruns its container")
                length = _U32(data, pos + 8)[0]
                pos += 12
            else:
                length = length >> 16
                pos += 8
        if length == _UNDEFINED:
            if vr == "SQ" or (implicit and (tag in _SQ_TAGS or _implicit_sq(tag, data, pos))):
                items, pos = _sequence(data, pos, end, implicit, True, depth + 1, latin1)
                if tag in _SQ_TAGS:
                    elems[tag] = (vr, items)
                elif tag in _VALUE_TAGS:
                    raise Unsupported("sequence where a value is expected")
                continue
            raise Unsupported("undefined-length value")
        vend = pos + length
        if vend > end:
            raise Unsupported("value overruns its container")
        if tag in _SQ_TAGS:
            if vr is not None and vr != "SQ":
                raise Unsupported("sequence element with another VR")
            items, _ = _sequence(data, pos, vend, implicit, False, depth + 1, latin1)
            elems[tag] = (vr, items)
        elif tag in _VALUE_TAGS:
            if vr == "SQ":
                raise Unsupported("sequence where a value is expected")
            elems[tag] = (vr, data[pos:vend])
            if tag == _CHARSET:
                if not top:
                    raise Unsupported("character set inside an item")
                charset = data[pos:vend].decode("latin-1").rstrip("\x00 ")
                if charset not in _CHARSETS:
                    raise Unsupported("character set")
                latin1 = charset in _LATIN1_CHARSETS
        pos = vend
    return FastDataset(elems, latin1), pos


def _sequence(data: bytes, pos: int, end: int, implicit: bool, undefined: bool, depth: int, latin1: bool,
              ) -> tuple[list[FastDataset], int]:
    if depth > _MAX_DEPTH:
        raise Unsupported("sequences nested too deep")
    items: list[FastDataset] = []
    while True:
        if pos == end and not undefined:
            return items, pos
        if pos + 8 > end:
            raise Unsupported("item header overruns its container")
        group, element, length = _IMPLICIT(data, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQ_END and undefined:
            return items, pos
        if tag != _ITEM:
            raise Unsupported("not an item")
        if length == _UNDEFINED:
            if not implicit and pos + 6 <= end and data[pos:pos + 4] != b"\xfe\xff\x0d\xe0":
                vr_bytes = data[pos + 4:pos + 6]
                if vr_bytes not in _VR_BYTES:
                    raise Unsupported("implicit VR item in an explicit VR file")
            ds, pos = _dataset(data, pos, end, implicit, True, depth, latin1)
        else:
            iend = pos + length
            if iend > end:
                raise Unsupported("item overruns its sequence")
            ds, _ = _dataset(data, pos, iend, implicit, False, depth, latin1)
            pos = iend
        items.append(ds)


def parse(data: bytes) -> FastDataset:
    """The top-level dataset of a Part 10 file in implicit or explicit VR little endian, or :class:`Unsupported`."""
    n = len(data)
    if n < 144 or data[128:132] != b"DICM":
        raise Unsupported("no Part 10 preamble")
    meta, pos = _meta(data)
    ts = meta.get(0x00020010)
    if ts is None:
        raise Unsupported("no transfer syntax")
    uid = ts.decode("latin-1").rstrip("\x00 ")
    if uid not in (_IMPLICIT_TS, _EXPLICIT_TS):
        raise Unsupported("transfer syntax")
    implicit = uid == _IMPLICIT_TS
    if pos + 8 > n or data[pos:pos + 2] == b"\x00\x00":
        raise Unsupported("empty dataset or command set")
    looks_explicit = all(0x40 < b < 0x5B for b in data[pos + 4:pos + 6])
    if looks_explicit == implicit:
        raise Unsupported("VR encoding differs from the transfer syntax")
    ds, _ = _dataset(data, pos, n, implicit, False, 0, True, top=True)
    return ds


def _meta(data: bytes) -> tuple[dict[int, bytes], int]:
    """File meta information (group 0002, explicit VR little endian): values by tag, and the dataset start."""
    n = len(data)
    pos = 132
    out: dict[int, bytes] = {}
    last = -1
    while pos + 8 <= n and data[pos:pos + 2] == b"\x02\x00":
        tag = _IMPLICIT(data, pos)[1] | 0x00020000
        vr = _VR_BYTES.get(data[pos + 4:pos + 6])
        if vr is None or vr == "SQ" or tag <= last:
            raise Unsupported("file meta information")
        last = tag
        if vr in LONG_VRS:
            if pos + 12 > n:
                raise Unsupported("file meta information")
            length = _U32(data, pos + 8)[0]
            pos += 12
        else:
            length = _IMPLICIT(data, pos)[2] >> 16
            pos += 8
        if length == _UNDEFINED or pos + length > n:
            raise Unsupported("file meta information")
        out[tag] = data[pos:pos + length]
        pos += length
    return out, pos
