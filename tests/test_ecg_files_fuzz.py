"""Robustness of the ECG file readers: random bytes and mutations of the real files (truncation, bit flips, length
fields set to huge values, XML numbers set to huge values). Every reader returns a result or raises FormatError;
each example has a deadline and the memory peak is bounded."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.ecg_files import EcgFile, aecg, contec, dicom, muse, philips, scp
from asalee_devices.errors import FormatError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
FILES: dict[str, tuple[str, Callable[[bytes, bool], EcgFile]]] = {
    "scp": ("ecgtoolkit-example/Example.scp", scp.decode),
    "aecg": ("ecgtoolkit-example/Example.xml", aecg.decode),
    "dicom": ("ecgtoolkit-example/Example.dcm", dicom.decode),
    "mortara": ("mortara-eli250-dicom/waveform_ecg.dcm", dicom.decode),
    "muse": ("ge-muse/MUSE_20200923_093504_79000_example.xml", muse.decode),
    "philips": ("philips-sierra/129DYPRG.XML", philips.decode),
    "philips104": ("philips-sierra/ad4d3d80-d165_1-04_orig.xml", philips.decode),
    "contec": ("contec-ecg90a/0000037.ECG", contec.decode),
}
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
SETTINGS = settings(max_examples=40, deadline=timedelta(seconds=3), derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_cache: dict[str, bytes] = {}


def _original(key: str) -> bytes:
    if key not in _cache:
        path = DATA / FILES[key][0]
        if not path.exists():
            pytest.skip(f"external test data not found at {path}")
        _cache[key] = path.read_bytes()
    return _cache[key]


def _check(decode: Callable[[bytes, bool], EcgFile], data: bytes) -> None:
    tracemalloc.start()
    try:
        for strict in (False, True):
            try:
                result = decode(data, strict)
            except FormatError:
                continue
            assert isinstance(result, EcgFile)
            assert result.recording.samples_uv.ndim == 2
    finally:
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_BYTES


@pytest.mark.parametrize("key", list(FILES))
@SETTINGS
@given(data=st.data())
def test_truncation_and_bit_flips(key: str, data: st.DataObject) -> None:
    original = _original(key)
    buf = bytearray(original)
    if data.draw(st.booleans(), label="truncate"):
        buf = buf[: data.draw(st.integers(0, len(buf)), label="cut")]
    for _ in range(data.draw(st.integers(0, 8), label="flips")):
        if buf:
            pos = data.draw(st.integers(0, len(buf) - 1), label="pos")
            buf[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    _check(FILES[key][1], bytes(buf))


@pytest.mark.parametrize("key", ["scp", "dicom", "mortara", "contec"])
@SETTINGS
@given(data=st.data())
def test_huge_length_fields(key: str, data: st.DataObject) -> None:
    buf = bytearray(_original(key))
    for _ in range(data.draw(st.integers(1, 4), label="fields")):
        width = data.draw(st.sampled_from([2, 4]), label="width")
        # bias towards the headers, where the length fields are
        limit = min(len(buf) - width, 2048) if data.draw(st.booleans()) else len(buf) - width
        pos = data.draw(st.integers(0, limit), label="pos")
        value = data.draw(st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0, 65536]), label="v")
        buf[pos: pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    _check(FILES[key][1], bytes(buf))


_NUMBER = re.compile(rb"(?<=[>\"])-?\d+(\.\d+)?(?=[<\"])")


@pytest.mark.parametrize("key", ["aecg", "muse", "philips", "philips104"])
@SETTINGS
@given(data=st.data())
def test_xml_numbers_set_to_extreme_values(key: str, data: st.DataObject) -> None:
    original = _original(key)
    utf16 = original.startswith(b"\xff\xfe")  # Sierra 1.04: mutate the text, write it back in UTF-16
    if utf16:
        original = original[2:].decode("utf-16-le").encode("utf-8")
    spans = [m.span() for m in _NUMBER.finditer(original[:200_000])]
    buf = bytearray(original)
    picks = sorted({data.draw(st.integers(0, len(spans) - 1), label="which") for _ in range(3)}, reverse=True)
    for k in picks:
        a, b = spans[k]
        new = data.draw(st.sampled_from([b"999999999999", b"-1", b"0", b"1e308", b"nan", b"2147483648"]))
        buf[a:b] = new
    out = bytes(buf)
    if utf16:
        out = b"\xff\xfe" + out.decode("utf-8").encode("utf-16-le")
    _check(FILES[key][1], out)


@pytest.mark.parametrize("prefix", [
    b"", b"<?xml version='1.0'?><AnnotatedECG xmlns='urn:hl7-org:v3'>", b"<RestingECG>", b"<restingecgdata>",
    b"\x00" * 128 + b"DICM", b"00000012\x00\x002020-01-01 10:00:00\x00\x00",
])
@SETTINGS
@given(tail=st.binary(max_size=2048))
def test_random_bytes(prefix: bytes, tail: bytes) -> None:
    for _key, (_rel, decode) in FILES.items():
        _check(decode, prefix + tail)


@SETTINGS
@given(tail=st.binary(min_size=16, max_size=600))
def test_random_scp_sections(tail: bytes) -> None:
    """A valid record header and section-0 header followed by random bytes."""
    import struct

    body = struct.pack("<HIBB", 0, 16 + 120, 20, 20) + b"SCPECG" + tail
    data = struct.pack("<HI", 0, 6 + 2 + len(body)) + b"\x00\x00" + body
    _check(scp.decode, data)


def test_philips_duration_times_rate_overflow_is_a_format_error() -> None:
    """Found with 200 examples per test: a finite duration whose product with the rate overflows to infinity."""
    data = re.sub(rb'durationperchannel="[0-9.]+"', b'durationperchannel="1e308"', _original("philips"), count=1)
    with pytest.raises(FormatError):
        philips.decode(data)
