"""Who, for whom, when and with what: the small frozen context types the FHIR mapping needs.

Everything is validated on construction (and again against the test-mode rule by :func:`check_patient`), so an
invalid identity is refused before any bundle is built or queued. Error messages name the field, never its value
(no patient data in messages or logs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out.codes import INS_SYSTEMS, TEST_INS_KINDS
from asalee_devices.programme.protocols import Protocol

Sex = Literal["male", "female", "other", "unknown"]
InsKind = Literal["INS-NIR", "INS-NIA", "INS-NIR-TEST", "INS-NIR-DEMO"]


def _siret_valid(value: str) -> bool:
    from stdnum.fr import siret  # python-stdnum: 14 digits, Luhn check (La Poste exception handled)

    return bool(siret.is_valid(value))


def _nir_valid(value: str) -> bool:
    from stdnum.fr import nir  # python-stdnum: 13 characters + 2-digit key, Corsica 2A/2B handled

    return bool(nir.is_valid(value))


@dataclass(frozen=True)
class PatientContext:
    """The patient, per FR Core ``fr-core-patient-ins``.

    ``ins`` (15 characters: NIR + key) may be given only when ``identity_qualified`` is True (identity status VALI);
    otherwise the patient is identified by ``local_id`` in ``local_system`` (the practice's record number).
    ``given`` is the list of birth given names (the first one is used as the usual given name).
    ``birth_place_cog`` is the INSEE COG code of the birth place, required by FR Core with an INS.
    """

    family: str
    given: tuple[str, ...]
    birth_date: date
    sex: Sex
    ins: str | None = None
    ins_kind: InsKind = "INS-NIR"
    identity_qualified: bool = False
    validation_mode: str = "CN"  # FR Core identity validation mode (e.g. CN = national identity card)
    birth_place_cog: str | None = None
    local_id: str | None = None
    local_system: str = ""

    def __post_init__(self) -> None:
        if not self.family.strip():
            raise PatientDataError("Patient family name is missing", field="family", expected="a non-empty name")
        if not self.given or not all(g.strip() for g in self.given):
            raise PatientDataError("Patient given name is missing", field="given",
                                   expected="at least one non-empty birth given name")
        if not isinstance(self.birth_date, date) or isinstance(self.birth_date, datetime):
            raise PatientDataError("Patient birth date is missing or not a date", field="birth_date",
                                   expected="a datetime.date")
        if self.sex not in ("male", "female", "other", "unknown"):
            raise PatientDataError("Invalid administrative sex", field="sex",
                                   expected="male, female, other or unknown")
        if self.ins is not None:
            if not self.identity_qualified:
                raise PatientDataError(
                    "An INS may be sent only for a qualified identity", field="ins",
                    expected="identity_qualified=True (identity status VALI), or no INS and a local identifier")
            if self.ins_kind not in INS_SYSTEMS:
                raise PatientDataError("Unknown INS kind", field="ins_kind", value=self.ins_kind,
                                       expected=", ".join(INS_SYSTEMS))
            ins = self.ins.replace(" ", "")
            if len(ins) != 15:
                raise PatientDataError("INS must have 15 characters (NIR + 2-digit key)", field="ins",
                                       expected="15 characters")
            if self.ins_kind != "INS-NIA" and not _nir_valid(ins):
                raise PatientDataError("INS (NIR) check key is invalid", field="ins",
                                       expected="a NIR whose key is 97 - (NIR mod 97)")
            if ins[0] in "12" and self.sex in ("male", "female") and (ins[0] == "1") != (self.sex == "male"):
                raise PatientDataError("INS sex digit does not match the patient's sex", field="sex",
                                       expected="1 for male, 2 for female")
            if not self.birth_place_cog or len(self.birth_place_cog) != 5:
                raise PatientDataError("Birth place (INSEE COG code) is required with an INS",
                                       field="birth_place_cog", expected="5 characters, e.g. 75056")
            if self.sex not in ("male", "female"):
                raise PatientDataError("An INS identity has a male or female sex", field="sex",
                                       expected="male or female")
        elif self.identity_qualified and not self.local_id:
            raise PatientDataError("Qualified identity without its INS", field="ins",
                                   expected="the 15-character INS of the qualified identity")
        if self.ins is None and not self.local_id:
            raise PatientDataError("Patient has neither an INS nor a local identifier", field="local_id",
                                   expected="an INS (qualified identity) or the practice's patient number")
        if self.local_id and not self.local_system:
            raise PatientDataError("Local identifier without its system", field="local_system",
                                   expected="the practice's identifier system URI")

    @property
    def ins_normalised(self) -> str | None:
        return None if self.ins is None else self.ins.replace(" ", "")

    @property
    def ins_system(self) -> str:
        return INS_SYSTEMS[self.ins_kind]

    def identifier_key(self) -> tuple[str, str]:
        """(system, value) of the identifier used to reference the patient."""
        if self.ins is not None:
            return self.ins_system, self.ins_normalised or ""
        return self.local_system, self.local_id or ""


def check_patient(patient: PatientContext, *, test_mode: bool) -> None:
    """Refuse test/demo INS systems outside test mode (fixtures use only those systems)."""
    if patient.ins is not None and patient.ins_kind in TEST_INS_KINDS and not test_mode:
        raise PatientDataError("Test/demo INS system used outside test mode", field="ins_kind",
                               value=patient.ins_kind, expected="INS-NIR or INS-NIA in production")


def check_nir_birth(patient: PatientContext) -> None:
    """Refuse an INS whose NIR contradicts the birth date: positions 2-3 are the year of birth (last 2 digits),
    4-5 the month (01-12; other values, e.g. 20-42 for an incomplete civil status or 99 for an unknown month, are
    not compared) - service-public.fr F33078 "Que signifie le numéro de sécurité sociale ?" (DILA)."""
    ins = patient.ins_normalised
    if ins is None or len(ins) != 15 or ins[0] not in "12" or not ins[1:5].isdigit():
        return
    if int(ins[1:3]) != patient.birth_date.year % 100:
        raise PatientDataError("INS birth year does not match the birth date", field="birth_date",
                               expected=f"a birth date in a year ending in {ins[1:3]}")
    month = int(ins[3:5])
    if 1 <= month <= 12 and month != patient.birth_date.month:
        raise PatientDataError("INS birth month does not match the birth date", field="birth_date",
                               expected=f"a birth date in month {ins[3:5]}")


@dataclass(frozen=True)
class PerformerContext:
    """A health professional: the ASALEE nurse (performer) or the GP (interpreter-to-be)."""

    family: str
    given: str
    rpps: str = ""
    adeli: str = ""

    def __post_init__(self) -> None:
        if not self.family.strip():
            raise PatientDataError("Practitioner family name is missing", field="family",
                                   expected="a non-empty name")
        if self.rpps and not (self.rpps.isdigit() and len(self.rpps) == 11):
            raise PatientDataError("Invalid RPPS number", field="rpps", expected="11 digits")
        if self.adeli and not (self.adeli.isdigit() and len(self.adeli) == 9):
            raise PatientDataError("Invalid ADELI number", field="adeli", expected="9 digits")

    @property
    def id_nat_ps(self) -> tuple[str, str] | None:
        """(type code, idNatPs value): ``8`` + RPPS or ``0`` + ADELI."""
        if self.rpps:
            return "RPPS", "8" + self.rpps
        if self.adeli:
            return "ADELI", "0" + self.adeli
        return None


@dataclass(frozen=True)
class Calibration:
    """The device's calibration state (e.g. the spirometer's daily 3-L syringe check) for DeviceMetric."""

    state: Literal["not-calibrated", "calibration-required", "calibrated", "unspecified"]
    kind: Literal["unspecified", "offset", "gain", "two-point"] = "unspecified"
    time: datetime | None = None


@dataclass(frozen=True)
class Bronchodilator:
    """The bronchodilator given before post-BD manoeuvres (becomes a MedicationAdministration)."""

    medication: str  # e.g. "salbutamol"
    dose_ug: float
    administered_at: datetime
    atc_code: str = ""  # e.g. R03AC02 (salbutamol)
    device: str = ""  # e.g. "pMDI + spacer"

    def __post_init__(self) -> None:
        if not self.medication.strip():
            raise PatientDataError("Bronchodilator medication is missing", field="medication")
        if not (self.dose_ug > 0):
            raise PatientDataError("Bronchodilator dose must be positive", field="dose_ug", value=self.dose_ug,
                                   expected="> 0 micrograms")
        if self.administered_at.tzinfo is None:
            raise PatientDataError("Administration time has no time zone", field="administered_at",
                                   expected="a timezone-aware datetime")


@dataclass(frozen=True)
class ExamContext:
    """One examination: id, time, practice, people, device, our software, optional PDF and raw recording.

    ``raw_sha256`` identifies the raw device recording the results derive from (Provenance source entity);
    ``pdf`` becomes ``DiagnosticReport.presentedForm``.
    ``protocol`` is the ASALEE protocol the examination belongs to (``fhir_out.programme``).
    """

    exam_id: str
    performed_at: datetime
    performer: PerformerContext
    device: DeviceIdentity
    software_version: str
    practice_name: str = ""
    practice_finess: str = ""
    practice_siret: str = ""
    gp: PerformerContext | None = None
    pdf: bytes | None = field(default=None, repr=False)
    raw_reference: str = ""
    raw_sha256: str = ""
    calibration: Calibration | None = None
    issued_at: datetime | None = None
    test_mode: bool = False
    protocol: Protocol | None = None  # the ASALEE protocol (fhir_out.programme: CarePlan, basedOn, reasonCode)

    def __post_init__(self) -> None:
        if not self.exam_id.strip():
            raise PatientDataError("Examination id is missing", field="exam_id", expected="a non-empty id")
        if self.performed_at.tzinfo is None:
            raise PatientDataError("Examination time has no time zone", field="performed_at",
                                   expected="a timezone-aware datetime")
        if self.issued_at is not None and self.issued_at.tzinfo is None:
            raise PatientDataError("Issue time has no time zone", field="issued_at",
                                   expected="a timezone-aware datetime")
        if self.practice_finess and not (len(self.practice_finess) == 9 and self.practice_finess.isalnum()):
            raise PatientDataError("Practice FINESS number is not 9 characters", field="practice_finess",
                                   expected="the 9-character FINESS of the practice")
        if self.practice_siret and not _siret_valid(self.practice_siret):
            raise PatientDataError("Practice SIRET number is invalid", field="practice_siret",
                                   expected="14 digits with a valid check digit (Luhn)")
        if self.raw_sha256 and len(self.raw_sha256) != 64:
            raise PatientDataError("Raw recording hash is not a SHA-256 hex digest", field="raw_sha256",
                                   expected="64 hexadecimal characters")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
