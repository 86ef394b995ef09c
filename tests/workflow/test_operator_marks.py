"""Operator-assessed marks (ATS/ERS 2019 Table 7 leak / obstructed mouthpiece, and sub-maximal effort) end to end:
the examination, the CLI session, the stored examination and its replay, the PDF and the FHIR notes."""

from __future__ import annotations

import json
from pathlib import Path

import pdfplumber
import pytest

from asalee_devices.cli.main import main
from asalee_devices.errors import AsaleeError
from asalee_devices.signal.spirometry.acceptability import OperatorMark, Reason
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.replay import replay
from asalee_devices.workflow.results import canonical_json, spirometry_results
from asalee_devices.workflow.spirometry_exam import ReferenceSubject, SpirometryExamination

SIM = "sim://turbine?script=ok,ok,ok&speed=20"


def _exam(n: int = 3) -> SpirometryExamination:
    exam = SpirometryExamination(ReferenceSubject("male", 55.0, 175.0))
    for i in range(n):
        exam.add_blow(forced_expiration("normal", fvc_l=4.5 - 0.02 * i, pef_l_s=9.0, seed=i))
    return exam


def test_marks_void_acceptability_not_usability_and_change_the_grade() -> None:
    exam = _exam()
    assert exam.phase_result("pre").session.grade_fev1 == "A"  # type: ignore[union-attr]
    fb = exam.mark_blow(2, ["fuite"])
    acc = fb.acceptability
    assert acc is not None and acc.marks == (OperatorMark.LEAK,) and Reason.LEAK in acc.reasons
    assert (acc.acceptable_fev1, acc.acceptable_fvc, acc.usable_fev1, acc.usable_fvc) == (False, False, True, True)
    assert exam.phase_result("pre").session.grade_fev1 == "B"  # type: ignore[union-attr]
    assert any("Fuite" in m for m in fb.messages)
    exam.mark_blow(2, [])  # cleared
    assert exam.phase_result("pre").session.grade_fev1 == "A"  # type: ignore[union-attr]


@pytest.mark.parametrize(("number", "marks", "phase"), [(4, ["leak"], None), (0, ["leak"], None),
                                                        (1, ["leak"], "post"), (1, ["fuite", "toux"], None)])
def test_bad_marks_are_refused_and_change_nothing(number: int, marks: list[str], phase: str | None) -> None:
    exam = _exam()
    exam.mark_blow(1, ["effort"])
    before = canonical_json(spirometry_results(exam))
    with pytest.raises(AsaleeError) as err:
        exam.mark_blow(number, marks, phase=phase)  # type: ignore[arg-type]
    assert err.value.field in ("blow", "phase", "mark")
    assert canonical_json(spirometry_results(exam)) == before


def _record(out: Path, *extra: str) -> int:
    return main(["spirometry", "record", "--demo-patient", "--device", SIM, "--out", str(out), "--yes",
                 "--blow-s", "12", "--lang", "fr", *extra])


def test_cli_marks_reach_store_replay_pdf_and_fhir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _record(out, "--mark", "2:fuite", "--mark", "pre:3:embout,effort") == 0
    text = capsys.readouterr().out
    assert "Fuite (notée par l'infirmière)" in text
    (folder,) = [p for p in (out / "recordings").iterdir() if p.is_dir() and p.name != "incoming"]
    doc = json.loads((folder / "exam.json").read_text(encoding="utf-8"))
    assert doc["marks"] == {"pre": {"2": ["leak"], "3": ["obstructed_mouthpiece", "submaximal_effort"]}}
    assert replay(folder).identical
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    blows = results["phases"]["pre"]["session"]["blows"]
    assert blows[1]["acceptability"]["marks"] == ["leak"] and not blows[1]["acceptability"]["acceptable_fev1"]
    # without the marks the replay differs: the stored examination really carries them
    doc.pop("marks")
    (folder / "exam.json").write_text(json.dumps(doc), encoding="utf-8")
    assert not replay(folder).identical
    with pdfplumber.open(folder / "report.pdf") as pdf:
        page_text = "\n".join(p.extract_text() or "" for p in pdf.pages)
    assert "Fuite" in page_text and "Embout obstrué" in page_text
    (bundle_path,) = out.glob("*_spirometry_*.json")
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    notes = {e["resource"]["code"]["text"]: e["resource"]["note"][0]["text"]
             for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation" and "note" in e["resource"]}
    assert set(notes) == {"FEV1", "FVC"}
    assert all("essai 2 : fuite" in n and "blow 3: obstructed mouthpiece, sub-maximal effort" in n
               for n in notes.values())


@pytest.mark.parametrize(("mark", "where"), [("9:fuite", "before"), ("2:toux", "before"), ("post:1:fuite", "before"),
                                             ("7:fuite", "after")])
def test_cli_mark_on_a_blow_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                mark: str, where: str) -> None:
    out = tmp_path / "out"
    assert _record(out, "--mark", mark) == 2
    err = capsys.readouterr()
    assert "mark" in err.err and (err.out == "" or where == "after")
    assert not list(out.glob("*.json"))  # nothing delivered
    examined = [p for p in (out / "recordings").iterdir() if p.is_dir() and p.name != "incoming"] \
        if (out / "recordings").exists() else []
    assert examined == []  # nothing stored half-way
    if where == "after":  # the blows were recorded: they stay in the staging folder
        assert list((out / "recordings" / "incoming").rglob("*.npz"))
