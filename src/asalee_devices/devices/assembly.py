"""Assembling a live take: frames placed by their wrapping sequence counter (lost frames stay NaN, duplicates are
dropped), live blocks published to subscribers as samples become ready, the read pacing, and the streaming loop
(start, poll with a quiet-time watchdog, stop) every streaming session runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from asalee_devices.devices.session import LiveBlock, SessionOptions, SessionState, TakeReason, start_failure
from asalee_devices.errors import DeviceDisconnectedError, DeviceError


def gaps_from_mask(filled: NDArray[np.bool_]) -> tuple[tuple[int, int], ...]:
    """Runs of False as (start, stop) sample ranges."""
    missing = np.concatenate(([False], ~filled, [False])).astype(np.int8)
    edges = np.diff(missing)
    return tuple(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


class SequencedTake:
    """A preallocated take of ``n_target`` samples x ``n_channels``; frames land at their sequence position."""

    def __init__(self, n_target: int, n_channels: int, *, modulo: int = 0x10000) -> None:
        self.n_target = n_target
        self.values = np.full((n_target, n_channels), np.nan)
        self.flags = np.zeros((n_target, n_channels), dtype=bool)
        self.filled = np.zeros(n_target, dtype=bool)
        self.modulo = modulo
        self.first_seq: int | None = None
        self._prev = 0
        self.last_idx = -1

    @property
    def n_received(self) -> int:
        """Samples up to the newest frame (including lost ones in between)."""
        return self.last_idx + 1

    @property
    def complete(self) -> bool:
        return self.last_idx + 1 >= self.n_target

    def place(self, seq: NDArray[np.int64], values: NDArray[np.floating[Any]],
              flags: NDArray[np.bool_] | None = None) -> None:
        if seq.size == 0:
            return
        if self.first_seq is None:
            self.first_seq = int(seq[0])
            self._prev = (self.first_seq - 1) % self.modulo
        steps = np.diff(np.concatenate(([self._prev], seq))) % self.modulo
        idx_all = self.last_idx + np.cumsum(steps)
        keep = (steps > 0) & (idx_all < self.n_target)  # a repeated sequence number is a duplicate frame
        idx = idx_all[keep]
        if idx.size:
            self.values[idx] = values[keep]
            if flags is not None:
                self.flags[idx] = flags[keep]
            self.filled[idx] = True
        # a frame past the end proves the last planned samples are lost, not late
        self.last_idx = min(int(idx_all[-1]), self.n_target - 1)
        self._prev = int(seq[-1])

    def gaps(self, n: int) -> tuple[tuple[int, int], ...]:
        return gaps_from_mask(self.filled[:n])


class LivePublisher:
    """Hands ready samples to subscribers: everything ready once ``block_s`` of signal accumulated (or waited
    ``block_s`` of host time), split evenly so no block exceeds 100 ms of signal."""

    def __init__(self, publish: Callable[[LiveBlock], None], take_no: int, fs_hz: float,
                 channels: tuple[str, ...], block_s: float, device_t0_s: Callable[[], float]) -> None:
        self._publish = publish
        self.take_no, self.fs, self.channels = take_no, fs_hz, channels
        self.block_n = max(1, int(round(block_s * fs_hz)))
        self.max_block_n = max(self.block_n, int(0.1 * fs_hz))
        self.block_s = block_s
        self._device_t0 = device_t0_s
        self.published = 0
        self.pending_rx: float | None = None

    def received(self, now: float) -> None:
        if self.pending_rx is None:
            self.pending_rx = now

    def offer(self, take: SequencedTake, now: float, *, final: bool = False) -> None:
        ready = take.n_received - self.published
        if ready <= 0:
            return
        waited = self.pending_rx is not None and now - self.pending_rx >= self.block_s
        if not (final or ready >= self.block_n or waited):
            return
        rx = self.pending_rx if self.pending_rx is not None else now
        parts = -(-ready // self.max_block_n)
        for k in range(parts):
            lo = self.published + ready * k // parts
            hi = self.published + ready * (k + 1) // parts
            self._publish(LiveBlock(self.take_no, lo, self.fs, self.channels, take.values[lo:hi].T.copy(),
                                    self._device_t0() + lo / self.fs, rx, time.monotonic()))
        self.published += ready
        self.pending_rx = None


class ReadPacer:
    """Coalesces reads: two per live block are enough, and each read has a fixed cost."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next = 0.0

    def wait(self) -> None:
        pause = self._next - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._next = time.monotonic() + self.interval_s


def stream_take(options: SessionOptions, set_state: Callable[[SessionState], None], *, start: Callable[[], None],
                poll: Callable[[], bool], tick: Callable[[float, bool], bool]) -> TakeReason:
    """Start the stream, then poll it (two reads per live block) until ``tick`` says the take is finished, the link
    is lost (``UNPLUGGED``) or nothing arrived for ``options.quiet_time_s`` (``STALLED``).

    ``poll()`` reads once and places what came (True when samples arrived; raises
    :class:`DeviceDisconnectedError` when the link is gone); ``tick(now, arrived)`` publishes what is ready and
    returns True once the take is complete. Returns ``TakeReason.NONE`` when the take ran to its end (the caller
    then stops the stream with :func:`stop_quietly`)."""
    reason = TakeReason.NONE
    try:
        start()
    except DeviceError as exc:
        reason = start_failure(exc)
    set_state(SessionState.ACQUIRING)
    pacer = ReadPacer(options.block_s / 2)
    last_rx = time.monotonic()
    while reason is TakeReason.NONE:
        pacer.wait()
        try:
            arrived = poll()
        except DeviceDisconnectedError:
            return TakeReason.UNPLUGGED
        now = time.monotonic()
        if arrived:
            last_rx = now
        elif now - last_rx > options.quiet_time_s:
            return TakeReason.STALLED
        if tick(now, arrived):
            break
    return reason


def stop_quietly(stop: Callable[[], None]) -> None:
    """Stop a stream that ran to its end; a device that does not acknowledge the stop loses nothing."""
    try:
        stop()
    except DeviceError:
        pass
