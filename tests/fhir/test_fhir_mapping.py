"""FHIR mapping: every resource validates (fhir.resources R4B), FHIRPath invariants hold, codes and values match
external references (integration reference tables, GLI calculator examples, the device file's own samples)."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from tests.fhir import fixtures as F
from tests.fhir.fhirpath_rules import violations
from tests.fhir.fixtures import ecg_bundle, spirometry_bundle

from asalee_devices.errors import PatientDataError
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.codes import ECG_LEAD_CODES, LOINC_DISPLAY, PREDICTED_OFFSET, SPIRO_CODES
from asalee_devices.fhir_out.context import Calibration, PerformerContext, check_patient
from asalee_devices.signal.spirometry.reference import predict


def _entries(bundle: Bundle) -> list[dict[str, Any]]:
    doc: dict[str, Any] = json.loads(to_json(bundle))
    return list(doc["entry"])


def _by_code(entries: list[dict[str, Any]], system: str, code: str) -> dict[str, Any]:
    for e in entries:
        r = e["resource"]
        concept = r.get("code", {})  # PractitionerRole.code is a list: not an examination code
        if isinstance(concept, dict) and any(c.get("system") == system and c.get("code") == code
                                             for c in concept.get("coding", [])):
            return dict(r)
    raise AssertionError(f"no resource coded {system}|{code}")


def _validate_each(bundle: Bundle) -> int:
    doc = json.loads(to_json(bundle))
    Bundle.model_validate_json(json.dumps(doc))  # the whole bundle round-trips
    for e in doc["entry"]:
        res = e["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        refs = [v for v in _walk_refs(res)]
        urls = {x["fullUrl"] for x in doc["entry"]}
        for ref in refs:  # every intra-bundle reference resolves
            assert ref in urls, ref
    return len(doc["entry"])


def _walk_refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_walk_refs(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk_refs(v))
    return out


def test_spirometry_bundle_validates_and_invariants() -> None:
    session, preds, best = F.spiro_session()
    b = spirometry_bundle(F.exam(calibration=Calibration("calibrated", "gain")), F.patient(), session, preds,
                          best_curve=best)  # type: ignore[arg-type]
    n = _validate_each(b)
    doc = json.loads(to_json(b))
    assert violations(doc) == []
    types = sorted(e["resource"]["resourceType"] for e in doc["entry"])
    print(f"spirometry bundle: {n} entries {types}")
    for needed in ("Patient", "Practitioner", "Device", "DeviceMetric", "Procedure", "DiagnosticReport",
                   "Provenance", "Task"):
        assert needed in types
    assert types.count("Observation") == 8  # 7 parameters + curves
    report = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["status"] == "preliminary" and "conclusion" not in report
    assert report["presentedForm"][0]["contentType"] == "application/pdf"


def test_fhirpath_rules_can_fail() -> None:
    """The invariants are not vacuous: break a resource and they report it."""
    session, preds, _ = F.spiro_session()
    doc = json.loads(to_json(spirometry_bundle(F.exam(), F.patient(), session, preds)))  # type: ignore[arg-type]
    bad = copy.deepcopy(doc)
    obs = next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["dataAbsentReason"] = {"text": "x"}  # obs-6: value + dataAbsentReason
    obs.setdefault("component", []).append({"code": obs["code"], "valueQuantity": {"value": 1}})  # obs-7
    pat = next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "Patient")
    pat["identifier"].append({"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1" * 15})
    del pat["extension"]  # INS without VALI
    problems = violations(bad)
    print("violations found on the broken bundle:", problems)
    assert any("obs-6" in p for p in problems) and any("obs-7" in p for p in problems)
    assert any("ins-only-if-qualified" in p for p in problems)


def test_spirometry_codes_follow_reference_tables() -> None:
    session, preds, _ = F.spiro_session()
    entries = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds))  # type: ignore[arg-type]
    # LOINC first, MDC second, UCUM unit (integration reference §3.2)
    expected = {"20150-9": (152586, "L"), "19868-9": (188928, "L"), "19926-5": (188948, "%"),
                "33452-4": (152584, "L/s"), "65819-5": (189016, "s")}
    for loinc, (mdc, unit) in expected.items():
        obs = _by_code(entries, "http://loinc.org", loinc)
        codings = obs["code"]["coding"]
        shown = {"display": LOINC_DISPLAY[loinc]} if loinc in LOINC_DISPLAY else {}  # displays (issue 17)
        assert codings[0] == {"system": "http://loinc.org", "code": loinc, **shown}
        assert codings[1]["system"] == "urn:iso:std:iso:11073:10101" and codings[1]["code"] == str(mdc)
        assert obs["valueQuantity"]["code"] == unit and obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    # FEV6 and FEF25-75 have LOINC codes (65655-3, 19927-3; issue 17: the old "MDC only" was wrong)
    fev6 = _by_code(entries, "urn:iso:std:iso:11073:10101", "152587")
    assert fev6["code"]["coding"][0] == {"system": "http://loinc.org", "code": "65655-3", "display": "FEV6"}
    fef = _by_code(entries, "urn:iso:std:iso:11073:10101", "188960")
    assert fef["code"]["coding"][0] == {"system": "http://loinc.org", "code": "19927-3",
                                        "display": "Gas flow FEV 25%-75%"}
    report = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18759-1",
                                           "display": "Spirometry study"}  # MII Lungenfunktion spirometrie
    # MDC predicted = measured + 33 554 432 (partition 514); documented predicted codes from the reference
    assert {k: c.mdc + PREDICTED_OFFSET for k, c in SPIRO_CODES.items() if k in ("fvc", "fev1", "fev1_fvc")} == \
        {"fvc": 33743360, "fev1": 33707018, "fev1_fvc": 33743380}
    fev1 = _by_code(entries, "http://loinc.org", "20150-9")
    comp_codes = [c["code"]["coding"][-1]["code"] for c in fev1["component"]]
    assert "33707018" in comp_codes and "fev1-zscore" in comp_codes and "grade" in comp_codes
    grade = next(c for c in fev1["component"] if c["code"]["coding"][0]["code"] == "grade")
    assert grade["valueString"] == session.grade_fev1
    # FEV1/FVC in %: the fraction x 100 at the mapping boundary
    ratio = _by_code(entries, "http://loinc.org", "19926-5")
    assert session.fev1_fvc is not None
    assert ratio["valueQuantity"]["value"] == pytest.approx(100 * session.fev1_fvc, abs=0.05)


def test_predicted_and_lln_match_gli_calculator(shared_data: Path) -> None:
    """GLI-2012 male 55 y 175 cm: predicted and LLN carried into components/referenceRange equal the published
    calculator values (examples.csv), FEV1/FVC converted to %."""
    rows = [r for r in csv.DictReader((shared_data / "spirometry/reference-equations/examples.csv").open())
            if r["equation"] == "GLI-2012" and r["sex"] == "male" and r["age_years"] == "55"
            and r["height_cm"] == "175" and r["ethnicity"] == "caucasian"]
    published = {r["parameter"]: (float(r["predicted"]), float(r["lln"])) for r in rows}
    session, _, _ = F.spiro_session()
    preds = {p: predict(p, sex="male", age_years=55, height_cm=175, equation="gli-2012")
             for p in ("fev1", "fvc", "fev1_fvc")}
    entries = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds, equation="gli-2012"))
    for loinc, key, scale in (("20150-9", "FEV1", 1.0), ("19868-9", "FVC", 1.0), ("19926-5", "FEV1/FVC", 100.0)):
        obs = _by_code(entries, "http://loinc.org", loinc)
        pred_comp = next(c for c in obs["component"] if c["code"]["text"].endswith("predicted")
                         and "%" not in c["code"]["text"])
        want_pred, want_lln = published[key]
        got_pred = pred_comp["valueQuantity"]["value"]
        got_lln = obs["referenceRange"][0]["low"]["value"]
        print(f"{key}: predicted {got_pred} (published {want_pred * scale:.3f}), LLN {got_lln} "
              f"(published {want_lln * scale:.3f}), rule '{obs['referenceRange'][0]['text']}'")
        assert got_pred == pytest.approx(want_pred * scale, abs=0.0015 * scale + 0.05 * (scale > 1))
        assert got_lln == pytest.approx(want_lln * scale, abs=0.0015 * scale + 0.05 * (scale > 1))
        assert "GLI-2012" in obs["referenceRange"][0]["text"] and obs["method"]["text"] == "GLI-2012"
        z = next(c for c in obs["component"] if c["code"]["coding"][0]["code"].endswith("zscore"))
        assert z["valueQuantity"]["code"] == "1"


def test_curves_sampled_data_decode_to_the_recording() -> None:
    session, preds, best = F.spiro_session()
    entries = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds, best_curve=best))  # type: ignore[arg-type]
    curves = _by_code(entries, "http://asalee-devices.example.org/fhir/CodeSystem/asalee-spiro", "curves")
    flow_c, vol_c = curves["component"]
    assert flow_c["code"]["coding"][0]["code"] == "151764" and vol_c["code"]["coding"][0]["code"] == "152708"
    sd = flow_c["valueSampledData"]
    flow = np.array(sd["data"].split(), dtype=float) * sd["factor"] + sd["origin"]["value"]
    assert sd["period"] == pytest.approx(1000.0 / best.fs_hz)  # type: ignore[attr-defined]
    assert np.max(np.abs(flow - best.flow_l_s)) <= 0.0005 + 1e-12  # type: ignore[attr-defined]
    vol = np.array(vol_c["valueSampledData"]["data"].split(), dtype=float) * 0.001
    blow = session.blows[session.best_test_index or 0].indices
    print(f"curve: {flow.size} samples/channel, volume end {vol[-1]:.3f} L, FVC {blow.fvc_l:.3f} L")
    # volume-time integrates inspiration (negative) then the blow: its rise from the minimum is the blow volume
    assert vol[-1] - vol.min() == pytest.approx(blow.fvc_l, rel=0.02)


def test_bundle_is_deterministic_and_conditional() -> None:
    session, preds, _ = F.spiro_session()
    a = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds))  # type: ignore[arg-type]
    b = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds))  # type: ignore[arg-type]
    assert [e["fullUrl"] for e in a] == [e["fullUrl"] for e in b]
    assert [e["request"]["ifNoneExist"] for e in a] == [e["request"]["ifNoneExist"] for e in b]
    other = _entries(spirometry_bundle(F.exam("exam-0002"), F.patient(), session, preds))  # type: ignore[arg-type]
    obs_a = {e["fullUrl"] for e in a if e["resource"]["resourceType"] == "Observation"}
    obs_o = {e["fullUrl"] for e in other if e["resource"]["resourceType"] == "Observation"}
    assert not obs_a & obs_o  # another exam never collides
    for e in a:
        assert e["request"]["method"] == "POST"
        cond = e["request"]["ifNoneExist"]
        assert cond.startswith(("identifier=", "_tag="))
    pat = next(e for e in a if e["resource"]["resourceType"] == "Patient")
    assert pat["request"]["ifNoneExist"] == "identifier=urn:oid:1.2.250.1.213.1.4.10|" + F.TEST_INS


def test_ecg_bundle_waveform_per_ekg_example(shared_data: Path) -> None:
    analysis = F.ecg_analysis(shared_data)
    bundle = ecg_bundle(F.exam(), F.patient(), analysis)  # cleaned trace (here same samples as raw)
    n = _validate_each(bundle)
    doc = json.loads(to_json(bundle))
    assert violations(doc) == []
    entries = doc["entry"]
    wave = _by_code(entries, "urn:iso:std:iso:11073:10101", "131328")
    # MDC lead codes from the integration reference §4.2 table (independent of our term arithmetic)
    table = {"I": 131329, "II": 131330, "III": 131389, "aVR": 131390, "aVL": 131391, "aVF": 131392,
             "V1": 131331, "V2": 131332, "V3": 131333, "V4": 131334, "V5": 131335, "V6": 131336}
    assert ECG_LEAD_CODES == table
    raw = analysis.raw
    assert len(wave["component"]) == 12
    worst = 0.0
    for comp, lead in zip(wave["component"], raw.leads, strict=True):
        assert comp["code"]["coding"][0]["code"] == str(table[lead])
        sd = comp["valueSampledData"]
        assert sd["period"] == 2 and sd["factor"] == 2.5 and sd["origin"] == {
            "value": 0, "unit": "uV", "system": "http://unitsofmeasure.org", "code": "uV"}
        tokens = sd["data"].split(" ")
        assert all(t.lstrip("-").isdigit() for t in tokens)  # integers, no long floats
        values = np.array(tokens, dtype=float) * sd["factor"]
        worst = max(worst, float(np.max(np.abs(values - raw.lead(lead)))))
    print(f"ECG bundle: {n} entries, {len(to_json(bundle)) / 1024:.0f} KiB, worst decode error {worst} uV")
    assert worst == 0.0  # the device's integers are reproduced exactly
    hr = _by_code(entries, "http://loinc.org", "8867-4")
    assert hr["valueQuantity"]["value"] == 75 and hr["valueQuantity"]["code"] == "/min"
    assert hr["code"]["coding"][1]["code"] == "147842"
    quality = _by_code(entries, "http://asalee-devices.example.org/fhir/CodeSystem/asalee-ecg",
                       "technical-quality")
    assert quality["valueCodeableConcept"]["coding"][0]["code"] == "acceptable"
    assert quality["component"][0]["code"]["coding"][0]["code"] == "finding-baseline_wander"
    notes = " ".join(n["text"] for n in wave["note"])
    assert "high-pass 0.05 Hz" in notes and "notch 50 Hz" in notes
    raw_wave = _by_code(_entries(ecg_bundle(F.exam(), F.patient(), analysis, waveform="raw")),
                        "urn:iso:std:iso:11073:10101", "131328")
    assert "asalee-devices filters: none" in " ".join(n["text"] for n in raw_wave["note"])
    report = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["status"] == "preliminary" and "conclusion" not in report and "conclusionCode" not in report
    assert report["category"][0]["coding"][0]["code"] == "EC"
    prov = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Provenance")
    assert prov["entity"][0]["what"]["identifier"]["value"] == "ab" * 32
    assert {a["type"]["coding"][0]["code"] for a in prov["agent"]} == {"performer", "assembler"}


def test_ecg_lead_off_and_nan_become_E(shared_data: Path) -> None:
    analysis = F.ecg_analysis(shared_data, "contec-ecg90a/0000037.ECG")
    raw = analysis.raw
    samples = raw.samples_uv.copy()
    samples[1, 10:20] = np.nan
    off = np.zeros(samples.shape, dtype=bool)
    off[7, :5] = True
    rec = raw.with_samples(samples, lead_off=off)
    from dataclasses import replace
    bundle = ecg_bundle(F.exam(), F.patient(), replace(analysis, raw=rec), waveform="raw")
    wave = _by_code(_entries(bundle), "urn:iso:std:iso:11073:10101", "131328")
    ii = wave["component"][1]["valueSampledData"]["data"].split()
    v2 = wave["component"][7]["valueSampledData"]["data"].split()
    assert ii[10:20] == ["E"] * 10 and ii[9] != "E" and v2[:5] == ["E"] * 5
    assert wave["component"][0]["valueSampledData"]["period"] == 1.25  # 800 Hz
    assert "derived leads" in " ".join(n["text"] for n in wave["note"])


@pytest.mark.parametrize("changes, field", [
    ({"ins": "279035121518988"}, "ins"),  # wrong key
    ({"identity_qualified": False}, "ins"),  # INS on an unqualified identity
    ({"family": " "}, "family"),
    ({"given": ()}, "given"),
    ({"birth_date": None}, "birth_date"),
    ({"birth_place_cog": None}, "birth_place_cog"),
    ({"ins": None, "identity_qualified": False}, "local_id"),  # no identifier at all
    ({"sex": "male"}, "sex"),  # NIR sex digit 2 vs male
])
def test_invalid_patient_identity_is_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(PatientDataError) as exc:
        F.patient(**changes)
    assert exc.value.field == field
    assert F.TEST_INS not in str(exc.value) and "TESTPATIENT" not in str(exc.value)  # no patient data


def test_corsican_nir_and_local_identity() -> None:
    # Corsica: 2A -> 19 before the modulo (stdnum); key computed independently here
    nir13 = "180052A005007"
    key = 97 - int(nir13.replace("2A", "19")) % 97
    p = F.patient(ins=nir13 + f"{key:02d}", sex="male", given=("Jean",))
    with pytest.raises(PatientDataError):
        F.patient(ins=nir13 + f"{(key + 1) % 97:02d}", sex="male", given=("Jean",))
    assert p.ins_normalised is not None and p.ins_normalised.endswith(f"{key:02d}")
    local = F.patient(ins=None, identity_qualified=False, local_id="P-42", local_system="urn:oid:1.2.3.4")
    session, preds, _ = F.spiro_session()
    entries = _entries(spirometry_bundle(F.exam(), local, session, preds))  # type: ignore[arg-type]
    pat = next(e for e in entries if e["resource"]["resourceType"] == "Patient")
    assert pat["resource"]["identifier"] == [{"use": "usual", "system": "urn:oid:1.2.3.4", "value": "P-42"}]
    assert "meta" not in pat["resource"]  # not claimed as an INS patient


def test_test_ins_refused_outside_test_mode() -> None:
    with pytest.raises(PatientDataError):
        check_patient(F.patient(), test_mode=False)
    with pytest.raises(PatientDataError):
        PerformerContext("X", "Y", rpps="123")


def test_post_bronchodilator_context_and_administration() -> None:
    from datetime import UTC, datetime

    from asalee_devices.errors import InputError
    from asalee_devices.fhir_out import Bronchodilator

    session, preds, _ = F.spiro_session()
    bd = Bronchodilator("salbutamol", 400.0, datetime(2026, 11, 23, 9, 40, tzinfo=UTC), atc_code="R03AC02",
                        device="pMDI + spacer")
    bundle = spirometry_bundle(F.exam(), F.patient(), session, preds, pre_post="post",  # type: ignore[arg-type]
                               bronchodilator=bd)
    _validate_each(bundle)
    doc = json.loads(to_json(bundle))
    assert violations(doc) == []
    entries = doc["entry"]
    admin = next(e for e in entries if e["resource"]["resourceType"] == "MedicationAdministration")
    assert admin["resource"]["dosage"]["dose"] == {"value": 400.0, "unit": "ug", "system": "http://unitsofmeasure.org",
                                                   "code": "ug"}
    fev1 = _by_code(entries, "http://loinc.org", "20155-8")  # FEV1 post-BD first ...
    assert [c["code"] for c in fev1["code"]["coding"]] == ["20155-8", "152586", "20150-9"]  # ... generic LOINC kept
    assert {"reference": admin["fullUrl"]} in fev1["partOf"]
    bd_comp = next(c for c in fev1["component"] if c["code"]["coding"][0]["code"] == "bd-context")
    assert bd_comp["valueCodeableConcept"]["coding"][0]["code"] == "post-bronchodilator"
    ratio = _by_code(entries, "http://loinc.org", "69970-2")  # FEV1/FVC post-BD
    assert ratio["code"]["text"] == "FEV1/FVC post-bronchodilator"
    pre = _entries(spirometry_bundle(F.exam(), F.patient(), session, preds, pre_post="pre"))  # type: ignore[arg-type]
    pre_ratio = _by_code(pre, "http://loinc.org", "19926-5")  # no pre-BD ratio code: generic code + text
    assert pre_ratio["code"]["text"] == "FEV1/FVC pre-bronchodilator"
    with pytest.raises(InputError):
        spirometry_bundle(F.exam(), F.patient(), session, preds, pre_post="pre", bronchodilator=bd)  # type: ignore[arg-type]


def test_fr_core_ins_rules_hold_for_both_identities_and_catch_a_missing_ins() -> None:
    """fr-core-1/2 are true for a qualified INS identity and for an unqualified local one (not merely empty), and
    fail when a qualified identity loses its INS."""
    session, preds, _ = F.spiro_session()
    local = F.patient(ins=None, identity_qualified=False, local_id="P-42", local_system="urn:oid:1.2.3.4")
    for patient in (F.patient(), local):
        doc = json.loads(to_json(spirometry_bundle(F.exam(), patient, session, preds)))  # type: ignore[arg-type]
        assert violations(doc) == []
    doc = json.loads(to_json(spirometry_bundle(F.exam(), F.patient(), session, preds)))  # type: ignore[arg-type]
    pat = next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    pat["resource"]["identifier"] = [i for i in pat["resource"]["identifier"]
                                     if not i["system"].startswith("urn:oid:1.2.250.1.213.1.4.")]
    assert {v.split(": ")[1] for v in violations(doc)} >= {"fr-core-1", "fr-core-2"}


def test_child_bundle_carries_fev0_75_graded() -> None:
    """Aged 5 (completed years): an FEV0.75 Observation coded MDC 188944 MDC_VOL_AWAY_EXP_FORCED_0_75S (partition 2,
    term 57872 of ISO/IEEE 11073-10101) + SNOMED CT 251910007 (LOINC has no code), its value the session's FEV0.75,
    its GLI-2012 predicted value (MDC _PRED 33743376), its ATS/ERS 2019 grade and acceptable-manoeuvre count; the
    bundle validates and the FHIRPath invariants hold. An adult's bundle has none."""
    from asalee_devices.fhir_out.codes import mdc

    session, preds, best = F.child_spiro_session()
    b = spirometry_bundle(F.exam(), F.child_patient(), session, preds, equation="gli-2012",  # type: ignore[arg-type]
                          best_curve=best, fev0_75=True)  # type: ignore[arg-type]
    n = _validate_each(b)
    doc = json.loads(to_json(b))
    assert violations(doc) == []
    entries = list(doc["entry"])
    code = mdc(2, 57872)
    assert code == SPIRO_CODES["fev0_75"].mdc == 188944
    obs = _by_code(entries, "urn:iso:std:iso:11073:10101", str(code))
    assert obs["code"]["coding"][0]["display"] == "MDC_VOL_AWAY_EXP_FORCED_0_75S"
    assert obs["code"]["coding"][1]["system"] == "http://snomed.info/sct"
    assert obs["code"]["coding"][1]["code"] == "251910007"
    assert not any(c["system"] == "http://loinc.org" for c in obs["code"]["coding"])
    assert session.fev0_75_l is not None
    assert obs["valueQuantity"]["value"] == round(session.fev0_75_l, 3)
    assert obs["valueQuantity"]["code"] == "L"
    comps = {c["code"]["coding"][-1]["code"]: c for c in obs["component"]}
    assert comps["grade"]["valueString"] == session.grade_fev0_75 != ""
    assert comps["grade"]["code"]["text"] == "FEV0.75 ATS/ERS 2019 grade"
    assert comps["acceptable-manoeuvres"]["valueInteger"] == sum(
        1 for bl in session.blows if bl.acceptability.acceptable_fev0_75) == 3
    pred075 = next(p for p in preds if p.parameter == "fev0_75")
    assert comps[str(code + PREDICTED_OFFSET)]["valueQuantity"]["value"] == round(float(pred075.predicted[0]), 3)
    assert str(code + PREDICTED_OFFSET) == "33743376"
    assert obs["referenceRange"][0]["low"]["value"] == round(float(pred075.lln[0]), 3)
    print(f"child bundle: {n} entries; FEV0.75 {obs['valueQuantity']['value']} L grade {session.grade_fev0_75}, "
          f"predicted {comps[str(code + PREDICTED_OFFSET)]['valueQuantity']['value']} L")

    adult, apreds, _ = F.spiro_session()
    a_entries = _entries(spirometry_bundle(F.exam(), F.patient(), adult, apreds))  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        _by_code(a_entries, "urn:iso:std:iso:11073:10101", str(code))


def test_the_examination_decides_fev0_75() -> None:
    """Completed years: 6.9 reports FEV0.75 (with its GLI-2012 prediction), 7.0 does not (delivery passes
    ``reports_fev0_75`` to the bundle and adds the FEV0.75 prediction when the equation publishes one)."""
    from tests.spirometry.manoeuvres import Blow, build

    from asalee_devices.workflow.spirometry_exam import ReferenceSubject, SpirometryExamination

    names = {}
    for age in (6.9, 7.0):
        ex = SpirometryExamination(ReferenceSubject(sex="female", age_years=age, height_cm=115, equation="gli-2012",
                                                    ethnicity="caucasian"))
        for i in range(3):
            ex.add_blow(build(Blow(shape="restrictive", pef_l_s=3.0, fvc_l=1.2 + 0.02 * i, fs_hz=500.0)))
        result = ex.phase_result("pre")
        assert result is not None
        names[age] = (ex.reports_fev0_75, {p.name: p for p in result.parameters})
    assert names[6.9][0] and not names[7.0][0]
    kid = names[6.9][1]["fev0_75"]
    assert kid.measured is not None and kid.predicted is not None and kid.z_score is not None
    assert "fev0_75" not in names[7.0][1]
