"""The nurse's identity checks as she types (issue 20): the NIR's year and month of birth against the birth date
(service-public.fr F33078: sex at position 1, year 2-3, month 4-5; months outside 01-12 - 20-42 incomplete civil
status, 99 unknown - are not compared), and messages that name the problem, never an internal field id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.web.webfixtures import PATIENT, TEST_INS, client


def nir(first13: str) -> str:
    """A NIR with its key, computed here (97 - NIR mod 97), independently of the app's check."""
    return first13 + f"{97 - int(first13) % 97:02d}"


@pytest.fixture
def check(tmp_path: Path) -> Any:
    c = client(tmp_path)

    def run(**changes: Any) -> dict[str, Any]:
        p = {k: v for k, v in {**PATIENT, **changes}.items() if v is not None}
        r = c.post("/api/patient/validate", json={"patient": p})
        assert r.status_code == 200
        return dict(r.json())

    run.client = c  # type: ignore[attr-defined]
    return run


def test_nir_birth_year_and_month_must_match_the_birth_date(check: Any) -> None:
    assert nir(TEST_INS[:13]) == TEST_INS  # the key helper agrees with the INS test identity
    assert check() == {"valid": True}
    year = check(birth_date="1980-03-14")
    print(f"\nbirth year 1980 with a NIR of 1979: {year}")
    assert year["valid"] is False and year["field"] == "birth_date" and "année de naissance" in year["message"]
    month = check(birth_date="1979-04-14")
    assert month["valid"] is False and month["field"] == "birth_date" and "mois de naissance" in month["message"]
    assert check(birth_date="2079-03-14")["valid"] is True  # only the last two digits are in the NIR
    # conventional months: not a month of the calendar, not compared (the year still is)
    for code in ("20", "35", "42", "99"):
        ins = nir("279" + code + TEST_INS[5:13])
        assert check(ins=ins, birth_date="1979-07-01")["valid"] is True, code
        assert check(ins=ins, birth_date="1978-07-01")["field"] == "birth_date", code


def test_messages_name_the_problem_without_field_ids(check: Any) -> None:
    cases = {"ins": dict(ins=TEST_INS[:-2] + "00"), "sex": dict(sex="male"), "birth_date": dict(birth_date="1980-03-14"),
             "birth_place_cog": dict(birth_place_cog=None), "family": dict(family=None)}
    for field, change in cases.items():
        r = check(**change)
        assert r["valid"] is False and r["field"] == field
        assert f"({field})" not in r["message"] and "(" + field not in r["message"], r["message"]
    assert check.client.post("/api/lang", json={"lang": "en"}).status_code == 200
    r = check(birth_date="1980-03-14")
    assert r["message"] == "INS birth year does not match the birth date"  # the CLI's wording, no field detail
