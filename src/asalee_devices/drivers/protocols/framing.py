"""Shared pieces of the incremental framers: counters and CRC-16."""

from __future__ import annotations

import binascii
from dataclasses import dataclass


def crc16_ccitt(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection): check value 0x29B1 for b"123456789"."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass
class CodecCounters:
    """What a framer saw: good frames, checksum failures, resynchronisations and bytes thrown away."""

    frames_ok: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    bytes_discarded: int = 0
    protocol_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"frames_ok": self.frames_ok, "crc_errors": self.crc_errors, "resyncs": self.resyncs,
                "bytes_discarded": self.bytes_discarded, "protocol_errors": self.protocol_errors}
