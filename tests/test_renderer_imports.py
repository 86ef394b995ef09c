"""Renderers are pure (issue 19): no renderer module reaches ``asalee_devices.signal``, directly or through any
module it imports within the package — at module level, inside a function (lazy) or under ``TYPE_CHECKING``.

The walk reads the source (AST), resolves relative imports, follows every imported ``asalee_devices`` module and
the packages that importing it executes (``a/__init__.py`` for ``a.b``), and reports the chain that reaches
``signal/``. What is checked:

- ``canonical`` (the canonical result the renderers read);
- ``fhir_out/`` entirely: the FHIR, HL7 v2 and device-results renderers, and also the outbox, pipeline and sinks —
  these are not renderers but come after them in the dependency chain (``renderers -> sinks/outbox``), so they
  must be as free of signals;
- ``hprim/``, ``reports/``, ``programme/dashboard*`` (the dashboard queries behind the CSV, PDF and web page);
- the GDT writer: ``drivers/gdt/`` (the codec that encodes every record we write).

Not checked: ``devices/gdt_bridge`` — a device-layer session (the exchange folder is the watched folder, whose ECG
file readers in ``drivers/ecg_files`` produce ``signal`` recordings, as the dependency rule allows); its request
writer only encodes patient data through ``drivers/gdt``, which is checked. ``messages/`` is not a renderer, but
what a renderer looks up there must be pure too: ``messages.spirometry`` (the reason words of the dashboard) and
``messages.ecg_report`` key their words by code strings and import nothing from ``signal/`` (checked below, and
through every renderer importing them); ``messages.ecg`` keys its words by ``signal`` result types, which is why
the canonical results carry the ECG words a renderer writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "asalee_devices"
FORBIDDEN = "asalee_devices.signal"

#: Modules still reaching signal/ because another helper of the same integration owns them. The lead empties this
#: set at merge (a module listed here that no longer reaches signal/ makes the test fail, so it cannot go stale).
PENDING: frozenset[str] = frozenset()


def _module_path(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _renderer_modules() -> list[str]:
    root = SRC / PACKAGE
    files = [root / "canonical.py"]
    for folder in ("fhir_out", "hprim", "reports", "drivers/gdt"):
        files += sorted((root / folder).rglob("*.py"))
    files += sorted((root / "programme").glob("dashboard*.py"))
    names = []
    for f in files:
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _imports(name: str) -> set[str]:
    """The asalee_devices modules that executing module ``name`` imports (every import statement, wherever)."""
    path = _module_path(name)
    assert path is not None, name
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = name.split(".") if is_pkg else name.split(".")[:-1]
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base]
            targets += [f"{base}.{a.name}" for a in node.names if _module_path(f"{base}.{a.name}") is not None]
        for t in targets:
            if t == PACKAGE or t.startswith(PACKAGE + "."):
                parts = t.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                    prefix = ".".join(parts[:i])
                    if prefix.startswith(FORBIDDEN) or _module_path(prefix) is not None:
                        found.add(prefix)
    return found


def _chain_to_signal(start: str) -> list[str] | None:
    """The import chain from ``start`` to the first signal/ module it reaches, or None."""
    parent: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if current == FORBIDDEN or current.startswith(FORBIDDEN + "."):
            chain = [current]
            while (up := parent[chain[-1]]) is not None:
                chain.append(up)
            return chain[::-1]
        for nxt in sorted(_imports(current)):
            if nxt not in parent:
                parent[nxt] = current
                queue.append(nxt)
    return None


def test_the_walk_sees_a_lazy_import_of_signal() -> None:
    """The walker itself can fail: the workflow (which may use signal/) is found reaching it."""
    chain = _chain_to_signal("asalee_devices.workflow.results")
    assert chain is not None and chain[-1].startswith(FORBIDDEN)


@pytest.mark.parametrize("module", _renderer_modules())
def test_no_renderer_reaches_signal(module: str) -> None:
    chain = _chain_to_signal(module)
    if module in PENDING:
        assert chain is not None, f"{module} no longer reaches signal/: remove it from PENDING"
        pytest.xfail(f"pending (another helper's module): {' -> '.join(chain)}")
    assert chain is None, "renderer reaches signal/: " + " -> ".join(chain or [])


@pytest.mark.parametrize("module", ["asalee_devices.messages.spirometry", "asalee_devices.messages.ecg_report"])
def test_the_words_renderers_look_up_are_pure(module: str) -> None:
    """The catalogue modules a renderer may import (words keyed by code strings) import nothing from signal/."""
    chain = _chain_to_signal(module)
    assert chain is None, "words module reaches signal/: " + " -> ".join(chain or [])
