"""The blow-by-blow spirometry examination: feedback, stopping advice, bad blows kept, post-BD phase, report data."""

from __future__ import annotations

import numpy as np
import pytest

from asalee_devices.errors import AsaleeError, ReferenceDomainError
from asalee_devices.reports.spirometry_pdf import render_spirometry_pdf
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.signal.spirometry.reference import predict
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.spirometry_exam import (
    ReferenceSubject,
    SpirometryExamination,
    spirometry_report_data,
)

SUBJECT = ReferenceSubject(sex="male", age_years=62.0, height_cm=172.0)


def _good(seed: int, fvc: float = 3.2, pef: float = 5.0) -> FlowRecording:
    return forced_expiration("obstructive", fvc_l=fvc, pef_l_s=pef, seed=seed)


def test_hesitant_blow_is_flagged_and_session_stops_after_three_good_blows() -> None:
    exam = SpirometryExamination(SUBJECT)
    first = exam.add_blow(forced_expiration("obstructive", fvc_l=3.2, pef_l_s=5.0, fault="hesitant_start", seed=1))
    assert not first.acceptable and not first.stop
    assert any("hésitant" in m for m in first.messages)
    feedback = [exam.add_blow(_good(s, 3.25 - 0.02 * s)) for s in (2, 3, 4)]
    assert [f.acceptable for f in feedback] == [True, True, True]
    assert [f.stop for f in feedback] == [False, False, True]
    assert feedback[-1].session is not None and feedback[-1].session.grade_fev1 == "A"
    assert "terminée" in feedback[-1].advice
    print(f"analysis time per blow (ms): {[round(f.analysis_ms, 2) for f in [first, *feedback]]}")


def test_a_blow_that_cannot_be_analysed_is_kept_flagged_and_does_not_hide_the_others() -> None:
    exam = SpirometryExamination(SUBJECT, lang="en")
    exam.add_blow(_good(1))
    bad = exam.add_blow(FlowRecording(flow_l_s=np.zeros(3000), fs_hz=1000.0))
    assert bad.error is not None and bad.indices is None and not bad.acceptable
    assert "could not be analysed" in bad.messages[0]
    third = exam.add_blow(_good(3))
    assert third.number == 3 and third.acceptable
    result = exam.phase_result("pre")
    assert result is not None
    assert len(result.recordings) == 3 and result.analysed == (0, 2)


def test_eight_blows_stop_the_session() -> None:
    exam = SpirometryExamination(SUBJECT)
    fb = None
    for s in range(8):
        fb = exam.add_blow(forced_expiration("obstructive", fvc_l=3.2, pef_l_s=5.0, fault="early_termination",
                                             seed=s))
    assert fb is not None and fb.stop and fb.number == 8


def test_reported_values_carry_reference_values_of_the_chosen_equation() -> None:
    exam = SpirometryExamination(SUBJECT)
    for s in (1, 2, 3):
        exam.add_blow(_good(s, 3.2 + 0.01 * s))
    res = exam.phase_result("pre")
    assert res is not None and res.session is not None
    by = {p.name: p for p in res.parameters}
    assert by["fev1"].measured == res.session.fev1_l
    pr = predict("fev1", sex="male", age_years=62.0, height_cm=172.0)
    assert by["fev1"].predicted == pytest.approx(float(pr.predicted[0]))
    assert by["fev1"].lln == pytest.approx(float(pr.lln[0]))
    assert by["fev1"].z_score == pytest.approx(float(pr.z_score(by["fev1"].measured)[0]))
    assert by["pef"].predicted is None  # GLI Global 2022 has no PEF equation
    assert by["fet"].measured is not None and by["fev6"].measured is not None


def test_post_bronchodilator_phase_gives_numbers_and_report_columns() -> None:
    exam = SpirometryExamination(SUBJECT)
    with pytest.raises(AsaleeError):
        exam.start_post_bronchodilator()
    for s in (1, 2, 3):
        exam.add_blow(_good(s, 3.0))
    exam.start_post_bronchodilator()
    for s in (4, 5, 6):
        exam.add_blow(_good(s, 3.3, 5.6))
    bd = exam.bronchodilator()
    pre, post = exam.phase_result("pre"), exam.phase_result("post")
    assert bd is not None and pre is not None and post is not None
    assert pre.session is not None and post.session is not None
    assert post.session.fev1_l is not None and pre.session.fev1_l is not None
    assert bd.fev1_change_l == pytest.approx(post.session.fev1_l - pre.session.fev1_l)
    data = spirometry_report_data(exam, patient_name="TEST Demo")
    assert any(r.post_measured is not None for r in data.rows)
    assert sum(b.reported for b in data.blows) == 2  # one reported blow per phase
    pdf = render_spirometry_pdf(data)
    assert pdf.startswith(b"%PDF")


def test_unknown_equation_is_refused() -> None:
    with pytest.raises(ReferenceDomainError):
        SpirometryExamination(ReferenceSubject(sex="male", age_years=50, height_cm=170, equation="knudson"))
