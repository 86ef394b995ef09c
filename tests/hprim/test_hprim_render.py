"""The HPRIM renderer and sink on their own: transliteration, flags from LIN/LSN only, both spirometry phases in one
file, no signal import, atomic idempotent writes, and refusal of what is not HPRIM text."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from asalee_devices.config import Config, SinkConfig, load_config, validate
from asalee_devices.errors import InputError
from asalee_devices.fhir_out.sinks.base import Delivery, RejectedDeliveryError, create_sink
from asalee_devices.fhir_out.sinks.hprim import HprimSink
from asalee_devices.hprim import HprimExam, HprimHeader, HprimParty, render_hprim
from asalee_devices.hprim.text import latin1

ROOT = Path(__file__).resolve().parents[2]


def _param(name: str, measured: float, lln: float | None = None, uln: float | None = None,
           z: float | None = None) -> dict[str, Any]:
    return {"name": name, "measured": measured, "lln": lln, "uln": uln, "z_score": z, "predicted": None,
            "percent_predicted": None if z is None else 80.0, "unit": "L", "label": name, "equation": None}


def _results() -> dict[str, Any]:
    pre = [_param("fev1", 1.5, 2.0, 3.4, -2.1), _param("fvc", 3.0, 2.5, 4.2, -0.3),
           _param("fev1_fvc", 0.5, 0.7, 0.9, -3.0), _param("pef", 5.0)]
    post = [_param("fev1", 1.8, 2.0, 3.4, -1.6), _param("fvc", 4.5, 2.5, 4.2, 2.1),
            _param("fev1_fvc", 0.4, 0.7, 0.9, -3.2)]
    session = {"grade_fev1": "A", "grade_fvc": "B", "repeatable": True}
    return {"kind": "spirometry", "subject": {"sex": "male", "age_years": 61.2, "height_cm": 172.0,
                                              "equation": "gli-global-2022"},
            "phases": {"pre": {"blows": 3, "parameters": pre, "session": session},
                       "post": {"blows": 3, "parameters": post, "session": session}},
            "bronchodilator_response": {"fev1_change_l": 0.3, "fev1_change_pct": 20.0, "fvc_change_l": 1.5,
                                        "fvc_change_pct": 50.0}}


def _exam(family: str = "DUPONT", given: str = "Jean", **kw: Any) -> HprimExam:
    header = HprimHeader(patient_code="12345", family=family, given=given, birth_date=date(1964, 5, 2),
                         exam_ref="abcdef0123", exam_date=date(2026, 1, 5), sender=HprimParty("123456789", "Cabinet"),
                         recipient=HprimParty("", "Dr X"), nir="1640575123456" + "42", **kw)
    return HprimExam(header=header, exam_id="abcdef01-2345", performed_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
                     device_label="Turbine (n° 1)", performer_label="Infirmière Test", computed_by="asalee-devices")


def _res(data: bytes) -> dict[str, list[str]]:
    lines = data.decode("iso-8859-1").split("\r\n")
    return {ln.split("|")[1]: ln.split("|") for ln in lines if ln.startswith("RES|")}


def test_flags_come_only_from_lln_and_uln_and_both_phases_share_one_file() -> None:
    res = _res(render_hprim(_results(), _exam()))
    assert res["VEMS"][8] == "L" and res["CVF"][8] == "N" and res["VEMS/CVF"][8] == "L"
    assert res["CVF post-BD"][8] == "H"  # above the ULN: H, whatever it means clinically
    assert res["DEP"][6:9] == ["", "", ""]  # no reference: no range, no flag
    assert res["VEMS/CVF"][4:8] == ["50.0", "%", "70.0", "90.0"]
    assert res["VEMS post-BD"][2] == "VEMSP" and res["VEMS/CVF post-BD z-score"][2] == "VEMSCVFZP"
    assert all(len(r[2]) <= 10 for r in res.values())
    assert res["Variation VEMS post-BD"][4:6] == ["300", "mL"]
    assert res["Grade CVF post-BD (ATS/ERS 2019)"][4] == "B"


def test_characters_outside_latin1_are_transliterated_never_dropped() -> None:
    assert latin1("Œdipe — l’été ≥ 2 ₂ Łódź 中") == "Oedipe - l'été >= 2 2 Lódz Zhong"
    data = render_hprim(_results(), _exam(family="Œuvre-Łukasz", given="Zoë\u2009Anne"))
    lines = data.decode("iso-8859-1").split("\r\n")
    assert lines[1] == "OEUVRE-LUKASZ" and lines[2] == "Zoë Anne"
    data.decode("iso-8859-1")  # every byte is Latin-1 by construction; and no "?" replaced anything
    assert b"?" not in data


def test_header_refuses_codes_longer_than_the_format_allows() -> None:
    with pytest.raises(InputError, match="too long"):
        HprimHeader(patient_code="12345678901", family="A", given="B", birth_date=date(2000, 1, 1), exam_ref="1",
                    exam_date=date(2026, 1, 1), sender=HprimParty("", ""), recipient=HprimParty("", ""))


def test_field_separator_inside_a_value_cannot_split_the_line() -> None:
    exam = _exam()
    exam = HprimExam(exam.header, exam.exam_id, exam.performed_at, exam.device_label, exam.performer_label,
                     computed_by="vendor | software")
    res = _res(render_hprim(_results(), exam))
    assert res["Résultats calculés par"][4] == "vendor / software" and len(res["Résultats calculés par"]) == 13


def test_no_hprim_renderer_module_imports_signal() -> None:
    """Run in a fresh interpreter: rendering both kinds loads nothing from signal/ (the sink module itself imports
    nothing from it either; the fhir_out package it lives in still does, through the FHIR renderers)."""
    import ast

    for module in ("fhir_out/sinks/hprim.py", "fhir_out/device_results.py", "hprim/render.py",
                   "hprim/spirometry.py", "hprim/ecg.py", "hprim/text.py"):
        tree = ast.parse((ROOT / "src/asalee_devices" / module).read_text(encoding="utf-8"))
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert imported and not [m for m in imported if m and ".signal" in m], module
    code = ("import sys; import asalee_devices.hprim.render as r, asalee_devices.hprim.spirometry, "
            "asalee_devices.hprim.ecg; r._load_builtins(); "
            "bad = [m for m in sys.modules if m.startswith('asalee_devices.signal')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _delivery(payload: bytes, pdf: bytes | None = b"%PDF-1.4 x") -> Delivery:
    return Delivery(1, "abc-123", "spirometry", "2026-01-05", payload, pdf)


def test_sink_writes_one_pair_atomically_and_a_resend_changes_nothing(tmp_path: Path) -> None:
    sink = create_sink(SinkConfig(type="hprim", folder=str(tmp_path)))
    assert isinstance(sink, HprimSink)
    data = render_hprim(_results(), _exam())
    first = sink.send(_delivery(data))
    hpr = tmp_path / "2026-01-05_spirometry_abc-123.hpr"
    mtime = hpr.stat().st_mtime_ns
    second = sink.send(_delivery(data))
    assert (first.created, second.existing) == (1, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [hpr.name, hpr.stem + ".pdf"]
    assert hpr.read_bytes() == data and hpr.stat().st_mtime_ns == mtime


def test_sink_refuses_a_fhir_bundle(tmp_path: Path) -> None:
    sink = HprimSink(tmp_path)
    with pytest.raises(RejectedDeliveryError, match="only examinations rendered as HPRIM"):
        sink.send(_delivery(b'{"resourceType": "Bundle"}'))
    assert list(tmp_path.iterdir()) == []


def test_config_check_validates_the_hprim_section() -> None:
    assert validate(Config(sink=SinkConfig(type="hprim", folder="out"))) == []
    problems = validate(Config(sink=SinkConfig(type="hprim", folder="", hprim_sender_code="12345678901")))
    assert any("sink.folder" in p for p in problems) and any("hprim_sender_code" in p for p in problems)


def test_environment_configures_the_hprim_sink(tmp_path: Path) -> None:
    cfg = load_config(env={"ASALEE_SINK_TYPE": "hprim", "ASALEE_SINK_FOLDER": str(tmp_path),
                           "ASALEE_SINK_HPRIM_SENDER_CODE": "CAB01"})
    sink = create_sink(cfg.sink)
    assert isinstance(sink, HprimSink) and sink.folder == tmp_path and cfg.sink.hprim_sender_code == "CAB01"


def test_outbox_show_prints_an_hprim_payload_as_latin1_text(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from asalee_devices.cli.main import main
    from asalee_devices.fhir_out.outbox import Outbox

    data = render_hprim(_results(), _exam(family="Hélène"))
    with Outbox(tmp_path / "o.sqlite3") as box:
        mid = box.enqueue(exam_id="e1", kind="spirometry", sink="hprim", performed_on="2026-01-05", payload=data)
    assert main(["outbox", "show", str(mid), "--payload", "--outbox", str(tmp_path / "o.sqlite3")]) == 0
    assert "HÉLÈNE" in capsys.readouterr().out


def test_child_fev0_75_and_its_grade_are_written_only_when_reported() -> None:
    """A child's examination (FEV0.75 among the parameters, as workflow.spirometry_exam reports it for <= 6 years):
    VEMS0,75 with its range and its ATS/ERS 2019 grade; an adult's results (no fev0_75 parameter) carry neither,
    even though every session holds a grade_fev0_75."""
    child = _results()
    pre = child["phases"]["pre"]
    pre["parameters"] = [*pre["parameters"], _param("fev0_75", 0.95, 0.80, 1.30, -0.9)]
    pre["session"] = {**pre["session"], "grade_fev0_75": "C"}
    data = render_hprim(child, _exam())
    res = _res(data)
    assert res["VEMS0,75"][2:9] == ["VEMS075", "N", "0.95", "L", "0.80", "1.30", "N"]
    assert res["Grade VEMS0,75 (ATS/ERS 2019)"][2:5] == ["GRADV075", "A", "C"]
    assert "grade VEMS0,75 C" in data.decode("iso-8859-1")
    adult = _results()
    adult["phases"]["pre"]["session"] = {**adult["phases"]["pre"]["session"], "grade_fev0_75": "F"}
    res_adult = _res(render_hprim(adult, _exam()))
    assert not any("0,75" in k for k in res_adult)
    assert "GRADV075" not in {r[2] for r in res_adult.values()}
