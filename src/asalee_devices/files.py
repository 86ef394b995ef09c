"""Small file-system helpers shared by the layers that write results (sinks, recording store, watched folder)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, temp_suffix: str | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file (temp file in the same
    folder, fsync, rename). ``temp_suffix`` (default: the file's own suffix) names the temporary file, e.g.
    ``.part`` so that a watcher of ``*.hpr`` files never picks it up."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix if temp_suffix is None else temp_suffix,
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
