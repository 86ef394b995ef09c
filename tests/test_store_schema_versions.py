"""Schema versions of the SQLite stores: a store written by the previous release (no version recorded) is upgraded
without losing anything; a store from a newer release is refused with a clear error, not misread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from asalee_devices.devices.watch_folder import Ledger
from asalee_devices.errors import AsaleeError
from asalee_devices.fhir_out.outbox import SCHEMA_VERSION, Outbox
from asalee_devices.sqlite_schema import migrate, schema_version

# The outbox and ledger tables exactly as the release before schema versions wrote them (commit 2835003,
# fhir_out/outbox.py _SCHEMA and devices/watch_folder.py Ledger), with no user_version.
PREVIOUS_OUTBOX = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, exam_id TEXT NOT NULL, kind TEXT NOT NULL, sink TEXT NOT NULL,
    performed_on TEXT NOT NULL, payload BLOB NOT NULL, pdf BLOB, state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, updated_at REAL NOT NULL, UNIQUE (exam_id, kind, sink));
CREATE INDEX messages_due ON messages (state, next_attempt_at);
INSERT INTO messages (exam_id, kind, sink, performed_on, payload, pdf, state, attempts, created_at, updated_at)
VALUES ('exam-1', 'ecg', 'folder', '2026-11-30', X'7B7D', X'25504446', 'pending', 2, 1.0, 1.0),
       ('exam-2', 'spirometry', 'folder', '2026-11-30', X'7B7D', NULL, 'acknowledged', 1, 1.0, 2.0);
"""
PREVIOUS_LEDGER = """
CREATE TABLE files (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL);
INSERT INTO files VALUES ('ab' || 'cd', 'x.scp', 'done', 1, '', '2026-11-30T10:00:00+00:00');
"""


def _previous(path: Path, script: str) -> None:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.commit()
    assert schema_version(db) == 0
    db.close()


def test_outbox_of_the_previous_release_is_upgraded_with_every_message(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    _previous(path, PREVIOUS_OUTBOX)
    with Outbox(path) as outbox:
        assert outbox.counts()["pending"] == 1 and outbox.counts()["acknowledged"] == 1
        assert outbox.payload(1) == b"{}" and outbox.get(1).attempts == 2
    db = sqlite3.connect(path)
    assert schema_version(db) == SCHEMA_VERSION >= 1
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with Outbox(path) as outbox:  # opening again changes nothing
        assert sum(outbox.counts().values()) == 2


def test_ledger_of_the_previous_release_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    _previous(path, PREVIOUS_LEDGER)
    ledger = Ledger(path)
    assert ledger.state("abcd") == ("done", 1)
    assert schema_version(ledger.db) == 1
    ledger.db.close()


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path):
        pass
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(AsaleeError, match="newer version of asalee-devices"):
        Outbox(path)


def test_a_failing_migration_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    migrate(db, ("CREATE TABLE a (x INTEGER)",), store="test store")
    db.execute("INSERT INTO a VALUES (1)")
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, ("CREATE TABLE a (x INTEGER)", "ALTER TABLE a ADD COLUMN y INTEGER; CREATE TABLE a (z)"),
                store="test store")
    assert schema_version(db) == 1
    assert [c[1] for c in db.execute("PRAGMA table_info(a)")] == ["x"]
    assert db.execute("SELECT x FROM a").fetchall() == [(1,)]


@pytest.mark.parametrize("open_", [Outbox, Ledger], ids=["outbox", "ledger"])
def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path, open_: type) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(AsaleeError, match="is not a readable SQLite database"):
        open_(path)
    assert path.read_bytes() == b"not a database" * 100  # left as it was
