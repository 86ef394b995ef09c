"""The coded statements the GP may pick when interpreting an ECG: a small curated list (SNOMED CT findings and a few
local conclusions) shipped as package data (``data/ecg_statements.json``), replaceable per practice by a file of the
same format (``[practice] ecg_statements = "path.json"``, see docs/fhir-mapping.md).

The service never proposes a statement: the list is what the GP chooses from, next to the free text. A statement
chosen goes to ``DiagnosticReport.conclusionCode`` as the file's coding (system, code, display) with the label the
GP saw as ``text``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from asalee_devices.errors import ConfigError

FORMAT = "asalee-ecg-statements"
PACKAGED = "ecg_statements.json"
Lang = Literal["fr", "en"]


@dataclass(frozen=True)
class EcgStatement:
    group: str
    system: str
    code: str
    display: str  # the code system's term (English for SNOMED CT)
    label_fr: str
    label_en: str

    @property
    def key(self) -> str:
        return f"{self.system}|{self.code}"

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_fr

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class StatementGroup:
    id: str
    label_fr: str
    label_en: str


@dataclass(frozen=True)
class StatementCatalog:
    source: str  # where the list comes from (the packaged file, or the practice's file)
    groups: tuple[StatementGroup, ...]
    statements: tuple[EcgStatement, ...]

    def find(self, system: str, code: str) -> EcgStatement | None:
        return next((s for s in self.statements if s.system == system and s.code == code), None)

    def view(self, lang: str) -> dict[str, Any]:
        """The picklist for the GP's page, grouped, in ``lang``."""
        return {"source": self.source, "groups": [
            {"id": g.id, "label": g.label_en if lang == "en" else g.label_fr,
             "statements": [{"key": s.key, "system": s.system, "code": s.code, "label": s.label(lang),
                             "display": s.display} for s in self.statements if s.group == g.id]}
            for g in self.groups]}


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("Coded statement list: missing text", field=f"{where}.{key}", expected="a non-empty string")
    return value.strip()


def parse_catalog(doc: Any, source: str) -> StatementCatalog:
    """A catalog from the decoded JSON ``doc``; :class:`ConfigError` naming the entry for anything malformed."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != 1:
        raise ConfigError("Not a coded statement list", field="ecg_statements", value=source,
                          expected=f'{{"format": "{FORMAT}", "version": 1, "groups": [...], "statements": [...]}}')
    raw_groups, raw_statements = doc.get("groups"), doc.get("statements")
    if not isinstance(raw_groups, list) or not isinstance(raw_statements, list) or not raw_statements:
        raise ConfigError("Coded statement list without groups or statements", field="ecg_statements",
                          value=source, expected="non-empty lists 'groups' and 'statements'")
    groups = []
    for i, g in enumerate(raw_groups):
        if not isinstance(g, dict):
            raise ConfigError("Coded statement list: a group is not an object", field=f"groups[{i}]")
        groups.append(StatementGroup(_text(g, "id", f"groups[{i}]"), _text(g, "label_fr", f"groups[{i}]"),
                                     _text(g, "label_en", f"groups[{i}]")))
    known = {g.id for g in groups}
    statements: list[EcgStatement] = []
    seen: set[str] = set()
    for i, s in enumerate(raw_statements):
        where = f"statements[{i}]"
        if not isinstance(s, dict):
            raise ConfigError("Coded statement list: a statement is not an object", field=where)
        st = EcgStatement(*(_text(s, k, where) for k in ("group", "system", "code", "display", "label_fr",
                                                          "label_en")))
        if st.group not in known:
            raise ConfigError("Coded statement in an unknown group", field=f"{where}.group", value=st.group,
                              expected="one of " + ", ".join(sorted(known)))
        if st.key in seen:
            raise ConfigError("Coded statement listed twice", field=f"{where}.code", value=st.key)
        seen.add(st.key)
        statements.append(st)
    return StatementCatalog(source, tuple(groups), tuple(statements))


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> StatementCatalog:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"Cannot read the coded statement list: {type(exc).__name__}", field="ecg_statements",
                          value=path, expected="a readable UTF-8 JSON file") from None
    return parse_catalog(doc, path)


@lru_cache(maxsize=1)
def packaged_catalog() -> StatementCatalog:
    text = resources.files("asalee_devices.data").joinpath(PACKAGED).read_text(encoding="utf-8")
    return parse_catalog(json.loads(text), f"asalee_devices/data/{PACKAGED}")


def load_catalog(path: str | Path | None = None) -> StatementCatalog:
    """The practice's list at ``path`` (read again when the file changes), else the packaged one."""
    if not path:
        return packaged_catalog()
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise ConfigError("Coded statement list not found", field="practice.ecg_statements", value=str(p),
                          expected="a JSON file in the format of asalee_devices/data/ecg_statements.json") from None
    return _load(str(p), mtime)
