"""Spirometry examination -> FHIR R4 transaction Bundle (Procedure, DiagnosticReport, one Observation per
parameter with predicted / % predicted / z-score components and LLN, curves as SampledData).

A pure renderer of the canonical results document (:mod:`asalee_devices.canonical`, the ``results.json`` of
``workflow/results.py``): the values, reference values, z-scores, grades and marks are read as the workflow
computed them, never recomputed (no ``signal/`` import, no reference-equation call)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from asalee_devices.canonical import FlowCurve, schema_version
from asalee_devices.canonical import phase as phase_of
from asalee_devices.errors import InputError
from asalee_devices.fhir_out import _build as B
from asalee_devices.fhir_out import codes as C
from asalee_devices.fhir_out.context import Bronchodilator, ExamContext, PatientContext

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

BdContext = Literal["none", "pre", "post"]

EQUATION_NAMES = {
    "gli-global-2022": "GLI Global 2022 (race-neutral)",
    "gli-2012": "GLI-2012",
    "ecsc-1993": "ECSC 1993",
}
_LLN_RULE = {
    "gli-global-2022": "LLN = 5th centile (z = -1.645), GLI Global 2022",
    "gli-2012": "LLN = 5th centile (z = -1.645), GLI-2012",
    "ecsc-1993": "LLN = predicted - 1.645 RSD, ECSC 1993",
}
_BD_TEXT = {"none": "", "pre": " pre-bronchodilator", "post": " post-bronchodilator"}
_DECIMALS = {"L": 3, "L/s": 2, "%": 1, "s": 2}
#: parameters graded per ATS/ERS 2019 (FEV0.75 for children aged 6 or younger)
_GRADED = ("fev1", "fvc", "fev0_75")
#: parameters sent with their reference values (predicted, % predicted, z-score, LLN); the others as measured
_PREDICTED = ("fev1", "fvc", "fev1_fvc", "fev0_75")
#: parameters sent only when measured (the others with a dataAbsentReason when there is no value)
_ONLY_WHEN_MEASURED = ("fev6", "fet")


def _finite(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _code(sc: C.SpiroCode, bd: BdContext) -> B.Json:
    codings: list[B.Json] = []
    specific = {"pre": sc.loinc_pre, "post": sc.loinc_post}.get(bd)
    if specific:
        codings.append(B.coding(C.LOINC, specific))
    elif sc.loinc:
        codings.append(B.coding(C.LOINC, sc.loinc))
    codings.append(B.coding(C.MDC, sc.mdc, sc.mdc_ref))
    if sc.snomed is not None:
        codings.append(B.coding(C.SNOMED, *sc.snomed))
    if specific and sc.loinc:
        codings.append(B.coding(C.LOINC, sc.loinc))
    return B.concept(*codings, text=sc.label + _BD_TEXT[bd])


def _prediction_components(sc: C.SpiroCode, prm: Mapping[str, Any], scale: float
                           ) -> tuple[list[B.Json], float | None]:
    """predicted, % predicted and z-score components of a canonical parameter (as the workflow computed them);
    returns them and the LLN (in the Observation's unit)."""
    predicted, lln = _finite(prm.get("predicted")), _finite(prm.get("lln"))
    pct, z = _finite(prm.get("percent_predicted")), _finite(prm.get("z_score"))
    comps: list[B.Json] = []
    dec = _DECIMALS[sc.unit]
    if predicted is not None:
        pc = [B.coding(C.LOINC, sc.loinc_predicted)] if sc.loinc_predicted else []
        pc.append(B.coding(C.MDC, sc.mdc + C.PREDICTED_OFFSET))
        comps.append({"code": B.concept(*pc, text=f"{sc.label} predicted"),
                      "valueQuantity": B.quantity(predicted * scale, sc.unit, dec)})
        if pct is not None:
            cc = ([B.coding(C.LOINC, sc.loinc_pct_predicted)] if sc.loinc_pct_predicted else [])
            cc.append(B.coding(C.CS_SPIRO, f"{sc.key}-percent-predicted", f"{sc.label} % predicted"))
            comps.append({"code": B.concept(*cc, text=f"{sc.label} % predicted"),
                          "valueQuantity": B.quantity(pct, "%", 1)})
    if z is not None:
        comps.append({"code": B.concept(B.coding(C.CS_SPIRO, f"{sc.key}-zscore", f"{sc.label} z-score"),
                                        text=f"{sc.label} z-score"),
                      "valueQuantity": {"value": round(z, 2), "unit": "1", "system": C.UCUM, "code": "1"}})
    return comps, (lln * scale if lln is not None else None)


def _curves(rec: FlowCurve) -> list[B.Json]:
    """Flow-time (mL/s integers) and volume-time (mL integers) of one manoeuvre, same period, one origin each."""
    flow = np.nan_to_num(np.asarray(rec.flow_l_s, dtype=np.float64))
    volume = np.concatenate(([0.0], np.cumsum(0.5 * (flow[1:] + flow[:-1])) / rec.fs_hz))
    period = round(1000.0 / rec.fs_hz, 6)

    def sd(values_l: np.ndarray, unit: str) -> B.Json:
        ints = np.rint(values_l * 1000.0).astype(np.int64)
        return {"origin": {"value": 0, "unit": unit, "system": C.UCUM, "code": unit}, "period": period,
                "factor": 0.001, "dimensions": 1, "data": " ".join(B.integer_texts(ints))}

    return [
        {"code": B.concept(B.coding(C.MDC, C.MDC_FLOW_AWAY[0], C.MDC_FLOW_AWAY[1]), text="Flow-time curve"),
         "valueSampledData": sd(flow, "L/s")},
        {"code": B.concept(B.coding(C.MDC, C.MDC_VOL_AWAY[0], C.MDC_VOL_AWAY[1]), text="Volume-time curve"),
         "valueSampledData": sd(volume, "L")},
    ]


def _bd_components(bd: Mapping[str, Any], key: str) -> list[B.Json]:
    """ERS/ATS 2022 bronchodilator response of FEV1 or FVC (project codes: LOINC has none for these)."""
    change_l, pct_pred, pct_pre = (bd.get(f"{key}_change_l"), bd.get(f"{key}_change_pct_predicted"),
                                   bd.get(f"{key}_change_pct"))
    label = "FEV1" if key == "fev1" else "FVC"
    out: list[B.Json] = []
    for code, value, unit, text in (
            ("bd-change", change_l, "L", f"{label} post - pre bronchodilator"),
            ("bd-change-percent-predicted", pct_pred, "%",
             f"{label} bronchodilator response, % of predicted (ERS/ATS 2022)"),
            ("bd-change-percent-pre", pct_pre, "%", f"{label} post - pre, % of pre")):
        v = _finite(value)
        if v is not None:
            out.append({"code": B.concept(B.coding(C.CS_SPIRO, code, text), text=text),
                        "valueQuantity": B.quantity(v, unit, _DECIMALS[unit])})
    return out


def _marks_note(marks: list[Mapping[str, Any]]) -> str:
    """The nurse's operator-assessed marks (the phase's ``marks``: blow number and words), in French and English,
    or "" when there are none."""
    fr = [f"essai {m['blow']} : " + ", ".join(m["fr"]) for m in marks]
    en = [f"blow {m['blow']}: " + ", ".join(m["en"]) for m in marks]
    if not fr:
        return ""
    return ("Observations de l'infirmière (ATS/ERS 2019, critères évalués par l'opérateur ; essai non acceptable) : "
            + " ; ".join(fr) + " / Operator-assessed (ATS/ERS 2019; blow not acceptable): " + "; ".join(en))


def spirometry_bundle(exam: ExamContext, patient: PatientContext, results: Mapping[str, Any], *,
                      phase: str = "pre", pre_post: BdContext = "none", curve: FlowCurve | None = None,
                      bronchodilator: Bronchodilator | None = None) -> Bundle:
    """The transaction Bundle of one phase of a spirometry examination (validated with fhir.resources R4B), rendered
    from its canonical ``results`` document (``phases[phase]``: session, parameters, operator marks).

    With ``pre_post="post"``, ``bronchodilator`` (drug, dose, time) becomes a MedicationAdministration that the
    Observations are ``partOf`` (besides the Procedure).
    The reference values (predicted, % predicted, z-score, LLN and the equation) of FEV1, FVC, FEV1/FVC and FEV0.75
    are the parameters' as the workflow computed them; FEV1/FVC is sent in % (the fraction x 100), its predicted value
    and LLN converted the same way. ``curve`` is the flow-time curve of the phase's best manoeuvre.
    The operator-assessed marks (leak, obstructed mouthpiece, sub-maximal effort) are listed with the nurse's blow
    number in the FEV1 and FVC Observations' notes.
    The post phase carries the document's ERS/ATS 2022 ``bronchodilator_response`` as components of the FEV1 and FVC
    Observations: post - pre (L), as % of the predicted value, and as % of the pre value.
    FEV0.75 (children aged 6 or younger: the phase reports it) is an Observation (MDC 188944 + SNOMED CT 251910007;
    LOINC has no code) with its ATS/ERS 2019 grade and acceptable-manoeuvre count as FEV1 and FVC carry theirs.
    """
    schema_version(results)
    if pre_post not in _BD_TEXT:
        raise InputError("Unknown bronchodilator context", field="pre_post", value=pre_post,
                         expected="none, pre or post")
    data = phase_of(results, phase)
    session: Mapping[str, Any] | None = data.get("session") if data is not None else None
    if data is None or session is None:
        raise InputError("No analysed spirometry phase to send", field="phase", value=phase,
                         expected="a phase of the results with a session")
    params = {str(p["name"]): p for p in data.get("parameters") or ()}
    subject = results.get("subject") or {}
    equation = next((str(p["equation"]) for p in params.values() if p.get("equation")),
                    str(subject.get("equation") or "gli-global-2022"))
    if equation not in EQUATION_NAMES:
        raise InputError("Unknown reference equation", field="equation", value=equation,
                         expected=", ".join(EQUATION_NAMES))
    if bronchodilator is not None and pre_post != "post":
        raise InputError("A bronchodilator administration belongs to post-bronchodilator manoeuvres",
                         field="pre_post", value=pre_post, expected="post")
    bd_response = results.get("bronchodilator_response") if phase == "post" else None
    b = B.BundleBuilder(exam)
    subject = {"reference": B.add_patient(b, patient)}
    nurse_url = B.add_practitioner(b, exam.performer, "nurse")
    gp_url = B.add_practitioner(b, exam.gp, "gp") if exam.gp is not None else None
    device_url, software_url, metric_url = B.add_devices(
        b, kind_text="Spirometer", metric_type=C.MDC_FLOW_AWAY, metric_unit="L/s")
    effective = B.iso(exam.performed_at)
    report_url = f"urn:uuid:{b.uid('report')}"
    procedure = {
        "resourceType": "Procedure", "status": "completed",
        "category": B.concept(B.coding(C.SNOMED, "23426006", "Measurement of respiratory function")),
        "code": B.concept(B.coding(C.SNOMED, "127783003", "Spirometry"), text="Spirométrie / spirometry"),
        "subject": subject, "performedDateTime": effective,
        "performer": [{"actor": {"reference": nurse_url}}], "report": [{"reference": report_url}],
    }
    if pre_post != "none":
        procedure["note"] = [{"text": f"Manoeuvres{_BD_TEXT[pre_post]}"}]
    bd_url: str | None = None
    if bronchodilator is not None:
        med = B.concept(*([B.coding("http://www.whocc.no/atc", bronchodilator.atc_code)]
                          if bronchodilator.atc_code else []), text=bronchodilator.medication)
        if not med["coding"]:
            del med["coding"]
        admin: B.Json = {
            "resourceType": "MedicationAdministration", "status": "completed", "medicationCodeableConcept": med,
            "subject": subject, "effectiveDateTime": B.iso(bronchodilator.administered_at),
            "performer": [{"actor": {"reference": nurse_url}}],
            "dosage": {"text": f"{bronchodilator.dose_ug:g} µg {bronchodilator.device}".strip(),
                       "route": {"text": "inhalation"},
                       "dose": {"value": bronchodilator.dose_ug, "unit": "ug", "system": C.UCUM, "code": "ug"}},
        }
        bd_url = b.add_identified(admin, part="bronchodilator")
    procedure_url = b.add_identified(procedure, part="procedure")

    blows = [bl["acceptability"] for bl in session.get("blows") or ()]
    n_acc = {key: sum(1 for acc in blows if acc.get(f"acceptable_{key}")) for key in _GRADED}
    values: dict[str, float | None] = {}
    for key, prm in params.items():
        measured = _finite(prm.get("measured"))
        if key in _ONLY_WHEN_MEASURED and measured is None:
            continue
        values[key] = None if measured is None else measured * (100.0 if key == "fev1_fvc" else 1.0)
    common = {
        "resourceType": "Observation",
        "category": [B.concept(B.coding(C.OBS_CATEGORY, "procedure", "Procedure"))],
        "subject": subject, "effectiveDateTime": effective, "performer": [{"reference": nurse_url}],
        "device": {"reference": metric_url or device_url},
        "partOf": [{"reference": procedure_url}] + ([{"reference": bd_url}] if bd_url else []),
    }
    marks_note = _marks_note(list(data.get("marks") or ()))
    entries: list[str] = []
    for key, raw_value in values.items():
        sc = C.SPIRO_CODES[key]
        value = _finite(raw_value)
        obs: B.Json = {**common, "status": "final", "code": _code(sc, pre_post)}
        comps: list[B.Json] = []
        if value is None:
            obs["dataAbsentReason"] = B.concept(B.coding(C.DATA_ABSENT, "unknown", "Unknown"),
                                                text="no acceptable or usable manoeuvre")
        else:
            obs["valueQuantity"] = B.quantity(value, sc.unit, _DECIMALS[sc.unit])
            prm = params[key]
            if key in _PREDICTED and prm.get("predicted") is not None:
                scale = 100.0 if key == "fev1_fvc" else 1.0
                pc, lln = _prediction_components(sc, prm, scale)
                comps.extend(pc)
                obs["method"] = B.concept(B.coding(C.CS_EQUATION, equation, EQUATION_NAMES[equation]),
                                          text=EQUATION_NAMES[equation])
                if lln is not None:
                    obs["referenceRange"] = [{"low": B.quantity(lln, sc.unit, _DECIMALS[sc.unit]),
                                              "text": _LLN_RULE[equation]}]
                    flag = "L" if value < lln else "N"
                    obs["interpretation"] = [B.concept(B.coding(
                        C.V3_INTERPRETATION, flag, "Low" if flag == "L" else "Normal"))]
        if key in _GRADED:
            grade, n_acceptable = session.get(f"grade_{key}"), n_acc[key]
            comps.append({"code": B.concept(B.coding(C.CS_SPIRO, "grade", C.SPIRO_LOCAL_DISPLAY["grade"]),
                                            text=f"{sc.label} ATS/ERS 2019 grade"), "valueString": grade})
            comps.append({"code": B.concept(B.coding(C.CS_SPIRO, "acceptable-manoeuvres",
                                                     C.SPIRO_LOCAL_DISPLAY["acceptable-manoeuvres"]),
                                            text=f"{sc.label} acceptable manoeuvres"),
                          "valueInteger": n_acceptable})
        if pre_post != "none":
            comps.append({"code": B.concept(B.coding(C.CS_SPIRO, "bd-context", C.SPIRO_LOCAL_DISPLAY["bd-context"])),
                          "valueCodeableConcept": B.concept(B.coding(C.CS_SPIRO, f"{pre_post}-bronchodilator"),
                                                            text=_BD_TEXT[pre_post].strip())})
        if comps:
            obs["component"] = comps
        if bd_response is not None and key in ("fev1", "fvc"):
            comps.extend(_bd_components(bd_response, key))
        if marks_note and key in ("fev1", "fvc"):
            obs["note"] = [{"text": marks_note}]
        entries.append(b.add_identified(obs, part=f"obs-{key}"))
    if curve is not None:
        curves: B.Json = {**common, "status": "final",
                          "code": B.concept(B.coding(C.CS_SPIRO, "curves", C.SPIRO_LOCAL_DISPLAY["curves"]),
                                            text="Courbes débit-temps et volume-temps / flow-time and "
                                                 "volume-time curves"),
                          "component": _curves(curve)}
        if curve.interrupted:
            curves["note"] = [{"text": "acquisition interrupted"}]
        entries.append(b.add_identified(curves, part="obs-curves"))
    report: B.Json = {
        "resourceType": "DiagnosticReport", "status": "preliminary",
        "category": [B.concept(B.coding(C.V2_0074, "PF", "Pulmonary Function"))],
        "code": B.concept(B.coding(C.LOINC, C.SPIRO_REPORT_LOINC), B.coding(C.SNOMED, "127783003", "Spirometry"),
                          text="Spirométrie / spirometry"),
        "subject": subject, "effectiveDateTime": effective, "issued": b.issued().isoformat(timespec="milliseconds"),
        "performer": [{"reference": nurse_url}], "result": [{"reference": r} for r in entries],
    }
    if exam.pdf is not None:
        report["presentedForm"] = [B.presented_form(exam.pdf, "Compte rendu de spirométrie")]
    b.add_identified(report, part="report")  # full URL == report_url (same name-based id)
    if gp_url is not None:
        B.add_task(b, report_url=report_url, patient_url=subject["reference"], gp_url=gp_url, nurse_url=nurse_url)
    B.add_provenance(b, targets=[report_url, procedure_url, *entries], nurse_url=nurse_url, device_url=device_url,
                     software_url=software_url)
    return B.finish(b)
