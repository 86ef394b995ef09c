"""Small file-system helpers shared by the layers that write results (sinks, recording store, watched folder).

Temporary files are named ``.tmp-<pid>-<random>.partial``: hidden, and outside any pattern a reader of the folder
takes for a result (``*.json``, ``*.pdf``, ``*.npz``); :func:`clean_temp_files` removes the ones a killed process
left (its pid no longer running, or older than an hour).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from asalee_devices.crashpoint import step

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".partial"
STALE_TEMP_S = 3600.0


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
