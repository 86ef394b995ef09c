"""Spirometry examination -> FHIR R4 transaction Bundle (Procedure, DiagnosticReport, one Observation per
parameter with predicted / % predicted / z-score components and LLN, curves as SampledData)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from asalee_devices.errors import InputError
from asalee_devices.fhir_out import _build as B
from asalee_devices.fhir_out import codes as C
from asalee_devices.fhir_out.context import Bronchodilator, ExamContext, PatientContext
from asalee_devices.messages.spirometry import mark_labels
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.signal.spirometry.reference import Prediction
from asalee_devices.signal.spirometry.session import BronchodilatorResponse, SessionResult

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


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


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


def _prediction_components(sc: C.SpiroCode, pred: Prediction, observed: float, scale: float
                           ) -> tuple[list[B.Json], float | None]:
    """predicted, % predicted and z-score components; returns them and the LLN (in the Observation's unit)."""
    predicted = float(pred.predicted[0])
    lln = float(pred.lln[0])
    observed_native = observed / scale
    z = float(pred.z_score(observed_native)[0])
    comps: list[B.Json] = []
    dec = _DECIMALS[sc.unit]
    if math.isfinite(predicted):
        pc = [B.coding(C.LOINC, sc.loinc_predicted)] if sc.loinc_predicted else []
        pc.append(B.coding(C.MDC, sc.mdc + C.PREDICTED_OFFSET))
        comps.append({"code": B.concept(*pc, text=f"{sc.label} predicted"),
                      "valueQuantity": B.quantity(predicted * scale, sc.unit, dec)})
        pct = 100.0 * observed_native / predicted
        cc = ([B.coding(C.LOINC, sc.loinc_pct_predicted)] if sc.loinc_pct_predicted else [])
        cc.append(B.coding(C.CS_SPIRO, f"{sc.key}-percent-predicted", f"{sc.label} % predicted"))
        comps.append({"code": B.concept(*cc, text=f"{sc.label} % predicted"),
                      "valueQuantity": B.quantity(pct, "%", 1)})
    if math.isfinite(z):
        comps.append({"code": B.concept(B.coding(C.CS_SPIRO, f"{sc.key}-zscore", f"{sc.label} z-score"),
                                        text=f"{sc.label} z-score"),
                      "valueQuantity": {"value": round(z, 2), "unit": "1", "system": C.UCUM, "code": "1"}})
    return comps, (lln * scale if math.isfinite(lln) else None)


def _as_mapping(predictions: Mapping[str, Prediction] | Sequence[Prediction]) -> dict[str, Prediction]:
    if isinstance(predictions, Mapping):
        return dict(predictions)
    return {p.parameter: p for p in predictions}


def _curves(rec: FlowRecording) -> list[B.Json]:
    """Flow-time (mL/s integers) and volume-time (mL integers) of one manoeuvre, same period, one origin each."""
    flow = np.nan_to_num(np.asarray(rec.flow_l_s, dtype=np.float64))
    volume = np.concatenate(([0.0], np.cumsum(0.5 * (flow[1:] + flow[:-1])) / rec.fs_hz))
    period = round(1000.0 / rec.fs_hz, 6)

    def sd(values_l: np.ndarray, unit: str) -> B.Json:
        ints = np.rint(values_l * 1000.0).astype(np.int64)
        return {"origin": {"value": 0, "unit": unit, "system": C.UCUM, "code": unit}, "period": period,
                "factor": 0.001, "dimensions": 1, "data": " ".join(map(str, ints.tolist()))}

    return [
        {"code": B.concept(B.coding(C.MDC, C.MDC_FLOW_AWAY[0], C.MDC_FLOW_AWAY[1]), text="Flow-time curve"),
         "valueSampledData": sd(flow, "L/s")},
        {"code": B.concept(B.coding(C.MDC, C.MDC_VOL_AWAY[0], C.MDC_VOL_AWAY[1]), text="Volume-time curve"),
         "valueSampledData": sd(volume, "L")},
    ]


def _bd_components(bd: BronchodilatorResponse, key: str) -> list[B.Json]:
    """ERS/ATS 2022 bronchodilator response of FEV1 or FVC (project codes: LOINC has none for these)."""
    change_l = bd.fev1_change_l if key == "fev1" else bd.fvc_change_l
    pct_pred = bd.fev1_change_pct_predicted if key == "fev1" else bd.fvc_change_pct_predicted
    pct_pre = bd.fev1_change_pct if key == "fev1" else bd.fvc_change_pct
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


def _marks_note(session: SessionResult, blow_numbers: Sequence[int] | None) -> str:
    """The nurse's operator-assessed marks, in French and English, or "" when there are none."""
    fr: list[str] = []
    en: list[str] = []
    for k, bl in enumerate(session.blows):
        marks = bl.acceptability.marks
        if not marks:
            continue
        n = blow_numbers[k] if blow_numbers is not None and k < len(blow_numbers) else k + 1
        fr.append(f"essai {n} : " + ", ".join(mark_labels(marks, "fr")))
        en.append(f"blow {n}: " + ", ".join(mark_labels(marks, "en")))
    if not fr:
        return ""
    return ("Observations de l'infirmière (ATS/ERS 2019, critères évalués par l'opérateur ; essai non acceptable) : "
            + " ; ".join(fr) + " / Operator-assessed (ATS/ERS 2019; blow not acceptable): " + "; ".join(en))


def spirometry_bundle(exam: ExamContext, patient: PatientContext, session: SessionResult,
                      predictions: Mapping[str, Prediction] | Sequence[Prediction] = (), *,
                      equation: str = "gli-global-2022", pre_post: BdContext = "none",
                      best_curve: FlowRecording | None = None,
                      bronchodilator: Bronchodilator | None = None,
                      blow_numbers: Sequence[int] | None = None,
                      bd_response: BronchodilatorResponse | None = None,
                      fev0_75: bool = False) -> Bundle:
    """The transaction Bundle of one spirometry examination (validated with fhir.resources R4B).

    With ``pre_post="post"``, ``bronchodilator`` (drug, dose, time) becomes a MedicationAdministration that the
    Observations are ``partOf`` (besides the Procedure).
    ``predictions`` are the reference values of the patient (keys ``fev1``, ``fvc``, ``fev1_fvc``, as returned by
    ``reference.predict``) computed with ``equation``; ``best_curve`` is the flow recording of the best manoeuvre.
    FEV1/FVC is sent in % (the fraction x 100); its predicted value and LLN are converted the same way.
    ``blow_numbers[k]`` is the nurse's number of ``session.blows[k]`` (default k + 1): the operator-assessed marks
    (leak, obstructed mouthpiece, sub-maximal effort) are listed with it in the FEV1 and FVC Observations' notes.
    ``bd_response`` (post bundle): the ERS/ATS 2022 bronchodilator response as components of the FEV1 and FVC
    Observations: post - pre (L), as % of the predicted value, and as % of the pre value.
    ``fev0_75`` (children aged 6 or younger, ``SpirometryExamination.reports_fev0_75``): an FEV0.75 Observation
    (MDC 188944 + SNOMED CT 251910007; LOINC has no code) with its ATS/ERS 2019 grade and acceptable-manoeuvre count
    as FEV1 and FVC carry theirs; its predicted value when ``predictions`` has ``fev0_75`` (GLI-2012).
    """
    if pre_post not in _BD_TEXT:
        raise InputError("Unknown bronchodilator context", field="pre_post", value=pre_post,
                         expected="none, pre or post")
    if equation not in EQUATION_NAMES:
        raise InputError("Unknown reference equation", field="equation", value=equation,
                         expected=", ".join(EQUATION_NAMES))
    if bronchodilator is not None and pre_post != "post":
        raise InputError("A bronchodilator administration belongs to post-bronchodilator manoeuvres",
                         field="pre_post", value=pre_post, expected="post")
    preds = _as_mapping(predictions)
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

    best = session.blows[session.best_test_index] if session.best_test_index is not None else None
    n_acc_fev1 = sum(1 for bl in session.blows if bl.acceptability.acceptable_fev1)
    n_acc_fvc = sum(1 for bl in session.blows if bl.acceptability.acceptable_fvc)
    n_acc_fev0_75 = sum(1 for bl in session.blows if bl.acceptability.acceptable_fev0_75)
    values: dict[str, float | None] = {
        "fev1": session.fev1_l, "fvc": session.fvc_l,
        "fev1_fvc": None if session.fev1_fvc is None else 100.0 * session.fev1_fvc,
        "pef": session.pef_l_s, "fef25_75": session.fef25_75_l_s,
    }
    fev6 = [bl.indices.fev6_l for bl in session.blows
            if bl.acceptability.usable_fev1 and bl.indices.fev6_l is not None]
    if fev6:  # largest FEV6 of the usable manoeuvres (as workflow.spirometry_exam reports it)
        values["fev6"] = max(fev6)
    if fev0_75:
        values["fev0_75"] = session.fev0_75_l
    if best is not None:
        values["fet"] = best.indices.fet_s
    common = {
        "resourceType": "Observation",
        "category": [B.concept(B.coding(C.OBS_CATEGORY, "procedure", "Procedure"))],
        "subject": subject, "effectiveDateTime": effective, "performer": [{"reference": nurse_url}],
        "device": {"reference": metric_url or device_url},
        "partOf": [{"reference": procedure_url}] + ([{"reference": bd_url}] if bd_url else []),
    }
    marks_note = _marks_note(session, blow_numbers)
    results: list[str] = []
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
            pred_key = "fev1_fvc" if key == "fev1_fvc" else key
            if pred_key in preds:
                scale = 100.0 if key == "fev1_fvc" else 1.0
                pc, lln = _prediction_components(sc, preds[pred_key], value, scale)
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
            grade, n_acceptable = {"fev1": (session.grade_fev1, n_acc_fev1), "fvc": (session.grade_fvc, n_acc_fvc),
                                   "fev0_75": (session.grade_fev0_75, n_acc_fev0_75)}[key]
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
        results.append(b.add_identified(obs, part=f"obs-{key}"))
    if best_curve is not None:
        curves: B.Json = {**common, "status": "final",
                          "code": B.concept(B.coding(C.CS_SPIRO, "curves", C.SPIRO_LOCAL_DISPLAY["curves"]),
                                            text="Courbes débit-temps et volume-temps / flow-time and "
                                                 "volume-time curves"),
                          "component": _curves(best_curve)}
        if best_curve.interrupted:
            curves["note"] = [{"text": "acquisition interrupted"}]
        results.append(b.add_identified(curves, part="obs-curves"))
    report: B.Json = {
        "resourceType": "DiagnosticReport", "status": "preliminary",
        "category": [B.concept(B.coding(C.V2_0074, "PF", "Pulmonary Function"))],
        "code": B.concept(B.coding(C.LOINC, C.SPIRO_REPORT_LOINC), B.coding(C.SNOMED, "127783003", "Spirometry"),
                          text="Spirométrie / spirometry"),
        "subject": subject, "effectiveDateTime": effective, "issued": b.issued().isoformat(timespec="milliseconds"),
        "performer": [{"reference": nurse_url}], "result": [{"reference": r} for r in results],
    }
    if exam.pdf is not None:
        report["presentedForm"] = [B.presented_form(exam.pdf, "Compte rendu de spirométrie")]
    b.add_identified(report, part="report")  # full URL == report_url (same name-based id)
    if gp_url is not None:
        B.add_task(b, report_url=report_url, patient_url=subject["reference"], gp_url=gp_url, nurse_url=nurse_url)
    B.add_provenance(b, targets=[report_url, procedure_url, *results], nurse_url=nurse_url, device_url=device_url,
                     software_url=software_url)
    return B.finish(b)
