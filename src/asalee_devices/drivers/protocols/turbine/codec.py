"""Turbine USB protocol (ours; docs/protocols.md).

Interrupt IN endpoint 0x81, packets of whole 16-byte frames: ``54 B7 | seq u16 | timestamp µs u32 | pulses u16 |
direction i8 | status u8 | reserved u16 | CRC-16/CCITT-FALSE u16`` (little-endian, CRC over bytes 0-13).
Vendor control requests (bmRequestType 0xC0 IN / 0x40 OUT): IDENTIFY 0x01 (IN), START 0x02, STOP 0x03, ZERO 0x04.
IDENTIFY payload: version u8, rate Hz u16, nominal nL per pulse u32, n table points u8, then n x (flow in cL/s u16,
correction x 10000 u16): the pulse-to-volume linearisation.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.framing import CodecCounters, crc16_ccitt

MAGIC = b"\x54\xb7"
FRAME_LEN = 16
REQ_IDENTIFY = 0x01
REQ_START = 0x02
REQ_STOP = 0x03
REQ_ZERO = 0x04
VENDOR_IN = 0xC0
VENDOR_OUT = 0x40
IN_ENDPOINT = 0x81
PACKET_SIZE = 64
PROTOCOL_VERSION = 1
STATUS_TURBINE_PRESENT = 0x01
STATUS_OVERFLOW = 0x02
_STRUCT = struct.Struct("<2sHIHbBH")


def encode_frame(seq: int, timestamp_us: int, pulses: int, direction: int, status: int) -> bytes:
    """One 16-byte data frame (the simulator's side; see the module docstring).

    Parameters
    ----------
    seq : int
        Frame sequence number (16 bits, wraps).
    timestamp_us : int
        Device time (µs, 32 bits, wraps).
    pulses : int
        Turbine pulses counted in the frame's period.
    direction : int
        +1 exhaled, -1 inhaled, 0 still.
    status : int
        Status bits.

    Returns
    -------
    bytes
        The frame with its CRC-16/CCITT-FALSE (little-endian).
    """
    body = _STRUCT.pack(MAGIC, seq & 0xFFFF, timestamp_us & 0xFFFFFFFF, pulses, direction, status, 0)
    return body + crc16_ccitt(body).to_bytes(2, "little")


@dataclass(frozen=True)
class TurbineFrames:
    seq: NDArray[np.int64]
    timestamp_us: NDArray[np.int64]
    pulses: NDArray[np.int64]
    direction: NDArray[np.int64]
    status: NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.seq.size)


class TurbineDecoder:
    """Incremental framer; resynchronises by one byte on a bad CRC."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.counters = CodecCounters()

    def drop_partial(self) -> int:
        """Forget the bytes of an incomplete frame (before a new take).

        Returns
        -------
        int
            How many buffered bytes were dropped (0 when the decoder was at a frame boundary).
        """
        n = len(self._buf)
        self._buf.clear()
        return n

    def feed(self, data: bytes) -> TurbineFrames:
        """Parse the bytes received so far into whole frames; a bad magic or CRC advances one byte (counted).

        Parameters
        ----------
        data : bytes
            Bytes from the interrupt endpoint (any length, any split).

        Returns
        -------
        TurbineFrames
            Sequence, timestamp (µs), pulses, direction and status arrays, one row per frame.
        """
        buf = self._buf
        buf += data
        rows: list[tuple[int, int, int, int, int]] = []
        pos = 0
        c = self.counters
        while True:
            k = buf.find(MAGIC, pos)
            if k < 0:
                keep = 1 if buf and buf[-1] == MAGIC[0] else 0
                c.bytes_discarded += len(buf) - pos - keep
                pos = len(buf) - keep
                break
            c.bytes_discarded += k - pos
            pos = k
            if len(buf) - pos < FRAME_LEN:
                break
            frame = bytes(buf[pos:pos + FRAME_LEN])
            if crc16_ccitt(frame[:14]) != int.from_bytes(frame[14:], "little"):
                c.crc_errors += 1
                c.resyncs += 1
                c.bytes_discarded += 1
                pos += 1
                continue
            _, seq, ts, pulses, direction, status, _ = _STRUCT.unpack(frame[:14])
            if direction not in (-1, 0, 1):
                c.protocol_errors += 1
            else:
                rows.append((seq, ts, pulses, direction, status))
                c.frames_ok += 1
            pos += FRAME_LEN
        del buf[:pos]
        a = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
        return TurbineFrames(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


@dataclass(frozen=True)
class TurbineIdentify:
    version: int
    rate_hz: int
    nl_per_pulse: int
    table_flow_l_s: tuple[float, ...]
    table_correction: tuple[float, ...]


def encode_identify(info: TurbineIdentify) -> bytes:
    """The IDENTIFY payload (the simulator's side): version, rate, nL per pulse, then the linearisation table.

    Parameters
    ----------
    info : TurbineIdentify
        Version, rate (Hz), volume per pulse (nL) and table (flow in L/s, correction factor).

    Returns
    -------
    bytes
        The payload (flows in cL/s, corrections x 10000).
    """
    out = bytearray(struct.pack("<BHIB", info.version, info.rate_hz, info.nl_per_pulse, len(info.table_flow_l_s)))
    for f, k in zip(info.table_flow_l_s, info.table_correction, strict=True):
        out += struct.pack("<HH", int(round(f * 100)), int(round(k * 10000)))
    return bytes(out)


class IdentifyFieldError(ValueError):
    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(field)
        self.field, self.value, self.expected = field, value, expected


def decode_identify(data: bytes) -> TurbineIdentify:
    """Parse and validate the IDENTIFY payload.

    Parameters
    ----------
    data : bytes
        The control-transfer payload.

    Returns
    -------
    TurbineIdentify
        Version, rate (Hz), volume per pulse (nL) and the linearisation table (L/s, factor).

    Raises
    ------
    IdentifyFieldError
        Naming the field that is truncated or out of range (version, rate 100-1000 Hz, 10 000-10 000 000 nL per
        pulse, 2-16 increasing table points with corrections 0.5-2.0).
    """
    if len(data) < 8:
        raise IdentifyFieldError("identify length", len(data), ">= 8 bytes")
    version, rate, nl, n = struct.unpack_from("<BHIB", data)
    if version != PROTOCOL_VERSION:
        raise IdentifyFieldError("protocol version", version, str(PROTOCOL_VERSION))
    if not 100 <= rate <= 1000:
        raise IdentifyFieldError("sampling rate", rate, "100-1000 Hz")
    if not 10_000 <= nl <= 10_000_000:
        raise IdentifyFieldError("volume per pulse", nl, "10 000-10 000 000 nL")
    if not 2 <= n <= 16 or len(data) < 8 + 4 * n:
        raise IdentifyFieldError("linearisation points", n, "2-16 points present")
    pts = [struct.unpack_from("<HH", data, 8 + 4 * i) for i in range(n)]
    flows = tuple(p[0] / 100 for p in pts)
    ks = tuple(p[1] / 10000 for p in pts)
    if any(b <= a for a, b in zip(flows, flows[1:], strict=False)) or not all(0.5 <= k <= 2.0 for k in ks):
        raise IdentifyFieldError("linearisation table", list(zip(flows, ks, strict=True)),
                                 "increasing flows and corrections 0.5-2.0")
    return TurbineIdentify(version, rate, nl, flows, ks)


def pulses_to_flow(pulses: NDArray[np.int64], direction: NDArray[np.int64], info: TurbineIdentify
                   ) -> NDArray[np.float64]:
    """Linearised flow (L/s): raw = pulses x volume-per-pulse / period, corrected by the table at |raw|
    (turbines under-read at low flow), signed by the direction (exhaled positive).

    Parameters
    ----------
    pulses : ndarray of int
        Pulses per frame.
    direction : ndarray of int
        Direction per frame (+1 exhaled, -1 inhaled).
    info : TurbineIdentify
        The device's rate (Hz), volume per pulse (nL) and linearisation table.

    Returns
    -------
    ndarray of float
        Flow per frame (L/s, exhaled positive).
    """
    raw = pulses * (info.nl_per_pulse * 1e-9) * info.rate_hz
    k = np.interp(raw, info.table_flow_l_s, info.table_correction)
    return np.asarray(raw * k * direction, dtype=np.float64)
