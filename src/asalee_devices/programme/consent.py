"""The consent register: each patient's express consent to the programme's use of their data, and its withdrawal.

One SQLite file per practice (WAL, schema-versioned, migrated in place). It is the only place that links a patient's
identifier (INS or the practice's number) to the *local patient key* the indicators store uses (an HMAC-SHA-256 of
the identifier under a random key kept in this register, so the store holds no NIR and cannot be reversed by
trying NIRs). It also keeps what an evaluation export needs beyond the examination facts (birth year, sex,
department of residence: never the full birth date) and which examinations each export carried, so a withdrawal
produces a deletion notice for the rows already exported.

A patient's data enters an export only while an active (not withdrawn) consent of the export's scope exists.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from asalee_devices.errors import InputError
from asalee_devices.fhir_out.context import PatientContext
from asalee_devices.sqlite_schema import open_store, schema_version, transaction

SCOPE_EVALUATION = "evaluation-asalee"  # the national evaluation of the programme (the export's scope)
SCOPES = (SCOPE_EVALUATION,)
DEPARTMENT_RE = re.compile(r"(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    patient_key TEXT PRIMARY KEY,
    id_system TEXT NOT NULL,
    id_value TEXT NOT NULL,
    birth_year INTEGER NOT NULL,
    sex TEXT NOT NULL,
    department TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_key TEXT NOT NULL REFERENCES patients(patient_key),
    scope TEXT NOT NULL,
    given_on TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    withdrawn_on TEXT,
    withdrawn_recorded_by TEXT,
    withdrawn_recorded_at REAL
);
CREATE INDEX IF NOT EXISTS consents_patient ON consents (patient_key, scope);
CREATE TABLE IF NOT EXISTS exported (
    exam_id TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    month TEXT NOT NULL,
    export_id TEXT NOT NULL,
    PRIMARY KEY (exam_id, export_id)
);
CREATE TABLE IF NOT EXISTS notified (
    exam_id TEXT NOT NULL,
    export_id TEXT NOT NULL,
    PRIMARY KEY (exam_id)
);
"""
#: Migrations in order (``sqlite_schema.migrate``): [0] = version 1, the first release's tables.
MIGRATIONS: tuple[str, ...] = (_SCHEMA,)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Consent:
    patient_key: str
    scope: str
    given_on: date
    recorded_by: str
    withdrawn_on: date | None
    withdrawn_recorded_by: str | None

    @property
    def active(self) -> bool:
        return self.withdrawn_on is None


@dataclass(frozen=True)
class PatientRow:
    """What the export may know of a consenting patient (no name, no full birth date)."""

    patient_key: str
    id_system: str
    id_value: str
    birth_year: int
    sex: str
    department: str


class ConsentRegister:
    """The practice's consent register (``with ConsentRegister(path) as reg: ...``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_store(self.path, MIGRATIONS, store="consent register")
        try:
            with self._tx() as db:  # the register's own random key, made once
                if db.execute("SELECT 1 FROM meta WHERE key='local_key'").fetchone() is None:
                    db.execute("INSERT INTO meta (key, value) VALUES ('local_key', ?)", (secrets.token_bytes(32),))
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ConsentRegister:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    @property
    def schema_version(self) -> int:
        return schema_version(self._db)

    # --- the local patient key -------------------------------------------------------------------------------
    def patient_key(self, patient: PatientContext) -> str:
        """The patient's key in the indicators store: HMAC-SHA-256 of (identifier system, value) under this
        register's random key (32 hex characters)."""
        key = bytes(self._db.execute("SELECT value FROM meta WHERE key='local_key'").fetchone()[0])
        system, value = patient.identifier_key()
        return hmac.new(key, f"{system}|{value}".encode(), hashlib.sha256).hexdigest()[:32]

    # --- consent ---------------------------------------------------------------------------------------------
    def record(self, patient: PatientContext, *, given_on: date, recorded_by: str, department: str = "",
               scope: str = SCOPE_EVALUATION) -> Consent:
        """Record the patient's express consent (a second record of an active consent is refused)."""
        _check_scope(scope)
        if not recorded_by.strip():
            raise InputError("Who recorded the consent is missing", field="--by", expected="the nurse's name")
        if given_on > date.today():
            raise InputError("Consent date in the future", field="--date", value=given_on.isoformat(),
                             expected="today or earlier")
        if department and not DEPARTMENT_RE.fullmatch(department):
            raise InputError("Not a department code", field="residence_department", value=department,
                             expected="INSEE department code: 01-95, 2A, 2B, 971-976")
        pkey = self.patient_key(patient)
        system, value = patient.identifier_key()
        with self._tx() as db:
            if self._active(db, pkey, scope) is not None:
                raise InputError("This patient's consent is already recorded", field="--patient",
                                 expected="withdraw it first to record a new one")
            db.execute("INSERT INTO patients (patient_key, id_system, id_value, birth_year, sex, department) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(patient_key) DO UPDATE SET "
                       "birth_year=excluded.birth_year, sex=excluded.sex, department=excluded.department",
                       (pkey, system, value, patient.birth_date.year, patient.sex, department))
            db.execute("INSERT INTO consents (patient_key, scope, given_on, recorded_by, recorded_at) "
                       "VALUES (?, ?, ?, ?, ?)", (pkey, scope, given_on.isoformat(), recorded_by, time.time()))
        return self.consents(patient)[-1]

    def withdraw(self, patient: PatientContext, *, withdrawn_on: date, recorded_by: str,
                 scope: str = SCOPE_EVALUATION) -> Consent:
        _check_scope(scope)
        pkey = self.patient_key(patient)
        with self._tx() as db:
            row = self._active(db, pkey, scope)
            if row is None:
                raise InputError("No active consent to withdraw for this patient", field="--patient",
                                 expected="a patient whose consent was recorded")
            db.execute("UPDATE consents SET withdrawn_on=?, withdrawn_recorded_by=?, withdrawn_recorded_at=? "
                       "WHERE id=?", (withdrawn_on.isoformat(), recorded_by, time.time(), row))
        return self.consents(patient)[-1]

    @staticmethod
    def _active(db: sqlite3.Connection, pkey: str, scope: str) -> int | None:
        row = db.execute("SELECT id FROM consents WHERE patient_key=? AND scope=? AND withdrawn_on IS NULL",
                         (pkey, scope)).fetchone()
        return None if row is None else int(row[0])

    def consents(self, patient: PatientContext) -> list[Consent]:
        return self._consents_of(self.patient_key(patient))

    def _consents_of(self, pkey: str) -> list[Consent]:
        rows = self._db.execute("SELECT patient_key, scope, given_on, recorded_by, withdrawn_on, "
                                "withdrawn_recorded_by FROM consents WHERE patient_key=? ORDER BY id",
                                (pkey,)).fetchall()
        return [Consent(r[0], r[1], date.fromisoformat(r[2]), r[3],
                        date.fromisoformat(r[4]) if r[4] else None, r[5]) for r in rows]

    def consenting(self, scope: str = SCOPE_EVALUATION) -> dict[str, PatientRow]:
        """Patients with an active consent of ``scope``, by local patient key."""
        rows = self._db.execute(
            "SELECT p.patient_key, p.id_system, p.id_value, p.birth_year, p.sex, p.department FROM patients p "
            "JOIN consents c ON c.patient_key = p.patient_key WHERE c.scope=? AND c.withdrawn_on IS NULL",
            (scope,)).fetchall()
        return {r[0]: PatientRow(*r) for r in rows}

    def withdrawn_patients(self, scope: str = SCOPE_EVALUATION) -> dict[str, PatientRow]:
        """Patients who withdrew (and have no active consent since), by local patient key."""
        rows = self._db.execute(
            "SELECT DISTINCT p.patient_key, p.id_system, p.id_value, p.birth_year, p.sex, p.department "
            "FROM patients p JOIN consents c ON c.patient_key = p.patient_key "
            "WHERE c.scope=? AND c.withdrawn_on IS NOT NULL AND NOT EXISTS (SELECT 1 FROM consents a WHERE "
            "a.patient_key = p.patient_key AND a.scope = c.scope AND a.withdrawn_on IS NULL)", (scope,)).fetchall()
        return {r[0]: PatientRow(*r) for r in rows}

    # --- what the exports carried ------------------------------------------------------------------------------
    def to_delete(self) -> list[tuple[str, str, str]]:
        """(patient key, exam id, month) of rows already exported for patients who withdrew, not yet notified."""
        withdrawn = self.withdrawn_patients()
        if not withdrawn:
            return []
        rows = self._db.execute(
            "SELECT e.patient_key, e.exam_id, MIN(e.month) FROM exported e "
            "WHERE NOT EXISTS (SELECT 1 FROM notified n WHERE n.exam_id = e.exam_id) "
            "GROUP BY e.patient_key, e.exam_id ORDER BY 3, 2").fetchall()
        return [(r[0], r[1], r[2]) for r in rows if r[0] in withdrawn]

    def commit_export(self, export_id: str, month: str, rows: list[tuple[str, str]],
                      notified: list[str]) -> None:
        """Remember what export ``export_id`` carried: (exam id, patient key) rows, notified deletions."""
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO exported (exam_id, patient_key, month, export_id) "
                           "VALUES (?, ?, ?, ?)", [(e, p, month, export_id) for e, p in rows])
            db.executemany("INSERT OR IGNORE INTO notified (exam_id, export_id) VALUES (?, ?)",
                           [(e, export_id) for e in notified])

    def summary(self, patient: PatientContext) -> dict[str, Any]:
        """The patient's consents for ``consent show`` (dates, scope, who recorded them; no identity)."""
        return {"consents": [{"scope": c.scope, "given_on": c.given_on.isoformat(), "recorded_by": c.recorded_by,
                              "withdrawn_on": c.withdrawn_on.isoformat() if c.withdrawn_on else None,
                              "withdrawal_recorded_by": c.withdrawn_recorded_by, "active": c.active}
                             for c in self.consents(patient)]}


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise InputError("Unknown consent scope", field="--scope", value=scope, expected=", ".join(SCOPES))


def register_path(config: Any) -> Path:
    """The consent register of the configuration: ``programme.consent_register``, else beside the outbox."""
    p = config.programme.consent_register
    return Path(p) if p else Path(config.outbox).parent / "consent.sqlite3"
