"""The toy ECG's bytes (file 2 of 4): commands, the identity line and the sample frames, as a pure incremental
decoder (``feed(bytes)``: no I/O, no clock; partial frames wait for the next call, garbage is skipped and counted).

Host -> device: ``?`` identify, ``S`` start streaming, ``X`` stop. Device -> host: ``TOYECG;<serial>;<rate>\\n``
once for ``?``; then frames of 20 bytes: 0xA5, sequence (u16 LE), 8 samples (i16 LE, 1 µV/LSB, channels I, II,
V1-V6), XOR of the 19 previous bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.framing import CodecCounters
from asalee_devices.errors import ProtocolError

IDENTIFY, START, STOP = b"?", b"S", b"X"
CHANNELS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
RESOLUTION_UV = 1.0
SYNC = 0xA5
FRAME = struct.Struct("<BH8h")
FRAME_BYTES = FRAME.size + 1


def encode_frame(seq: int, samples: list[int]) -> bytes:
    body = FRAME.pack(SYNC, seq & 0xFFFF, *samples)
    return body + bytes([reduce(lambda a, b: a ^ b, body, 0)])


def parse_identity(line: bytes) -> tuple[str, int]:
    """Serial number and sampling rate from the identity line."""
    parts = line.strip().split(b";")
    if len(parts) != 3 or parts[0] != b"TOYECG" or not parts[2].isdigit():
        raise ProtocolError("Not a toy ECG identity line", field="identity", value=line[:40],
                            expected="TOYECG;<serial>;<rate>")
    return parts[1].decode("ascii", "replace"), int(parts[2])


@dataclass
class Batch:
    seq: NDArray[np.int64]
    counts: NDArray[np.float64]  # (n, 8)

    @property
    def n(self) -> int:
        return int(self.seq.size)


@dataclass
class Decoder:
    counters: CodecCounters = field(default_factory=CodecCounters)
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> Batch:
        buf = self._buf
        buf += data
        seqs: list[int] = []
        rows: list[tuple[int, ...]] = []
        i = 0
        while len(buf) - i >= FRAME_BYTES:
            if buf[i] != SYNC:
                i += 1
                self.counters.bytes_discarded += 1
                continue
            frame = bytes(buf[i:i + FRAME_BYTES])
            if reduce(lambda a, b: a ^ b, frame[:-1], 0) != frame[-1]:
                self.counters.crc_errors += 1
                self.counters.resyncs += 1
                i += 1
                continue
            _, seq, *samples = FRAME.unpack(frame[:-1])
            seqs.append(seq)
            rows.append(tuple(samples))
            self.counters.frames_ok += 1
            i += FRAME_BYTES
        del buf[:i]
        return Batch(np.array(seqs, dtype=np.int64),
                     np.array(rows, dtype=np.float64).reshape(-1, len(CHANNELS)))
