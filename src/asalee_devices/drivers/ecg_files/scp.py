"""SCP-ECG reader (EN 1064 / ISO 11073-91064; versions 1.x, 2.x and 3.0).

Sections 0-11: pointers (0), header tags (1), Huffman tables (2, default and custom, table switching), lead
definition (3), QRS locations and protected zones (4), reference beats (5), rhythm (6, first/second differences,
reference-beat subtraction, bimodal compression), global measurements (7), interpretation statements (8, 11);
sections 9 and 10 (manufacturer-specific, per-lead measurements) are recognised and listed but not decoded.

Bimodal reconstruction (lossy by design of the format) places each decimated value at the centre of its block and
interpolates linearly between known samples; samples inside the protected zones are exact.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.ecg_files._huffman import DEFAULT_TABLE, HuffmanCode, HuffmanDecoder, reverse_bits
from asalee_devices.drivers.ecg_files._util import (
    MAX_LEADS,
    MAX_SAMPLES_PER_LEAD,
    Deviations,
    decode_text,
    filter_steps,
    read_bounded,
    safe_datetime,
)
from asalee_devices.drivers.ecg_files.base import (
    DeviceStatement,
    EcgFile,
    EcgFormat,
    PatientDemographics,
    register_format,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError, SignalError
from asalee_devices.signal.ecg.recording import EcgRecording, complete_lead_set, lead_sort_key

NAME = "scp-ecg"

#: SCP lead codes (section 3) we can name.
LEAD_CODES: dict[int, str] = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7", 11: "V3R", 12: "V4R",
    13: "V5R", 16: "X", 17: "Y", 18: "Z", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
    # "derived" codes of SCP 2.x/3.0 for the same leads
    131: "I", 132: "II", 133: "V1", 134: "V2", 135: "V3", 136: "V4", 137: "V5", 138: "V6",
    147: "III", 148: "aVR", 149: "aVL", 150: "aVF",
}

MANUFACTURERS: dict[int, str] = {
    1: "Burdick", 2: "Cambridge", 3: "Compumed", 4: "Datamed", 5: "Fukuda", 6: "Hewlett-Packard",
    7: "Marquette Electronics", 8: "Mortara Instruments", 9: "Nihon Kohden", 10: "Okin", 11: "Quinton",
    12: "Siemens", 13: "Spacelabs", 14: "Telemed", 15: "Hellige", 16: "ESA-OTE", 17: "Schiller",
    18: "Picker-Schwarzer", 19: "Elettronica-Trentina", 20: "Zwönitz",
}

_UNDEFINED = (29999, 29998, 29997)


@dataclass(frozen=True)
class _Section:
    sid: int
    start: int  # byte offset of the section header
    length: int  # including the 16-byte header
    version: int
    protocol: int

    @property
    def body(self) -> int:
        return self.start + 16

    @property
    def end(self) -> int:
        return self.start + self.length


def sniff(head: bytes, path: Path) -> bool:
    """Whether the first bytes of a file are an SCP-ECG (EN 1064 / ISO 11073-91064) file.

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
    if len(head) < 22 + 10:
        return False
    sid, slen = struct.unpack_from("<HI", head, 8)
    if sid != 0 or slen < 16 or slen > 16 + 10 * 1000:
        return False
    if head[16:22] == b"SCPECG":
        return True
    pid, _plen, pidx = struct.unpack_from("<HII", head, 22)
    return bool(pid == 0 and pidx == 7)


def _crc(data: bytes | memoryview) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


class _Reader:
    def __init__(self, data: bytes, dev: Deviations) -> None:
        self.d = data
        self.dev = dev
        self.sections: dict[int, _Section] = {}

    def u8(self, off: int) -> int:
        self._need(off, 1)
        return self.d[off]

    def u16(self, off: int) -> int:
        self._need(off, 2)
        return int(struct.unpack_from("<H", self.d, off)[0])

    def i16(self, off: int) -> int:
        self._need(off, 2)
        return int(struct.unpack_from("<h", self.d, off)[0])

    def u32(self, off: int) -> int:
        self._need(off, 4)
        return int(struct.unpack_from("<I", self.d, off)[0])

    def _need(self, off: int, n: int) -> None:
        if off < 0 or off + n > len(self.d):
            raise FormatError("SCP record truncated", field="offset", value=off + n,
                              expected=f"at most {len(self.d)} bytes")

    # --- record and section 0 ---------------------------------------------------------------------------
    def read_layout(self) -> None:
        d = self.d
        if len(d) < 6 + 16:
            raise FormatError("SCP record too short", field="size_bytes", value=len(d), expected=">= 22 bytes")
        crc, rec_len = struct.unpack_from("<HI", d, 0)
        if rec_len != len(d):
            if rec_len > len(d) or rec_len < 22:
                self.dev.warn("record_length_mismatch",
                              f"record length field {rec_len} differs from the file size {len(d)}")
            else:
                self.dev.warn("record_length_mismatch",
                              f"record length field {rec_len} shorter than the file ({len(d)} bytes)")
                d = d[:rec_len]
                self.d = d
        if _crc(memoryview(d)[2:]) != crc:
            self.dev.warn("crc_mismatch", "record CRC does not match (reading continues)")
        s0 = self._section_at(6, 0)
        if s0.sid != 0:
            raise FormatError("SCP record does not start with section 0", field="section_id", value=s0.sid)
        self.sections[0] = s0
        n_ptr = (s0.length - 16) // 10
        if n_ptr < 12:
            self.dev.warn("short_pointer_table", f"section 0 lists {n_ptr} pointers instead of at least 12")
        prev = -1
        for k in range(n_ptr):
            sid, slen, idx = struct.unpack_from("<HII", d, s0.body + 10 * k)
            if sid < prev:
                self.dev.note("unsorted_pointers", "section 0 pointers are not sorted by section id")
            prev = sid
            if slen == 0 or idx == 0 or sid == 0:
                continue
            if sid in self.sections:
                self.dev.warn("duplicate_section", f"section {sid} listed twice in section 0")
                continue
            start = idx - 1
            if start < 6 or start + 16 > len(d):
                if sid in (1, 2, 3, 4, 5, 6):
                    raise FormatError("SCP section pointer outside the record", field=f"section_{sid}_index",
                                      value=idx, expected=f"<= {len(d) - 16}")
                self.dev.warn("bad_section_pointer", f"section {sid} pointer outside the record; ignored")
                continue
            sec = self._section_at(start, sid, ptr_len=slen)
            self.sections[sid] = sec

    def _section_at(self, start: int, sid: int, ptr_len: int | None = None) -> _Section:
        d = self.d
        self._need(start, 16)
        crc, hid, hlen, ver, proto = struct.unpack_from("<HHIBB", d, start)
        if hid != sid and sid != 0:
            raise FormatError("SCP section header id differs from its pointer", field="section_id", value=hid,
                              expected=str(sid))
        length = hlen
        if ptr_len is not None and ptr_len != hlen:
            candidates = [x for x in (hlen, ptr_len) if 16 <= x and start + x <= len(d)]
            if not candidates:
                raise FormatError("SCP section length outside the record", field=f"section_{sid}_length",
                                  value=hlen, expected=f"<= {len(d) - start}")
            length = min(candidates)
            self.dev.warn("section_length_mismatch",
                          f"section {sid} length {hlen} in its header, {ptr_len} in section 0; {length} used")
        if length < 16 or start + length > len(d):
            raise FormatError("SCP section length outside the record", field=f"section_{sid}_length",
                              value=length, expected=f"16..{len(d) - start}")
        if _crc(memoryview(d)[start + 2: start + length]) != crc:
            self.dev.warn("section_crc_mismatch", f"section {sid} CRC does not match (reading continues)")
        return _Section(hid, start, length, ver, proto)


@dataclass(frozen=True)
class _Lead:
    name: str
    start: int  # 0-based first sample
    n: int


@dataclass
class _Header:
    patient: PatientDemographics
    device: DeviceIdentity
    acquired_at: object
    highpass_hz: float | None
    lowpass_hz: float | None
    notch_hz: tuple[float, ...]
    mains_hz: int | None
    extra: dict[str, str]


def _parse_section1(r: _Reader, sec: _Section, dev: Deviations) -> _Header:
    d = r.d
    pos, end = sec.body, sec.end
    fields: dict[str, str] = {}
    family = given = pid = sex = birth = ""
    age = height = weight = None
    device = DeviceIdentity(source=NAME)
    date = time = None
    hp = lp = None
    notch: tuple[float, ...] = ()
    mains = None
    extra: dict[str, str] = {}
    seen_end = False
    while pos + 3 <= end:
        tag = d[pos]
        length = int(struct.unpack_from("<H", d, pos + 1)[0])
        if tag == 255:
            seen_end = True
            break
        v0 = pos + 3
        if v0 + length > end:
            raise FormatError("SCP section 1 tag overruns the section", field="tag", value=tag,
                              expected=f"length <= {end - v0}")
        val = d[v0: v0 + length]
        pos = v0 + length
        if tag == 0:
            family = decode_text(val)
        elif tag == 1:
            given = decode_text(val)
        elif tag == 2:
            pid = decode_text(val)
        elif tag == 4 and length >= 3:
            a, unit = struct.unpack_from("<HB", val)
            factor = {1: 1.0, 2: 1 / 12, 3: 1 / 52.18, 4: 1 / 365.25, 5: 1 / 8766}.get(unit)
            age = a * factor if factor and a else None
        elif tag == 5 and length >= 4:
            y, m, dd = struct.unpack_from("<HBB", val)
            dt = safe_datetime(y, m, dd)
            birth = dt.date().isoformat() if dt else ""
        elif tag == 6 and length >= 3:
            h, unit = struct.unpack_from("<HB", val)
            height = {1: float(h), 2: h * 2.54, 3: h / 10.0}.get(unit) if h else None
        elif tag == 7 and length >= 3:
            w, unit = struct.unpack_from("<HB", val)
            weight = {1: float(w), 2: w / 1000.0, 3: w * 0.45359237, 4: w * 0.028349523}.get(unit) if w else None
        elif tag == 8 and length >= 1:
            sex = {1: "male", 2: "female"}.get(val[0], "")
        elif tag == 14 and length >= 36:
            device, mains = _device_tag(val)
        elif tag == 25 and length >= 4:
            date = struct.unpack_from("<HBB", val)
        elif tag == 26 and length >= 3:
            time = struct.unpack_from("<BBB", val)
        elif tag == 27 and length >= 2:
            v = struct.unpack_from("<H", val)[0]
            hp = v / 100.0 if v not in (0, 0xFFFF) else None
        elif tag == 28 and length >= 2:
            v = struct.unpack_from("<H", val)[0]
            lp = float(v) if v not in (0, 0xFFFF) else None
        elif tag == 29 and length >= 1:
            bits = val[0]
            notch = tuple(f for bit, f in ((0, 60.0), (1, 50.0)) if bits >> bit & 1)
            extra["filter_bitmap"] = str(bits)
        elif tag == 30:
            fields["free_text"] = decode_text(val)
        if tag in (2, 14, 25, 26):
            fields.setdefault(f"tag{tag}", "present")
    if not seen_end:
        dev.warn("section1_unterminated", "section 1 has no terminating tag 255")
    missing = [t for t in (2, 14, 25, 26) if f"tag{t}" not in fields]
    if missing:
        dev.note("missing_mandatory_tags", "section 1 lacks mandatory tags " + ", ".join(map(str, missing)))
    acquired = None
    if date is not None:
        h, mi, s = time if time is not None else (0, 0, 0)
        acquired = safe_datetime(date[0], date[1], date[2], h, mi, s)
    patient = PatientDemographics(patient_id=pid, family_name=family, given_name=given, birth_date=birth, sex=sex,
                                  age_years=age, height_cm=height, weight_kg=weight)
    if mains:
        extra["mains_hz"] = str(mains)
    return _Header(patient, device, acquired, hp, lp, notch, mains, extra)


def _device_tag(val: bytes) -> tuple[DeviceIdentity, int | None]:
    manuf_code = val[7]
    model = decode_text(val[8:14])
    mains_byte = val[18] if len(val) > 18 else 0
    mains = {1: 50, 2: 60}.get(mains_byte)
    strings: list[str] = []
    pos = 35
    if len(val) > 35:
        n = val[35]
        pos = 36 + n
        firmware_prog = decode_text(val[36: 36 + n])
        strings.append(firmware_prog)
        rest = val[pos:].split(b"\x00")
        strings.extend(decode_text(x) for x in rest)
    serial = strings[1] if len(strings) > 1 else ""
    software = strings[2] if len(strings) > 2 else ""
    manuf_text = strings[4] if len(strings) > 4 else ""
    manufacturer = manuf_text or MANUFACTURERS.get(manuf_code, "")
    return DeviceIdentity(manufacturer=manufacturer, model=model, serial_number=serial, firmware=software,
                          source=NAME), mains


def _parse_tables(r: _Reader, sec: _Section | None) -> HuffmanDecoder | None:
    if sec is None:
        return None
    n_tables = r.u16(sec.body)
    if n_tables == 19999:
        return HuffmanDecoder((DEFAULT_TABLE,))
    if n_tables == 0 or n_tables > 256:
        raise FormatError("Implausible number of SCP Huffman tables", field="tables", value=n_tables,
                          expected="1..256 or 19999")
    pos = sec.body + 2
    tables: list[tuple[HuffmanCode, ...]] = []
    for _ in range(n_tables):
        n_codes = r.u16(pos)
        pos += 2
        if n_codes == 0 or pos + 9 * n_codes > sec.end:
            raise FormatError("SCP Huffman table overruns section 2", field="codes", value=n_codes,
                              expected=f"<= {(sec.end - pos) // 9}")
        codes = []
        for _k in range(n_codes):
            plen, tot, mode, base, code = struct.unpack_from("<BBBhI", r.d, pos)
            pos += 9
            if plen < 1 or plen > 32:
                raise FormatError("SCP Huffman code length out of range", field="prefix_bits", value=plen,
                                  expected="1..32")
            codes.append(HuffmanCode(plen, tot, mode == 0, base, reverse_bits(code, plen)))
        tables.append(tuple(codes))
    return HuffmanDecoder(tuple(tables))


def _parse_leads(r: _Reader, sec: _Section, dev: Deviations) -> tuple[list[_Lead], int]:
    n = r.u8(sec.body)
    flags = r.u8(sec.body + 1)
    avail = (sec.end - sec.body - 2) // 9
    if n > avail:
        raise FormatError("SCP section 3 lists more leads than it holds", field="leads", value=n,
                          expected=f"<= {avail}")
    if n == 0 or n > MAX_LEADS:
        raise FormatError("Implausible number of SCP leads", field="leads", value=n, expected=f"1..{MAX_LEADS}")
    leads: list[_Lead] = []
    zero_based = False
    for k in range(n):
        start, end, code = struct.unpack_from("<IIB", r.d, sec.body + 2 + 9 * k)
        if start == 0:
            zero_based = True
        if end < start:
            raise FormatError("SCP lead ends before it starts", field="end_sample", value=end,
                              expected=f">= {start}")
        name = LEAD_CODES.get(code)
        if name is None:
            raise FormatError("SCP lead code not supported", field="lead_code", value=code,
                              expected="a standard 12-lead, V7, V3R-V5R or X/Y/Z code")
        leads.append(_Lead(name, start, end - start + 1))
    if zero_based:
        dev.warn("zero_based_lead_start", "lead start sample 0 (the standard counts from 1); read as 1-based + 1")
        leads = [_Lead(ld.name, ld.start, ld.n) for ld in leads]
    else:
        leads = [_Lead(ld.name, ld.start - 1, ld.n) for ld in leads]
    for ld in leads:
        if ld.n > MAX_SAMPLES_PER_LEAD:
            raise FormatError("SCP lead too long", field="samples", value=ld.n,
                              expected=f"<= {MAX_SAMPLES_PER_LEAD}")
    if len({ld.name for ld in leads}) != len(leads):
        raise FormatError("SCP file lists a lead twice", field="leads", value=[ld.name for ld in leads])
    return leads, flags


@dataclass(frozen=True)
class _Qrs:
    kind: int
    start: int
    fiducial: int
    end: int


def _parse_section4(r: _Reader, sec: _Section) -> tuple[int, int, list[_Qrs], list[tuple[int, int]]]:
    length_ms = r.u16(sec.body)
    fid = r.u16(sec.body + 2)
    n = r.u16(sec.body + 4)
    pos = sec.body + 6
    if pos + 14 * n > sec.end:
        raise FormatError("SCP section 4 lists more QRS than it holds", field="qrs", value=n,
                          expected=f"<= {(sec.end - pos) // 14}")
    qrs = []
    for _ in range(n):
        kind, s, f, e = struct.unpack_from("<HIII", r.d, pos)
        qrs.append(_Qrs(kind, s, f, e))
        pos += 14
    zones: list[tuple[int, int]] = []
    if pos + 8 * n <= sec.end:
        for _ in range(n):
            s, e = struct.unpack_from("<II", r.d, pos)
            zones.append((s, e))
            pos += 8
    return length_ms, fid, qrs, zones


def _undo_differences(x: NDArray[np.int64], encoding: int) -> NDArray[np.int64]:
    """Undo first (1) or second (2) differences along the first axis (one lead, or one lead per column)."""
    if encoding == 0 or x.shape[0] == 0:
        return x
    if encoding == 1:
        return np.cumsum(x, axis=0)
    if encoding == 2:
        if x.shape[0] < 3:
            return x
        # x[0] and x[1] are the first two samples, then second differences: the first differences are
        # d[1] = x[1] - x[0], d[n] = d[n-1] + x[n]; the samples x[0] + cumulative sums of d
        d = np.empty_like(x[1:])
        d[0] = x[1] - x[0]
        d[1:] = x[2:]
        np.cumsum(d, axis=0, out=d)
        out = np.empty_like(x)
        out[0] = x[0]
        np.cumsum(d, axis=0, out=out[1:])
        out[1:] += x[0]
        return out
    raise FormatError("Unknown SCP difference encoding", field="difference_encoding", value=encoding,
                      expected="0, 1 or 2")


def _decode_block(r: _Reader, dev: Deviations, sec: _Section, what: str, n_leads: int,
                  decoder: HuffmanDecoder | None, n_encoded: list[int]) -> tuple[list[NDArray[np.int64]], int, int]:
    """Decode section 5 or 6: returns per-lead integer samples, AVM (nV) and the sample interval (µs)."""
    body = sec.body
    avm = r.u16(body)
    interval = r.u16(body + 2)
    encoding = r.u8(body + 4)
    counts_at = body + 6
    counts = [r.u16(counts_at + 2 * k) for k in range(n_leads)]
    data0 = counts_at + 2 * n_leads
    if data0 > sec.end:
        raise FormatError(f"SCP {what} byte counts overrun the section", field="leads", value=n_leads)
    if encoding not in (0, 1, 2):
        raise FormatError("Unknown SCP difference encoding", field="difference_encoding", value=encoding,
                          expected="0, 1 or 2")
    avail = sec.end - data0
    total = sum(counts)
    overflow = total != avail and total < avail and (avail - total) % 65536 == 0
    if total > avail:
        raise FormatError(f"SCP {what} byte counts exceed the section", field="byte_counts", value=total,
                          expected=f"<= {avail}")
    if overflow:
        dev.warn("lead_length_overflow",
                 f"{what}: per-lead byte counts overflow their 16-bit field; lead boundaries recovered by decoding")
    out: list[NDArray[np.int64]] = []
    if decoder is not None and not overflow:
        batch = decoder.decode_leads(r.d, data0, counts, n_encoded)
        if batch is not None:
            if len(set(n_encoded)) == 1:
                batch = _undo_differences(batch, encoding)
                return [batch[:, k] for k in range(n_leads)], avm, interval
            return [_undo_differences(batch[:n, k], encoding) for k, n in enumerate(n_encoded)], avm, interval
    pos = data0
    for k in range(n_leads):
        n = n_encoded[k]
        count = counts[k]
        room = sec.end - pos
        if decoder is None:
            need = 2 * n
            if overflow:
                if need > room or need % 65536 != count:
                    raise FormatError(f"SCP {what}: lead byte count cannot be recovered", field="byte_count",
                                      value=count, expected=f"{need} mod 65536")
                count = need
            if need - count == 2:
                # a writer counting section 3's end sample exclusively: one sample fewer than declared, the
                # lead's start and its other samples are where they should be (the missing one stays empty)
                dev.warn("byte_count_one_sample_short",
                         f"{what}: lead {k + 1} holds one sample fewer than section 3 says; its last sample is "
                         "left empty")
                n -= 1
            elif need > count:
                raise FormatError(f"SCP {what}: lead holds fewer samples than section 3 says", field="byte_count",
                                  value=count, expected=f">= {need}")
            elif count - need == 2:
                dev.warn("byte_count_one_sample_long",
                         f"{what}: lead {k + 1} holds one sample more than section 3 says; the extra sample is "
                         "ignored")
            vals = np.frombuffer(r.d, "<i2", count=n, offset=pos).astype(np.int64)
            used = count
        else:
            limit = room if overflow else count
            vals, used_bytes = decoder.decode(r.d, pos, limit, n)
            used = count if not overflow else _recover(count, used_bytes, room, what)
        out.append(_undo_differences(vals, encoding))
        pos += used
    return out, avm, interval


def _recover(count: int, used: int, room: int, what: str) -> int:
    real = count
    while real < used:
        real += 65536
    if real > room:
        raise FormatError(f"SCP {what}: lead byte count cannot be recovered", field="byte_count", value=count)
    return real


def _bimodal_layout(n: int, zones: list[tuple[int, int]], factor: int) -> tuple[NDArray[np.float64], int]:
    """Positions (full-rate sample index, block centre for decimated blocks) of the encoded samples."""
    prot = np.zeros(n, bool)
    for s, e in zones:
        a, b = max(s - 1, 0), min(e, n)
        if b > a:
            prot[a:b] = True
    positions: list[float] = []
    t = 0
    while t < n:
        if prot[t]:
            positions.append(float(t))
            t += 1
            continue
        u = t
        while u < n and not prot[u] and u - t < factor:
            u += 1
        positions.append((t + u - 1) / 2.0)
        t = u
    return np.asarray(positions), len(positions)


def _section7(r: _Reader, sec: _Section) -> list[DeviceStatement]:
    out: list[DeviceStatement] = []
    n_beats = r.u8(sec.body)
    n_spikes = r.u8(sec.body + 1)
    out.append(DeviceStatement("measurement", "pacemaker_spike_count", value=float(n_spikes), unit="1"))
    if sec.body + 6 <= sec.end:
        rr, pp = struct.unpack_from("<HH", r.d, sec.body + 2)
        for code, v in (("rr_interval", rr), ("pp_interval", pp)):
            if v not in _UNDEFINED and 0 < v < 10000:
                out.append(DeviceStatement("measurement", code, value=float(v), unit="ms"))
    # reference beat type 0: P on/off, QRS on/off, T off (ms from the start of the reference beat), axes
    if n_beats >= 1 and sec.body + 6 + 16 <= sec.end:
        pon, poff, qon, qoff, toff, pax, qax, tax = struct.unpack_from("<HHHHHhhh", r.d, sec.body + 6)

        def ok(*v: int) -> bool:
            return all(x not in _UNDEFINED for x in v)

        if ok(pon, qon) and qon >= pon:
            out.append(DeviceStatement("measurement", "pr_interval", value=float(qon - pon), unit="ms"))
        if ok(qon, qoff) and qoff >= qon:
            out.append(DeviceStatement("measurement", "qrs_duration", value=float(qoff - qon), unit="ms"))
        if ok(qon, toff) and toff >= qon:
            out.append(DeviceStatement("measurement", "qt_interval", value=float(toff - qon), unit="ms"))
        for code, v in (("p_axis", pax), ("qrs_axis", qax), ("t_axis", tax)):
            if v not in _UNDEFINED and -360 <= v <= 360:
                out.append(DeviceStatement("measurement", code, value=float(v), unit="deg"))
    # optional global measurements after the pacemaker and QRS type blocks
    pos = sec.body + 6 + 16 * n_beats + 4 * n_spikes + 6 * n_spikes
    if pos + 2 <= sec.end:
        n_qrs = r.u16(pos)
        pos += 2 + n_qrs
        if pos + 6 <= sec.end:
            vrate, arate, qtc = struct.unpack_from("<HHH", r.d, pos)
            for code, v, unit in (("ventricular_rate", vrate, "/min"), ("atrial_rate", arate, "/min"),
                                  ("qtc_interval", qtc, "ms")):
                if v not in _UNDEFINED and 0 < v < 2000:
                    out.append(DeviceStatement("measurement", code, value=float(v), unit=unit))
    return out


def _statements(r: _Reader, sec: _Section, code: str) -> list[DeviceStatement]:
    out: list[DeviceStatement] = []
    pos = sec.body + 1 + 4 + 3
    if pos >= sec.end:
        return out
    n = r.u8(pos)
    pos += 1
    for _ in range(n):
        if pos + 3 > sec.end:
            break
        length = int(struct.unpack_from("<H", r.d, pos + 1)[0])
        text = decode_text(r.d[pos + 3: min(pos + 3 + length, sec.end)])
        pos += 3 + length
        if text:
            out.append(DeviceStatement("statement", code, text=text))
    return out


def read(path: Path, strict: bool = False) -> EcgFile:
    """Read an SCP-ECG (EN 1064 / ISO 11073-91064) file.

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
    data = read_bounded(path)
    return decode(data, strict)


def decode(data: bytes, strict: bool = False) -> EcgFile:
    """Decode the bytes of an SCP-ECG (EN 1064 / ISO 11073-91064) file.

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
    dev = Deviations("SCP-ECG", strict)
    r = _Reader(data, dev)
    r.read_layout()
    secs = r.sections
    for mandatory in (1, 3, 6):
        if mandatory not in secs:
            raise FormatError("SCP record lacks a mandatory section", field="section", value=mandatory)
    version = secs[0].protocol
    header = _parse_section1(r, secs[1], dev)
    leads, flags = _parse_leads(r, secs[3], dev)
    decoder = _parse_tables(r, secs.get(2))
    n_total = max(ld.start + ld.n for ld in leads)
    if n_total > MAX_SAMPLES_PER_LEAD:
        raise FormatError("SCP recording too long", field="samples", value=n_total,
                          expected=f"<= {MAX_SAMPLES_PER_LEAD}")

    ref_beats = bool(flags & 1)
    has45 = 4 in secs and 5 in secs
    if ref_beats and not has45:
        dev.warn("reference_beat_flag_without_sections",
                 "section 3 flags reference-beat subtraction but sections 4/5 are absent; rhythm read as is")
        ref_beats = False

    sec4 = _parse_section4(r, secs[4]) if 4 in secs else None
    median: list[NDArray[np.int64]] | None = None
    avm5 = interval5 = 0
    if 5 in secs and sec4 is not None:
        length_ms = sec4[0]
        interval5 = r.u16(secs[5].body + 2)
        if interval5 == 0:
            raise FormatError("SCP section 5 sample interval is zero", field="sample_interval_us", value=0)
        n_med = int(round(length_ms * 1000 / interval5))
        if n_med < 1 or n_med > 10 * 2000:
            raise FormatError("Implausible SCP reference beat length", field="reference_beat_ms", value=length_ms)
        median, avm5, interval5 = _decode_block(r, dev, secs[5], "section 5", len(leads), decoder,
                                                [n_med] * len(leads))
    elif 5 in secs:
        dev.note("reference_beats_skipped", "section 5 present without section 4; reference beats not decoded")

    body6 = secs[6].body
    avm6 = r.u16(body6)
    interval6 = r.u16(body6 + 2)
    bimodal = r.u8(body6 + 5) == 1
    if interval6 == 0:
        raise FormatError("SCP rhythm sample interval is zero", field="sample_interval_us", value=0,
                          expected="> 0 µs")
    factor = 1
    zones: list[tuple[int, int]] = []
    n_encoded = [ld.n for ld in leads]
    layouts: list[NDArray[np.float64]] = []
    if bimodal:
        if sec4 is None or median is None or interval5 == 0:
            raise FormatError("SCP bimodal compression without sections 4/5", field="bimodal", value=1)
        if interval6 % interval5:
            raise FormatError("SCP bimodal sample intervals are not in an integer ratio",
                              field="sample_interval_us", value=f"{interval6}/{interval5}")
        factor = interval6 // interval5
        zones = sec4[3]
        n_encoded = []
        for ld in leads:
            pos_arr, cnt = _bimodal_layout(ld.n, zones, factor)
            layouts.append(pos_arr)
            n_encoded.append(cnt)
    rhythm, _avm, _iv = _decode_block(r, dev, secs[6], "section 6", len(leads), decoder, n_encoded)
    fs_interval = interval5 if bimodal else interval6

    if avm6 == 0:
        if avm5:
            dev.warn("zero_amplitude_multiplier", "section 6 AVM is 0; the section 5 AVM is used")
            avm6 = avm5
        else:
            raise FormatError("SCP amplitude multiplier is zero and no other section gives it",
                              field="avm_nv", value=0, expected="> 0 nV")
    if median is not None and avm5 == 0:
        dev.warn("zero_amplitude_multiplier", "section 5 AVM is 0; the section 6 AVM is used")
        avm5 = avm6

    full: list[NDArray[np.float64]] = []
    for k, ld in enumerate(leads):
        x = rhythm[k].astype(np.float64)
        if bimodal:
            x = np.interp(np.arange(ld.n, dtype=np.float64), layouts[k], x)
        full.append(x)

    if ref_beats and median is not None and sec4 is not None:
        _add_reference_beats(full, median, sec4, leads, avm5, avm6)

    scale = avm6 / 1000.0
    samples = np.full((len(leads), n_total), np.nan)
    for k, ld in enumerate(leads):
        m = min(ld.n, full[k].size)  # a lead one sample short (deviation above) leaves its last sample NaN
        samples[k, ld.start: ld.start + m] = full[k][:m] * scale
    partial = [ld.name for ld in leads if ld.n != n_total]
    if partial:
        dev.note("partial_leads", "leads not covering the whole recording are padded with NaN: " + ", ".join(partial))

    order = sorted(range(len(leads)), key=lambda k: lead_sort_key(leads[k].name))
    names = tuple(leads[k].name for k in order)
    fs = 1e6 / fs_interval
    filters = filter_steps(header.highpass_hz, header.lowpass_hz, header.notch_hz)
    try:
        rec = EcgRecording(samples[order], fs, names, resolution_uv=scale, device_filters=filters)
        rec = complete_lead_set(rec)
        med_rec = None
        if median is not None:
            ms = avm5 / 1000.0
            med = np.vstack([median[k].astype(np.float64) * ms for k in order])
            med_rec = complete_lead_set(EcgRecording(med, 1e6 / interval5, names, resolution_uv=ms))
    except SignalError as exc:
        raise FormatError("SCP leads cannot form a recording", field="leads", value=str(exc)) from exc

    statements: list[DeviceStatement] = []
    if 7 in secs:
        statements += _section7(r, secs[7])
    if 8 in secs:
        statements += _statements(r, secs[8], "interpretation")
    if 11 in secs:
        statements += _statements(r, secs[11], "universal_statement")
    extra = dict(header.extra)
    extra["sections"] = ",".join(str(s) for s in sorted(secs))
    if bimodal:
        extra["bimodal_factor"] = str(factor)
    ver = {10: "1.0", 11: "1.1", 12: "1.2", 13: "1.3", 20: "2.0", 21: "2.1", 22: "2.2", 29: "2.2",
           30: "3.0"}.get(version, str(version))
    return EcgFile(format=NAME, recording=rec, device=header.device, acquired_at=header.acquired_at,  # type: ignore[arg-type]
                   patient=header.patient, device_data=tuple(statements), warnings=dev.as_tuple(),
                   median_beats=med_rec, format_version=ver, extra=extra)


def _add_reference_beats(full: list[NDArray[np.float64]], median: list[NDArray[np.int64]],
                         sec4: tuple[int, int, list[_Qrs], list[tuple[int, int]]], leads: list[_Lead],
                         avm5: int, avm6: int) -> None:
    _len_ms, mfid, qrs, _zones = sec4
    ratio = avm5 / avm6
    for k, ld in enumerate(leads):
        med = median[k].astype(np.float64) * ratio if avm5 != avm6 else median[k].astype(np.float64)
        x = full[k]
        for q in qrs:
            if q.kind != 0 or q.end < q.start:
                continue
            t0 = max(q.start - 1 - ld.start, 0)
            t1 = min(q.end - ld.start, x.size)  # inclusive end -> exclusive
            if t1 <= t0:
                continue
            m0 = t0 - (q.fiducial - 1 - ld.start) + (mfid - 1)
            m1 = m0 + (t1 - t0)
            a, b = max(m0, 0), min(m1, med.size)
            if b <= a:
                continue
            x[t0 + (a - m0): t0 + (b - m0)] += med[a:b]


register_format(EcgFormat(NAME, "SCP-ECG (EN 1064) v1.x/2.x/3.0", sniff, read, decode))
