"""Every public function of ``signal/`` and of the codecs (device protocol codecs, GDT, ECG file readers) has a
numpydoc docstring (issue 22), the style of ``scipy.signal``: a summary, then

- ``Parameters``: every parameter of the signature, by name (``self``/``cls`` excepted);
- ``Returns`` (or ``Yields``) when the function returns something (its annotation is not ``None``);
- ``Raises`` naming every exception class the function's own body raises.

Units go with the parameter's description (``fs_hz : float`` / "Sampling rate (Hz)"). A small AST checker, not
numpydoc's ``validate`` (numpydoc requires Sphinx, which the package does not need otherwise); it reads the
sections as numpydoc does: a title line, a line of dashes, then ``name : type`` entries.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import asalee_devices

ROOT = Path(asalee_devices.__file__).parent
#: the modules whose public functions are checked
MODULES = sorted({*(ROOT / "signal").rglob("*.py"), *(ROOT / "drivers" / "protocols").glob("*/codec.py"),
                  *(ROOT / "drivers" / "gdt").glob("*.py"),
                  *(p for p in (ROOT / "drivers" / "ecg_files").glob("*.py") if not p.name.startswith("_"))})
_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]+)\n\1-{3,}\s*$", re.MULTILINE)


def sections(doc: str) -> dict[str, str]:
    """The numpydoc sections of a docstring: title -> body."""
    found = list(_SECTION.finditer(doc))
    out: dict[str, str] = {}
    for k, m in enumerate(found):
        end = found[k + 1].start() if k + 1 < len(found) else len(doc)
        out[m.group(2).strip()] = doc[m.end():end]
    return out


def entry_names(body: str) -> set[str]:
    """The names of a Parameters/Raises section: the lines at the section's own indentation."""
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if not lines:
        return set()
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines)
    names: set[str] = set()
    for ln in lines:
        if len(ln) - len(ln.lstrip()) == indent:
            head = ln.strip().split(" : ")[0].rstrip(":")
            names.update(n.strip().lstrip("*") for n in head.split(","))
    return names


def _own_nodes(fn: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``fn``'s body, not those of the functions and classes defined inside it."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def raised(fn: ast.FunctionDef) -> set[str]:
    """The exception classes ``fn``'s own body raises by name (a bare ``raise`` re-raises: not counted)."""
    out: set[str] = set()
    for node in _own_nodes(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id[:1].isupper():
                out.add(exc.id)
            elif isinstance(exc, ast.Attribute):
                out.add(exc.attr)
    return out


def _is_property_or_overload(fn: ast.FunctionDef) -> bool:
    names = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in fn.decorator_list}
    return bool(names & {"property", "cached_property", "overload", "setter"})


def public_functions(path: Path) -> Iterator[tuple[str, ast.FunctionDef]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for m in node.body:
                if isinstance(m, ast.FunctionDef) and not m.name.startswith("_") and not _is_property_or_overload(m):
                    yield f"{node.name}.{m.name}", m


def problems(fn: ast.FunctionDef) -> list[str]:
    """What ``fn``'s docstring lacks."""
    doc = ast.get_docstring(fn, clean=True)
    if not doc:
        return ["no docstring"]
    secs = sections(doc)
    out: list[str] = []
    a = fn.args
    params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if p.arg not in ("self", "cls")]
    params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    if params:
        if "Parameters" not in secs:
            out.append("no Parameters section")
        else:
            missing = [p for p in params if p not in entry_names(secs["Parameters"])]
            if missing:
                out.append(f"Parameters lacks {', '.join(missing)}")
    returns = fn.returns is not None and not (isinstance(fn.returns, ast.Constant) and fn.returns.value is None)
    if returns and not ({"Returns", "Yields"} & secs.keys()):
        out.append("no Returns section")
    exc = raised(fn)
    if exc:
        if "Raises" not in secs:
            out.append(f"no Raises section ({', '.join(sorted(exc))})")
        else:
            missing = sorted(exc - entry_names(secs["Raises"]))
            if missing:
                out.append(f"Raises lacks {', '.join(missing)}")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_public_functions_have_numpydoc_sections(path: Path) -> None:
    bad = [f"{name}: {'; '.join(p)}" for name, fn in public_functions(path) if (p := problems(fn))]
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


def test_the_checker_finds_a_missing_section() -> None:
    src = '''
def good(x_hz: float, *, n: int = 2) -> float:
    """Summary.

    Parameters
    ----------
    x_hz : float
        Frequency (Hz).
    n : int, optional
        Order.

    Returns
    -------
    float
        The value.

    Raises
    ------
    SignalError
        When ``x_hz`` is not positive.
    """
    if x_hz <= 0:
        raise SignalError("x")
    return x_hz

def bad(x_hz: float, n: int) -> float:
    """Summary.

    Parameters
    ----------
    x_hz : float
        Frequency (Hz).
    """
    raise ValueError("x")
'''
    fns = {f.name: f for f in ast.parse(src).body if isinstance(f, ast.FunctionDef)}
    assert problems(fns["good"]) == []
    assert problems(fns["bad"]) == ["Parameters lacks n", "no Returns section", "no Raises section (ValueError)"]
