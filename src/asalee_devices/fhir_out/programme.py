"""The examination's ASALEE protocol in its bundle (``docs/fhir-mapping.md``, "ASALEE protocol").

The protocol is the reason the nurse performed the examination under the practice's cooperation protocol, so it is
mapped as (R4):

- a ``CarePlan`` (``status`` active, ``intent`` plan, ``instantiatesUri`` = the protocol's URI in our namespace,
  ``category`` = the protocol code) for the patient's follow-up under that protocol, conditionally created on an
  identifier derived from the patient's identifier and the protocol, so every examination of the same patient under
  the same protocol points to the same CarePlan at the receiver;
- ``Procedure.basedOn`` and ``DiagnosticReport.basedOn`` -> that CarePlan (both elements allow a CarePlan reference);
- ``Procedure.reasonCode`` = the protocol code (Procedure has a reasonCode; DiagnosticReport has none in R4).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from asalee_devices.fhir_out import codes as C

if TYPE_CHECKING:
    from asalee_devices.fhir_out._build import BundleBuilder, Json

CS_PROTOCOL = f"{C.ASALEE_BASE}/CodeSystem/asalee-protocol"
PROTOCOL_URI = f"{C.ASALEE_BASE}/protocol/"
ENROLMENT_ID_SYSTEM = f"{C.ID_SYSTEM}/asalee-protocol-enrolment"
_NS = uuid.UUID("6f1c2f0e-5a44-4c0b-9d1e-8b3a3c21a021")


def apply_protocol(b: BundleBuilder) -> None:
    """Add the CarePlan of the examination's protocol and point the Procedure and DiagnosticReport to it."""
    from asalee_devices.fhir_out._build import coding, concept

    proto = b.exam.protocol
    if proto is None:
        return
    patients = [e for e in b.entries if e["resource"]["resourceType"] == "Patient"]
    if not patients:
        return
    patient_url = patients[0]["fullUrl"]
    ident = (patients[0]["resource"].get("identifier") or [{}])[0]
    key = f"{ident.get('system', '')}|{ident.get('value', patient_url)}|{proto.code}"
    reason = concept(coding(CS_PROTOCOL, proto.code, proto.label_fr), text=proto.label_fr)
    plan: Json = {
        "resourceType": "CarePlan", "status": "active", "intent": "plan",
        "identifier": [{"system": ENROLMENT_ID_SYSTEM, "value": str(uuid.uuid5(_NS, key))}],
        "instantiatesUri": [PROTOCOL_URI + proto.code], "category": [reason],
        "title": f"ASALEE — {proto.label_fr}", "subject": {"reference": patient_url},
    }
    plan_url = b.add(plan, part="careplan")
    for entry in b.entries:
        res = entry["resource"]
        if res["resourceType"] in ("Procedure", "DiagnosticReport"):
            res.setdefault("basedOn", []).append({"reference": plan_url})
        if res["resourceType"] == "Procedure":
            res.setdefault("reasonCode", []).append(reason)
