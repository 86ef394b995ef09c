"""FR Core conformance rules, each taken from the profile source (Interop-Sante/hl7.fhir.fr.core, input/fsh/) and
citing the element it checks. Target: FR Core **2.1.0** (the latest published release, https://hl7.fr/ig/fhir/core,
2024-10-29). Where the current source (2.2.0-ballot) differs, the rule says so and the mapping satisfies both.

Each rule is (id, resource type, applies-to FHIRPath or "", FHIRPath that must be true, citation). The FHIR
invariants fr-core-1 / fr-core-2 / fr-core-identity-reliability-1/-2 are copied verbatim from the profile source;
the others are the profile's cardinalities, fixed values and required bindings written as FHIRPath. A few rules
that need the whole bundle (references resolving to the profiled resources) are code, in :func:`violations`.

No FR Core validator runs in the test suite (the official validator needs Java and the FR Core package), so these
rules are the FR Core check; they are shown to fail on the bundles of the previous mapping (tests/fhir/data/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhirpathpy import evaluate
from fhirpathpy.models import models

R4 = models["r4"]
FR = "https://hl7.fr/ig/fhir/core"
CS_0203 = f"{FR}/CodeSystem/fr-core-cs-v2-0203"
HL7_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
IR = f"{FR}/StructureDefinition/fr-core-identity-reliability"
BIRTH_LIST = f"{FR}/StructureDefinition/fr-core-patient-birth-list-given-name"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
INSEE = f"{FR}/StructureDefinition/fr-core-address-insee-code"
TRE_R13 = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
TRE_G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
INS_OIDS = {"INS-NIR": "urn:oid:1.2.250.1.213.1.4.8", "INS-NIA": "urn:oid:1.2.250.1.213.1.4.9",
            "INS-NIR-TEST": "urn:oid:1.2.250.1.213.1.4.10", "INS-NIR-DEMO": "urn:oid:1.2.250.1.213.1.4.11"}
_INS_IN = "(" + " | ".join(f"'{v}'" for v in INS_OIDS.values()) + ")"
#: FR Core 2.1.0 binds identityStatus to fr-core-vs-identity-reliability = every code of fr-core-cs-v2-0445
#: (codesystems/FRCoreCodeSystemv2-0445.fsh); the 2.2.0 ballot moves it to fr-core-cs-identity-status (PROV, VALI,
#: RECUP, QUAL). VALI is in both, and fr-core-1/fr-core-2 (both versions) key the INS on VALI.
V2_0445 = f"{FR}/CodeSystem/fr-core-cs-v2-0445"
IDENTITY_STATUS_2_2 = f"{FR}/CodeSystem/fr-core-cs-identity-status"
#: codesystems/FRCoreCodeSystemIdentityModeValidation.fsh (fr-core-cs-mode-validation-identity)
VALIDATION_MODES = ("CN", "PA", "CS", "eCN", "IN", "AV", "LECV", "AN", "LEP", "CC", "ANCV")
_MODES_IN = "(" + " | ".join(f"'{c}'" for c in VALIDATION_MODES) + ")"

INS_PATIENT = (f"identifier.where(system in {_INS_IN}).exists() or "
               f"meta.profile.where($this = '{FR}/StructureDefinition/fr-core-patient-ins').exists()")


@dataclass(frozen=True)
class Rule:
    id: str
    resource: str
    applies: str  # FHIRPath; "" = every resource of that type
    expr: str  # FHIRPath that must evaluate to true
    cite: str  # profile (file) and element


def _ins_slice(name: str, use: str, cite_use: str) -> Rule:
    oid = INS_OIDS[name]
    return Rule(f"ins-slice-{name}", "Patient", INS_PATIENT,
                f"identifier.where(system = '{oid}').all({use} and "
                f"type.coding.where(system = '{CS_0203}' and code = '{name}').exists() and value.exists())",
                f"FRCorePatientINSProfile identifier[{name}]: {cite_use}, type = $fr-core-v2-0203#{name} (1..), "
                f"system = {oid}, value 1..")


RULES: tuple[Rule, ...] = (
    # --- FRCorePatientINSProfile (profiles/FRCorePatientINSProfile.fsh), invariants verbatim ---
    Rule("fr-core-1", "Patient", "",
         f"(extension('{IR}').extension('identityStatus').value.exists(code = 'VALI')) implies "
         "(identifier.where(system = 'urn:oid:1.2.250.1.213.1.4.8' and use = 'official').exists() or "
         "identifier.where(system = 'urn:oid:1.2.250.1.213.1.4.9' and use = 'temp').exists() or "
         "identifier.where(system = 'urn:oid:1.2.250.1.213.1.4.10' and use = 'official').exists() or "
         "identifier.where(system = 'urn:oid:1.2.250.1.213.1.4.11' and use = 'official').exists())",
         "FRCorePatientINSProfile invariant fr-core-1 (VALI implies an INS identifier with its use)"),
    Rule("fr-core-2", "Patient", "",
         f"(extension('{IR}').extension('identityStatus').value.exists(code = 'VALI')) implies "
         "(identifier.where(use = 'official').count() = 1 or "
         "identifier.where(system = 'urn:oid:1.2.250.1.213.1.4.9' and use = 'temp').exists())",
         "FRCorePatientINSProfile invariant fr-core-2 (VALI: one official identifier)"),
    Rule("ins-meta-profile", "Patient", INS_PATIENT,
         f"meta.profile.where($this = '{FR}/StructureDefinition/fr-core-patient-ins').exists()",
         "FRCorePatientINSProfile meta.profile[fr-ins-canonical] = Canonical(fr-core-patient-ins): an INS may only "
         "be carried by the INS profile (profile description)"),
    Rule("ins-identity-reliability-1..*", "Patient", INS_PATIENT, f"extension('{IR}').exists()",
         "FRCorePatientINSProfile extension[identityReliability] 1..*"),
    Rule("ins-identity-status-vali", "Patient", INS_PATIENT,
         f"extension('{IR}').extension('identityStatus').value.where(code = 'VALI').exists()",
         "FRCorePatientINSProfile profile description: the INS only for a qualified identity (fr-core-1 keys it "
         "on identityStatus VALI)"),
    Rule("identity-status-binding", "Patient", "",
         f"extension('{IR}').extension('identityStatus').value.all((system = '{V2_0445}' or "
         f"system = '{IDENTITY_STATUS_2_2}') and code.exists())",
         "FRCorePatientIdentityReliabilityExtension extension[identityStatus].value[x] only Coding, required "
         "binding (2.1.0: fr-core-vs-identity-reliability / fr-core-cs-v2-0445; 2.2.0-ballot: "
         "fr-core-cs-identity-status)"),
    Rule("validation-mode-binding", "Patient", "",
         f"extension('{IR}').extension('validationMode').value.all(system = "
         f"'{FR}/CodeSystem/fr-core-cs-mode-validation-identity' and code in {_MODES_IN})",
         "FRCorePatientIdentityReliabilityExtension extension[validationMode] from "
         "fr-core-vs-mode-validation-identity (required)"),
    Rule("fr-core-identity-reliability-1", "Patient", "",
         f"extension('{IR}').all(extension('comment').value.coding.exists(code = 'DOUT' or code = 'FICT') "
         "implies extension('identityStatus').value.exists(code = 'PROV'))",
         "FRCorePatientIdentityReliabilityExtension invariant fr-core-identity-reliability-1 (2.2.0-ballot; "
         "evaluated on each extension)"),
    Rule("fr-core-identity-reliability-2", "Patient", "",
         f"extension('{IR}').all(extension('comment').value.coding.where(code = 'FICT').exists() implies "
         "extension('comment').value.coding.where(code = 'DOUT').empty())",
         "FRCorePatientIdentityReliabilityExtension invariant fr-core-identity-reliability-2 (2.2.0-ballot)"),
    Rule("ins-birthplace-1..1", "Patient", INS_PATIENT, f"extension('{BIRTH_PLACE}').count() = 1",
         "FRCorePatientINSProfile extension[birthPlace] 1..1"),
    Rule("ins-birthplace-insee-1..1", "Patient", INS_PATIENT,
         f"extension('{BIRTH_PLACE}').value.extension('{INSEE}').count() = 1",
         "FRCorePatientINSProfile extension[birthPlace].valueAddress.extension[inseeCode] 1..1"),
    Rule("insee-code-coding", "Patient", "",
         f"extension('{BIRTH_PLACE}').value.extension('{INSEE}').value.all(system = '{TRE_R13}' and "
         "code.length() = 5)",
         "FRCoreAddressInseeCodeExtension value[x] only Coding from FRCoreValueSetINSEECode (TRE-R13-CommuneOM), "
         "5-character code"),
    Rule("ins-identifier-1..", "Patient", INS_PATIENT, "identifier.exists()",
         "FRCorePatientINSProfile identifier 1.."),
    _ins_slice("INS-NIR", "(use = 'official' or use = 'old')",
               "use 1.. from FRCoreValueSetPatientIdentifierUseINS (official | old)"),
    _ins_slice("INS-NIA", "use = 'temp'", "use 1.. = #temp"),
    _ins_slice("INS-NIR-TEST", "use = 'official'", "use 1.. = #official"),
    _ins_slice("INS-NIR-DEMO", "use = 'official'", "use 1.. = #official"),
    Rule("ins-gender", "Patient", INS_PATIENT, "gender.exists() and (gender in ('male' | 'female' | 'unknown'))",
         "FRCorePatientINSProfile gender 1..1 from fr-core-vs-patient-gender-INS (required)"),
    Rule("ins-birthdate", "Patient", INS_PATIENT, "birthDate.exists()", "FRCorePatientINSProfile birthDate 1.."),
    Rule("ins-official-name-1..1", "Patient", INS_PATIENT, "name.where(use = 'official').count() = 1",
         "FRCorePatientINSProfile name[officialName] 1..1"),
    Rule("ins-official-given-1..1", "Patient", INS_PATIENT, "name.where(use = 'official').all(given.count() = 1)",
         "FRCorePatientINSProfile name[officialName].given 1..1 (the first birth given name)"),
    Rule("ins-birth-list-given-name-1..1", "Patient", INS_PATIENT,
         f"name.where(use = 'official').all(extension('{BIRTH_LIST}').count() = 1)",
         "FRCorePatientINSProfile name[officialName].extension[birth-list-given-name] 1..1 "
         "(extensions/FRCorePatientBirthName.fsh: Id fr-core-patient-birth-list-given-name)"),
    Rule("birth-list-given-name-string", "Patient", "",
         f"name.extension('{BIRTH_LIST}').all(value is string)",
         "FRCorePatientBirthListGivenName value[x] only string"),
    Rule("birth-list-starts-with-given", "Patient", "",
         f"name.where(extension('{BIRTH_LIST}').exists()).all(extension('{BIRTH_LIST}').value.startsWith("
         "given.first()))",
         "FRCorePatientBirthListGivenName short: the list holds every birth given name, space-separated, "
         "including the first, which is also name.given"),
    # --- FRCorePatientProfile (profiles/FRCorePatientProfile.fsh) ---
    Rule("official-name-family-given", "Patient", "",
         "name.where(use = 'official').all(family.exists() and given.exists())",
         "FRCorePatientProfile name[officialName].family 1.., .given 1.."),
    Rule("pi-slice", "Patient", "",
         f"identifier.where(type.coding.where(system = '{HL7_0203}' and code = 'PI').exists())"
         ".all(use.exists() and system.exists() and value.exists())",
         "FRCorePatientProfile identifier[PI]: use 1.., system 1.., value 1.."),
    # --- FRCorePractitionerProfile (profiles/FRCorePractitionerProfile.fsh) ---
    Rule("practitioner-meta-profile", "Practitioner", "",
         f"meta.profile.where($this = '{FR}/StructureDefinition/fr-core-practitioner').exists()",
         "FRCorePractitionerProfile meta.profile[fr-canonical] = Canonical(fr-core-practitioner)"),
    Rule("idnatps-0..1", "Practitioner", "", "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.1').count() <= 1",
         "FRCorePractitionerProfile identifier[idNatPs] 0..1"),
    Rule("idnatps-type-IDNPS", "Practitioner", "",
         "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.1').all(type.coding.where("
         f"system = '{CS_0203}' and code = 'IDNPS').exists() and value.exists())",
         "FRCorePractitionerProfile identifier[idNatPs].type 1.. = fr-core-cs-v2-0203#IDNPS, value 1.."),
    Rule("idnatps-prefix", "Practitioner", "",
         "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.1').all(value.matches('^(8[0-9]{11}|0[0-9]{9})$'))",
         "FRCorePractitionerProfile identifier[idNatPs].value definition: prefixed by its source (TRE-G08), "
         "8 + RPPS (11 digits) or 0 + ADELI (9 digits)"),
    Rule("rpps-slice", "Practitioner", "",
         "identifier.where(system = 'https://rpps.esante.gouv.fr').all(type.coding.where("
         f"system = '{CS_0203}' and code = 'RPPS').exists() and value.matches('^[0-9]{{11}}$'))",
         "FRCorePractitionerProfile identifier[rpps]: type 1.. = fr-core-cs-v2-0203#RPPS, system "
         "https://rpps.esante.gouv.fr, value 1.. (RPPS, 11 digits)"),
    Rule("rpps-matches-idnatps", "Practitioner", "identifier.where(system = 'https://rpps.esante.gouv.fr').exists()",
         "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.1').value = "
         "'8' + identifier.where(system = 'https://rpps.esante.gouv.fr').value",
         "FRCorePractitionerProfile identifier[rpps] comment: the RPPS can also be carried in idNatPs (8 + RPPS); "
         "both name the same person"),
    Rule("practitioner-identifier-types", "Practitioner", "",
         f"identifier.type.coding.all((system = '{CS_0203}' and code in ('ADELI' | 'RPPS' | 'IDNPS' | 'INTRN')) or "
         f"(system = '{HL7_0203}' and code = 'EI'))",
         "FRCorePractitionerProfile identifier.type from FRCoreValueSetPractitionerIdentifierType (extensible)"),
    Rule("practitioner-name", "Practitioner", "", "name.exists() and name.all(family.exists())",
         "FRCorePractitionerProfile name only FRCoreHumanNameProfile (family name of the professional)"),
    # --- FRCoreOrganizationProfile (profiles/FRCoreOrganizationProfile.fsh) ---
    Rule("organization-meta-profile", "Organization", "",
         f"meta.profile.where($this = '{FR}/StructureDefinition/fr-core-organization').exists()",
         "FRCoreOrganizationProfile meta.profile[fr-canonical] = Canonical(fr-core-organization)"),
    Rule("organization-identifier-system-value", "Organization", "", "identifier.all(system.exists() and value.exists())",
         "FRCoreOrganizationProfile identifier.system 1.., identifier.value 1.."),
    Rule("organization-identifier-use", "Organization", "",
         "identifier.use.all($this in ('usual' | 'official' | 'temp' | 'secondary' | 'old'))",
         "FRCoreOrganizationProfile identifier.use from IdentifierUse (required)"),
    Rule("idnatst", "Organization", "",
         "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.2').count() <= 1 and "
         "identifier.where(system = 'urn:oid:1.2.250.1.71.4.2.2').all(use = 'official' and type.coding.where("
         f"system = '{CS_0203}' and code = 'IDNST').exists() and value.matches('^(1[0-9A-B]{{9}}|3[0-9]{{14}})$'))",
         "FRCoreOrganizationProfile identifier[idNatSt] 0..1: use = official, type = #IDNST, value prefixed "
         "1 + FINESS or 3 + SIRET"),
    Rule("finess-slice", "Organization", "",
         "identifier.where(system = 'https://finess.esante.gouv.fr').all(type.coding.where("
         f"system = '{CS_0203}' and (code = 'FINEG' or code = 'FINEJ')).exists() and "
         "value.matches('^[0-9][0-9AB][0-9]{7}$'))",
         "FRCoreOrganizationProfile identifier[finess]: system https://finess.esante.gouv.fr, type FINEJ | FINEG "
         "(9 characters)"),
    Rule("siret-slice", "Organization", "",
         "identifier.where(type.coding.where(code = 'SIRET').exists()).all(system = 'https://sirene.fr' and "
         "value.matches('^[0-9]{14}$'))",
         "FRCoreOrganizationProfile identifier[siret]: type #SIRET, system https://sirene.fr (14 digits)"),
    Rule("organization-identifier-types", "Organization", "",
         f"identifier.type.coding.all(system = '{CS_0203}' and code in "
         "('FINEJ' | 'FINEG' | 'SIREN' | 'SIRET' | 'IDNST' | 'INTRN' | 'EXTRN'))",
         "FRCoreOrganizationProfile identifier.type from FRCoreValueSetOrganizationIdentifierType (extensible)"),
    # --- FRCorePractitionerRoleProfile (profiles/FRCorePractitionerRoleProfile.fsh) ---
    Rule("role-meta-profile", "PractitionerRole", "",
         f"meta.profile.where($this = '{FR}/StructureDefinition/fr-core-practitioner-role').exists()",
         "FRCorePractitionerRoleProfile meta.profile[fr-canonical] = Canonical(fr-core-practitioner-role)"),
    Rule("role-links", "PractitionerRole", "", "practitioner.exists() and organization.exists()",
         "FRCorePractitionerRoleProfile description: the practitioner's role (situation d'exercice) in the "
         "context of an organization"),
    Rule("role-code-profession", "PractitionerRole", "",
         f"code.coding.where(system = '{TRE_G15}').exists()",
         "FRCorePractitionerRoleProfile code (preferred fr-core-vs-practitioner-role-exercice); the profession as "
         "ANS profiles code it (TRE-G15-ProfessionSante, e.g. 60 Infirmier, 10 Médecin)"),
)

#: resource reference element -> (referenced type, profile the reference must resolve to)
_PROFILED_REFS: tuple[tuple[str, str, str, str], ...] = (
    ("PractitionerRole", "practitioner", "Practitioner", f"{FR}/StructureDefinition/fr-core-practitioner"),
    ("PractitionerRole", "organization", "Organization", f"{FR}/StructureDefinition/fr-core-organization"),
)
CODE_RULES = (
    ("role-practitioner-profiled", "FRCorePractitionerRoleProfile practitioner only Reference(FRCorePractitionerProfile)"),
    ("role-organization-profiled", "FRCorePractitionerRoleProfile organization only Reference(FRCoreOrganizationProfile)"),
    ("every-practitioner-has-a-role", "FRCorePractitionerRoleProfile: each professional of the examination is "
                                      "placed in the practice (Organization) by a PractitionerRole"),
)


def rule_count() -> int:
    return len(RULES) + len(CODE_RULES)


def _true(res: dict[str, Any], expr: str) -> bool:
    return bool(evaluate(res, expr, {"resource": res}, R4) == [True])


def _applies(res: dict[str, Any], rule: Rule) -> bool:
    if rule.resource != res.get("resourceType"):
        return False
    return not rule.applies or _true(res, rule.applies)


def violations(bundle: dict[str, Any]) -> list[str]:
    """Every FR Core rule violated by the bundle's resources (empty = conformant), as ``rule-id: resource``."""
    problems: list[str] = []
    by_url = {e["fullUrl"]: e["resource"] for e in bundle.get("entry", [])}
    for url, res in by_url.items():
        for rule in RULES:
            if _applies(res, rule) and not _true(res, rule.expr):
                problems.append(f"{rule.id}: {res['resourceType']} {url}")
    roles = [r for r in by_url.values() if r["resourceType"] == "PractitionerRole"]
    for (rtype, element, target, profile), (rule_id, _) in zip(_PROFILED_REFS, CODE_RULES, strict=False):
        for role in (r for r in by_url.values() if r["resourceType"] == rtype):
            ref = (role.get(element) or {}).get("reference", "")
            res = by_url.get(ref)
            if res is None or res["resourceType"] != target or profile not in res.get("meta", {}).get("profile", []):
                problems.append(f"{rule_id}: {rtype}.{element} -> {ref or 'none'}")
    placed = {(r.get("practitioner") or {}).get("reference") for r in roles if r.get("organization")}
    for url, res in by_url.items():
        if res["resourceType"] == "Practitioner" and url not in placed:
            problems.append(f"every-practitioner-has-a-role: Practitioner {url}")
    return problems
