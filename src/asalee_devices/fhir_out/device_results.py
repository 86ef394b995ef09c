"""A spirometry whose values the device software computed (a GDT result) -> FHIR R4 transaction Bundle.

A renderer of the canonical results' ``parameters`` (the stored ``results.json`` of a GDT import): one Observation
per parameter with the value as the device software computed it, its normal limits as ``referenceRange`` (low and
high, "limits of the device software"), the flag from those limits only, and ``method`` + ``note`` saying the value
was computed by the device software; the DiagnosticReport (preliminary, the vendor's PDF as ``presentedForm``), a
Task for the GP and the Provenance. Nothing here calls a reference equation or reads a signal (no ``signal/``
import), so nothing is recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from asalee_devices.fhir_out import _build as B
from asalee_devices.fhir_out import codes as C
from asalee_devices.fhir_out.context import ExamContext, PatientContext

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

_DECIMALS = {"L": 3, "L/s": 2, "%": 1, "s": 2}
_FLAG = {"L": "Low", "H": "High", "N": "Normal"}


def _flag(value: float, low: float | None, high: float | None) -> str | None:
    if low is None and high is None:
        return None
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"


def device_spirometry_bundle(exam: ExamContext, patient: PatientContext, parameters: Sequence[Mapping[str, Any]],
                             *, computed_by: str) -> Bundle:
    """The transaction Bundle of a spirometry computed by the device software (values, limits, PDF)."""
    b = B.BundleBuilder(exam)
    subject = {"reference": B.add_patient(b, patient)}
    nurse_url = B.add_practitioner(b, exam.performer, "nurse")
    gp_url = B.add_practitioner(b, exam.gp, "gp") if exam.gp is not None else None
    device_url, software_url, _metric = B.add_devices(b, kind_text="Spirometer (device software)",
                                                      metric_type=C.MDC_FLOW_AWAY, metric_unit=None)
    effective = B.iso(exam.performed_at)
    report_url = f"urn:uuid:{b.uid('report')}"
    procedure_url = b.add_identified({
        "resourceType": "Procedure", "status": "completed",
        "category": B.concept(B.coding(C.SNOMED, "23426006", "Measurement of respiratory function")),
        "code": B.concept(B.coding(C.SNOMED, "127783003", "Spirometry"), text="Spirométrie / spirometry"),
        "subject": subject, "performedDateTime": effective,
        "performer": [{"actor": {"reference": nurse_url}}], "report": [{"reference": report_url}],
    }, part="procedure")
    method: B.Json = {"text": f"Calculé par le {computed_by} / computed by the device software"}
    results: list[str] = []
    for prm in parameters:
        sc = C.SPIRO_CODES.get(str(prm.get("name")))
        measured = prm.get("measured")
        if sc is None or measured is None or not math.isfinite(float(measured)):
            continue
        scale = 100.0 if sc.key == "fev1_fvc" else 1.0
        value = float(measured) * scale
        low = None if prm.get("lln") is None else float(prm["lln"]) * scale
        high = None if prm.get("uln") is None else float(prm["uln"]) * scale
        codings = ([B.coding(C.LOINC, sc.loinc)] if sc.loinc else []) + [B.coding(C.MDC, sc.mdc, sc.mdc_ref)]
        obs: B.Json = {
            "resourceType": "Observation", "status": "final",
            "category": [B.concept(B.coding(C.OBS_CATEGORY, "procedure", "Procedure"))],
            "code": B.concept(*codings, text=sc.label), "subject": subject, "effectiveDateTime": effective,
            "performer": [{"reference": nurse_url}], "device": {"reference": device_url},
            "partOf": [{"reference": procedure_url}], "method": method,
            "valueQuantity": B.quantity(value, sc.unit, _DECIMALS[sc.unit]),
            "note": [{"text": f"Valeur calculée par le {computed_by}"}],
        }
        if low is not None or high is not None:
            rng: B.Json = {"text": "limites du logiciel de l'appareil / limits of the device software"}
            if low is not None:
                rng["low"] = B.quantity(low, sc.unit, _DECIMALS[sc.unit])
            if high is not None:
                rng["high"] = B.quantity(high, sc.unit, _DECIMALS[sc.unit])
            obs["referenceRange"] = [rng]
            flag = _flag(value, low, high)
            if flag is not None:
                obs["interpretation"] = [B.concept(B.coding(C.V3_INTERPRETATION, flag, _FLAG[flag]))]
        results.append(b.add_identified(obs, part=f"obs-{sc.key}"))
    report: B.Json = {
        "resourceType": "DiagnosticReport", "status": "preliminary",
        "category": [B.concept(B.coding(C.V2_0074, "PF", "Pulmonary Function"))],
        "code": B.concept(B.coding(C.LOINC, "81458-2"), B.coding(C.SNOMED, "127783003", "Spirometry"),
                          text="Spirométrie / spirometry"),
        "subject": subject, "effectiveDateTime": effective, "issued": b.issued().isoformat(timespec="milliseconds"),
        "performer": [{"reference": nurse_url}], "result": [{"reference": r} for r in results],
    }
    if exam.pdf is not None:
        report["presentedForm"] = [B.presented_form(exam.pdf, "Compte rendu du logiciel de l'appareil")]
    b.add_identified(report, part="report")
    if gp_url is not None:
        B.add_task(b, report_url=report_url, patient_url=subject["reference"], gp_url=gp_url, nurse_url=nurse_url)
    B.add_provenance(b, targets=[report_url, procedure_url, *results], nurse_url=nurse_url, device_url=device_url,
                     software_url=software_url)
    return B.finish(b)
