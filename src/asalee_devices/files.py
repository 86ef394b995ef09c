"""Small file-system helpers shared by the layers that write results (sinks, recording store, watched folder).

Temporary files are named ``.tmp-<pid>-<random>.partial``: hidden, and outside any pattern a reader of the folder
takes for a result (``*.json``, ``*.pdf``, ``*.npz``); :func:`clean_temp_files` removes the ones a killed process
left (its pid no longer running, or older than an hour).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from asalee_devices.crashpoint import step
from asalee_devices.errors import StorageError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".partial"
STALE_TEMP_S = 3600.0
MIN_FREE_BYTES = 64 * 1024 * 1024  # an examination needs a few MB (recordings, PDF, outbox copy): a wide margin
_REASONS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the folder is read-only",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def storage_reason(exc: OSError) -> str:
    """What an OSError means for the nurse (disk full, read-only, permission denied...)."""
    return _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)


def check_writable(folder: Path, *, what: str, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Refuse early (before any device is touched) a ``folder`` that cannot take an examination: created if
    needed, a probe file written, fsynced and removed, and at least ``min_free_bytes`` free."""
    kept = "nothing was recorded; free the folder or choose another one (--out), then start again"
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # removed again: a check leaves no trace
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX, dir=folder)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise StorageError(f"Cannot write to the {what} folder: {storage_reason(exc)}", folder=str(folder),
                           kept=kept) from None
    finally:
        for p in created:  # deepest first
            try:
                p.rmdir()
            except OSError:
                break
    if free < min_free_bytes:
        raise StorageError(f"Not enough free space in the {what} folder ({free // 1024} KiB free, "
                           f"{min_free_bytes // (1024 * 1024)} MiB needed)", folder=str(folder), kept=kept)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); Windows has no directory handles to fsync: skipped there."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file (temp file in the same
    folder, fsync, rename, fsync of the folder)."""
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            step("atomic_write:temp-open")
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        step("atomic_write:before-rename")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    step("atomic_write:renamed")


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # no portable probe without extra dependencies: rely on the age
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours
        return True
    return True


def clean_temp_files(folder: Path, *, recursive: bool = True, now: float | None = None) -> int:
    """Remove the temporary files a killed writer left in ``folder`` (its process gone, or older than an hour);
    returns how many. Files of running writers are left alone."""
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for path in folder.rglob(f"{TEMP_PREFIX}*") if recursive else folder.glob(f"{TEMP_PREFIX}*"):
        try:
            if not path.is_file():
                continue
            pid_text = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
            stale = now - path.stat().st_mtime > STALE_TEMP_S
            orphan = not pid_text.isdigit() or not _pid_running(int(pid_text))  # old-style names: no pid
            if stale or orphan:
                path.unlink()
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted writer in %s", removed, folder)
    return removed
