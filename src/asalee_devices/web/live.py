"""Live blocks and events from the device threads to every open WebSocket, in order, without blocking the device.

Device sessions publish :class:`LiveBlock`s from their acquisition thread; :meth:`LiveHub.block_subscriber` turns
each block into one JSON text (encoded in the device thread) and hands it to the event loop. Each WebSocket has
its own queue; a client too slow to keep up is dropped (it reconnects and resumes), never the acquisition.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from asalee_devices.devices.session import LiveBlock
from asalee_devices.web.errors import dumps

#: monotonic -> wall clock (ms), fixed at import: blocks carry wall-clock times the browser can compare with its own
_WALL_OFFSET_S = time.time() - time.monotonic()
QUEUE_MAX = 2000
CLOSE = "\x00close"  # queued in place of the backlog of a client that fell behind


def wall_ms(monotonic_s: float) -> float:
    return (monotonic_s + _WALL_OFFSET_S) * 1000.0


def limb_leads_12(channels: tuple[str, ...], x: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Derive III, aVR, aVL, aVF from I and II (Einthoven/Goldberger) for the 12-lead live view."""
    if "I" not in channels or "II" not in channels or "III" in channels:
        return channels, x
    i, ii = x[channels.index("I")], x[channels.index("II")]
    derived = np.vstack((ii - i, -(i + ii) / 2.0, i - ii / 2.0, ii - i / 2.0))
    rest = [k for k, c in enumerate(channels) if c not in ("I", "II")]
    names = ("I", "II", "III", "aVR", "aVL", "aVF", *(channels[k] for k in rest))
    return names, np.vstack((i, ii, derived, x[rest]))


def _round(x: np.ndarray, digits: int) -> list[list[float | None]]:
    r = np.round(x, digits)
    return [[None if not math.isfinite(v) else (int(v) if digits == 0 else float(v)) for v in row.tolist()]
            for row in r]


#: live lead check: judged on the last second, every half second of signal
LIVE_WINDOW_S = 1.0
LIVE_EVERY_S = 0.5
#: a lead sitting beyond any ECG amplitude (100 mV) is an amplifier railed by an electrode off
RAILED_UV = 100_000.0


class LiveLeadCheck:
    """Per-lead technical check while the ECG is being recorded (the nurse fixes an electrode during the 10 s, not
    after): on the last second of each lead, an electrode off (samples missing - the quality analysis's
    LEAD_OFF_FRACTION - or the amplifier railed) and a flat lead (peak-to-peak below FLAT_PP_UV), with the electrode
    inferred as the final analysis does. The capture's own analysis stays the verdict; this is a live hint."""

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = fs_hz
        self.window = max(2, int(round(LIVE_WINDOW_S * fs_hz)))
        self.every = max(1, int(round(LIVE_EVERY_S * fs_hz)))
        self.buf: np.ndarray | None = None
        self.names: tuple[str, ...] = ()
        self.stored: tuple[str, ...] = ()
        self.seen = 0
        self.next_check = self.window

    def add(self, stored: tuple[str, ...], names: tuple[str, ...], x: np.ndarray) -> list[dict[str, Any]] | None:
        """Append one block (12-lead ``x``); the leads' state when a check is due, else None."""
        if self.buf is None or names != self.names:
            self.names, self.stored = names, stored
            self.buf = np.full((len(names), self.window), np.nan)
        n = x.shape[1]
        if n >= self.window:
            self.buf = np.array(x[:, -self.window:], dtype=np.float64)
        else:
            self.buf = np.concatenate((self.buf[:, n:], x), axis=1)
        self.seen += n
        if self.seen < self.next_check:
            return None
        self.next_check = self.seen + self.every
        return self.leads()

    def leads(self) -> list[dict[str, Any]]:
        from asalee_devices.signal.ecg.quality import FLAT_PP_UV, LEAD_OFF_FRACTION, infer_electrodes

        assert self.buf is not None
        codes: dict[str, str] = {}
        for name, row in zip(self.names, self.buf, strict=True):
            good = row[np.isfinite(row)]
            if 1.0 - good.size / row.size > LEAD_OFF_FRACTION or (good.size and abs(float(np.median(good))) > RAILED_UV):
                codes[name] = "lead_off"
            elif good.size and float(np.percentile(good, 99) - np.percentile(good, 1)) < FLAT_PP_UV:
                codes[name] = "flat"
        off = {k for k, c in codes.items() if c == "lead_off"}
        electrodes = list(infer_electrodes(off, self.stored, self.names)) if off else []
        return [{"lead": k, "ok": k not in codes, "code": codes.get(k),
                 "electrodes": electrodes if codes.get(k) == "lead_off" else []} for k in self.names]


class LiveHub:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queues: set[asyncio.Queue[str]] = set()
        self.sent = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def add(self) -> asyncio.Queue[str]:
        q: asyncio.Queue[str] = asyncio.Queue(QUEUE_MAX)
        self.queues.add(q)
        return q

    def remove(self, q: asyncio.Queue[str]) -> None:
        self.queues.discard(q)

    def _fanout(self, text: str) -> None:
        for q in list(self.queues):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # too slow: close it (the page reconnects and reloads the state)
                self.queues.discard(q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(CLOSE)
        self.sent += 1

    def publish(self, message: dict[str, Any]) -> None:
        """Thread-safe: queue one JSON message for every client."""
        text = dumps(message)
        if self.loop is None:
            return
        try:
            self.loop.call_soon_threadsafe(self._fanout, text)
        except RuntimeError:  # loop closed (server shutting down)
            pass

    def block_subscriber(self, kind: str, exam_id: str, take_offset: int = 0) -> Callable[[LiveBlock], None]:
        """A device-session subscriber publishing each block (ECG in µV as integers, flow in L/s to 1 mL/s)."""
        checks: dict[int, LiveLeadCheck] = {}

        def on_block(b: LiveBlock) -> None:
            channels, x = b.channels, b.samples
            if kind == "ecg":
                channels, x = limb_leads_12(channels, x)
            take = b.take + take_offset
            self.publish({"t": "block", "kind": kind, "exam": exam_id, "take": take,
                          "i0": b.first_index, "n": int(x.shape[1]), "fs": b.fs_hz, "ch": list(channels),
                          "s": _round(x, 0 if kind == "ecg" else 3), "dev_s": b.device_time_s,
                          "rx": wall_ms(b.host_received_monotonic_s), "pub": wall_ms(b.host_published_monotonic_s)})
            if kind == "ecg":  # live per-lead badges during the capture
                check = checks.setdefault(take, LiveLeadCheck(b.fs_hz))
                leads = check.add(b.channels, channels, x)
                if leads is not None:
                    self.publish({"t": "leads", "exam": exam_id, "take": take, "i": b.first_index + int(x.shape[1]),
                                  "leads": leads})
        return on_block
