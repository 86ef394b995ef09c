"""Contec spirometer download protocol codec (pure; [RE] layout from the shared devices notes).

Device messages: a type byte with bit 7 set, then a fixed number of 7-bit payload bytes (by type). The curve
message ``E2`` has a 4-byte header (record number, frame count N, both 7-bit little-endian pairs) followed by N
8-byte curve frames: byte 0 holds the MSBs of bytes 1..7 (bit k = MSB of byte k+1); bytes 1-3 time (24-bit LE,
0.1 ms), 4-5 flow (16-bit LE two's complement, mL/s), 6-7 volume (16-bit LE two's complement, mL).
Host messages: type byte, 7-bit payload, checksum = (sum of the preceding bytes) & 0x7F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.framing import CodecCounters

# device -> host: payload length after the type byte
CLOCK_REQUEST = 0xF0
STATUS = 0xF3
DEVICE_INFO = 0xF2
PREDICTED = 0xE4
RECORD_COUNT = 0xE0
RECORD_SUMMARY = 0xE1
CURVE = 0xE2
DELETE_RESULT = 0xE3
PAYLOAD_LEN: dict[int, int] = {
    CLOCK_REQUEST: 1, STATUS: 2, DEVICE_INFO: 7, PREDICTED: 22, RECORD_COUNT: 9, RECORD_SUMMARY: 43,
    CURVE: 4, DELETE_RESULT: 2,
}
CURVE_FRAME_LEN = 8

# host -> device
H_START = 0x80
H_STATUS_ACK = 0x82
H_CLOCK = 0x83
H_PREDICTED_ACK = 0x90
H_RECORD = 0x91
H_SUMMARY_ACK = 0x92
H_DELETE_ALL = 0x93
H_INFO_ACK = 0x94
# H_RECORD arguments
NEXT_RECORD = (0x01, 0x01)
FIRST_RECORD = (0x00, 0x01)
DONE_KEEP = (0x7E, 0x01)
DONE_DELETE = (0x7F, 0x01)


def checksum(data: bytes | bytearray) -> int:
    """Host-message checksum: the sum of the preceding bytes, 7 bits.

    Parameters
    ----------
    data : bytes or bytearray
        Type byte and payload.

    Returns
    -------
    int
        ``sum(data) & 0x7F``.
    """
    return sum(data) & 0x7F


def host_frame(frame_type: int, *payload: int) -> bytes:
    """One host -> device message: type byte, 7-bit payload, checksum.

    Parameters
    ----------
    frame_type : int
        The message type (``H_*``).
    *payload : int
        Payload bytes, each 0-0x7F.

    Returns
    -------
    bytes
        The message as sent.

    Raises
    ------
    ValueError
        When a payload byte has bit 7 set.
    """
    if any(not 0 <= p <= 0x7F for p in payload):
        raise ValueError("host payload bytes are 7-bit")
    body = bytes((frame_type, *payload))
    return body + bytes((checksum(body),))


def device_frame(frame_type: int, payload: bytes) -> bytes:
    """One device -> host message (the simulator's side): type byte then its fixed-length 7-bit payload.

    Parameters
    ----------
    frame_type : int
        The message type (a key of ``PAYLOAD_LEN``).
    payload : bytes
        Its payload, ``PAYLOAD_LEN[frame_type]`` bytes without bit 7.

    Returns
    -------
    bytes
        The message as the device sends it.

    Raises
    ------
    ValueError
        When the payload length or the 7-bit rule is violated.
    """
    if len(payload) != PAYLOAD_LEN[frame_type] or any(b & 0x80 for b in payload):
        raise ValueError("device payload length or 7-bit rule violated")
    return bytes((frame_type,)) + payload


def u14(lo: int, hi: int) -> int:
    """7-bit little-endian pair.

    Parameters
    ----------
    lo, hi : int
        Low and high 7-bit bytes.

    Returns
    -------
    int
        The 14-bit value ``lo | hi << 7``.
    """
    return (lo & 0x7F) | ((hi & 0x7F) << 7)


def split14(value: int) -> tuple[int, int]:
    """A 14-bit value as a 7-bit little-endian pair (the inverse of :func:`u14`).

    Parameters
    ----------
    value : int
        0 to 2**14 - 1.

    Returns
    -------
    tuple of (int, int)
        Low and high 7-bit bytes.

    Raises
    ------
    ValueError
        When ``value`` does not fit 14 bits.
    """
    if not 0 <= value < 1 << 14:
        raise ValueError("value does not fit two 7-bit bytes")
    return value & 0x7F, value >> 7


def encode_curve_frames(time_100us: NDArray[np.int64], flow_ml_s: NDArray[np.int64],
                        volume_ml: NDArray[np.int64]) -> bytes:
    """The 8-byte curve frames of the ``E2`` message (the simulator's side; see the module docstring).

    Parameters
    ----------
    time_100us : ndarray of int
        Time of each frame (0.1 ms units, 24 bits).
    flow_ml_s : ndarray of int
        Flow (mL/s, 16-bit two's complement).
    volume_ml : ndarray of int
        Volume (mL, 16-bit two's complement).

    Returns
    -------
    bytes
        ``8 x n`` bytes, bit 7 of every byte clear.
    """
    n = time_100us.size
    raw = np.zeros((n, 7), dtype=np.int64)
    t = time_100us & 0xFFFFFF
    f = flow_ml_s & 0xFFFF
    v = volume_ml & 0xFFFF
    raw[:, 0], raw[:, 1], raw[:, 2] = t & 0xFF, (t >> 8) & 0xFF, (t >> 16) & 0xFF
    raw[:, 3], raw[:, 4] = f & 0xFF, f >> 8
    raw[:, 5], raw[:, 6] = v & 0xFF, v >> 8
    msb = ((raw >> 7) & 1) << np.arange(7)
    out = np.empty((n, 8), dtype=np.uint8)
    out[:, 0] = msb.sum(axis=1)
    out[:, 1:] = raw & 0x7F
    return out.tobytes()


@dataclass(frozen=True)
class Message:
    frame_type: int
    payload: bytes


@dataclass(frozen=True)
class CurveFrames:
    """Curve frames decoded in one ``feed``. ``index`` counts frames within the record; ``seven_bit_ok`` is False
    for a frame with a byte that had bit 7 set (a corrupted byte)."""

    record: int
    index: NDArray[np.int64]
    time_100us: NDArray[np.int64]
    flow_ml_s: NDArray[np.int64]
    volume_ml: NDArray[np.int64]
    seven_bit_ok: NDArray[np.bool_]


def decode_curve_frames(chunk: bytes, record: int, first_index: int) -> CurveFrames:
    """Decode whole 8-byte curve frames (vectorised).

    Parameters
    ----------
    chunk : bytes
        A multiple of 8 bytes of curve frames.
    record : int
        Record number of the curve.
    first_index : int
        Index of the first frame within the record.

    Returns
    -------
    CurveFrames
        Time (0.1 ms), flow (mL/s), volume (mL) per frame, flagged when a byte had bit 7 set.
    """
    a = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, CURVE_FRAME_LEN).astype(np.int64)
    ok: NDArray[np.bool_] = np.asarray(~(a >= 0x80).any(axis=1), dtype=bool)
    a = a & 0x7F
    data = a[:, 1:] | (((a[:, :1] >> np.arange(7)) & 1) << 7)
    t = data[:, 0] | (data[:, 1] << 8) | (data[:, 2] << 16)
    f = data[:, 3] | (data[:, 4] << 8)
    v = data[:, 5] | (data[:, 6] << 8)
    f = np.where(f >= 0x8000, f - 0x10000, f)
    v = np.where(v >= 0x8000, v - 0x10000, v)
    idx = np.arange(first_index, first_index + a.shape[0], dtype=np.int64)
    return CurveFrames(record, idx, t, f, v, ok)


class ContecDecoder:
    """Incremental parser of device messages: ``feed(bytes) -> list[Message | CurveFrames]``; never blocks.

    Outside a curve, bytes without bit 7 are discarded until a known type byte (resync by one byte); a byte with
    bit 7 inside a payload breaks the message (counted) and starts the next one. Inside a curve, 8-byte frames are
    consumed in place; a frame with a high-bit byte is returned flagged, so the frame count stays aligned.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.counters = CodecCounters()
        self._curve_left = 0
        self._curve_record = 0
        self._curve_index = 0

    @property
    def in_curve(self) -> bool:
        return self._curve_left > 0

    def feed(self, data: bytes) -> list[Message | CurveFrames]:
        """Parse the bytes received so far; an incomplete message waits for the next call.

        Parameters
        ----------
        data : bytes
            Bytes from the transport (any length, any split).

        Returns
        -------
        list of Message or CurveFrames
            The complete messages and curve frames, in order.
        """
        buf = self._buf
        buf += data
        out: list[Message | CurveFrames] = []
        c = self.counters
        pos = 0
        while pos < len(buf):
            if self._curve_left:
                n = min(self._curve_left, (len(buf) - pos) // CURVE_FRAME_LEN)
                if n == 0:
                    break
                frames = decode_curve_frames(bytes(buf[pos:pos + n * CURVE_FRAME_LEN]), self._curve_record,
                                             self._curve_index)
                bad = int((~frames.seven_bit_ok).sum())
                c.frames_ok += n - bad
                c.protocol_errors += bad
                out.append(frames)
                self._curve_index += n
                self._curve_left -= n
                pos += n * CURVE_FRAME_LEN
                continue
            ftype = buf[pos]
            if ftype not in PAYLOAD_LEN:
                c.bytes_discarded += 1
                if ftype & 0x80:
                    c.resyncs += 1
                pos += 1
                continue
            need = PAYLOAD_LEN[ftype]
            if len(buf) - pos - 1 < need:
                broken = next((k for k in range(pos + 1, len(buf)) if buf[k] & 0x80), None)
                if broken is None:
                    break
                c.protocol_errors += 1
                c.resyncs += 1
                c.bytes_discarded += broken - pos
                pos = broken
                continue
            payload = bytes(buf[pos + 1:pos + 1 + need])
            high = next((k for k, b in enumerate(payload) if b & 0x80), None)
            if high is not None:
                c.protocol_errors += 1
                c.resyncs += 1
                c.bytes_discarded += 1 + high
                pos += 1 + high
                continue
            c.frames_ok += 1
            pos += 1 + need
            out.append(Message(ftype, payload))
            if ftype == CURVE:
                self._curve_record = u14(payload[0], payload[1])
                self._curve_left = u14(payload[2], payload[3])
                self._curve_index = 0
        del buf[:pos]
        return out

    def reset(self) -> None:
        """Drop the buffered bytes and leave any curve in progress (after a reconnect); counters are kept.
        """
        self._buf.clear()
        self._curve_left = 0
