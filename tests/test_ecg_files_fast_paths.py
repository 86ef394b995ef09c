"""The fast decoding paths against the per-lead / reference ones they replace: the all-leads SCP Huffman decoder
(:meth:`HuffmanDecoder.decode_leads`) against the lead-by-lead decoder, on leads encoded by tests/scp_encoder.py
(written from the standard, independently of the reader), including broken leads (the fast path must step aside
so that the precise error is raised); the XLI LZW output-size limit."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.scp_encoder import DEFAULT, Huffman, huffman_lead

from asalee_devices.drivers.ecg_files._huffman import DEFAULT_TABLE, HuffmanCode, HuffmanDecoder
from asalee_devices.drivers.ecg_files._xli import MAX_CHUNK_OUTPUT, lzw_decode
from asalee_devices.errors import FormatError

CUSTOM = [(1, 1, False, 0, 0b0), (2, 2, False, 1, 0b10), (3, 3, False, -1, 0b110), (3, 19, False, 0, 0b111)]


def _decoder(table: list[tuple[int, int, bool, int, int]] | None) -> HuffmanDecoder:
    if table is None:
        return HuffmanDecoder((DEFAULT_TABLE,))
    codes = tuple(HuffmanCode(p, t, s, b, c) for p, t, s, b, c in table)  # MSB-first, as scp._parse_tables gives
    return HuffmanDecoder((codes,))


def _per_lead(dec: HuffmanDecoder, data: bytes, start: int, counts: list[int], ns: list[int]) -> list[np.ndarray]:
    out, pos = [], start
    for count, n in zip(counts, ns, strict=True):
        vals, _used = dec.decode(data, pos, count, n)
        out.append(vals)
        pos += count
    return out


def _leads(seed: int, n_leads: int, ns: list[int], spread: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_leads):
        small = rng.integers(-3, 4, ns[k])
        big = rng.integers(-spread, spread + 1, ns[k])
        out.append(np.where(rng.random(ns[k]) < 0.9, small, big).astype(np.int64))
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n_leads=st.integers(1, 12), n=st.integers(1, 900),
       uneven=st.booleans(), custom=st.booleans(), prefix=st.integers(0, 5))
def test_all_leads_decoder_matches_lead_by_lead(seed: int, n_leads: int, n: int, uneven: bool, custom: bool,
                                                prefix: int) -> None:
    rng = np.random.default_rng(seed)
    ns = [int(rng.integers(1, n + 1)) if uneven else n for _ in range(n_leads)]
    table = CUSTOM if custom else None
    leads = _leads(seed, n_leads, ns, 30000)
    blobs = [huffman_lead(x, Huffman([table] if table else None)) for x in leads]
    data = bytes(range(prefix)) + b"".join(blobs) + b"\xa5" * 3
    dec = _decoder(table)
    counts = [len(b) for b in blobs]
    fast = dec.decode_leads(data, prefix, counts, ns)
    assert fast is not None
    slow = _per_lead(dec, data, prefix, counts, ns)
    for k in range(n_leads):
        np.testing.assert_array_equal(fast[: ns[k], k], slow[k])
        np.testing.assert_array_equal(slow[k], leads[k])


@pytest.mark.parametrize("damage", ["truncate_last", "short_count", "undefined_code", "more_samples"])
def test_all_leads_decoder_steps_aside_on_broken_leads(damage: str) -> None:
    ns = [700] * 6
    leads = _leads(7, 6, ns, 2000)
    table = CUSTOM[:3]  # no 19-bit code: "111" is undefined
    blobs = [huffman_lead(x, Huffman([CUSTOM])) if damage != "undefined_code" else b"" for x in leads]
    if damage == "undefined_code":
        blobs = [huffman_lead(np.clip(x, -1, 1), Huffman([table])) for x in leads]
        blobs[3] = b"\xff" + blobs[3][1:]
        dec = _decoder(table)
    else:
        dec = _decoder(CUSTOM)
    counts = [len(b) for b in blobs]
    if damage == "truncate_last":
        counts[-1] -= 2
        blobs[-1] = blobs[-1][:-2]
    if damage == "short_count":
        counts[2] -= 3  # lead 2 runs into lead 3's bytes
    n_req = [n + 50 for n in ns] if damage == "more_samples" else ns
    data = b"".join(blobs)
    assert dec.decode_leads(data, 0, counts, n_req) is None
    with pytest.raises(FormatError):
        _per_lead(dec, data, 0, counts, n_req)


def test_all_leads_decoder_default_table_matches_encoder_table() -> None:
    # the encoder's default table (written from the standard) and the reader's are the same table
    assert sorted((p, t, b, c) for p, t, _s, b, c in DEFAULT) == sorted(
        (c.prefix_bits, c.total_bits, c.base_value, c.code) for c in DEFAULT_TABLE)


def _pack(codes: list[int]) -> bytes:
    bits = "".join(f"{c:010b}" for c in codes)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i: i + 8], 2) for i in range(0, len(bits), 8))


def _longest_entries(n_repeat: int, marker: bool) -> tuple[bytes, int]:
    """Codes 0, 256, 257, ... (each naming the entry it creates: entries of 2, 3, ... 768 zero bytes), then the
    768-byte entry 1022 ``n_repeat`` times: the output is all zeros, of a length known in closed form."""
    codes = [0] + list(range(256, 1023)) + [1022] * n_repeat
    size = 1 + sum(range(2, 769)) + 768 * n_repeat
    return _pack(codes + ([1023] if marker else [])), size


@pytest.mark.parametrize("marker", [True, False])
def test_lzw_output_size_limit(marker: bool) -> None:
    ok, size = _longest_entries(2000, marker)
    out = lzw_decode(ok)
    assert len(out) == size and out.count(0) == size
    over, size = _longest_entries(MAX_CHUNK_OUTPUT // 768 + 1100, marker)
    assert size > MAX_CHUNK_OUTPUT
    with pytest.raises(FormatError) as exc:
        lzw_decode(over)
    assert exc.value.field == "bytes"
    print(f"LZW: {len(ok)}-byte stream -> {len(out)} bytes exact; {size}-byte output refused")


def _aecg_both_ways(data: bytes) -> tuple[object, object]:
    """Decode an aECG document with the worker-thread number parsing and without it (threshold raised)."""
    from asalee_devices.drivers.ecg_files import aecg

    def outcome() -> object:
        try:
            f = aecg.decode(data)
        except FormatError as exc:
            return f"error {exc.field}"
        med = f.median_beats
        return (f.recording.leads, f.recording.samples_uv.tobytes(),
                None if med is None else (med.leads, med.samples_uv.tobytes()))

    fast = outcome()
    saved = aecg._Integers.MIN_BYTES
    aecg._Integers.MIN_BYTES = 1 << 62
    try:
        slow = outcome()
    finally:
        aecg._Integers.MIN_BYTES = saved
    return fast, slow


def test_aecg_worker_parse_matches_the_per_lead_parse(shared_data: Path) -> None:
    data = (shared_data / "ecg" / "ecgtoolkit-example" / "Example.xml").read_bytes()
    fast, slow = _aecg_both_ways(data)
    assert fast == slow and not isinstance(fast, str)
    # one lead with decimals, one with a stray character, one holding the sentinel value, one empty: the worker's
    # result is refused and each text goes through the per-lead parse, which decides (same outcome)
    digits = [m.span(1) for m in re.finditer(rb"<digits>([^<]*)</digits>", data)]
    for k, (change, _why) in enumerate(((b" 1.5 ", "decimal"), (b" 7x ", "stray"),
                                        (b" -9223372036854775807 ", "sentinel"), (None, "empty"))):
        a, b = digits[3 + k]
        body = data[a:b]
        new = body[:40] + change + body[40:] if change is not None else b" "
        mutated = data[:a] + new + data[b:]
        fast, slow = _aecg_both_ways(mutated)
        assert fast == slow, _why


@pytest.mark.parametrize("number", [b"99999999999999999999", b"-99999999999999999999", b"9223372036854775807"])
def test_aecg_number_beyond_int64_is_refused_not_clipped(shared_data: Path, number: bytes) -> None:
    # np.fromstring clips such a number to the int64 limit without an error: read as is, it would be an enormous
    # sample; both paths (worker and per lead) refuse the lead instead
    data = (shared_data / "ecg" / "ecgtoolkit-example" / "Example.xml").read_bytes()
    a, b = [m.span(1) for m in re.finditer(rb"<digits>([^<]*)</digits>", data)][2]
    mutated = data[:a] + data[a:b][:30] + b" " + number + b" " + data[a:b][30:] + data[b:]
    fast, slow = _aecg_both_ways(mutated)
    assert fast == slow == "error lead"


@pytest.mark.parametrize("texts", [
    [b"1 2 3", b"-4\n  5 ", b"6"],
    [b"", b"1"],
    [b"1 2.5 3", b"4"],
    [b"1 2", b"3 -9223372036854775807 4"],
    [b"12 34x", b"5"],
    [b"1 -", b"2"],
])
def test_aecg_joined_parse_is_the_per_text_parse_or_nothing(texts: list[bytes]) -> None:
    import threading
    import warnings

    from asalee_devices.drivers.ecg_files._xml import Lifted
    from asalee_devices.drivers.ecg_files.aecg import _Integers

    # the texts as spans of one document (what lift_bulk hands over), joined the way the worker receives them
    document, spans = b"", []
    for text in texts:
        document += b"<d>"
        spans.append((len(document), len(document) + len(text)))
        document += text + b"</d>"
    lifted = Lifted(document, spans)
    assert [lifted[i] for i in range(len(lifted))] == texts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _Integers._parse(lifted.joined(_Integers._SEP), len(texts), threading.Event())
        if got:
            assert len(got) == len(texts)
            for text, arr in zip(texts, got, strict=True):
                np.testing.assert_array_equal(arr, np.fromstring(text, dtype=np.int64, sep=" "))
    clean = all(t.replace(b"-", b"").replace(b"\n", b" ").split() == [x for x in t.replace(b"-", b"")
                .replace(b"\n", b" ").split() if x.isdigit()] for t in texts) and b"-9223372036854775807" \
        not in b" ".join(texts) and not any(t.rstrip().endswith(b"-") for t in texts)
    assert bool(got) == clean


def test_dicom_length_field_mutation_is_a_format_error(shared_data: Path) -> None:
    # found by the fuzz test: a meta group length whose value length is not a multiple of 4 made pydicom raise
    # its own BytesLengthException through the reader
    from asalee_devices.drivers.ecg_files import dicom

    buf = bytearray((shared_data / "ecg" / "ecgtoolkit-example" / "Example.dcm").read_bytes())
    buf[137:139] = b"\x00\x00"
    for strict in (False, True):
        with pytest.raises(FormatError):
            dicom.decode(bytes(buf), strict)
