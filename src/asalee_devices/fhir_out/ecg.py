"""Resting 12-lead ECG examination -> FHIR R4 transaction Bundle.

Waveform Observation per the FHIR core "ekg" example (MDC 131328, one component per lead coded with its MDC lead
code, integer samples with ``factor`` in uV/LSB, ``origin`` 0 uV and ``period`` in ms), a heart-rate Observation
(LOINC 8867-4 + MDC 147842), the technical quality verdict, and a DiagnosticReport with status ``preliminary``:
awaiting the GP's interpretation, no conclusion is ever written by the service.

A pure renderer of the canonical results document (:mod:`asalee_devices.canonical`): heart rate, quality findings,
technical notes (with their words), non-ECG segments are read from the kept capture as the workflow computed them,
the trace from an :class:`~asalee_devices.canonical.EcgTrace` of plain arrays (no ``signal/`` import).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from asalee_devices.canonical import EcgTrace, kept_capture, schema_version
from asalee_devices.errors import InputError
from asalee_devices.fhir_out import _build as B
from asalee_devices.fhir_out import codes as C
from asalee_devices.fhir_out.context import ExamContext, PatientContext

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

_UV = {"unit": "uV", "system": C.UCUM, "code": "uV"}
_UCUM_UNITS = frozenset({"uV", "%", "Hz", "s", "ms", "1", "/min", "mV"})


def lead_data(row_uv: np.ndarray, invalid: np.ndarray | None, factor_uv: float) -> str:
    """SampledData ``data`` of one lead: integers (value = factor x data), ``E`` where no valid value."""
    bad = ~np.isfinite(row_uv)
    if invalid is not None:
        bad = bad | invalid
    ints = np.rint(np.where(bad, 0.0, row_uv) / factor_uv).astype(np.int64)
    tokens = B.integer_texts(ints)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            tokens[i] = "E"
    return " ".join(tokens)


def waveform_components(rec: EcgTrace) -> list[B.Json]:
    factor = rec.resolution_uv if rec.resolution_uv and rec.resolution_uv > 0 else 1.0
    period = round(1000.0 / rec.fs_hz, 6)
    comps: list[B.Json] = []
    for i, lead in enumerate(rec.leads):
        code = C.ECG_LEAD_CODES.get(lead)
        concept = (B.concept(B.coding(C.MDC, code, C.ECG_LEAD_REFIDS[lead]), text=f"Lead {lead}")
                   if code is not None else {"text": f"Lead {lead}"})
        comps.append({"code": concept, "valueSampledData": {
            "origin": {"value": 0, **_UV}, "period": period, "factor": factor, "dimensions": 1,
            "data": lead_data(rec.samples_uv[i], None if rec.lead_off is None else rec.lead_off[i], factor)}})
    return comps


def _filters_text(steps: tuple[str, ...]) -> str:
    return "; ".join(steps) if steps else "none"


def ecg_bundle(exam: ExamContext, patient: PatientContext, results: Mapping[str, Any], trace: EcgTrace, *,
               waveform: Literal["cleaned", "raw"] = "cleaned", file_warnings: tuple[str, ...] = (),
               lang: Literal["fr", "en"] = "fr") -> Bundle:
    """The transaction Bundle of one resting ECG examination (validated with fhir.resources R4B), rendered from its
    canonical ``results`` document (the kept capture) and the ``trace`` sent.

    ``waveform`` names the trace sent: the diagnostic clean trace (default; what the PDF shows, quantised to
    the device's resolution) or the raw trace as acquired. Device filters and our filters are stated verbatim.
    ``file_warnings`` (what the file reader tolerated) and the analysis' technical notes (calibration signal left
    out, device heart rate differing from ours...) are notes of the waveform and quality Observations.
    """
    schema_version(results)
    if waveform not in ("cleaned", "raw"):
        raise InputError("Unknown waveform choice", field="waveform", value=waveform, expected="cleaned or raw")
    capture = kept_capture(results)
    if capture is None:
        raise InputError("No kept ECG capture to send", field="kept", value=results.get("kept"),
                         expected="the index of an analysed capture")
    rec = trace
    b = B.BundleBuilder(exam)
    subject = {"reference": B.add_patient(b, patient)}
    nurse_url = B.add_practitioner(b, exam.performer, "nurse")
    gp_url = B.add_practitioner(b, exam.gp, "gp") if exam.gp is not None else None
    device_url, software_url, metric_url = B.add_devices(
        b, kind_text="Electrocardiograph", metric_type=C.MDC_ECG_ELEC_POTL, metric_unit="uV")
    effective = B.iso(exam.performed_at)
    status = "preliminary" if rec.interrupted else "final"
    common: B.Json = {"resourceType": "Observation", "subject": subject, "effectiveDateTime": effective,
                      "performer": [{"reference": nurse_url}], "device": {"reference": metric_url or device_url}}

    notes = [f"Filtres appareil / device filters: {_filters_text(rec.device_filters)}",
             f"Filtres asalee-devices / asalee-devices filters: {_filters_text(rec.applied_filters)}",
             f"Trace: {waveform}; sampling {rec.fs_hz:g} Hz"]
    if rec.derived_leads:
        notes.append("Dérivations calculées / derived leads: "
                     + ", ".join(ld for ld in rec.leads if ld in rec.derived_leads))
    if rec.interrupted:
        notes.append("Acquisition interrompue / acquisition interrupted")
    if rec.gaps:
        notes.append(f"{rec.gaps} gap(s) in transmission, samples marked E")
    for seg in capture.get("non_ecg") or ():
        t0, t1 = float(seg["start_s"]), float(seg["end_s"])
        notes.append(f"Non-ECG segment ({seg['kind']}, {seg['source']}): {t0:.3f}-{t1:.3f} s, excluded from the "
                     "analysis")
    notes.extend(f"Fichier / file: {w}" for w in file_warnings)
    wave: B.Json = {
        **common, "status": status,
        "category": [B.concept(B.coding(C.OBS_CATEGORY, "procedure", "Procedure"))],
        "code": B.concept(B.coding(C.MDC, C.MDC_ECG_ELEC_POTL[0], C.MDC_ECG_ELEC_POTL[1]),
                          B.coding(C.LOINC, "11524-6", "EKG study"), text="ECG 12 dérivations / 12-lead ECG"),
        "note": [{"text": t} for t in notes],
        "component": waveform_components(rec),
    }
    wave_url = b.add_identified(wave, part="obs-waveform")

    heart = capture.get("heart") or {}
    rate = heart.get("heart_rate_bpm")
    hr: B.Json = {
        **common, "status": status,
        "category": [B.concept(B.coding(C.OBS_CATEGORY, "vital-signs", "Vital Signs"))],
        "code": B.concept(B.coding(C.LOINC, "8867-4", "Heart rate"),
                          B.coding(C.MDC, C.MDC_ECG_HEART_RATE[0], C.MDC_ECG_HEART_RATE[1]),
                          text="Fréquence cardiaque / heart rate"),
        "derivedFrom": [{"reference": wave_url}],
    }
    if rate is not None and np.isfinite(rate):
        hr["valueQuantity"] = B.quantity(float(rate), "/min", 0)
        hr["valueQuantity"]["unit"] = "beats/minute"
        n = len(heart.get("r_peaks_s") or ())
        leads = ", ".join(heart.get("leads_used") or ()) or "n/a"
        hr["method"] = {"text": f"mean RR interval over {n} R peaks (leads {leads})"}
    else:
        hr["dataAbsentReason"] = B.concept(B.coding(C.DATA_ABSENT, "error", "Error"),
                                           text="no R peak could be detected")
    hr_url = b.add_identified(hr, part="obs-heart-rate")

    q = capture.get("quality") or {}
    verdict = str(capture["verdict"])
    verdict_text = {"acceptable": "Qualité acceptable / acceptable quality",
                    "retake": "Nouvel enregistrement conseillé / retake advised"}[verdict]
    quality: B.Json = {
        **common, "status": status,
        "category": [B.concept(B.coding(C.OBS_CATEGORY, "procedure", "Procedure"))],
        "code": B.concept(B.coding(C.CS_ECG, "technical-quality", "ECG technical quality"),
                          text="Qualité technique du tracé / ECG technical quality"),
        "valueCodeableConcept": B.concept(B.coding(C.CS_ECG, verdict), text=verdict_text),
        "derivedFrom": [{"reference": wave_url}],
    }
    comps: list[B.Json] = []
    for f in q.get("findings") or ():
        where = f.get("lead") or "record"
        unit, code = str(f["unit"]), str(f["code"])
        qty: B.Json = {"value": round(float(f["indicator"]), 4), "unit": unit}
        rng: B.Json = {"value": round(float(f["threshold"]), 4), "unit": unit}
        if unit in _UCUM_UNITS:
            qty |= {"system": C.UCUM, "code": unit}
            rng |= {"system": C.UCUM, "code": unit}
        comps.append({"code": B.concept(B.coding(C.CS_ECG, f"finding-{code}", code),
                                        text=f"{code} ({where}){' blocking' if f.get('blocking') else ''}"),
                      "valueQuantity": qty, "referenceRange": [{"high": rng, "text": "threshold"}]})
    if comps:
        quality["component"] = comps
    msgs = [*(capture.get("messages") or {}).get("fr", ()), *(n[lang] for n in capture.get("notes") or ())]
    if msgs:
        quality["note"] = [{"text": m} for m in msgs]
    quality_url = b.add_identified(quality, part="obs-quality")

    entries = [wave_url, hr_url, quality_url]
    report_url = f"urn:uuid:{b.uid('report')}"
    report: B.Json = {
        "resourceType": "DiagnosticReport", "status": "preliminary",
        "category": [B.concept(B.coding(C.V2_0074, "EC", "Electrocardiac"))],
        "code": B.concept(B.coding(C.LOINC, "11524-6", "EKG study"), text="ECG de repos 12 dérivations"),
        "subject": subject, "effectiveDateTime": effective, "issued": b.issued().isoformat(timespec="milliseconds"),
        "performer": [{"reference": nurse_url}], "result": [{"reference": r} for r in entries],
    }
    if exam.pdf is not None:
        report["presentedForm"] = [B.presented_form(exam.pdf, "ECG 12 dérivations (hors interprétation)")]
    b.add_identified(report, part="report")
    if gp_url is not None:
        B.add_task(b, report_url=report_url, patient_url=subject["reference"], gp_url=gp_url, nurse_url=nurse_url)
    B.add_provenance(b, targets=[report_url, *entries], nurse_url=nurse_url, device_url=device_url,
                     software_url=software_url)
    return B.finish(b)
