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


def _codes(chunk: bytes) -> tuple[NDArray[np.int64], bool]:
    """The 10-bit codes up to the end marker (a code above :data:`_MAX_CODE`), and whether the marker was found."""
    n = len(chunk) * 8 // _BITS
    if n == 0:
        return np.zeros(0, np.int64), False
    # code i holds bits [10 i, 10 i + 10): read from the big-endian 16-bit window at its first byte (an unaligned
    # strided view of the zero-padded chunk), shifted by its bit offset in that byte (0, 2, 4 or 6)
    pad = np.zeros(len(chunk) + 2, np.uint8)
    pad[: len(chunk)] = np.frombuffer(chunk, np.uint8)
    windows = np.ndarray((len(chunk),), dtype=">u2", buffer=pad, strides=(1,)).astype(np.int64)
    start = np.arange(n, dtype=np.int64) * _BITS
    codes = (windows[start >> 3] >> (16 - _BITS - (start & 7))) & ((1 << _BITS) - 1)
    ends = np.flatnonzero(codes > _MAX_CODE)
    if ends.size:
        return codes[: int(ends[0])], True
    return codes, False


#: codes that add a table entry: the first code adds none, the next ones add entries 256.._MAX_CODE
_GROWING = _MAX_CODE - 256 + 2
_BLOCK = 1024
_BYTE = [bytes((i,)) for i in range(256)]


def lzw_decode(chunk: bytes) -> bytes:
    """Decode one LZW stream.

    The table is built first, then the output is one ``join`` of table look-ups at C speed (an entry never
    changes once made). Entry ``256 + j`` is entry ``codes[j]`` followed by the first byte of entry
    ``codes[j + 1]``, and that first byte is the literal at the root of ``codes[j + 1]``'s chain of parents
    (found for all codes at once by pointer doubling), so building the table is one concatenation per entry,
    with no branch (the "KwKwK" code, naming the entry it creates, needs no special case). The codes are
    checked before (an undefined code is refused as the reference decoder refuses it), and the output size is
    checked before it is allocated, at the points the reference decoder checks it (after each block of 1024
    codes, but the one holding the end marker)."""
    codes, marker = _codes(chunk)
    n = codes.size
    if n == 0:
        return b""
    m = min(n, _GROWING)
    grow = codes[:m]
    # code i (0 < i < m) may name any entry up to the one it creates (256 + i - 1)
    limit = np.arange(255, 255 + m, dtype=np.int64)
    bad = np.flatnonzero(grow > limit)
    if bad.size:
        i = int(bad[0])
        raise FormatError("XLI data hold an undefined LZW code", field="code", value=int(codes[i]),
                          expected=f"<= {256 if i == 0 else i + 255}")
    # root literal of every node: entry 256 + j has the root of codes[j] (an earlier node)
    root = np.arange(256 + m - 1, dtype=np.int64)
    root[256:] = grow[: m - 1]
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt[nxt]
    table: list[bytes] = _BYTE.copy()
    tappend = table.append
    for c, first in zip(grow[: m - 1].tolist(), root[grow[1:]].tolist(), strict=True):
        tappend(table[c] + _BYTE[first])
    code_list: list[int] = codes.tolist()
    points = list(range(_BLOCK, n, _BLOCK)) + ([] if marker else [n])
    if points and n * m > MAX_CHUNK_OUTPUT:  # an entry is at most m bytes long: else the limit cannot be hit
        cum = np.cumsum(np.fromiter(map(len, table), np.int64, len(table))[codes])
        at = cum[np.asarray(points, np.int64) - 1]
        over = np.flatnonzero(at > MAX_CHUNK_OUTPUT)
        if over.size:
            raise FormatError("XLI chunk expands beyond the size limit", field="bytes", value=int(at[over[0]]),
                              expected=f"<= {MAX_CHUNK_OUTPUT}")
    return b"".join(map(table.__getitem__, code_list))


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
