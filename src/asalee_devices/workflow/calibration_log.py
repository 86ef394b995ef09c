"""The spirometers' calibration log: every 3-L syringe verification, per device, in SQLite (durable: WAL,
synchronous=FULL, one transaction per verification; schema version in ``PRAGMA user_version``).

The log lives beside the outbox (``calibration.sqlite``); the CLI (``spirometry calibrate``), the web app and the
examination's delivery (PDF line, FHIR ``DeviceMetric.calibration``) read the same file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from asalee_devices.errors import InputError
from asalee_devices.signal.spirometry.calibration import StrokeResult, SyringeVerification
from asalee_devices.sqlite_schema import open_store, transaction

FILE_NAME = "calibration.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_serial TEXT NOT NULL,
    device_model TEXT NOT NULL,
    performed_at TEXT NOT NULL,
    syringe_volume_l REAL NOT NULL,
    syringe_serial TEXT NOT NULL,
    syringe_accuracy_pct REAL NOT NULL,
    tolerance_pct REAL NOT NULL,
    passed INTEGER NOT NULL,
    strokes_json TEXT NOT NULL,
    missing_bands TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verification_device ON verification (device_serial, performed_at);
"""
#: Migrations in order (``sqlite_schema.migrate``): [0] = version 1, the first release's table.
MIGRATIONS: tuple[str, ...] = (_SCHEMA,)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class CalibrationRecord:
    """One verification as logged."""

    id: int
    device_serial: str
    device_model: str
    performed_at: datetime
    syringe_serial: str
    verification: SyringeVerification

    @property
    def passed(self) -> bool:
        return self.verification.passed


@dataclass(frozen=True)
class CalibrationStatus:
    """The device's calibration state for an examination: the last verification and whether it is today's."""

    last: CalibrationRecord | None
    today: bool

    @property
    def state(self) -> Literal["calibrated", "calibration-required", "not-calibrated"]:
        if self.last is None:
            return "not-calibrated"
        return "calibrated" if self.today and self.last.passed else "calibration-required"

    @property
    def warning(self) -> bool:
        """No passed verification recorded today for this device: the examination goes on, flagged."""
        return self.state != "calibrated"


def log_path(outbox_path: Path | str) -> Path:
    return Path(outbox_path).with_name(FILE_NAME)


class CalibrationLog:
    """The calibration log file (opened per use; safe to share between the CLI and the web app)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = open_store(self.path, MIGRATIONS, store="calibration log", timeout_s=10.0)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CalibrationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, *, device_serial: str, device_model: str, syringe_serial: str, verification: SyringeVerification,
            performed_at: datetime) -> CalibrationRecord:
        """Log one verification (all or nothing)."""
        if not device_serial.strip():
            raise InputError("The spirometer's serial number is needed for its calibration log",
                             field="device_serial", expected="the device's serial number")
        if not syringe_serial.strip() or len(syringe_serial) > 64:
            raise InputError("The syringe's serial number is needed", field="syringe_serial",
                             expected="1-64 characters (on the syringe's certificate)")
        if performed_at.tzinfo is None:
            raise InputError("Calibration time must be timezone-aware", field="performed_at", expected="UTC time")
        v = verification
        with transaction(self._db):
            cur = self._db.execute(
                "INSERT INTO verification (device_serial, device_model, performed_at, syringe_volume_l,"
                " syringe_serial, syringe_accuracy_pct, tolerance_pct, passed, strokes_json, missing_bands)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (device_serial, device_model, performed_at.astimezone(UTC).isoformat(), v.syringe_volume_l,
                 syringe_serial, v.syringe_accuracy_pct, v.tolerance_pct, int(v.passed),
                 json.dumps([asdict(s) for s in v.strokes]), ",".join(v.missing_bands)))
        return CalibrationRecord(int(cur.lastrowid or 0), device_serial, device_model,
                                 performed_at.astimezone(UTC), syringe_serial, v)

    def history(self, device_serial: str, limit: int = 50) -> list[CalibrationRecord]:
        rows = self._db.execute(
            "SELECT id, device_serial, device_model, performed_at, syringe_volume_l, syringe_serial,"
            " syringe_accuracy_pct, tolerance_pct, passed, strokes_json, missing_bands FROM verification"
            " WHERE device_serial = ? ORDER BY performed_at DESC, id DESC LIMIT ?",
            (device_serial, max(1, min(limit, 1000)))).fetchall()
        out = []
        for (i, serial, model, at, vol, syr, acc, tol, passed, strokes, missing) in rows:
            results = tuple(StrokeResult(**s) for s in json.loads(strokes))
            out.append(CalibrationRecord(int(i), serial, model, datetime.fromisoformat(at), syr,
                                         SyringeVerification(vol, acc, tol, results,
                                                             tuple(m for m in missing.split(",") if m),
                                                             bool(passed))))
        return out

    def status(self, device_serial: str, *, on: date | None = None) -> CalibrationStatus:
        """The last verification of the device, and whether it was done on ``on`` (default: today, local time)."""
        hist = self.history(device_serial, limit=1)
        last = hist[0] if hist else None
        day = on or datetime.now().astimezone().date()  # the practice's day (local time)
        return CalibrationStatus(last, last is not None and last.performed_at.astimezone().date() == day)


def status_for(outbox_path: Path | str, device_serial: str, *, on: date | None = None) -> CalibrationStatus:
    """The device's calibration status from the log beside the outbox (not-calibrated when there is no log)."""
    path = log_path(outbox_path)
    if not path.exists():
        return CalibrationStatus(None, False)
    with CalibrationLog(path) as log:
        return log.status(device_serial, on=on)


def calibration_note(status: CalibrationStatus, lang: str = "fr") -> str:
    """The report's calibration line: the last verification, or a warning when none passed today."""
    fr = lang == "fr"
    last = status.last
    if last is None:
        return ("ATTENTION : aucune vérification de l'étalonnage enregistrée pour ce spiromètre" if fr else
                "WARNING: no calibration verification recorded for this spirometer")
    v = last.verification
    when = last.performed_at.astimezone().strftime("%d/%m/%Y %H:%M")
    errors = "/".join(f"{s.error_pct:+.1f}" for s in v.strokes)
    verdict = ("conforme" if v.passed else "NON CONFORME") if fr else ("passed" if v.passed else "FAILED")
    text = (f"Étalonnage : seringue {v.syringe_volume_l:.3f} L (n° {last.syringe_serial}) le {when} — {verdict} "
            f"(±{v.tolerance_pct:g} %, écarts {errors} %)" if fr else
            f"Calibration: {v.syringe_volume_l:.3f} L syringe (no. {last.syringe_serial}) on {when} — {verdict} "
            f"(±{v.tolerance_pct:g} %, errors {errors} %)")
    if not status.today:
        text = ("ATTENTION : pas de vérification aujourd'hui — dernière " if fr else
                "WARNING: no verification today — last ") + text[0].lower() + text[1:]
    return text
