"""Fault injection on the device -> host byte stream: corrupted bytes, dropped bytes, a stall, an unplug.

Deterministic with a seed. Offsets count the device's output bytes before injection (so a test can tell which
frames were hit). Faults start after ``start_after_bytes`` so the handshake normally gets through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FaultPlan:
    corrupt_rate: float = 0.0
    drop_rate: float = 0.0
    stall_after_bytes: int | None = None
    stall_s: float = 0.0
    unplug_after_bytes: int | None = None
    start_after_bytes: int = 256
    seed: int = 0


@dataclass
class FaultInjector:
    """Applies a :class:`FaultPlan`; one injector lives across reconnections (a stall or unplug happens once)."""

    plan: FaultPlan
    offset: int = 0
    corrupted_offsets: list[int] = field(default_factory=list)
    dropped_offsets: list[int] = field(default_factory=list)
    stall_pending: bool = True
    unplugged: bool = False

    def __post_init__(self) -> None:
        # separate streams so positions depend only on the byte offset, not on how the stream was chunked
        seeds = np.random.SeedSequence(self.plan.seed).spawn(3)
        self._pos_rng, self._val_rng, self._drop_rng = (np.random.default_rng(s) for s in seeds)

    def process(self, data: bytes) -> tuple[bytes, float, bool]:
        """Returns (bytes to send, stall seconds to wait before sending them, unplug now)."""
        p = self.plan
        n = len(data)
        start = self.offset
        self.offset += n
        stall = 0.0
        unplug = False
        if p.unplug_after_bytes is not None and self.offset > p.unplug_after_bytes and not self.unplugged:
            keep = max(0, p.unplug_after_bytes - start)
            data, n = data[:keep], keep
            self.unplugged = unplug = True
        if (p.stall_after_bytes is not None and self.stall_pending and self.offset > p.stall_after_bytes):
            self.stall_pending = False
            stall = p.stall_s
        if n == 0 or (p.corrupt_rate <= 0 and p.drop_rate <= 0):
            return data, stall, unplug
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        eligible = (np.arange(start, start + n) >= p.start_after_bytes)
        if p.corrupt_rate > 0:
            hit = (self._pos_rng.random(n) < p.corrupt_rate) & eligible
            idx = np.nonzero(hit)[0]
            arr[idx] ^= self._val_rng.integers(1, 256, idx.size).astype(np.uint8)
            self.corrupted_offsets.extend((start + idx).tolist())
        keep_mask = np.ones(n, dtype=bool)
        if p.drop_rate > 0:
            drop = (self._drop_rng.random(n) < p.drop_rate) & eligible
            keep_mask &= ~drop
            self.dropped_offsets.extend((start + np.nonzero(drop)[0]).tolist())
        return arr[keep_mask].tobytes(), stall, unplug
