"""Code systems and code tables used by the FHIR mapping (see docs/fhir-mapping.md and the integration reference).

MDC (ISO/IEEE 11073-10101) 32-bit codes are partition x 65536 + term code; predicted-value codes are the measured
code + 33 554 432 (partition 514 instead of 2). Both rules are checked by the tests against the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
FR_CORE_V2_0203 = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
FR_CORE_IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
FR_CORE_IDENTITY_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"  # FR Core 2.1 (2.2 ballot: fr-core-cs-identity-status)
FR_CORE_VALIDATION_MODE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
FR_CORE_PATIENT_INS = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
#: extensions/FRCorePatientBirthName.fsh, Id fr-core-patient-birth-list-given-name (required 1..1 by the INS profile)
FR_CORE_BIRTH_LIST_GIVEN_NAME = ("https://hl7.fr/ig/fhir/core/StructureDefinition/"
                                 "fr-core-patient-birth-list-given-name")
FR_CORE_PRACTITIONER = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner"
FR_CORE_PRACTITIONER_ROLE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner-role"
FR_CORE_ORGANIZATION = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-organization"
#: Patient.identifier.use per INS kind (FRCorePatientINSProfile: INS-NIA use = #temp, the others #official)
INS_USE: dict[str, str] = {"INS-NIR": "official", "INS-NIA": "temp", "INS-NIR-TEST": "official",
                           "INS-NIR-DEMO": "official"}
#: FR Core identifier systems of professionals and organisations (FRCorePractitionerProfile identifier[rpps],
#: FRCoreOrganizationProfile identifier[finess] / [siret])
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
SIRENE_SYSTEM = "https://sirene.fr"
#: ANS nomenclature TRE-G15 (profession de santé): the profession in PractitionerRole.code, as ANS profiles code it
TRE_G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
PROFESSIONS: dict[str, tuple[str, str]] = {"nurse": ("60", "Infirmier"), "gp": ("10", "Médecin")}
TRE_R13_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
PATIENT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
FR_INSEE_COG_EXT = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"

#: Our namespace (identifier systems and the project CodeSystems). A placeholder under example.org until the
#: organisation registers its own; identifiers stay stable as long as this string does.
ASALEE_BASE = "http://asalee-devices.example.org/fhir"
CS_SPIRO = f"{ASALEE_BASE}/CodeSystem/asalee-spiro"
CS_ECG = f"{ASALEE_BASE}/CodeSystem/asalee-ecg"
CS_EQUATION = f"{ASALEE_BASE}/CodeSystem/asalee-reference-equation"
ID_SYSTEM = f"{ASALEE_BASE}/identifier"
TAG_SYSTEM = f"{ASALEE_BASE}/provenance-id"

#: INS identifier systems (FR Core): production NIR, temporary NIA, and the test/demo systems.
INS_SYSTEMS: dict[str, str] = {
    "INS-NIR": "urn:oid:1.2.250.1.213.1.4.8",
    "INS-NIA": "urn:oid:1.2.250.1.213.1.4.9",
    "INS-NIR-TEST": "urn:oid:1.2.250.1.213.1.4.10",
    "INS-NIR-DEMO": "urn:oid:1.2.250.1.213.1.4.11",
}
TEST_INS_KINDS = frozenset({"INS-NIR-TEST", "INS-NIR-DEMO"})
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
ID_NAT_STRUCT = "urn:oid:1.2.250.1.71.4.2.2"

PREDICTED_OFFSET = 33_554_432  # MDC partition 514 - partition 2, x 65536


def mdc(partition: int, term: int) -> int:
    return partition * 65536 + term


@dataclass(frozen=True)
class SpiroCode:
    """Codes of one spirometry parameter. ``None`` where no code exists (never guessed)."""

    key: str
    label: str
    loinc: str | None
    loinc_pre: str | None
    loinc_post: str | None
    mdc: int
    mdc_ref: str
    unit: str  # UCUM
    loinc_predicted: str | None
    loinc_pct_predicted: str | None
    #: SNOMED CT observable entity, only where LOINC has no code for the parameter (sent after the MDC code)
    snomed: tuple[str, str] | None = None


SPIRO_CODES: dict[str, SpiroCode] = {c.key: c for c in (
    SpiroCode("fev1", "FEV1", "20150-9", "20157-4", "20155-8", 152586, "MDC_VOL_AWAY_EXP_FORCED_1S", "L",
              "20149-1", "20152-5"),
    SpiroCode("fvc", "FVC", "19868-9", "19876-2", "19874-7", 188928, "MDC_VOL_AWAY_EXP_FORCED_CAPACITY", "L",
              "19869-7", "19872-1"),
    SpiroCode("fev1_fvc", "FEV1/FVC", "19926-5", None, "69970-2", 188948, "MDC_RATIO_AWAY_EXP_FORCED_1S_FVC", "%",
              "19925-7", None),
    SpiroCode("pef", "PEF", "33452-4", "69975-1", "69976-9", 152584, "MDC_FLOW_AWAY_EXP_FORCED_PEAK", "L/s",
              "69974-4", None),
    SpiroCode("fef25_75", "FEF25-75", "19927-3", "69972-8", "69973-6", 188960, "MDC_FLOW_AWAY_EXP_FORCED_25_75_FVC",
              "L/s", "69971-0", None),
    SpiroCode("fev6", "FEV6", "65655-3", None, None, 152587, "MDC_VOL_AWAY_EXP_FORCED_6S", "L", "65656-1", None),
    SpiroCode("fet", "FET", "65819-5", None, None, 189016, "MDC_VOL_AWAY_EXP_FORCED_TIME", "s", None, None),
    # FEV0.75 (children aged 6 or younger): no LOINC code found; MDC partition 2 term 57872
    # MDC_VOL_AWAY_EXP_FORCED_0_75S "Forced expiratory volume after .75 sec" (predicted 33743376 _PRED, partition
    # 514) and SNOMED CT 251910007 "Forced expired volume in 0.75 seconds", as the MII Lungenfunktion module lists them.
    SpiroCode("fev0_75", "FEV0.75", None, None, None, 188944, "MDC_VOL_AWAY_EXP_FORCED_0_75S", "L", None, None,
              ("251910007", "Forced expired volume in 0.75 seconds (observable entity)")),
)}

#: LOINC displays (LOINC short names) as published in the value sets of the German MII Lungenfunktion module
#: (medizininformatik-initiative/kerndatensatz-lungenfunktion 2027.0.0-ballot.1: ValueSet-mii-vs-lufu-lnc-fev, -fvc,
#: -fev-fvc, -pef, -mef; the spirometry report code from mii-pr-lungenfunktion-spirometrie), the ECG ones from the
#: FHIR core examples. FET 65819-5 has no display here: none found in a LOINC-derived source.
LOINC_DISPLAY: dict[str, str] = {
    "18759-1": "Spirometry study",
    "20150-9": "FEV1", "20157-4": "FEV1 --pre bronchodilation", "20155-8": "FEV1 --post bronchodilation",
    "20149-1": "FEV1 Predicted", "20152-5": "FEV1 measured/predicted",
    "19868-9": "Forced vital capacity [Volume] Respiratory system by Spirometry",
    "19876-2": "Forced vital capacity [Volume] Respiratory system by Spirometry --pre bronchodilation",
    "19874-7": "Forced vital capacity [Volume] Respiratory system by Spirometry --post bronchodilation",
    "19869-7": "Forced vital capacity [Volume] Respiratory system Predicted", "19872-1": "FVC measured/predicted",
    "19926-5": "FEV1/FVC", "69970-2": "FEV1/FVC --post bronchodilation", "19925-7": "FEV1/FVC Predicted",
    "33452-4": "Maximum expiratory gas flow Respiratory system airway",
    "69975-1": "Maximum expiratory gas flow Respiratory system airway --pre bronchodilation",
    "69976-9": "Maximum expiratory gas flow Respiratory system airway --post bronchodilation",
    "69974-4": "Maximum expiratory gas flow Respiratory system airway Predicted",
    "19927-3": "Gas flow FEV 25%-75%", "69972-8": "FEF 25-75% --pre bronchodilation",
    "69973-6": "FEF 25-75% --post bronchodilation", "69971-0": "FEF 25-75% Predicted",
    "65655-3": "FEV6", "65656-1": "FEV6 Predicted",
    "11524-6": "EKG study", "8867-4": "Heart rate",
}
#: The spirometry DiagnosticReport code: LOINC 18759-1 "Spirometry study" + SNOMED 127783003, as the MII
#: Lungenfunktion profile mii-pr-lungenfunktion-spirometrie fixes them (was the PFT panel 81458-2).
SPIRO_REPORT_LOINC = "18759-1"

#: Flow-time and volume-time curve channels (MDC, partition 2).
MDC_FLOW_AWAY = (151764, "MDC_FLOW_AWAY")
MDC_VOL_AWAY = (152708, "MDC_VOL_AWAY")

MDC_ECG_ELEC_POTL = (131328, "MDC_ECG_ELEC_POTL")
MDC_ECG_HEART_RATE = (147842, "MDC_ECG_HEART_RATE")
#: MDC lead term codes (partition 2): lead -> term code.
ECG_LEAD_TERMS: dict[str, int] = {
    "I": 257, "II": 258, "V1": 259, "V2": 260, "V3": 261, "V4": 262, "V5": 263, "V6": 264,
    "III": 317, "aVR": 318, "aVL": 319, "aVF": 320,
}
#: Lead -> 32-bit MDC code (partition 2).
ECG_LEAD_CODES: dict[str, int] = {lead: mdc(2, term) for lead, term in ECG_LEAD_TERMS.items()}
ECG_LEAD_REFIDS: dict[str, str] = {lead: "MDC_ECG_ELEC_POTL_" + lead.upper() for lead in ECG_LEAD_TERMS}

#: ATS/ERS 2019 session metadata and z-score concepts in the project CodeSystem (LOINC has no z-score codes).
SPIRO_LOCAL_DISPLAY: dict[str, str] = {
    "grade": "ATS/ERS 2019 session grade",
    "acceptable-manoeuvres": "Number of acceptable manoeuvres",
    "curves": "Forced expiration curves of the best manoeuvre",
    "bd-context": "Bronchodilator context",
}
