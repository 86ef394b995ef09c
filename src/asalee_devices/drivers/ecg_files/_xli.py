"""Philips XLI waveform decompression (LZW with 10-bit codes + second-order delta prediction).

Layout (as documented by the MIT-licensed sierra-ecg-tools): a sequence of chunks, one per lead, each an 8-byte
header (compressed size int32 LE, 2 unused bytes, first sample int16 LE) followed by the LZW stream. The LZW output
holds the high bytes of the 16-bit delta codes in its first half and the low bytes in its second half. The
prediction is undone with 16-bit wrap-around, as the reference decoder does.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

from asalee_devices.errors import FormatError

_BITS = 10
_MAX_CODE = (1 << _BITS) - 2
#: LZW output is refused beyond this many bytes per chunk (a 10-bit LZW code expands to at most 1023 bytes).
MAX_CHUNK_OUTPUT = 4 * 1024 * 1024


def _codes(chunk: bytes) -> tuple[list[int], bool]:
    """The 10-bit codes up to the end marker (a code above :data:`_MAX_CODE`), and whether the marker was found."""
    n = len(chunk) * 8 // _BITS
    if n == 0:
        return [], False
    # code i holds bits [10 i, 10 i + 10): read from the big-endian 16-bit window at its first byte (an unaligned
    # strided view of the zero-padded chunk), shifted by its bit offset in that byte (0, 2, 4 or 6)
    pad = np.zeros(len(chunk) + 2, np.uint8)
    pad[: len(chunk)] = np.frombuffer(chunk, np.uint8)
    windows = np.ndarray((len(chunk),), dtype=">u2", buffer=pad, strides=(1,)).astype(np.int64)
    start = np.arange(n, dtype=np.int64) * _BITS
    codes = (windows[start >> 3] >> (16 - _BITS - (start & 7))) & ((1 << _BITS) - 1)
    ends = np.flatnonzero(codes > _MAX_CODE)
    if ends.size:
        return codes[: int(ends[0])].tolist(), True
    out: list[int] = codes.tolist()
    return out, False


def lzw_decode(chunk: bytes) -> bytes:
    """Decode one LZW stream. Codes are handled in blocks of 1024 (the output size is checked after each block
    but the one holding the end marker); once the table is full (:data:`_MAX_CODE`), every remaining code is a
    plain table look-up, done by ``map`` at C speed."""
    table: list[bytes] = [bytes((i,)) for i in range(256)]
    tappend = table.append
    size = 256
    prev = b""
    out: list[bytes] = []
    append = out.append
    codes, marker = _codes(chunk)
    total = 0
    n = len(codes)
    for first in range(0, n, 1024):
        done = len(out)
        block = codes[first: first + 1024]
        k = 0
        if first == 0 and block:
            c = block[0]
            if c >= size:
                raise FormatError("XLI data hold an undefined LZW code", field="code", value=c,
                                  expected=f"<= {size}")
            prev = table[c]
            append(prev)
            k = 1
        stop = min(len(block), k + _MAX_CODE + 1 - size)  # codes until the table is full
        for c in block[k:stop]:
            if c < size:
                entry = table[c]
            elif c == size:
                entry = prev + prev[:1]
            else:
                raise FormatError("XLI data hold an undefined LZW code", field="code", value=c,
                                  expected=f"<= {size}")
            tappend(prev + entry[:1])
            size += 1
            append(entry)
            prev = entry
        k = max(k, stop)
        if k < len(block):  # table full: codes <= _MAX_CODE < size are all defined
            out.extend(map(table.__getitem__, block[k:]))
        if marker and first + 1024 >= n:
            break  # the reference decoder returns at the end marker without a last size check
        total += sum(map(len, out[done:]))
        if total > MAX_CHUNK_OUTPUT:
            raise FormatError("XLI chunk expands beyond the size limit", field="bytes", value=total,
                              expected=f"<= {MAX_CHUNK_OUTPUT}")
    return b"".join(out)


def _undelta(buf: bytes, first: int) -> NDArray[np.int16]:
    raw = np.frombuffer(buf, np.uint8)
    if raw.size % 2:
        raw = np.append(raw, np.uint8(0))
    half = raw.size // 2
    d = ((raw[:half].astype(np.int64) << 8) | raw[half:].astype(np.int64)).astype(np.uint16).view(np.int16)
    d = d.astype(np.int64)
    if d.size < 2:
        raise FormatError("XLI chunk holds fewer than two codes", field="codes", value=int(d.size))
    out = d.copy()
    if d.size > 2:
        c = np.empty(d.size - 2, np.int64)
        c[0] = first
        c[1:] = d[2:-1] - 64
        w1 = d[1] - d[0]
        w = w1 - np.cumsum(c)
        out[2:] = d[1] + np.cumsum(w)
    return out.astype(np.int16)  # wraps like the reference's 16-bit arithmetic


def xli_decode(data: bytes, max_chunks: int, wanted: int | None = None) -> list[NDArray[np.int16]]:
    """Decode the chunks of an XLI blob (at most ``max_chunks``; only the first ``wanted`` are decompressed, the
    headers of the others are still checked)."""
    leads: list[NDArray[np.int16]] = []
    off = 0
    while off < len(data):
        if len(leads) >= max_chunks:
            raise FormatError("XLI data hold more chunks than leads", field="chunks", value=len(leads) + 1,
                              expected=f"<= {max_chunks}")
        if len(data) - off < 8:
            raise FormatError("XLI chunk header truncated", field="offset", value=off)
        size, _unused, first = struct.unpack_from("<ihh", data, off)
        off += 8
        if size <= 0 or size > len(data) - off:
            raise FormatError("XLI chunk size invalid", field="size", value=size,
                              expected=f"1..{len(data) - off}")
        if wanted is None or len(leads) < wanted:
            leads.append(_undelta(lzw_decode(data[off: off + size]), first))
        else:
            leads.append(np.zeros(0, np.int16))
        off += size
    return leads
