"""Durable outbox (SQLite, WAL journal, synchronous=FULL) between the pipeline and the network sinks.

An examination is persisted (its bundle and PDF) before any send. States: ``pending`` -> ``sent`` (committed just
before the network call) -> ``acknowledged`` | ``failed`` (with the reason). A message found ``sent`` after a
crash was maybe received, maybe not: it is sent again (at-least-once); the receiver's conditional create on the
business identifiers makes that effectively once. Transient failures go back to ``pending`` with exponential
backoff and full jitter (:mod:`asalee_devices.backoff`, the policy device reconnects use too) (or the peer's Retry-After, capped at ``retry_after_cap_s``) until exactly ``max_attempts``
tries (a message is never sent once it has used them, even after a crash left it ``sent``); rejections fail at once.
Any exception a sink lets out is recorded on its message as a transient failure (logged with its traceback), and
the pass goes on with the next message: one bad message or one odd peer reply never blocks the others.

Only ids, states and technical reasons are logged, never patient data.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asalee_devices.backoff import Backoff
from asalee_devices.crashpoint import step
from asalee_devices.errors import (
    AsaleeError,
    FormatError,
    InputError,
    RejectedDeliveryError,
    TransientDeliveryError,
)
from asalee_devices.fhir_out.sinks.base import Delivery, Sink
from asalee_devices.sqlite_schema import open_store, transaction

log = logging.getLogger(__name__)

State = Literal["pending", "sent", "acknowledged", "failed"]
STATES: tuple[State, ...] = ("pending", "sent", "acknowledged", "failed")

#: Migrations in order (``sqlite_schema.migrate``): [0] = version 1, the layout of the first release (stores
#: written before versions were recorded hold exactly it and are stamped 1 without change).
MIGRATIONS: tuple[str, ...] = ("""
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exam_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sink TEXT NOT NULL,
    performed_on TEXT NOT NULL,
    payload BLOB NOT NULL,
    pdf BLOB,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (exam_id, kind, sink)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (state, next_attempt_at);
""",
    # version 2: rows are routed by the sink's stable key (``Sink.key``: the registry name, ``[sink] type``), the
    # value the ``sink`` column has always held; a delivery pass selects one key's due rows through this index.
    """
CREATE INDEX IF NOT EXISTS messages_route ON messages (sink, state, next_attempt_at);
""")
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class QueuedMessage:
    """One message to persist (see :meth:`Outbox.enqueue_many`)."""

    exam_id: str
    kind: str
    sink: str
    performed_on: str
    payload: bytes = field(repr=False)
    pdf: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    exam_id: str
    kind: str
    sink: str
    performed_on: str
    state: State
    attempts: int
    next_attempt_at: float
    last_error: str
    detail: str
    created_at: float
    updated_at: float
    payload_bytes: int
    has_pdf: bool


def _state(value: object) -> State:
    for state in STATES:
        if value == state:
            return state
    raise FormatError("Unknown message state in the outbox", field="state", value=value, expected=", ".join(STATES))


def _message(r: tuple[Any, ...]) -> OutboxMessage:
    return OutboxMessage(id=int(r[0]), exam_id=str(r[1]), kind=str(r[2]), sink=str(r[3]), performed_on=str(r[4]),
                         state=_state(r[5]), attempts=int(r[6]), next_attempt_at=float(r[7]), last_error=str(r[8]),
                         detail=str(r[9]), created_at=float(r[10]), updated_at=float(r[11]),
                         payload_bytes=int(r[12]), has_pdf=bool(r[13]))


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """The outbox's :class:`~asalee_devices.backoff.Backoff` (full jitter; ``max_attempts`` tries of a message in
    all, a crash included) plus how far a peer's ``Retry-After`` is followed."""

    base_s: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 10
    retry_after_cap_s: float = 3600.0  # a peer's Retry-After (a year-9999 date...) is followed at most this far

    def next_delay_s(self, attempts: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds before the next try of a message that has had ``attempts`` tries: the peer's Retry-After when
        it gave one (capped at ``retry_after_cap_s``), else the backoff delay of retry number ``attempts``."""
        if retry_after_s is not None and retry_after_s == retry_after_s:  # not NaN
            return min(max(0.0, float(retry_after_s)), self.retry_after_cap_s)
        return self.delay_s(attempts, rng)


class Outbox:
    """The outbox database. One instance per process; safe to open from several processes (SQLite locking)."""

    def __init__(self, path: str | Path, *, policy: RetryPolicy | None = None, rng: random.Random | None = None
                 ) -> None:
        self.path = Path(path)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self._db = open_store(self.path, MIGRATIONS, store=f"outbox {self.path.name}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    # -- queueing -------------------------------------------------------------------------------------------
    def enqueue(self, *, exam_id: str, kind: str, sink: str, performed_on: str, payload: bytes,
                pdf: bytes | None = None) -> int:
        """Persist one examination for ``sink`` (durably, before any send); returns its message id. Enqueuing
        the same (exam, kind, sink) again returns the existing id and changes nothing."""
        (mid,) = self.enqueue_many([QueuedMessage(exam_id, kind, sink, performed_on, payload, pdf)])
        return mid

    def enqueue_many(self, items: list[QueuedMessage]) -> list[int]:
        """Persist several messages in one transaction (an examination's bundles: all or none); returns their
        ids in order. Already queued ones (same exam, kind, sink) keep their id and state."""
        if any(not m.payload for m in items):
            raise InputError("Empty payload", field="payload", expected="the bundle JSON")
        now = time.time()
        ids = []
        with self._tx() as db:
            for m in items:
                db.execute("INSERT OR IGNORE INTO messages (exam_id, kind, sink, performed_on, payload, pdf, "
                           "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (m.exam_id, m.kind, m.sink, m.performed_on, m.payload, m.pdf, now, now))
                row = db.execute("SELECT id FROM messages WHERE exam_id = ? AND kind = ? AND sink = ?",
                                 (m.exam_id, m.kind, m.sink)).fetchone()
                ids.append(int(row[0]))
            step("outbox:enqueue-before-commit")
        step("outbox:enqueued")
        for mid, m in zip(ids, items, strict=True):
            log.info("outbox: message %s queued for %s", mid, m.sink)
        return ids

    def pdf(self, message_id: int) -> bytes | None:
        row = self._db.execute("SELECT pdf FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise InputError("No such outbox message", field="id", value=message_id)
        return None if row[0] is None else bytes(row[0])

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the database is sound)."""
        return "; ".join(str(r[0]) for r in self._db.execute("PRAGMA integrity_check").fetchall())

    # -- inspection -----------------------------------------------------------------------------------------
    _COLS = ("id, exam_id, kind, sink, performed_on, state, attempts, next_attempt_at, last_error, detail, "
             "created_at, updated_at, length(payload), pdf IS NOT NULL")

    def get(self, message_id: int) -> OutboxMessage:
        row = self._db.execute(f"SELECT {self._COLS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise InputError("No such outbox message", field="id", value=message_id)
        return _message(row)

    def payload(self, message_id: int) -> bytes:
        row = self._db.execute("SELECT payload FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise InputError("No such outbox message", field="id", value=message_id)
        return bytes(row[0])

    def messages(self, state: State | None = None, limit: int = 100) -> list[OutboxMessage]:
        q = f"SELECT {self._COLS} FROM messages"
        args: tuple[object, ...] = ()
        if state:
            q += " WHERE state = ?"
            args = (state,)
        rows = self._db.execute(q + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [_message(r) for r in rows]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, count(*) FROM messages GROUP BY state"):
            out[state] = n
        return out

    # -- state changes --------------------------------------------------------------------------------------
    def retry(self, message_id: int | None = None) -> int:
        """Put failed messages (one, or all) back to pending, due now; returns how many."""
        now = time.time()
        with self._tx() as db:
            if message_id is None:
                cur = db.execute("UPDATE messages SET state='pending', attempts=0, next_attempt_at=?, "
                                 "updated_at=? WHERE state='failed'", (now, now))
            else:
                self.get(message_id)
                cur = db.execute("UPDATE messages SET state='pending', attempts=0, next_attempt_at=?, "
                                 "updated_at=? WHERE id=? AND state IN ('failed', 'pending', 'sent')",
                                 (now, now, message_id))
        return cur.rowcount

    def _due(self, sink: str, now: float, limit: int, after_id: int = 0
             ) -> list[tuple[int, str, str, str, str, bytes, bytes | None]]:
        rows = self._db.execute(
            "SELECT id, exam_id, kind, performed_on, state, payload, pdf FROM messages "
            "WHERE sink = ? AND state IN ('pending', 'sent') AND next_attempt_at <= ? AND id > ? "
            "ORDER BY id LIMIT ?", (sink, now, after_id, limit)).fetchall()
        return [(int(r[0]), r[1], r[2], r[3], r[4], bytes(r[5]), None if r[6] is None else bytes(r[6]))
                for r in rows]

    def deliver_due(self, sink: Sink, *, limit: int = 100, now: float | None = None, after_id: int = 0
                    ) -> dict[int, str]:
        """One delivery pass over the due messages of ``sink`` (ids above ``after_id``, at most ``limit``);
        returns {message id: new state}."""
        outcome: dict[int, str] = {}
        for mid, exam_id, kind, day, _state, payload, pdf in self._due(sink.key, now or time.time(), limit,
                                                                        after_id):
            outcome[mid] = self._deliver_one(sink, Delivery(mid, exam_id, kind, day, payload, pdf))
        return outcome

    def deliver_all(self, sink: Sink, *, batch: int = 100) -> dict[int, str]:
        """Try every waiting message of ``sink`` once now, whatever its backoff delay, in batches of ``batch``
        (a message rescheduled during the pass is not tried twice); returns {message id: new state}."""
        out: dict[int, str] = {}
        after = 0
        while got := self.deliver_due(sink, limit=batch, now=float("inf"), after_id=after):
            out.update(got)
            after = max(got)
        return out

    def _deliver_one(self, sink: Sink, d: Delivery) -> str:
        mid = d.message_id
        with self._tx() as db:  # durable 'sent' before the network call; never past the attempt limit
            cur = db.execute("UPDATE messages SET state='sent', attempts=attempts+1, updated_at=? "
                             "WHERE id=? AND attempts < ?", (time.time(), mid, self.policy.max_attempts))
        step("outbox:sent")
        if cur.rowcount == 0:  # left 'sent' by a crash on its last allowed attempt
            msg = self.get(mid)
            self._set(mid, "failed", error=f"{msg.last_error or 'interrupted during the last attempt'} "
                                           f"(gave up after {msg.attempts} attempts)")
            return "failed"
        try:
            result = sink.send(d)
        except RejectedDeliveryError as exc:
            reason = f"{exc.message}: {exc.outcome}" if exc.outcome else exc.message
            self._set(mid, "failed", error=reason)
            log.warning("outbox: message %s rejected by %s", mid, sink.name)
            return "failed"
        except TransientDeliveryError as exc:
            return self._reschedule(mid, str(exc), exc.retry_after_s)
        except AsaleeError as exc:  # a sink's configuration, conversion or authentication error
            return self._reschedule(mid, str(exc), None)
        except Exception as exc:  # a bug or an unforeseen reply: recorded, never stops the pass
            log.exception("outbox: message %s: unexpected error from sink %s", mid, sink.name)
            return self._reschedule(mid, f"Unexpected error while delivering ({type(exc).__name__})", None)
        step("outbox:delivered")
        detail = f"{result.detail}; created {result.created}, already present {result.existing}"
        self._set(mid, "acknowledged", detail=detail)
        step("outbox:acknowledged")
        log.info("outbox: message %s acknowledged by %s", mid, sink.name)
        return "acknowledged"

    def waiting(self, sink: str | None = None) -> list[tuple[str, str, int, float]]:
        """What still waits, grouped: (state, last error, count, earliest next attempt) for the pending/sent
        and failed messages (of ``sink`` when given)."""
        q = ("SELECT CASE state WHEN 'failed' THEN 'failed' ELSE 'pending' END AS s, last_error, count(*), "
             "min(next_attempt_at) FROM messages WHERE state != 'acknowledged'")
        args: tuple[object, ...] = ()
        if sink:
            q += " AND sink = ?"
            args = (sink,)
        rows = self._db.execute(q + " GROUP BY s, last_error ORDER BY s, 3 DESC", args).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    def _reschedule(self, mid: int, reason: str, retry_after_s: float | None) -> str:
        attempts = self.get(mid).attempts
        if self.policy.gives_up(attempts):
            self._set(mid, "failed", error=f"{reason} (gave up after {attempts} attempts)")
            return "failed"
        delay = self.policy.next_delay_s(attempts, self.rng, retry_after_s)
        self._set(mid, "pending", error=reason, next_at=time.time() + delay)
        log.info("outbox: message %s will be retried in %.1f s", mid, delay)
        return "pending"

    def _set(self, mid: int, state: State, *, error: str | None = None, detail: str | None = None,
             next_at: float | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET state=?, last_error=COALESCE(?, last_error), "
                       "detail=COALESCE(?, detail), next_attempt_at=COALESCE(?, next_attempt_at), updated_at=? "
                       "WHERE id=?", (state, error, detail, next_at, time.time(), mid))

    def drain(self, sink: Sink, *, timeout_s: float = 60.0, poll_s: float = 0.2) -> dict[str, int]:
        """Deliver until nothing is due and nothing pending remains (or the timeout); returns the counts."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.deliver_due(sink)
            row = self._db.execute("SELECT min(next_attempt_at), count(*) FROM messages WHERE sink=? AND "
                                   "state IN ('pending', 'sent')", (sink.key,)).fetchone()
            if not row[1]:
                break
            time.sleep(min(poll_s, max(0.0, row[0] - time.time())) if row[0] > time.time() else 0)
        return self.counts()
