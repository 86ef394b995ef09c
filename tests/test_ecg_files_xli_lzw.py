"""The XLI LZW decoder (table-full phase by ``map``, codes read from strided windows) against a plain reference
decoder written from the algorithm (one code at a time), on valid random code streams and on random bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.ecg_files._xli import MAX_CHUNK_OUTPUT, lzw_decode
from asalee_devices.errors import FormatError


def _reference(chunk: bytes) -> bytes:
    n = len(chunk) * 8 // 10
    bits = "".join(f"{b:08b}" for b in chunk)
    codes = [int(bits[10 * i: 10 * i + 10], 2) for i in range(n)]
    table = [bytes((i,)) for i in range(256)]
    prev: bytes | None = None
    out = b""
    for i, c in enumerate(codes):
        if c > 1022:
            return out
        if c < len(table):
            entry = table[c]
        elif c == len(table) and prev is not None:
            entry = prev + prev[:1]
        else:
            raise FormatError("undefined code", field="code", value=c)
        if prev is not None and len(table) <= 1022:
            table.append(prev + entry[:1])
        out += entry
        prev = entry
        if (i + 1) % 1024 == 0 and len(out) > MAX_CHUNK_OUTPUT:
            raise FormatError("too long", field="bytes")
    return out


def _pack(codes: list[int]) -> bytes:
    bits = "".join(f"{c:010b}" for c in codes)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i: i + 8], 2) for i in range(0, len(bits), 8))


def _outcome(chunk: bytes) -> bytes | str:
    try:
        return lzw_decode(chunk)
    except FormatError as exc:
        return f"error {exc.field}"


def _ref_outcome(chunk: bytes) -> bytes | str:
    try:
        return _reference(chunk)
    except FormatError as exc:
        return f"error {exc.field}"


@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 2500), end=st.booleans(), bad=st.booleans())
def test_valid_streams_decode_like_the_reference(seed: int, n: int, end: bool, bad: bool) -> None:
    rng = np.random.default_rng(seed)
    codes: list[int] = []
    size = 256
    for i in range(n):
        top = min(size, 1022) if i else 255  # a code up to the next table entry (KwKwK) once there is one
        codes.append(int(rng.integers(0, top + 1)) if rng.random() < 0.7 else int(rng.integers(0, 256)))
        if i and size <= 1022:
            size += 1
    if bad and codes:
        codes[int(rng.integers(0, len(codes)))] = 1022  # may be undefined at that point
    if end:
        codes.append(1023)
    chunk = _pack(codes)
    assert _outcome(chunk) == _ref_outcome(chunk)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(chunk=st.binary(max_size=400))
def test_random_bytes_decode_like_the_reference(chunk: bytes) -> None:
    assert _outcome(chunk) == _ref_outcome(chunk)
