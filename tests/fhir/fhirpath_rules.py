"""FHIRPath invariants checked on emitted resources with fhirpathpy and the R4 model (without the model, choice
types such as value[x] silently evaluate to empty)."""

from __future__ import annotations

from typing import Any

from fhirpathpy import evaluate
from fhirpathpy.models import models

R4 = models["r4"]
_INS = "('urn:oid:1.2.250.1.213.1.4.8' | 'urn:oid:1.2.250.1.213.1.4.9' | 'urn:oid:1.2.250.1.213.1.4.10' | " \
       "'urn:oid:1.2.250.1.213.1.4.11')"
_VALI = ("extension.where(url='https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability')"
         ".extension.where(url='identityStatus').value.where(code = 'VALI').exists()")

#: (resource type or "*", name, expression that must be true)
RULES: list[tuple[str, str, str]] = [
    ("Observation", "obs-6", "dataAbsentReason.empty() or value.empty()"),
    ("Observation", "obs-7",
     "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()"),
    ("Observation", "has-value-or-components-or-absent",
     "value.exists() or component.exists() or dataAbsentReason.exists()"),
    ("Patient", "fr-core-1", f"({_VALI}).not() or identifier.where(system in {_INS} and use = 'official')"
                             ".exists()"),
    ("Patient", "fr-core-2", f"({_VALI}).not() or identifier.where(use = 'official').count() = 1"),
    ("Patient", "ins-only-if-qualified", f"identifier.where(system in {_INS}).empty() or ({_VALI})"),
    ("Patient", "ins-needs-gender-birthdate-birthplace",
     f"identifier.where(system in {_INS}).empty() or (gender.exists() and birthDate.exists() and "
     "extension.where(url='http://hl7.org/fhir/StructureDefinition/patient-birthPlace').exists())"),
    ("Patient", "ins-15-characters", f"identifier.where(system in {_INS}).all(value.length() = 15)"),
    ("DiagnosticReport", "no-conclusion", "conclusion.empty() and conclusionCode.empty()"),
    ("DiagnosticReport", "preliminary", "status = 'preliminary'"),
    ("Observation", "sampled-data-1d", "component.value.ofType(SampledData).all(dimensions = 1)"),
    ("Quantity", "ucum", "true"),
]


def _check(res: dict[str, Any], expr: str) -> bool:
    out = evaluate(res, expr, {"resource": res}, R4)
    return out == [True]


def violations(bundle: dict[str, Any]) -> list[str]:
    """Every rule violated by any entry of a bundle (empty = all good), plus bundle-level rules."""
    problems: list[str] = []
    for entry in bundle["entry"]:
        res = entry["resource"]
        for rtype, name, expr in RULES:
            if rtype == res["resourceType"] and not _check(res, expr):
                problems.append(f"{res['resourceType']} {entry['fullUrl']}: {name}")
    for name, expr in (
        ("bdl-7 fullUrl distinct", "entry.fullUrl.isDistinct()"),
        ("transaction entries have request", "entry.all(request.exists())"),
        ("ifNoneExist on every entry", "entry.all(request.ifNoneExist.exists())"),
        ("urn:uuid full URLs", "entry.all(fullUrl.startsWith('urn:uuid:'))"),
        ("quantities use UCUM", "descendants().ofType(Quantity).where(code.exists()).all("
                                "system = 'http://unitsofmeasure.org')"),
    ):
        if not _check(bundle, expr):
            problems.append(f"Bundle: {name}")
    return problems
