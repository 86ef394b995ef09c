"""A test hook that kills the process at a numbered step boundary, to prove that no crash strands an examination.

Off unless ``ASALEE_TEST_KILL_AT_STEP=N`` is set: the N-th call of :func:`step` in the process kills it at once
(SIGKILL where it exists, else ``os._exit``: no ``finally``, no flush — like a power cut for the files). With
``ASALEE_TEST_STEP_LOG=FILE`` every step's label is appended to FILE (so a test learns how many steps there are).
The labels are technical (``atomic_write:rename``, ``outbox:enqueue``...), never patient data.
"""

from __future__ import annotations

import os
import signal

_count = 0


def step(label: str) -> None:
    """One step boundary; free when the hook is off."""
    at = os.environ.get("ASALEE_TEST_KILL_AT_STEP")
    log = os.environ.get("ASALEE_TEST_STEP_LOG")
    if not at and not log:
        return
    global _count
    _count += 1
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_count} {label}\n")
    if at and _count == int(at):
        kill = getattr(signal, "SIGKILL", None)
        if kill is not None:
            os.kill(os.getpid(), kill)
        os._exit(137)
