"""A small SCP-ECG encoder for tests (written from EN 1064 / docs/devices-and-protocols §3, independently of the
reader): sections 0-6, default or custom Huffman tables with table switching, differences, reference beats and
bimodal compression."""

from __future__ import annotations

import binascii
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# (prefix_bits, total_bits, switch, base_value, code MSB-first)
Code = tuple[int, int, bool, int, int]

DEFAULT: list[Code] = [(1, 1, False, 0, 0b0)]
for _v in range(1, 9):
    _prefix = ((1 << _v) - 1) << 2
    DEFAULT += [(_v + 2, _v + 2, False, _v, _prefix), (_v + 2, _v + 2, False, -_v, _prefix | 1)]
DEFAULT += [(10, 18, False, 0, 0b1111111110), (10, 26, False, 0, 0b1111111111)]


def reverse(value: int, nbits: int) -> int:
    return int(format(value, f"0{nbits}b")[::-1], 2)


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[str] = []

    def put(self, value: int, nbits: int) -> None:
        self.bits.append(format(value & ((1 << nbits) - 1), f"0{nbits}b"))

    def bytes(self) -> bytes:
        s = "".join(self.bits)
        s += "0" * (-len(s) % 8)
        return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


def encode_value(w: BitWriter, table: Sequence[Code], v: int) -> None:
    for plen, tot, sw, base, code in table:
        if not sw and plen == tot and base == v:
            w.put(code, plen)
            return
    for plen, tot, sw, _base, code in sorted(table, key=lambda c: c[1]):
        extra = tot - plen
        if not sw and extra > 0 and -(1 << (extra - 1)) <= v < (1 << (extra - 1)):
            w.put(code, plen)
            w.put(v, extra)
            return
    raise ValueError(f"value {v} cannot be encoded")


def switch_code(table: Sequence[Code], to_table: int) -> Code:
    return next(c for c in table if c[2] and c[3] == to_table)


def differences(x: np.ndarray, encoding: int) -> np.ndarray:
    x = x.astype(np.int64)
    if encoding == 0:
        return x
    d = x.copy()
    if encoding == 1:
        d[1:] = x[1:] - x[:-1]
    else:
        d[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
    return d


@dataclass
class Huffman:
    """Tables and, per lead, where to switch: list of (sample index, table number 1-based)."""

    tables: list[list[Code]] | None  # None = default table (count 19999)
    switches: list[tuple[int, int]] = field(default_factory=list)


def huffman_lead(values: np.ndarray, h: Huffman | None) -> bytes:
    if h is None:
        return b"".join(struct.pack("<h", int(v)) for v in values)
    tables = h.tables or [DEFAULT]
    w = BitWriter()
    current = 1
    plan = dict(h.switches)
    for i, v in enumerate(values.tolist()):
        if i in plan and plan[i] != current:
            plen, _t, _s, _b, code = switch_code(tables[current - 1], plan[i])
            w.put(code, plen)
            current = plan[i]
        encode_value(w, tables[current - 1], int(v))
    return w.bytes()


def section(sid: int, body: bytes, version: int = 20) -> bytes:
    if len(body) % 2:
        body += b"\x00"
    reserved = b"SCPECG" if sid == 0 else b"\x00" * 6
    rest = struct.pack("<HIBB", sid, 16 + len(body), version, version) + reserved + body
    return struct.pack("<H", binascii.crc_hqx(rest, 0xFFFF)) + rest


def section2(h: Huffman) -> bytes:
    if h.tables is None:
        return struct.pack("<H", 19999)
    out = struct.pack("<H", len(h.tables))
    for t in h.tables:
        out += struct.pack("<H", len(t))
        for plen, tot, sw, base, code in t:
            out += struct.pack("<BBBhI", plen, tot, 0 if sw else 1, base, reverse(code, plen))
    return out


def section1(tags: dict[int, bytes] | None = None) -> bytes:
    device = struct.pack("<HHHBB", 1, 2, 3, 0, 17) + b"AT-102" + bytes([20, 0xA0, 0, 0, 1]) + bytes(16)
    device += bytes([4]) + b"1.0\x00" + b"SN-0042\x00" + b"fw 2.1\x00" + b"impl\x00" + b"Schiller AG\x00"
    base = {2: b"INS-TEST-1\x00", 14: device, 25: struct.pack("<HBB", 2024, 3, 14), 26: bytes([10, 20, 30]),
            27: struct.pack("<H", 5), 28: struct.pack("<H", 150), 29: bytes([0b10])}
    base.update(tags or {})
    out = b""
    for tag, val in base.items():
        out += struct.pack("<BH", tag, len(val)) + val
    return out + struct.pack("<BH", 255, 0)


def record(sections: dict[int, bytes], version: int = 20, bad_crc: bool = False) -> bytes:
    """Assemble a record: ``sections`` maps id -> body (without header)."""
    ids = sorted(sections)
    n_ptr = max(12, max(ids) + 1)
    sec0_len = 16 + 10 * n_ptr
    offset = 6 + sec0_len
    blobs = {}
    pointers = []
    for sid in range(n_ptr):
        if sid in sections and sid != 0:
            blob = section(sid, sections[sid], version)
            blobs[sid] = blob
            pointers.append(struct.pack("<HII", sid, len(blob), offset + 1))
            offset += len(blob)
        else:
            pointers.append(struct.pack("<HII", sid, sec0_len if sid == 0 else 0, 7 if sid == 0 else 0))
    body = section(0, b"".join(pointers), version) + b"".join(blobs[s] for s in sorted(blobs))
    length = 6 + len(body)
    tail = struct.pack("<I", length) + body
    crc = binascii.crc_hqx(tail, 0xFFFF) ^ (0x1234 if bad_crc else 0)
    return struct.pack("<H", crc) + tail


LEAD_CODE = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8, "III": 61, "aVR": 62}


def encode_scp(
    leads: dict[str, np.ndarray],
    *,
    avm_nv: int = 2500,
    interval_us: int = 2000,
    encoding: int = 2,
    huffman: Huffman | None = None,
    zero_based: bool = False,
    end_offset: int = 0,
    version: int = 20,
    bad_crc: bool = False,
    median: dict[str, np.ndarray] | None = None,
    qrs: list[tuple[int, int, int]] | None = None,  # (start, fiducial, end), 1-based, type 0
    median_fiducial: int = 0,
    bimodal_factor: int = 1,
    protected: list[tuple[int, int]] | None = None,  # 1-based inclusive
    avm6_override: int | None = None,
    extra_tags: dict[int, bytes] | None = None,
) -> bytes:
    """Encode integer leads (already in LSB units). With ``median`` + ``qrs`` the median beat is subtracted from the
    rhythm around each QRS (reference-beat subtraction); with ``bimodal_factor`` > 1 the residual outside the
    ``protected`` zones is replaced by the mean of each block of ``bimodal_factor`` samples. ``end_offset`` shifts
    the end sample section 3 declares (writers' off-by-one deviations)."""
    names = list(leads)
    n = len(next(iter(leads.values())))
    secs: dict[int, bytes] = {1: section1(extra_tags)}
    if huffman is not None:
        secs[2] = section2(huffman)
    flags = (len(names) << 3) | 0b100 | (1 if median is not None else 0)
    s3 = struct.pack("<BB", len(names), flags)
    for name in names:
        start = 0 if zero_based else 1
        s3 += struct.pack("<IIB", start, start + n - 1 + end_offset, LEAD_CODE[name])
    secs[3] = s3
    residual = {k: v.astype(np.int64).copy() for k, v in leads.items()}
    if median is not None:
        assert qrs is not None
        m_len = len(next(iter(median.values())))
        s4 = struct.pack("<HHH", m_len * interval_us // 1000, median_fiducial, len(qrs))
        for s, f, e in qrs:
            s4 += struct.pack("<HIII", 0, s, f, e)
        for s, e in protected or [(s, e) for s, _f, e in qrs]:
            s4 += struct.pack("<II", s, e)
        secs[4] = s4
        for k in names:
            for s, f, e in qrs:
                for t in range(s - 1, e):
                    m = t - (f - 1) + (median_fiducial - 1)
                    if 0 <= m < m_len:
                        residual[k][t] -= median[k][m]
        med_data = [huffman_lead(differences(median[k], encoding), huffman) for k in names]
        secs[5] = (struct.pack("<HHBB", avm_nv, interval_us, encoding, 0)
                   + b"".join(struct.pack("<H", len(d)) for d in med_data) + b"".join(med_data))
    streams = {}
    for k in names:
        x = residual[k]
        if bimodal_factor > 1:
            prot = np.zeros(n, bool)
            for s, e in protected or []:
                prot[s - 1: e] = True
            out = []
            t = 0
            while t < n:
                if prot[t]:
                    out.append(int(x[t]))
                    t += 1
                    continue
                u = t
                while u < n and not prot[u] and u - t < bimodal_factor:
                    u += 1
                out.append(int(round(float(np.mean(x[t:u])))))
                t = u
            x = np.asarray(out, np.int64)
        streams[k] = huffman_lead(differences(x, encoding), huffman)
    avm6 = avm_nv if avm6_override is None else avm6_override
    secs[6] = (struct.pack("<HHBB", avm6, interval_us * bimodal_factor, encoding, 1 if bimodal_factor > 1 else 0)
               + b"".join(struct.pack("<H", len(streams[k]) & 0xFFFF) for k in names)
               + b"".join(streams[k] for k in names))
    return record(secs, version, bad_crc)
