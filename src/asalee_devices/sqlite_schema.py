"""Schema versions of the project's SQLite stores (outbox, watched-folder ledgers), kept in ``PRAGMA user_version``.

Each store lists its migrations in order: ``migrations[k]`` takes a store from version ``k`` to ``k + 1``
(version 0 is a store written before versions were recorded, or a new empty file). :func:`migrate` applies the
missing ones in one transaction, so an upgrade at a practice either completes or leaves the store as it was, and
refuses a store written by a newer asalee-devices instead of misreading it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from asalee_devices.errors import FormatError


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
    db.execute("BEGIN IMMEDIATE")
    try:
        if schema_version(db) < target:  # another process may have migrated it while we waited for the lock
            for script in migrations[schema_version(db):]:
                for stmt in filter(None, (s.strip() for s in script.split(";"))):
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version={target}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return target
