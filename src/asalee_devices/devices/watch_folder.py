"""Watched-folder bridge: picks up the ECG files vendor software writes into a folder and hands them on.

It lives in ``devices/`` because it is a session with a lifecycle (polling, state, resume after restart) around
the file readers of ``drivers/ecg_files``, like a device session around a protocol codec.

Cycle: list the folder; a file is *complete* once its size and modification time have not changed for
``settle_s`` seconds (and it can be opened); its content hash (SHA-256) is looked up in a durable SQLite ledger:

- already ``done`` -> the same content was delivered before: the file is moved to ``done/`` without processing;
- otherwise the ledger records ``processing`` (committed), the file is decoded, ``process(ecg, path)`` is called,
  the ledger records ``done`` (committed) and the file is moved to ``done/``; a decoding or processing error
  records ``failed`` and moves the file to ``failed/`` with a ``<name>.reason.txt`` file.

A kill at any point leaves the file in the folder; the next run finds it, and the ledger tells whether it was
delivered (then it is only moved) or not (then it is processed again). The only window where a delivery can be
repeated is a kill between the end of ``process`` and the ledger commit: ``process`` must therefore be idempotent
for a given content hash (:class:`~asalee_devices.workflow.ecg_file_import.EcgFileImporter`, the ECG pipeline,
derives the exam id from the hash; :class:`JsonSummaryWriter` writes ``<hash>.json`` atomically). A file whose processing crashed ``max_attempts`` times is moved to ``failed/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asalee_devices.drivers.ecg_files import EcgFile, read_ecg_file
from asalee_devices.errors import AsaleeError, ConfigError
from asalee_devices.files import atomic_write
from asalee_devices.sqlite_schema import open_store

log = logging.getLogger(__name__)

ProcessFn = Callable[[EcgFile, Path], None]
#: a reader other than the ECG file readers (``reader=``): bytes of a complete file -> what ``process`` receives
ReaderFn = Callable[[Path], Any]

_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".lock", ".reason.txt")


@dataclass(frozen=True)
class Outcome:
    """What happened to one file in a cycle. ``status``: ``"done"``, ``"duplicate"`` or ``"failed"``."""

    name: str
    sha256: str
    status: str
    reason: str = ""


#: Ledger migrations in order (``sqlite_schema.migrate``): [0] = version 1, the first release's table (stores written
#: before versions were recorded hold exactly it and are stamped 1 without change).
LEDGER_MIGRATIONS: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS files (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL)",)


class Ledger:
    """Durable record of the files seen, keyed by content hash (SQLite, synchronous commits)."""

    def __init__(self, path: Path) -> None:
        self.db = open_store(path, LEDGER_MIGRATIONS, store=f"watched-folder ledger {path.name}")

    def state(self, sha256: str) -> tuple[str, int] | None:
        row = self.db.execute("SELECT state, attempts FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def mark(self, sha256: str, name: str, state: str, reason: str = "", attempt: bool = False) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.db.execute(
            "INSERT INTO files (sha256, name, state, attempts, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(sha256) DO UPDATE SET name = excluded.name, state = excluded.state, "
            "attempts = files.attempts + ?, reason = excluded.reason, updated_at = excluded.updated_at",
            (sha256, name, state, 1 if attempt else 0, reason, now, 1 if attempt else 0))

    def counts(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.db.execute("SELECT state, COUNT(*) FROM files GROUP BY state")}

    def close(self) -> None:
        self.db.close()


class JsonSummaryWriter:
    """Default processing step: writes the decoded summary (``ecg read --json`` content) to
    ``<out_dir>/<sha256>.json``, atomically and idempotently."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, ecg: EcgFile, path: Path) -> None:
        from asalee_devices.cli._common import to_jsonable
        from asalee_devices.cli._ecg_read import summary

        digest = sha256_file(path)
        info = summary(ecg)
        info["source_file"] = path.name
        info["sha256"] = digest
        data = json.dumps(to_jsonable(info), ensure_ascii=False, indent=2).encode("utf-8")
        atomic_write(self.out_dir / f"{digest}.json", data)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class WatchedFolder:
    """Polls ``inbox`` and delivers each complete file once through ``process``."""

    def __init__(self, inbox: Path, process: Callable[[Any, Path], None], *, ledger_path: Path | None = None,
                 settle_s: float = 2.0, poll_s: float = 1.0, strict: bool = False, max_attempts: int = 3,
                 clock: Callable[[], float] = time.monotonic, on_cycle: Callable[[], object] | None = None,
                 reader: ReaderFn | None = None, accept: Callable[[str], bool] | None = None) -> None:
        if not inbox.is_dir():
            raise ConfigError("Watched folder does not exist", field="dir", value=str(inbox),
                              expected="an existing directory")
        if settle_s < 0 or poll_s <= 0:
            raise ConfigError("Invalid watch timing", field="settle_s/poll_s", value=(settle_s, poll_s),
                              expected="settle_s >= 0 and poll_s > 0")
        self.inbox = inbox
        self.done_dir = inbox / "done"
        self.failed_dir = inbox / "failed"
        self.done_dir.mkdir(exist_ok=True)
        self.failed_dir.mkdir(exist_ok=True)
        self.process = process
        self.reader = reader  # None: the ECG file readers (read_ecg_file)
        self.accept = accept  # None: every file name; else only the names it accepts (others are left alone)
        self.ledger = Ledger(ledger_path or inbox / ".asalee-watch.sqlite")
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.strict = strict
        self.max_attempts = max_attempts
        self.clock = clock
        self.on_cycle = on_cycle  # called after each scan of the loop (e.g. the outbox's delivery pass)
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, first time stable)

    # -- discovery ------------------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        out = []
        for entry in os.scandir(self.inbox):
            name = entry.name
            if not entry.is_file(follow_symlinks=False) or name.startswith((".", "~")) \
                    or name.lower().endswith(_IGNORED_SUFFIXES) or (self.accept is not None and not self.accept(name)):
                continue
            out.append(Path(entry.path))
        return sorted(out)

    def _complete(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            self._seen.pop(path.name, None)
            return False
        now = self.clock()
        key = (st.st_size, st.st_mtime_ns)
        prev = self._seen.get(path.name)
        if prev is None or prev[:2] != key:
            self._seen[path.name] = (key[0], key[1], now)
            return self.settle_s == 0 and st.st_size > 0 and self._openable(path)
        return st.st_size > 0 and now - prev[2] >= self.settle_s and self._openable(path)

    @staticmethod
    def _openable(path: Path) -> bool:
        try:
            with path.open("rb"):
                return True
        except OSError:  # still locked by the writer (Windows)
            return False

    # -- one cycle ------------------------------------------------------------------------------------------
    def scan_once(self) -> list[Outcome]:
        outcomes = []
        for path in self._candidates():
            if self._complete(path):
                self._seen.pop(path.name, None)
                try:
                    outcomes.append(self.handle(path))
                except Exception as exc:  # transient (sink unreachable, disk full...): retried next cycle
                    log.warning("watch: processing error (%s); the file stays and is retried",
                                type(exc).__name__)
        return outcomes

    def handle(self, path: Path) -> Outcome:
        digest = sha256_file(path)
        known = self.ledger.state(digest)
        if known is not None and known[0] == "done":
            self._move(path, self.done_dir)
            log.info("watch: %s already delivered (same content); moved to done/", digest[:12])
            return Outcome(path.name, digest, "duplicate")
        if known is not None and known[0] == "failed":
            reason = "same content failed before"
            self._fail(path, reason)
            return Outcome(path.name, digest, "failed", reason)
        if known is not None and known[0] == "processing" and known[1] >= self.max_attempts:
            reason = f"processing interrupted {known[1]} times; giving up"
            self.ledger.mark(digest, path.name, "failed", reason)
            self._fail(path, reason)
            return Outcome(path.name, digest, "failed", reason)
        self.ledger.mark(digest, path.name, "processing", attempt=True)
        try:
            item = read_ecg_file(path, strict=self.strict) if self.reader is None else self.reader(path)
            self.process(item, path)
        except AsaleeError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.ledger.mark(digest, path.name, "failed", reason)
            self._fail(path, reason)
            log.warning("watch: %s failed: %s", digest[:12], type(exc).__name__)
            return Outcome(path.name, digest, "failed", reason)
        self.ledger.mark(digest, path.name, "done")
        self._move(path, self.done_dir)
        log.info("watch: %s delivered", digest[:12])
        return Outcome(path.name, digest, "done")

    def _fail(self, path: Path, reason: str) -> None:
        target = self._move(path, self.failed_dir)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")

    @staticmethod
    def _move(path: Path, folder: Path) -> Path:
        target = folder / path.name
        k = 1
        while target.exists():
            target = folder / f"{path.stem}.{k}{path.suffix}"
            k += 1
        os.replace(path, target)
        return target

    # -- loop -----------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, max_cycles: int | None = None) -> None:
        cycles = 0
        stop = stop or threading.Event()
        while not stop.is_set():
            self.scan_once()
            if self.on_cycle is not None:
                try:
                    self.on_cycle()
                except Exception as exc:  # a delivery problem must not stop the watch
                    log.warning("watch: end-of-cycle step failed (%s)", type(exc).__name__)
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                break
            stop.wait(self.poll_s)

    def close(self) -> None:
        self.ledger.close()


def refused_files(inbox: Path) -> list[Path]:
    """The files of ``inbox/failed/`` (oldest first; reason files and hidden or temporary names left out)."""
    failed = inbox / "failed"
    if not failed.is_dir():
        return []
    files = [p for p in failed.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.lower().endswith(_IGNORED_SUFFIXES)]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def settle_refused(inbox: Path, path: Path, sha256: str, ledger_path: Path | None = None) -> Path:
    """A refused file delivered another way (``ecg import``, the web app's page for files to complete): moved to
    ``done/``, its reason file removed, and the ledger told, so the same content dropped again is not refused."""
    ledger = Ledger(ledger_path or inbox / ".asalee-watch.sqlite")
    try:
        ledger.mark(sha256, path.name, "done")
    finally:
        ledger.db.close()
    (inbox / "done").mkdir(exist_ok=True)
    target = WatchedFolder._move(path, inbox / "done")
    path.with_name(path.name + ".reason.txt").unlink(missing_ok=True)
    return target
