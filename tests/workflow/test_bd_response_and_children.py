"""ERS/ATS 2022 bronchodilator response (change in % of predicted, and absolute) on the PDF and in the post
bundle; FEV0.75 reported and graded for children aged 6 or younger."""

from __future__ import annotations

import json
from pathlib import Path

import pdfplumber
from tests.fhir import fixtures as F
from tests.fhir.fixtures import spirometry_bundle

from asalee_devices.fhir_out import to_json
from asalee_devices.reports.spirometry_pdf import render_spirometry_pdf
from asalee_devices.signal.spirometry.reference import predict
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.spirometry_exam import (
    ReferenceSubject,
    SpirometryExamination,
    spirometry_report_data,
)


def _bd_exam() -> SpirometryExamination:
    exam = SpirometryExamination(ReferenceSubject("male", 60.0, 175.0), lang="fr")
    for i in range(3):
        exam.add_blow(forced_expiration("obstructive", fvc_l=3.00 - 0.02 * i, pef_l_s=4.0, seed=i))
    exam.start_post_bronchodilator()
    for i in range(3):
        exam.add_blow(forced_expiration("obstructive", fvc_l=3.40 - 0.02 * i, pef_l_s=4.6, seed=10 + i))
    return exam


def test_bd_response_in_percent_of_predicted_on_the_pdf(tmp_path: Path) -> None:
    exam = _bd_exam()
    pre, post = exam.phase_result("pre").session, exam.phase_result("post").session  # type: ignore[union-attr]
    pred = float(predict("fev1", sex="male", age_years=60.0, height_cm=175.0).predicted[0])
    expected = 100.0 * (post.fev1_l - pre.fev1_l) / pred  # type: ignore[operator]
    data = spirometry_report_data(exam)
    (row,) = [r for r in data.rows if r.code == "fev1"]  # named "VEMS" in this French report
    assert row.post_change_pct_predicted is not None and abs(row.post_change_pct_predicted - expected) < 1e-9
    assert row.post_change_abs is not None and abs(row.post_change_abs - (post.fev1_l - pre.fev1_l)) < 1e-12
    assert row.post_change_percent is not None  # the old metric (vs pre) stays beside it
    path = tmp_path / "r.pdf"
    path.write_bytes(render_spirometry_pdf(data))
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text() or ""
    print(f"\nFEV1 {pre.fev1_l:.3f} -> {post.fev1_l:.3f} L: {row.post_change_pct_predicted:+.1f} % of predicted, "
          f"{row.post_change_percent:+.1f} % of pre")
    # a French report: decimal comma (issue 20)
    assert "Var. % préd." in text and f"{row.post_change_pct_predicted:+.1f}".replace(".", ",") in text
    assert f"{row.post_change_abs:+.2f}".replace(".", ",") in text and "ERS/ATS 2022" in text


def test_bd_response_in_the_post_bundle() -> None:
    exam = _bd_exam()
    bd = exam.bronchodilator()
    assert bd is not None and bd.fev1_change_pct_predicted is not None
    session, preds, _ = F.spiro_session()
    doc = json.loads(to_json(spirometry_bundle(F.exam(), F.patient(), session, preds, pre_post="post",  # type: ignore[arg-type]
                                               bd_response=bd)))
    obs = {e["resource"]["code"]["text"]: e["resource"] for e in doc["entry"]
           if e["resource"]["resourceType"] == "Observation" and "text" in e["resource"]["code"]}
    (fev1,) = [o for t, o in obs.items() if t.startswith("FEV1") and "FVC" not in t]
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in fev1["component"]
             if "valueQuantity" in c}
    assert comps["bd-change-percent-predicted"]["value"] == round(bd.fev1_change_pct_predicted, 1)
    assert comps["bd-change"] == {"value": round(bd.fev1_change_l, 3), "unit": "L",
                                  "system": "http://unitsofmeasure.org", "code": "L"}
    assert comps["bd-change-percent-pre"]["unit"] == "%"


def test_children_fev0_75_reported_and_graded_adults_not() -> None:
    kid = SpirometryExamination(ReferenceSubject("female", 5.5, 110.0, equation="gli-2012"))
    adult = SpirometryExamination(ReferenceSubject("female", 40.0, 165.0, equation="gli-2012"))
    for i in range(3):
        kid.add_blow(forced_expiration("restrictive", fvc_l=1.10 - 0.01 * i, pef_l_s=2.5, seed=i))
        adult.add_blow(forced_expiration("normal", fvc_l=3.5 - 0.02 * i, pef_l_s=7.0, seed=i))
    kid_rows = {p.name: p for p in kid.phase_result("pre").parameters}  # type: ignore[union-attr]
    assert "fev0_75" in kid_rows and kid_rows["fev0_75"].measured is not None
    assert kid_rows["fev0_75"].predicted is not None  # GLI-2012 has FEV0.75 equations
    assert "fev0_75" not in {p.name for p in adult.phase_result("pre").parameters}  # type: ignore[union-attr]
    data = spirometry_report_data(kid)
    assert data.grade_fev0_75 == kid.phase_result("pre").session.grade_fev0_75 != ""  # type: ignore[union-attr]
    assert spirometry_report_data(adult).grade_fev0_75 == ""
