"""``signal/`` computes codes and numbers only; the words people read live in ``messages/`` (issue 22).

The rule, checked on the syntax tree of every module of ``signal/``: no string literal (nor literal part of an
f-string) that looks like text for people — three words or more, or an accented letter — except

- docstrings (documentation, not output);
- the arguments of a ``raise`` statement: an error's message is developer-facing technical English with its
  ``field``/``value``/``expected`` (the CLI and the web app show the error's own structured fields);
- the processing record of a filter, ``FilterStep(design=..., note=...)``: the technical description of what was
  done to a trace, stated verbatim in the FHIR device-processing record and the JSON (English, never translated,
  never a message to the nurse).

Everything else (quality messages, advice, warnings, reasons) is a code (a ``StrEnum``) with numbers, rendered by
:mod:`asalee_devices.messages`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asalee_devices.signal

SIGNAL = Path(asalee_devices.signal.__file__).parent
ACCENTED = re.compile(r"[À-ÖØ-öø-ÿŒœ]")
#: keyword arguments of these calls are the processing record or an error's expected range (see the module
#: docstring): ``check_sampling_rate(purpose=...)`` only words the ``expected`` of the SignalError it raises
RECORD_CALLS = {"FilterStep": {"design", "note"}, "check_sampling_rate": {"purpose"}}


def _looks_like_words(text: str) -> bool:
    return len(text.split()) >= 3 or ACCENTED.search(text) is not None


def _exempt_nodes(tree: ast.AST) -> set[int]:
    exempt: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            exempt.add(id(body[0].value))
        if isinstance(node, ast.Raise) and node.exc is not None:
            exempt.update(id(n) for n in ast.walk(node.exc))
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            for kw in node.keywords:
                if kw.arg in RECORD_CALLS.get(name, ()):
                    exempt.update(id(n) for n in ast.walk(kw.value))
    return exempt


def sentences(root: Path) -> list[str]:
    """``path:line: text`` of every string literal under ``root`` that breaks the rule."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exempt = _exempt_nodes(tree)
        strings = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)),
                         key=lambda n: (n.lineno, n.col_offset))
        for node in strings:
            if id(node) not in exempt and _looks_like_words(node.value):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {node.value[:70]!r}")
    return found


def test_signal_holds_no_sentence() -> None:
    found = sentences(SIGNAL)
    assert not found, "text for people in signal/ (move it to messages/):\n" + "\n".join(found)


def test_the_check_finds_a_sentence(tmp_path: Path) -> None:
    pkg = tmp_path / "signal"
    pkg.mkdir()
    (pkg / "m.py").write_text('"""Docstrings may say anything at all."""\n'
                              'def f(x):\n'
                              '    """So may this one."""\n'
                              '    if x < 0:\n'
                              '        raise ValueError("Sampling rate must be positive")\n'
                              '    step = FilterStep(note="fitted over 1-s windows, zero phase")\n'
                              '    code = "lead_off"\n'
                              '    return f"Signal plat sur {x}", "check the cable and electrode", "Qualité"\n',
                              encoding="utf-8")
    assert [s.split(": ", 1)[1] for s in sentences(pkg)] == [
        "'Signal plat sur '", "'check the cable and electrode'", "'Qualité'"]


def test_the_catalogue_has_words_for_every_code() -> None:
    """A code added in signal/ without its words in messages/ fails here, not in front of the nurse."""
    from asalee_devices.messages import ecg, spirometry
    from asalee_devices.signal.ecg.results import NoteCode, QualityCode, WarningCode
    from asalee_devices.signal.spirometry.acceptability import OperatorMark, Reason
    from asalee_devices.signal.spirometry.session import Advice

    for code in QualityCode:
        fr, en = ecg.quality_texts(code, ("V2",), 50.0)
        assert fr and en and fr != en, code
    assert set(ecg.NOTES) == set(NoteCode) and all(set(t) == {"fr", "en"} for t in ecg.NOTES.values())
    assert set(ecg.WARNINGS) == set(WarningCode)
    assert set(spirometry.MESSAGES) == set(Reason) and all(set(t) == {"fr", "en"} for t in spirometry.MESSAGES.values())
    assert set(spirometry.ADVICE_MESSAGES) == set(Advice)
    assert all(set(t) == {"fr", "en"} for t in spirometry.ADVICE_MESSAGES.values())
    assert set(spirometry.MARK_LABELS) == set(OperatorMark)


def test_the_spirometry_words_cover_every_code_by_its_string() -> None:
    """messages.spirometry keys its words by code strings (it imports nothing from signal/, issue 19): every
    Reason, OperatorMark and Advice member has French and English words, found by the member and by its stored
    string alike, and no table holds a word for a code signal/ no longer returns."""
    from asalee_devices.messages import spirometry as words
    from asalee_devices.signal.spirometry.acceptability import OperatorMark, Reason
    from asalee_devices.signal.spirometry.session import Advice

    tables = {Reason: (words.MESSAGES, words.GP_REASONS), OperatorMark: (words.MARK_LABELS,),
              Advice: (words.ADVICE_MESSAGES,)}
    for enum, enum_tables in tables.items():
        for table in enum_tables:
            assert sorted(table) == sorted(m.value for m in enum), enum
            assert all(type(k) is str for k in table), enum  # plain strings: the module needs no signal/ import
            for member in enum:
                for lang in ("fr", "en"):
                    assert table[member][lang].strip() and table[member][lang] == table[member.value][lang]
                assert table[member]["fr"] != table[member]["en"], member  # a French word, not the English one
    for reason in Reason:
        assert words.reason_message(reason.value, "en") == words.MESSAGES[reason]["en"]
    assert words.reason_message("not_a_reason") is None
    assert words.mark_labels(tuple(OperatorMark), "fr") == tuple(words.MARK_LABELS[m]["fr"] for m in OperatorMark)
