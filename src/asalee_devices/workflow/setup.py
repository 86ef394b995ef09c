"""Who and where an examination is for: the patient, the performing nurse, the GP, the practice, the output.

Built from the configuration (:func:`setup_from_config`) plus the patient the nurse picked. Everything that can be
wrong with the identity is checked here, before any device is started, so a mistake never costs a recording.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from asalee_devices.config import Config, PersonConfig
from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out.context import PatientContext, PerformerContext, check_patient
from asalee_devices.programme.protocols import Protocol, protocol
from asalee_devices.workflow.spirometry_exam import ReferenceSubject

Lang = Literal["fr", "en"]

#: The demo/test patient: the INS *test* system (never a real identity), female, born 14/03/1979 in commune 51215.
DEMO_PATIENT: dict[str, Any] = {
    "family": "TESTPATIENT", "given": ["Marie", "Louise"], "birth_date": "1979-03-14", "sex": "female",
    "ins": "279035121518989", "ins_kind": "INS-NIR-TEST", "identity_qualified": True, "birth_place_cog": "51215",
}
DEMO_HEIGHT_CM = 165.0


@dataclass(frozen=True)
class ExaminationSetup:
    """Everything an examination needs besides the device and the signals."""

    patient: PatientContext
    performer: PerformerContext
    gp: PerformerContext | None
    config: Config
    output_dir: Path  # recordings/ and (by default) the outbox live here
    lang: Lang = "fr"
    protocol: Protocol | None = None  # the ASALEE protocol of the examination (with_protocol)

    @property
    def recordings_dir(self) -> Path:
        return self.output_dir / "recordings"

    @property
    def outbox_path(self) -> Path:
        return Path(self.config.outbox)


def _person(p: PersonConfig, role: str) -> PerformerContext | None:
    if not p.family_name:
        return None
    try:
        return PerformerContext(p.family_name, p.given_name, rpps=p.rpps, adeli=p.adeli)
    except PatientDataError as exc:
        raise PatientDataError(f"Configuration of the {role}: {exc.message}", field=f"{role}.{exc.field}",
                               expected=exc.expected) from None


def setup_from_config(config: Config, patient: PatientContext, *, lang: Lang | None = None) -> ExaminationSetup:
    """The setup for ``patient`` with the configured nurse, GP, practice, sink and outbox. Raises
    :class:`PatientDataError` for a test INS outside test mode or a missing nurse identity."""
    check_patient(patient, test_mode=config.test_mode)
    nurse = _person(config.nurse, "nurse")
    if nurse is None:
        raise PatientDataError("The performing nurse is not configured", field="nurse.family_name",
                               expected="the nurse's name (and RPPS or ADELI) in the configuration")
    language: Lang = lang or ("en" if config.lang == "en" else "fr")
    return ExaminationSetup(patient=patient, performer=nurse, gp=_person(config.gp, "gp"), config=config,
                            output_dir=Path(config.outbox).parent, lang=language)


def with_protocol(setup: ExaminationSetup, kind: Literal["spirometry", "ecg"], code: str | None = None
                  ) -> ExaminationSetup:
    """The setup with the examination's ASALEE protocol: the nurse's choice ``code``, else the configuration's
    default for ``kind`` (``programme.spirometry_protocol`` / ``programme.ecg_protocol``; empty = none).
    :class:`InputError` for a code the configuration does not list."""
    prog = setup.config.programme
    chosen = code if code else (prog.spirometry_protocol if kind == "spirometry" else prog.ecg_protocol)
    return replace(setup, protocol=protocol(chosen, prog.protocols) if chosen else None)


def age_years(birth: date, on: date) -> float:
    """Decimal age (years) as the GLI equations use it."""
    return (on - birth).days / 365.25


def reference_subject(patient: PatientContext, *, height_cm: float, on: date, equation: str = "gli-global-2022"
                      ) -> ReferenceSubject:
    """What the reference equations need: sex, decimal age on the examination day, height."""
    if patient.sex not in ("male", "female"):
        raise PatientDataError("Reference equations need the sex at birth", field="sex",
                               expected="male or female for spirometry reference values")
    if not 50.0 <= height_cm <= 250.0:
        raise PatientDataError("Height out of range", field="height_cm", value=height_cm, expected="50-250 cm")
    return ReferenceSubject(sex=patient.sex, age_years=age_years(patient.birth_date, on), height_cm=height_cm,
                            equation=equation)
