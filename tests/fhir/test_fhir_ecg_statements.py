"""The GP's coded statement list (data/ecg_statements.json, fhir_out.ecg_statements): every SNOMED CT code is a
well-formed concept identifier (Verhoeff check digit, concept partition 00/10: SNOMED CT Technical Implementation
Guide, "SCTID" data type), no statement twice, every group labelled; a practice file is checked the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asalee_devices.errors import ConfigError
from asalee_devices.fhir_out.codes import SNOMED
from asalee_devices.fhir_out.ecg_statements import load_catalog, packaged_catalog, parse_catalog

# Verhoeff (dihedral group D5) tables
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_ok(number: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def test_verhoeff_reference_values() -> None:
    assert verhoeff_ok("2363") and not verhoeff_ok("2364")  # the textbook example 236 -> check digit 3
    assert verhoeff_ok("138875005") and not verhoeff_ok("138875006")  # SNOMED CT root concept


def test_packaged_snomed_codes_are_well_formed_concept_ids() -> None:
    cat = packaged_catalog()
    snomed = [s for s in cat.statements if s.system == SNOMED]
    print(f"\npackaged list: {len(cat.statements)} statements, {len(snomed)} SNOMED CT, {len(cat.groups)} groups")
    assert len(snomed) >= 25
    for s in snomed:
        assert s.code.isdigit() and 6 <= len(s.code) <= 18, s
        assert verhoeff_ok(s.code), f"{s.code} fails the Verhoeff check"
        assert s.code[-3:-1] in ("00", "10"), f"{s.code} is not a concept id (partition {s.code[-3:-1]})"
    assert len({s.key for s in cat.statements}) == len(cat.statements)
    assert {s.group for s in cat.statements} == {g.id for g in cat.groups}


def test_a_broken_practice_file_is_refused_naming_the_entry(tmp_path: Path) -> None:
    good = json.loads(json.dumps({"format": "asalee-ecg-statements", "version": 1,
                                  "groups": [{"id": "r", "label_fr": "Rythme", "label_en": "Rhythm"}],
                                  "statements": [{"group": "r", "system": SNOMED, "code": "426783006",
                                                  "display": "Sinus rhythm", "label_fr": "RS", "label_en": "SR"}]}))
    assert parse_catalog(good, "x").statements[0].label("fr") == "RS"
    twice = {**good, "statements": good["statements"] * 2}
    with pytest.raises(ConfigError, match="twice"):
        parse_catalog(twice, "x")
    bad_group = {**good, "statements": [{**good["statements"][0], "group": "nope"}]}
    with pytest.raises(ConfigError, match="unknown group"):
        parse_catalog(bad_group, "x")
    no_label = {**good, "statements": [{**good["statements"][0], "label_fr": ""}]}
    with pytest.raises(ConfigError, match=r"statements\[0\]\.label_fr"):
        parse_catalog(no_label, "x")
    with pytest.raises(ConfigError, match="not found"):
        load_catalog(tmp_path / "missing.json")
    f = tmp_path / "own.json"
    f.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="Cannot read"):
        load_catalog(f)
    f.write_text(json.dumps(good), encoding="utf-8")
    assert load_catalog(f).source == str(f)
