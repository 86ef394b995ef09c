"""FR Core 2.1.0 conformance (tests/fhir/frcore_rules.py, each rule citing its profile element): the rules hold on
every kind of bundle we emit, and they fail on the bundles of the previous mapping (main at 2835003) and on
targeted breakages, so they can fail. National identifiers of professionals are required outside test mode."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.fhir import fixtures as F
from tests.fhir.bundle_kinds import KINDS, all_bundles
from tests.fhir.fixtures import spirometry_bundle
from tests.fhir.frcore_rules import RULES, rule_count, violations

from asalee_devices.config import Config, PersonConfig, PracticeConfig, validate
from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.context import PatientContext, PerformerContext

MAIN_FIXTURE = Path(__file__).parent / "data" / "main-2835003-identities.json"


def _bundle(patient: PatientContext | None = None, **exam_changes: Any) -> dict[str, Any]:
    session, preds, _ = F.spiro_session()
    return dict(json.loads(to_json(spirometry_bundle(replace(F.exam(), **exam_changes), patient or F.patient(),
                                                     session, preds))))  # type: ignore[arg-type]


def _res(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_every_rule_cites_a_profile_element() -> None:
    assert rule_count() >= 40
    for rule in RULES:
        assert rule.cite.startswith("FRCore"), rule.id
    assert len({r.id for r in RULES}) == len(RULES)


def test_frcore_rules_hold_on_every_bundle_kind(shared_data: Path, tmp_path: Path) -> None:
    bundles = all_bundles(shared_data, tmp_path)
    assert tuple(bundles) == KINDS
    for kind, bundle in bundles.items():
        assert violations(bundle) == [], kind
        types = sorted({e["resource"]["resourceType"] for e in bundle["entry"]})
        assert {"Patient", "Practitioner", "PractitionerRole", "Organization"} <= set(types), kind
    print(f"\n{rule_count()} FR Core rules hold on {len(bundles)} bundle kinds: {', '.join(bundles)}")


def test_frcore_rules_fail_on_the_previous_mapping() -> None:
    """Bundles built by main at 2835003 (before this mapping) from the same fixtures: every one violates FR Core
    (birth-list extension URL, idNatPs without type IDNPS, no Organization / PractitionerRole)."""
    data = json.loads(MAIN_FIXTURE.read_text(encoding="utf-8"))
    total = 0
    for kind in ("spirometry-pre", "spirometry-post", "ecg", "ecg-interpretation"):
        found = violations(data[kind])
        ids = {v.split(":")[0] for v in found}
        assert {"ins-birth-list-given-name-1..1", "idnatps-type-IDNPS", "every-practitioner-has-a-role"} <= ids
        total += len(found)
    print(f"\nprevious mapping: {total} FR Core violations over 4 bundles")


def test_ins_nia_is_sent_with_use_temp() -> None:
    session, preds, _ = F.spiro_session()
    nia = F.patient(ins="379035121518912", ins_kind="INS-NIA")
    doc = json.loads(to_json(spirometry_bundle(F.exam(), nia, session, preds)))  # type: ignore[arg-type]
    (patient,) = _res(doc, "Patient")
    (ins,) = [i for i in patient["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.9"]
    assert ins["use"] == "temp" and ins["type"]["coding"][0]["code"] == "INS-NIA"
    assert violations(doc) == []
    ins["use"] = "official"  # what the previous mapping sent
    ids = {v.split(":")[0] for v in violations(doc)}
    assert {"fr-core-1", "ins-slice-INS-NIA"} <= ids


def _mutations() -> list[tuple[str, str, Any]]:
    """(rule expected to fail, resource type, mutation of that resource)."""
    def drop_ext(url_part: str) -> Any:
        return lambda r: r.__setitem__("extension", [e for e in r["extension"] if url_part not in e["url"]])

    return [
        ("ins-birthplace-1..1", "Patient", drop_ext("birthPlace")),
        ("ins-identity-reliability-1..*", "Patient", drop_ext("identity-reliability")),
        ("ins-meta-profile", "Patient", lambda r: r.pop("meta")),
        ("ins-gender", "Patient", lambda r: r.__setitem__("gender", "other")),
        ("ins-birthdate", "Patient", lambda r: r.pop("birthDate")),
        ("ins-official-given-1..1", "Patient", lambda r: r["name"][0]["given"].append("Louise")),
        ("birth-list-starts-with-given", "Patient", lambda r: r["name"][0]["extension"][0].__setitem__(
            "valueString", "Louise")),
        ("ins-slice-INS-NIR-TEST", "Patient", lambda r: r["identifier"][0]["type"]["coding"][0].__setitem__(
            "code", "INS-NIR")),
        ("validation-mode-binding", "Patient", lambda r: r["extension"][0]["extension"][1]["valueCoding"]
         .__setitem__("code", "XX")),
        ("idnatps-prefix", "Practitioner", lambda r: r["identifier"][0].__setitem__("value", "10000000001")),
        ("rpps-matches-idnatps", "Practitioner", lambda r: r["identifier"][1].__setitem__("value", "10000000009")),
        ("practitioner-meta-profile", "Practitioner", lambda r: r.pop("meta")),
        ("finess-slice", "Organization", lambda r: r["identifier"][1]["type"]["coding"][0].__setitem__(
            "code", "FINESS")),
        ("idnatst", "Organization", lambda r: r["identifier"][0].__setitem__("value", F.TEST_FINESS)),
        ("siret-slice", "Organization", lambda r: r["identifier"][2].__setitem__("value", "123")),
        ("role-links", "PractitionerRole", lambda r: r.pop("organization")),
        ("role-organization-profiled", "PractitionerRole", lambda r: r.pop("organization")),
        ("role-code-profession", "PractitionerRole", lambda r: r.pop("code")),
    ]


@pytest.mark.parametrize(("rule_id", "rtype", "mutate"), _mutations(), ids=[m[0] for m in _mutations()])
def test_each_rule_catches_its_breakage(rule_id: str, rtype: str, mutate: Any) -> None:
    doc = copy.deepcopy(_bundle())
    assert violations(doc) == []
    mutate(_res(doc, rtype)[0])
    assert rule_id in {v.split(":")[0] for v in violations(doc)}


def test_practitioners_have_national_identifiers_and_roles_in_the_practice() -> None:
    doc = _bundle()
    nurse = next(p for p in _res(doc, "Practitioner") if p["name"][0]["family"] == "INFIRMIERE")
    assert nurse["identifier"][0] == {"type": {"coding": [{
        "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "IDNPS",
        "display": "Identifiant National de Professionnel de Santé"}]},
        "system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}
    (org,) = _res(doc, "Organization")
    assert {(i["system"], i["value"]) for i in org["identifier"]} == {
        ("urn:oid:1.2.250.1.71.4.2.2", "1" + F.TEST_FINESS), ("https://finess.esante.gouv.fr", F.TEST_FINESS),
        ("https://sirene.fr", F.TEST_SIRET)}
    roles = _res(doc, "PractitionerRole")
    assert sorted(r["code"][0]["coding"][0]["code"] for r in roles) == ["10", "60"]  # Médecin, Infirmier
    # the role's identity is the professional's and the practice's, not the examination's
    other = _bundle(exam_id="another-exam")
    assert {json.dumps(r["identifier"]) for r in roles} == {json.dumps(r["identifier"])
                                                             for r in _res(other, "PractitionerRole")}


def test_two_namesakes_are_two_practitioners() -> None:
    """The previous mapping identified a professional without RPPS by a hash of the name: namesakes merged."""
    a = _bundle(performer=PerformerContext("DUPONT", "Marie", rpps="10000000011"))
    b = _bundle(performer=PerformerContext("DUPONT", "Marie", rpps="10000000029"))
    ident = [next(p for p in _res(d, "Practitioner") if p["name"][0]["family"] == "DUPONT")["identifier"][0]
             for d in (a, b)]
    assert ident[0] != ident[1]


def test_no_national_identifier_refused_outside_test_mode_demo_identifier_in_test_mode() -> None:
    with pytest.raises(PatientDataError) as err:
        _bundle(F.patient(ins=None, identity_qualified=False, local_id="P-1", local_system="urn:oid:1.2.3.4"),
                performer=PerformerContext("INFIRMIERE", "Anne"), test_mode=False)
    assert err.value.field == "nurse.rpps"
    demo = _bundle(performer=PerformerContext("INFIRMIERE", "Anne"), practice_finess="", practice_siret="")
    nurse = next(p for p in _res(demo, "Practitioner") if p["name"][0]["family"] == "INFIRMIERE")
    assert nurse["identifier"][0]["value"] == "DEMO-NURSE"
    assert _res(demo, "Organization")[0]["identifier"][0]["value"] == "DEMO-PRACTICE"
    assert violations(demo) == []


def test_config_check_requires_rpps_and_finess_or_siret_outside_test_mode() -> None:
    demo = Config()
    assert validate(demo) == []  # the demo configuration: test mode, demo identifiers
    prod = replace(Config(), test_mode=False)
    problems = validate(prod)
    assert any("nurse.rpps is required" in p for p in problems)
    assert any("gp.rpps is required" in p for p in problems)
    assert any("practice.finess or practice.siret" in p for p in problems)
    ok = replace(prod, nurse=PersonConfig("INFIRMIERE", "Anne", rpps="10000000001"),
                 gp=PersonConfig("MEDECIN", "Paul", rpps="10000000002"),
                 practice=PracticeConfig("Cabinet", siret=F.TEST_SIRET))
    assert validate(ok) == []
    assert any("practice.siret" in p for p in validate(replace(ok, practice=PracticeConfig("C", siret="12345678901234"))))


def _codings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        here = [node] if "system" in node and "code" in node and not isinstance(node.get("code"), dict) else []
        return here + [c for v in node.values() for c in _codings(v)]
    if isinstance(node, list):
        return [c for x in node for c in _codings(x)]
    return []


def test_every_loinc_coding_has_its_published_display(shared_data: Path, tmp_path: Path) -> None:
    """LOINC displays (issue 17): from the MII Lungenfunktion value sets (codes.LOINC_DISPLAY); FET 65819-5 has
    none (not found in a LOINC-derived source) and is the only LOINC code sent without one."""
    from asalee_devices.fhir_out.codes import LOINC, LOINC_DISPLAY

    seen: set[str] = set()
    for bundle in all_bundles(shared_data, tmp_path).values():
        for c in _codings(bundle):
            if c["system"] == LOINC:
                seen.add(c["code"])
                assert c.get("display") == LOINC_DISPLAY.get(c["code"]), c
    assert {"19927-3", "65655-3", "18759-1", "69970-2"} <= seen
    assert seen - set(LOINC_DISPLAY) == {"65819-5"}
