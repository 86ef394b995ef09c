"""Codec properties (hypothesis): any chunking gives the same frames; garbage between frames never costs an intact
frame; the decoders never raise on arbitrary bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.protocols.contec_spiro import codec as contec
from asalee_devices.drivers.protocols.ecg12 import codec as ecg
from asalee_devices.drivers.protocols.turbine import codec as turbine

CHUNKS = st.lists(st.integers(1, 97), min_size=1, max_size=40)
GARBAGE = st.lists(st.binary(max_size=40), min_size=12, max_size=12)


def _chunked(stream: bytes, sizes: list[int]) -> list[bytes]:
    out, pos, k = [], 0, 0
    while pos < len(stream):
        n = sizes[k % len(sizes)]
        out.append(stream[pos:pos + n])
        pos += n
        k += 1
    return out


@settings(max_examples=60, deadline=None)
@given(garbage=GARBAGE, sizes=CHUNKS)
def test_ecg12_garbage_between_frames(garbage: list[bytes], sizes: list[int]) -> None:
    frames = [ecg.encode_data(i, ecg.status_word(i, 0), [i * 1000 - 5000] * 8) for i in range(12)]
    # the stream goes on after the last frame (a false sync in the garbage may announce up to 255 bytes)
    stream = b"".join(g + f for g, f in zip(garbage, frames, strict=True)) + bytes(300)
    dec = ecg.Ecg12Decoder()
    seqs: list[int] = []
    for part in _chunked(stream, sizes):
        seqs += dec.feed(part)[1].seq.tolist()
    assert seqs == list(range(12))
    assert dec.counters.frames_ok == 12


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600), sizes=CHUNKS)
def test_decoders_never_raise(data: bytes, sizes: list[int]) -> None:
    e, t, c = ecg.Ecg12Decoder(), turbine.TurbineDecoder(), contec.ContecDecoder()
    for part in _chunked(data, sizes):
        e.feed(part)
        t.feed(part)
        c.feed(part)


@settings(max_examples=60, deadline=None)
@given(garbage=GARBAGE, sizes=CHUNKS)
def test_turbine_garbage_between_frames(garbage: list[bytes], sizes: list[int]) -> None:
    frames = [turbine.encode_frame(i, 10_000 * i, 3 * i, 1, 1) for i in range(12)]
    stream = b"".join(g + f for g, f in zip(garbage, frames, strict=True)) + bytes(16)
    dec = turbine.TurbineDecoder()
    got: list[int] = []
    for part in _chunked(stream, sizes):
        got += dec.feed(part).seq.tolist()
    assert got == list(range(12))


@settings(max_examples=60, deadline=None)
@given(sizes=CHUNKS, seven_bit_garbage=st.binary(max_size=30).map(lambda b: bytes(x & 0x7F for x in b)))
def test_contec_messages_after_garbage_and_curve_alignment(sizes: list[int], seven_bit_garbage: bytes) -> None:
    t = np.arange(50, dtype=np.int64) * 100
    f = (np.arange(50, dtype=np.int64) - 25) * 300
    v = np.cumsum(f) // 100
    stream = (seven_bit_garbage + contec.device_frame(contec.CLOCK_REQUEST, b"\x01")
              + contec.device_frame(contec.CURVE, bytes((2, 0, 50, 0)))
              + contec.encode_curve_frames(t, f, v) + contec.device_frame(contec.DELETE_RESULT, b"\x00\x00"))
    dec = contec.ContecDecoder()
    items: list[contec.Message | contec.CurveFrames] = []
    for part in _chunked(stream, sizes):
        items += dec.feed(part)
    msgs = [i.frame_type for i in items if isinstance(i, contec.Message)]
    assert msgs == [contec.CLOCK_REQUEST, contec.CURVE, contec.DELETE_RESULT]
    curves = [i for i in items if isinstance(i, contec.CurveFrames)]
    assert np.concatenate([c.flow_ml_s for c in curves]).tolist() == f.tolist()
    assert np.concatenate([c.index for c in curves]).tolist() == list(range(50))
    assert dec.counters.bytes_discarded == len(seven_bit_garbage)
