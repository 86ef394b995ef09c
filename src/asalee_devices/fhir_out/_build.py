"""Shared pieces of the bundle builders: deterministic ids, identifiers, entries, and the common resources
(Patient, Practitioner, Device, DeviceMetric, Task, Provenance) as plain JSON dicts validated at the end."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out import codes as C
from asalee_devices.fhir_out.context import ExamContext, PatientContext, PerformerContext, check_patient

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

Json = dict[str, Any]
_NS = uuid.UUID("6f3c0f52-8c55-4f0e-9b1e-2a1c5b7d9e10")  # name-based ids of asalee-devices resources


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def coding(system: str, code: str | int, display: str | None = None) -> Json:
    """A Coding; LOINC codes get their published display (``codes.LOINC_DISPLAY``) when none is given."""
    out: Json = {"system": system, "code": str(code)}
    if display is None and system == C.LOINC:
        display = C.LOINC_DISPLAY.get(str(code))
    if display:
        out["display"] = display
    return out


def concept(*codings: Json, text: str | None = None) -> Json:
    out: Json = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def quantity(value: float, unit: str, decimals: int) -> Json:
    v: float | int = round(float(value), decimals) if decimals > 0 else int(round(float(value)))
    return {"value": v, "unit": unit, "system": C.UCUM, "code": unit}


#: (first integer, object array of the decimal texts of first, first + 1, ...): the integers met so far in sampled
#: data, so a SampledData text is a table lookup (numpy) and one join instead of a ``str()`` per sample
_TEXTS: tuple[int, np.ndarray] = (0, np.array(["0"], dtype=object))
_TEXTS_MAX_SPAN = 1 << 16  # 65 536 texts (~3.5 MB); integers spread wider are written with str() one by one
_TEXTS_STEP = 1024


def integer_texts(ints: np.ndarray) -> list[str]:
    """The decimal text of each integer of ``ints`` (what ``str(int)`` writes), e.g. for a SampledData ``data``.

    The 60 000 samples of a 12-lead ECG take ~1 ms this way instead of ~8 ms (``map(str, ints.tolist())``)."""
    global _TEXTS
    values = np.asarray(ints, dtype=np.int64)
    if values.size == 0:
        return []
    lo, hi = int(values.min()), int(values.max())
    first, texts = _TEXTS
    if lo < first or hi >= first + len(texts):
        if max(hi, first + len(texts) - 1) - min(lo, first) < _TEXTS_MAX_SPAN:  # keep what the table held
            lo, hi = min(lo, first), max(hi, first + len(texts) - 1)
        if hi - lo >= _TEXTS_MAX_SPAN:
            return list(map(str, values.tolist()))
        rounded = lo // _TEXTS_STEP * _TEXTS_STEP, (hi // _TEXTS_STEP + 1) * _TEXTS_STEP  # room to grow
        if rounded[1] - rounded[0] < _TEXTS_MAX_SPAN:
            lo, hi = rounded
        first, texts = lo, np.array([str(i) for i in range(lo, hi + 1)], dtype=object)
        _TEXTS = (first, texts)  # one assignment: a concurrent reader sees the old table or the new one
    out: list[str] = texts[values - first].tolist()
    return out


@dataclass
class BundleBuilder:
    """Collects transaction entries with deterministic ``urn:uuid:`` full URLs and business identifiers.

    Every id is a name-based UUID of (device serial, exam id, part), so building the same examination twice gives
    the same identifiers and the receiver's conditional create (``ifNoneExist``) never duplicates it.
    """

    exam: ExamContext
    entries: list[Json] = field(default_factory=list)

    def uid(self, part: str) -> str:
        return str(uuid.uuid5(_NS, f"{self.exam.device.serial_number}|{self.exam.exam_id}|{part}"))

    def business_identifier(self, part: str) -> Json:
        return {"system": C.ID_SYSTEM, "value": self.uid(part)}

    def add(self, resource: Json, *, part: str, if_none_exist: str | None = None, full_url: str | None = None
            ) -> str:
        """Add a POST entry; returns its ``urn:uuid:`` full URL (used in intra-bundle references)."""
        url = full_url or f"urn:uuid:{self.uid(part)}"
        request: Json = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist is None and "identifier" in resource:
            ident = resource["identifier"][0]
            if_none_exist = f"identifier={ident['system']}|{ident['value']}"
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        self.entries.append({"fullUrl": url, "resource": resource, "request": request})
        return url

    def add_identified(self, resource: Json, *, part: str) -> str:
        resource["identifier"] = [self.business_identifier(part)]
        return self.add(resource, part=part)

    def bundle(self) -> Json:
        return {"resourceType": "Bundle", "type": "transaction",
                "identifier": self.business_identifier("bundle"),
                "timestamp": iso(self.issued()), "entry": self.entries}

    def issued(self) -> datetime:
        return self.exam.issued_at or datetime.now(UTC)


def patient_resource(patient: PatientContext, *, test_mode: bool) -> Json:
    """FR Core Patient (2.1.0): ``fr-core-patient-ins`` with the INS for a qualified identity, else the plain Patient
    with the practice's local identifier. The rules each element follows are in tests/fhir/frcore_rules.py."""
    check_patient(patient, test_mode=test_mode)
    res: Json = {"resourceType": "Patient"}
    identifiers: list[Json] = []
    ext: list[Json] = []
    if patient.ins is not None:
        res["meta"] = {"profile": [C.FR_CORE_PATIENT_INS]}
        identifiers.append({
            "use": C.INS_USE[patient.ins_kind],  # identifier[INS-NIA].use = #temp, the other INS slices #official
            "type": concept(coding(C.FR_CORE_V2_0203, patient.ins_kind)),
            "system": patient.ins_system, "value": patient.ins_normalised,
        })
        ext.append({"url": C.FR_CORE_IDENTITY_RELIABILITY, "extension": [
            {"url": "identityStatus", "valueCoding": coding(C.FR_CORE_IDENTITY_STATUS, "VALI", "Identité validée")},
            {"url": "validationMode", "valueCoding": coding(C.FR_CORE_VALIDATION_MODE, patient.validation_mode)},
        ]})
        ext.append({"url": C.PATIENT_BIRTH_PLACE, "valueAddress": {
            "extension": [{"url": C.FR_INSEE_COG_EXT, "valueCoding": coding(
                C.TRE_R13_COMMUNE, patient.birth_place_cog or "")}]}})
    if patient.local_id:
        identifiers.append({"use": "usual", "system": patient.local_system, "value": patient.local_id})
    res["identifier"] = identifiers
    if ext:
        res["extension"] = ext
    name: Json = {"use": "official", "family": patient.family, "given": [patient.given[0]]}
    if patient.ins is not None:  # name[officialName].extension[birth-list-given-name] 1..1: every given name
        name["extension"] = [{"url": C.FR_CORE_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(patient.given)}]
    res["name"] = [name]
    res["gender"] = patient.sex
    res["birthDate"] = patient.birth_date.isoformat()
    return res


def add_patient(b: BundleBuilder, patient: PatientContext) -> str:
    system, value = patient.identifier_key()
    return b.add(patient_resource(patient, test_mode=b.exam.test_mode), part="patient",
                 if_none_exist=f"identifier={system}|{value}")


#: identifier system of professionals and practices without a national number (demo/test mode only)
DEMO_ID_SYSTEM = f"{C.ID_SYSTEM}/demo"


def practitioner_identifiers(person: PerformerContext, role: str, *, test_mode: bool) -> list[Json]:
    """FR Core Practitioner identifiers: idNatPs (type IDNPS: 8 + RPPS or 0 + ADELI) and the RPPS slice.

    Without a national number a professional cannot be told apart from a namesake, so one is required outside
    demo (test) mode; in demo mode the professional gets a visibly-demo identifier of its role."""
    nat = person.id_nat_ps
    if nat is not None:
        ids = [{"type": concept(coding(C.FR_CORE_V2_0203, "IDNPS", "Identifiant National de Professionnel de Santé")),
                "system": C.ID_NAT_PS, "value": nat[1]}]
        if person.rpps:
            ids.append({"type": concept(coding(C.FR_CORE_V2_0203, "RPPS", "N° RPPS")), "system": C.RPPS_SYSTEM,
                        "value": person.rpps})
        return ids
    if not test_mode:
        raise PatientDataError("A health professional without a national identifier (RPPS)", field=f"{role}.rpps",
                               expected="the professional's 11-digit RPPS number (required outside test mode)")
    return [{"type": concept(coding(C.FR_CORE_V2_0203, "INTRN", "Identifiant interne")), "system": DEMO_ID_SYSTEM,
             "value": f"DEMO-{role.upper()}"}]


def add_organization(b: BundleBuilder) -> str | None:
    """The practice as a FR Core Organization (idNatSt + FINESS and/or SIRET), once per bundle; None when the
    practice has no national identifier outside test mode (the configuration check refuses that)."""
    exam = b.exam
    url = f"urn:uuid:{b.uid('organization')}"
    if any(e["fullUrl"] == url for e in b.entries):
        return url
    ids: list[Json] = []
    idnst = concept(coding(C.FR_CORE_V2_0203, "IDNST", "Identification nationale de structure"))
    if exam.practice_finess:
        ids.append({"use": "official", "type": idnst, "system": C.ID_NAT_STRUCT, "value": "1" + exam.practice_finess})
        ids.append({"type": concept(coding(C.FR_CORE_V2_0203, "FINEG", "FINESS d'entité géographique")),
                    "system": C.FINESS_SYSTEM, "value": exam.practice_finess})
    if exam.practice_siret:
        if not exam.practice_finess:
            ids.append({"use": "official", "type": idnst, "system": C.ID_NAT_STRUCT, "value": "3" + exam.practice_siret})
        ids.append({"type": concept(coding(C.FR_CORE_V2_0203, "SIRET", "Identification de l'organisation au SIRET")),
                    "system": C.SIRENE_SYSTEM, "value": exam.practice_siret})
    if not ids:
        if not exam.test_mode:
            return None
        ids.append({"type": concept(coding(C.FR_CORE_V2_0203, "INTRN", "Identifiant interne")),
                    "system": DEMO_ID_SYSTEM, "value": "DEMO-PRACTICE"})
    res: Json = {"resourceType": "Organization", "meta": {"profile": [C.FR_CORE_ORGANIZATION]}, "identifier": ids,
                 "active": True, **({"name": exam.practice_name} if exam.practice_name else {})}
    return b.add(res, part="organization", full_url=url)


def add_practitioner(b: BundleBuilder, person: PerformerContext, role: str) -> str:
    """FR Core Practitioner (conditional on its idNatPs) and the PractitionerRole placing it in the practice."""
    res: Json = {"resourceType": "Practitioner", "meta": {"profile": [C.FR_CORE_PRACTITIONER]},
                 "identifier": practitioner_identifiers(person, role, test_mode=b.exam.test_mode),
                 "name": [{"family": person.family, **({"given": [person.given]} if person.given else {})}]}
    url = b.add(res, part=f"practitioner-{role}")
    org_url = add_organization(b)
    if org_url is not None:
        add_practitioner_role(b, practitioner=res, practitioner_url=url, organization_url=org_url, role=role)
    return url


def add_practitioner_role(b: BundleBuilder, *, practitioner: Json, practitioner_url: str, organization_url: str,
                          role: str) -> str:
    """FR Core PractitionerRole: the professional's situation in the practice (profession as TRE-G15). Its
    identifier is name-based on the professional's and the practice's identifiers, so it is the same across
    examinations (conditional create finds it)."""
    org = next(e["resource"] for e in b.entries if e["fullUrl"] == organization_url)
    who = practitioner["identifier"][0]
    where = org["identifier"][0]
    code, display = C.PROFESSIONS[role]
    key = f"role|{who['system']}|{who['value']}|{where['system']}|{where['value']}|{code}"
    res: Json = {"resourceType": "PractitionerRole", "meta": {"profile": [C.FR_CORE_PRACTITIONER_ROLE]},
                 "identifier": [{"system": f"{C.ID_SYSTEM}/practitioner-role", "value": str(uuid.uuid5(_NS, key))}],
                 "active": True, "practitioner": {"reference": practitioner_url},
                 "organization": {"reference": organization_url},
                 "code": [concept(coding(C.TRE_G15, code, display))]}
    return b.add(res, part=f"practitioner-role-{role}")


def add_devices(b: BundleBuilder, *, kind_text: str, metric_type: tuple[int, str], metric_unit: str | None
                ) -> tuple[str, str, str | None]:
    """The measuring Device (conditional on its serial), our software Device, and a DeviceMetric when the device
    reported a calibration state. Returns (device url, software url, metric url or None)."""
    dev = b.exam.device
    ident_value = (f"{dev.manufacturer}|{dev.model}|{dev.serial_number}" if dev.serial_number
                   and dev.serial_number.lower() not in ("unknown", "0") else f"exam|{b.exam.exam_id}")
    res: Json = {
        "resourceType": "Device",
        "identifier": [{"system": f"{C.ID_SYSTEM}/device", "value": str(uuid.uuid5(_NS, ident_value))}],
        "status": "active",
        "type": {"text": kind_text},
    }
    if dev.serial_number:
        res["serialNumber"] = dev.serial_number
    if dev.manufacturer:
        res["manufacturer"] = dev.manufacturer
    if dev.model:
        res["modelNumber"] = dev.model
        res["deviceName"] = [{"name": dev.model, "type": "model-name"}]
    if dev.firmware:
        res["version"] = [{"type": {"text": "firmware"}, "value": dev.firmware}]
    device_url = b.add(res, part="device")
    sw: Json = {
        "resourceType": "Device",
        "identifier": [{"system": f"{C.ID_SYSTEM}/software",
                        "value": f"asalee-devices-{b.exam.software_version}"}],
        "status": "active",
        "type": {"text": "Analysis software"},
        "manufacturer": "ASALEE",
        "deviceName": [{"name": "asalee-devices", "type": "manufacturer-name"}],
        "version": [{"type": {"text": "software"}, "value": b.exam.software_version}],
    }
    software_url = b.add(sw, part="software")
    metric_url: str | None = None
    cal = b.exam.calibration
    if cal is not None:
        metric: Json = {
            "resourceType": "DeviceMetric",
            "identifier": [b.business_identifier("device-metric")],
            "type": concept(coding(C.MDC, metric_type[0], metric_type[1])),
            "source": {"reference": device_url},
            "category": "measurement",
            "calibration": [{"type": cal.kind, "state": cal.state,
                             **({"time": iso(cal.time)} if cal.time else {})}],
        }
        if metric_unit:
            metric["unit"] = concept(coding(C.UCUM, metric_unit))
        metric_url = b.add(metric, part="device-metric")
    return device_url, software_url, metric_url


def presented_form(pdf: bytes, title: str) -> Json:
    return {"contentType": "application/pdf", "language": "fr", "title": title, "size": len(pdf),
            "data": base64.b64encode(pdf).decode("ascii"),
            "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii")}


def add_task(b: BundleBuilder, *, report_url: str, patient_url: str, gp_url: str, nurse_url: str) -> str:
    """A Task asking the GP to interpret the preliminary report (status requested)."""
    res: Json = {
        "resourceType": "Task", "status": "requested", "intent": "order",
        "code": {"text": "Interprétation par le médecin traitant / interpretation by the GP"},
        "focus": {"reference": report_url}, "for": {"reference": patient_url},
        "authoredOn": iso(b.issued()), "requester": {"reference": nurse_url}, "owner": {"reference": gp_url},
    }
    return b.add_identified(res, part="task")


def add_provenance(b: BundleBuilder, *, targets: Sequence[str], nurse_url: str, device_url: str,
                   software_url: str) -> str:
    """Provenance of the report and its results: nurse (performer), measuring device, our software (assembler)
    and the raw recording (source entity, by its SHA-256). Provenance has no identifier element, so its business
    id is a ``meta.tag`` and the conditional create uses ``_tag``."""
    tag = b.uid("provenance")

    def agent(code: str, ref: str) -> Json:
        return {"type": concept(coding(C.PROVENANCE_AGENT, code)), "who": {"reference": ref}}

    res: Json = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": C.TAG_SYSTEM, "code": tag}]},
        "target": [{"reference": t} for t in targets],
        "occurredDateTime": iso(b.exam.performed_at),
        "recorded": b.issued().isoformat(timespec="milliseconds"),
        "agent": [agent("performer", nurse_url), agent("performer", device_url), agent("assembler", software_url)],
    }
    if b.exam.raw_sha256 or b.exam.raw_reference:
        what: Json = {}
        if b.exam.raw_sha256:
            what["identifier"] = {"system": f"{C.ID_SYSTEM}/sha256", "value": b.exam.raw_sha256.lower()}
        if b.exam.raw_reference:
            what["display"] = b.exam.raw_reference
        res["entity"] = [{"role": "source", "what": what}]
    return b.add(res, part="provenance", if_none_exist=f"_tag={C.TAG_SYSTEM}|{tag}")


def finish(b: BundleBuilder) -> Bundle:
    """Validate the assembled bundle with fhir.resources (R4B) and return the model."""
    import json

    from fhir.resources.R4B.bundle import Bundle

    from asalee_devices.fhir_out.programme import apply_protocol

    apply_protocol(b)
    # validating from JSON text is about twice as fast as from Python dicts for large SampledData bundles
    return Bundle.model_validate_json(json.dumps(b.bundle(), ensure_ascii=False, separators=(",", ":")))


def to_json(bundle: Bundle, *, indent: int | None = None) -> str:
    """FHIR JSON of a bundle (no nulls): the bytes of ``bundle.model_dump_json(exclude_none=True)``, written by
    :func:`asalee_devices.fhir_out._dump.dump_json` (the same walk of the validated model, 5-10x faster)."""
    from asalee_devices.fhir_out._dump import dump_json

    return dump_json(bundle, indent=indent)
