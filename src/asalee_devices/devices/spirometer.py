"""The spirometer session (Contec download protocol): negotiate, download every stored manoeuvre as a
:class:`FlowRecording` with the device's identity and the device's own test time (host receive time kept apart),
with a quiet-time watchdog and reconnection that restarts the download transaction. Records are deleted on the
device only when the caller's ``store`` callback confirmed every record was persisted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

from asalee_devices.devices.assembly import gaps_from_mask
from asalee_devices.devices.session import (
    DeviceSession,
    LinkEnd,
    LiveBlock,
    SessionState,
    TakeInfo,
    TakeReason,
    TakeStatus,
)
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.protocols.contec_spiro import codec
from asalee_devices.drivers.protocols.contec_spiro.driver import (
    MAX_CURVE_FRAMES,
    ContecDriver,
    ContecInfo,
    RecordSummary,
    plausible_frames,
)
from asalee_devices.drivers.transports.base import Transport
from asalee_devices.errors import DeviceDisconnectedError, DeviceTimeoutError, ProtocolError
from asalee_devices.signal.spirometry.recording import BtpsCorrection, FlowRecording


@dataclass(frozen=True)
class FlowTake:
    recording: FlowRecording
    identity: DeviceIdentity
    summary: RecordSummary  # record number, device-clock test time, the device's own FVC/FEV1/PEF
    info: TakeInfo
    time_step_100us: int = 0


@dataclass(frozen=True)
class SpiroDownload:
    takes: tuple[FlowTake, ...]
    deleted_on_device: bool = False
    record_count: int = 0
    #: protocol errors met during the download (each ended a transaction; the session reconnected)
    errors: tuple[str, ...] = ()

    @property
    def complete(self) -> tuple[FlowTake, ...]:
        return tuple(t for t in self.takes if t.info.status == "done")


@dataclass
class _Curve:
    summary: RecordSummary
    n_frames: int
    index: list[np.ndarray] = field(default_factory=list)
    time: list[np.ndarray] = field(default_factory=list)
    flow: list[np.ndarray] = field(default_factory=list)
    volume: list[np.ndarray] = field(default_factory=list)
    ok: list[np.ndarray] = field(default_factory=list)
    received: int = 0


class Interrupted(Exception):
    """Ends one download transaction (control flow inside this module)."""

    def __init__(self, reason: TakeReason, detail: str = "") -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.detail = detail


L = TypeVar("L")
#: persists one downloaded record; True once it is safely kept (the device may then delete it)
Store = Callable[[FlowTake], bool]


class StoredFlowSession(DeviceSession[L]):
    """What spirometry needs from a spirometer that stores blows: ``download(store=...)`` giving every stored
    manoeuvre as a :class:`FlowTake`. A driver's session derives from it and writes the negotiation and
    :meth:`_download_on` (one download transaction on one connection)."""

    def _download_on(self, link: L, takes: list[FlowTake], state: DownloadState, store: Store | None) -> bool:
        """Download every record on ``link`` into ``takes`` (those in ``state.done_keys`` are not appended
        again); True when the device confirmed deleting them. Raises :class:`Interrupted` to end the
        transaction early (the session reconnects)."""
        raise NotImplementedError

    def _record_count(self, link: L) -> int:
        """How many records the device said it holds."""
        raise NotImplementedError

    def download(self, store: Store | None = None) -> SpiroDownload:
        """Download every record. With ``store``, each complete record is handed to it; when it returned True for
        every record of the device, the records are deleted on the device ("finish and delete"), otherwise kept."""
        takes: list[FlowTake] = []
        state = DownloadState()

        def work(link: L) -> LinkEnd:
            try:
                state.deleted = self._download_on(link, takes, state, store)
            except Interrupted as exc:
                return LinkEnd(TakeStatus.INTERRUPTED, exc.reason, exc.detail)
            return LinkEnd(TakeStatus.DONE)

        ends = self._acquire(work)
        errors = tuple(f"{e.reason}: {e.detail}" for e in ends if e.reason is TakeReason.PROTOCOL_ERROR)
        link = self._link
        return SpiroDownload(tuple(takes), state.deleted, self._record_count(link) if link is not None else 0,
                             errors)


@dataclass
class DownloadState:
    """What survives a reconnection within one download: records complete (never appended twice), stored."""

    done_keys: set[tuple[int, datetime]] = field(default_factory=set)
    stored: set[tuple[int, datetime]] = field(default_factory=set)
    deleted: bool = False


class Spirometer(StoredFlowSession[tuple[ContecDriver, ContecInfo]]):
    """A spirometer session (Contec download protocol). ``download()`` fetches every stored manoeuvre."""

    def _negotiate(self, transport: Transport) -> tuple[ContecDriver, ContecInfo]:
        driver = ContecDriver(transport, reply_timeout_s=min(1.0, self.options.quiet_time_s))
        return driver, driver.negotiate()

    def _identity_of(self, link: tuple[ContecDriver, ContecInfo]) -> DeviceIdentity:
        return link[1].identity

    def _record_count(self, link: tuple[ContecDriver, ContecInfo]) -> int:
        return link[1].record_count

    def _download_on(self, link: tuple[ContecDriver, ContecInfo], takes: list[FlowTake], state: DownloadState,
                     store: Store | None) -> bool:
        driver, info = link
        return self._transaction(driver, info, takes, state.done_keys, state.stored, store)

    def _transaction(self, driver: ContecDriver, info: ContecInfo, takes: list[FlowTake],
                     done_keys: set[tuple[int, datetime]], stored: set[tuple[int, datetime]],
                     store: Store | None) -> bool:
        life = self._life
        if info.record_count == 0:
            return False
        life.set_state(SessionState.ACQUIRING)
        try:
            for k in range(info.record_count):
                driver.send(codec.H_RECORD, *(codec.FIRST_RECORD if k == 0 else codec.NEXT_RECORD))
                summary = driver.parse_summary(driver.expect(codec.RECORD_SUMMARY).payload)
                key = (summary.number, summary.taken_at)
                driver.send(codec.H_SUMMARY_ACK, 0)
                take = self._curve(driver, info, summary, len(takes))
                if key in done_keys:
                    continue  # downloaded completely before a reconnection: never duplicated
                takes.append(take)
                if take.info.status == "done":
                    done_keys.add(key)
                    if store is not None and store(take):
                        stored.add(key)
                if take.info.status != "done":
                    raise Interrupted(take.info.reason)
        except DeviceDisconnectedError:
            raise Interrupted(TakeReason.UNPLUGGED) from None
        except DeviceTimeoutError:
            raise Interrupted(TakeReason.STALLED) from None
        except ProtocolError as exc:
            raise Interrupted(TakeReason.PROTOCOL_ERROR, str(exc)) from None
        delete = store is not None and len(stored) == info.record_count
        try:
            driver.send(codec.H_RECORD, *(codec.DONE_DELETE if delete else codec.DONE_KEEP))
            if delete:
                result = driver.expect(codec.DELETE_RESULT)
                return result.payload[0] == 0
        except (DeviceDisconnectedError, DeviceTimeoutError):
            return False
        return False

    def _curve(self, driver: ContecDriver, info: ContecInfo, summary: RecordSummary, take_no: int) -> FlowTake:
        opts = self.options
        host_start = datetime.now(UTC)
        header = driver.expect(codec.CURVE, timeout_s=opts.quiet_time_s)
        n = codec.u14(header.payload[2], header.payload[3])
        if n > MAX_CURVE_FRAMES:
            raise driver._error("impossible curve length", "frame count", n, f"<= {MAX_CURVE_FRAMES}")
        cur = _Curve(summary, n)
        reason = TakeReason.NONE
        last_rx = time.monotonic()
        published = 0
        while cur.received < n:
            try:
                items = driver.poll(opts.poll_s)
            except DeviceDisconnectedError:
                reason = TakeReason.UNPLUGGED
                break
            now = time.monotonic()
            got = [it for it in items if isinstance(it, codec.CurveFrames)]
            if not got:
                if now - last_rx > opts.quiet_time_s:
                    reason = TakeReason.STALLED
                    break
                continue
            last_rx = now
            for fr in got:
                cur.index.append(fr.index)
                cur.time.append(fr.time_100us)
                cur.flow.append(fr.flow_ml_s)
                cur.volume.append(fr.volume_ml)
                cur.ok.append(fr.seven_bit_ok)
                cur.received += fr.index.size
            ready = cur.received - published
            if self._life.subscribers and ready > 0:
                flow = np.concatenate(cur.flow)[published:].astype(np.float64) / 1000.0
                times = np.concatenate(cur.time)
                step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
                fs = 10_000.0 / step if step > 0 else 100.0
                block_n = max(1, int(round(opts.block_s * fs)))
                if ready >= block_n or cur.received >= n:
                    # a download arrives faster than real time: blocks of at most 100 ms of signal
                    parts = -(-ready // max(block_n, int(0.1 * fs)))
                    for k in range(parts):
                        lo, hi = ready * k // parts, ready * (k + 1) // parts
                        self._life.publish(LiveBlock(take_no, published + lo, fs, ("flow",), flow[None, lo:hi],
                                                     float(times[published + lo]) / 10_000.0, now,
                                                     time.monotonic()))
                    published = cur.received
        return self._assemble(cur, info, reason, host_start, driver)

    def _assemble(self, cur: _Curve, info: ContecInfo, reason: TakeReason, host_start: datetime,
                  driver: ContecDriver) -> FlowTake:
        m = cur.received
        if m:
            idx = np.concatenate(cur.index)
            t, f, v = np.concatenate(cur.time), np.concatenate(cur.flow), np.concatenate(cur.volume)
            valid, step = plausible_frames(idx, t, f, v, np.concatenate(cur.ok))
        else:
            idx = t = f = v = np.zeros(0, dtype=np.int64)
            valid, step = np.zeros(0, dtype=bool), 0
        counters = driver.decoder.counters.as_dict()
        counters["implausible_frames"] = int(m - valid.sum())
        self.counters = counters
        length = cur.n_frames if not reason else m
        flow = np.full(length, np.nan)
        vol = np.full(length, np.nan)
        flow[idx[valid]] = f[valid] / 1000.0
        vol[idx[valid]] = v[valid] / 1000.0
        filled = np.zeros(length, dtype=bool)
        filled[idx[valid]] = True
        fs = 10_000.0 / step if step else 100.0
        status = TakeStatus.INTERRUPTED if reason else TakeStatus.DONE
        rec = FlowRecording(flow, fs, btps=BtpsCorrection(source="none"), interrupted=bool(reason),
                            gaps=gaps_from_mask(filled), device_volume_l=vol)
        t0 = float(t[valid][0] - idx[valid][0] * step) / 10_000.0 if valid.any() else 0.0
        take_info = TakeInfo(status, reason, host_start, datetime.now(UTC), t0, counters)
        return FlowTake(rec, info.identity, cur.summary, take_info, step)
