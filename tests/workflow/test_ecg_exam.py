"""The ECG examination: electrode-off capture advised to retake with the lead named, retake kept, bad traces kept."""

from __future__ import annotations

import dataclasses

import pytest

from asalee_devices.errors import AsaleeError
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg
from asalee_devices.workflow.ecg_exam import EcgExamination


def test_electrode_off_then_good_retake_keeps_the_retake() -> None:
    exam = EcgExamination()
    bad = exam.add_capture(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, electrode_off="V3", seed=1))
    assert not bad.acceptable and bad.verdict_message.startswith("Refaire")
    assert any("V3" in m for m in bad.messages), bad.messages
    assert exam.kept_analysis is None
    good = exam.add_capture(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, heart_rate_bpm=72.0, seed=2))
    assert good.acceptable, good.messages
    assert good.heart_rate_bpm == pytest.approx(72.0, abs=2.0)
    assert exam.kept_analysis is exam.analyses[1]
    # the nurse may still choose the first capture; both stay in the history
    exam.keep(1)
    assert exam.kept_analysis is exam.analyses[0] and len(exam.captures) == 2


def test_interrupted_capture_is_kept_flagged_and_never_acceptable() -> None:
    exam = EcgExamination(lang="en")
    rec = dataclasses.replace(twelve_lead_ecg(duration_s=6.0, fs_hz=500.0, seed=3), interrupted=True)
    fb = exam.add_capture(rec)
    assert not fb.acceptable and fb.messages[0].startswith("Recording interrupted")
    assert exam.captures[0] is rec


def test_too_short_capture_is_kept_with_a_retake_message() -> None:
    exam = EcgExamination(lang="en")
    rec = twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=4)
    tiny = rec.with_samples(rec.samples_uv[:, :10], lead_off=None)
    fb = exam.add_capture(tiny)
    assert not fb.acceptable and any("too short" in m for m in fb.messages), fb.messages
    assert exam.kept_analysis is None and len(exam.captures) == 1
    with pytest.raises(AsaleeError, match="capture"):
        exam.keep(2)


@pytest.mark.parametrize("electrode, words", [("RA", "bras droit (RA)"), ("LA", "bras gauche (LA)"),
                                              ("LL", "jambe gauche (LL)"), ("V5", "V5")])
def test_the_nurse_is_told_which_electrode(electrode: str, words: str) -> None:
    """The simulator's electrode off (its own model of which leads an electrode feeds): the nurse reads the
    electrode, not a list of leads called electrodes (on main: 'Électrodes I, II, III, aVR, aVL, aVF déconnectées'
    for RA, and the badges blamed LA / LL)."""
    fb = EcgExamination().add_capture(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, electrode_off=electrode, seed=3))
    assert not fb.acceptable
    assert fb.messages[0].startswith(f"Électrode {words} déconnectée"), fb.messages
    assert fb.analysis is not None
    badged = {f.electrodes for f in fb.analysis.quality.findings if f.code == "lead_off"}
    assert badged == {(electrode,)}


def test_pacemaker_flag_without_visible_spikes_is_said() -> None:
    rec = dataclasses.replace(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=4), pacemaker=True)
    fb = EcgExamination().add_capture(rec)
    assert any("stimulateur" in m and "aucune impulsion visible" in m for m in fb.messages), fb.messages
