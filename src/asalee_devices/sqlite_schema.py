"""The project's SQLite stores (outbox, watched-folder and GDT ledgers, consent register, calibration log): how they
are opened, their transactions, and their schema versions, kept in ``PRAGMA user_version``.

Each store lists its migrations in order: ``migrations[k]`` takes a store from version ``k`` to ``k + 1``
(version 0 is a store written before versions were recorded, or a new empty file). :func:`migrate` applies the
missing ones in one transaction, so an upgrade at a practice either completes or leaves the store as it was, and
refuses a store written by a newer asalee-devices instead of misreading it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from asalee_devices.errors import FormatError


def open_store(path: Path, migrations: Sequence[str], *, store: str, timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open the store at ``path`` (folder created), in autocommit mode (transactions by :func:`transaction`), WAL
    journal and ``synchronous=FULL``, migrated to ``len(migrations)``. A file that is not an SQLite database is a
    :class:`FormatError` naming the store; the connection is closed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        migrate(db, migrations, store=store)
    except sqlite3.OperationalError:  # locked, read-only...: the caller's storage error, not a format problem
        db.close()
        raise
    except sqlite3.DatabaseError as exc:
        db.close()
        raise FormatError(f"The {store} is not a readable SQLite database ({exc})", field=store,
                          value=path.name) from None
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction on an autocommit connection: committed, or rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, migrations: Sequence[str], *, store: str) -> int:
    """Bring ``db`` (opened with ``isolation_level=None``) to version ``len(migrations)``; returns that version.

    Each migration is a script of ``;``-separated statements, idempotent with respect to the tables it creates
    (``CREATE TABLE IF NOT EXISTS``), because a version-0 store may already hold them."""
    target = len(migrations)
    version = schema_version(db)
    if version > target:
        raise FormatError(f"The {store} was written by a newer version of asalee-devices", field="schema version",
                          value=version, expected=f"<= {target} (upgrade asalee-devices)")
    if version == target:
        return version
    with transaction(db):
        if schema_version(db) < target:  # another process may have migrated it while we waited for the lock
            for script in migrations[schema_version(db):]:
                for stmt in filter(None, (s.strip() for s in script.split(";"))):
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version={target}")
    return target
