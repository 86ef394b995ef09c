"""The spirometry CLI: the 26 ATS waveforms through `analyze --json`, and `predict` single and batch."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from asalee_devices.cli.main import main

KEYS = ("pef_l_s", "fev1_l", "fvc_l", "fev1_fvc", "bev_l", "time_to_pef_ms", "rise_time_ms", "fet_s",
        "acceptable_fev1", "acceptable_fvc", "usable_fev1", "usable_fvc", "reasons")


@pytest.mark.shared_data
def test_analyze_ats_waveforms_json(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "spirometry" / "ats-flow-time"
    refs = {r["file"]: r for r in csv.DictReader((folder / "reference.csv").open())}
    files = [str(folder / name) for name in sorted(refs)]
    assert main(["spirometry", "analyze", *files, "--rate", "500", "--json", "--sex", "F", "--age", "50",
                 "--height-cm", "165"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["blows"]) == 26
    worst = {"pef": 0.0, "fev1": 0.0, "bev": 0.0, "tpef": 0.0, "rise": 0.0}
    for b in doc["blows"]:
        assert all(k in b for k in KEYS)
        r = refs[b["file"]]
        worst["pef"] = max(worst["pef"], abs(b["pef_l_s"] - float(r["pef_l_s"])))
        worst["fev1"] = max(worst["fev1"], abs(b["fev1_l"] - float(r["fev1_l"])))
        worst["bev"] = max(worst["bev"], abs(b["bev_l"] - float(r["bev_l"])))
        worst["tpef"] = max(worst["tpef"], abs(b["time_to_pef_ms"] - float(r["time_to_pef_from_t0_ms"])))
        worst["rise"] = max(worst["rise"], abs(b["rise_time_ms"] - float(r["rise_time_10_90_ms"])))
    print("CLI worst errors:", {k: round(v, 4) for k, v in worst.items()})
    assert worst["pef"] <= 0.001 and worst["fev1"] <= 0.015 and worst["bev"] <= 0.010
    assert worst["tpef"] <= 3.0 and worst["rise"] <= 1.0
    assert doc["session"]["grade_fev1"] in "ABCDEUF" and doc["reference"]["equation"] == "gli-global-2022"
    assert doc["reference"]["fev1"]["z"] is not None


def test_analyze_csv_and_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "v.csv"
    good.write_text("time_s,volume_l\n" + "".join(f"{i / 100:.2f},{min(i, 300) / 100:.4f}\n" for i in range(600)))
    assert main(["spirometry", "analyze", str(good), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["blows"][0]["fvc_l"] == pytest.approx(3.0, abs=0.01)
    bad = tmp_path / "b.csv"
    bad.write_text("time_s,flow_l_s\n0,1\n0.02,1\n0.01,1\n")
    assert main(["spirometry", "analyze", str(bad)]) == 2
    empty = tmp_path / "e.txt"
    empty.write_text("")
    assert main(["spirometry", "analyze", str(empty), "--rate", "500"]) == 2
    assert "expected" in capsys.readouterr().err.lower()


def test_predict_single_and_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spirometry", "predict", "--sex", "M", "--age", "55", "--height-cm", "175", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert float(one["fev1_predicted"]) == pytest.approx(3.419, abs=0.001)
    src = tmp_path / "in.csv"
    src.write_text("sex,age,height_cm,ethnicity,equation\nM,55,175,caucasian,gli-2012\nF,55,162,,gli-global-2022\n"
                   "X,50,170,,\nmale,120,170,,gli-2012\n")
    dst = tmp_path / "out.csv"
    assert main(["spirometry", "predict", "--input", str(src), "--output", str(dst)]) == 0
    rows = list(csv.DictReader(dst.open()))
    assert float(rows[0]["fev1_predicted"]) == pytest.approx(3.638, abs=0.001)
    assert float(rows[1]["fvc_lln"]) == pytest.approx(2.267, abs=0.001)
    assert rows[1]["fef75_predicted"] == "" and rows[0]["error"] == ""
    assert rows[2]["error"].startswith("sex") and rows[3]["error"].startswith("age")


@pytest.mark.parametrize("lang, words, foreign", [
    ("fr", ("Essai 1", "VEMS", "CVF", "DEP", "Séance", "Valeurs de référence", "LIN"),
     ("Blow", "FEV1", "FVC", "PEF", "Session", "observed", "predicted", "rejected")),
    ("en", ("Blow 1", "FEV1", "FVC", "PEF", "Session", "Reference", "LLN"),
     ("Essai", "VEMS", "CVF", "DEP", "Séance", "mesuré", "prédit")),
])
def test_analyze_text_is_in_one_language(tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str,
                                         words: tuple[str, ...], foreign: tuple[str, ...]) -> None:
    # issue 20: the labels were English while the messages followed --lang
    good = tmp_path / "v.csv"
    good.write_text("time_s,volume_l\n" + "".join(f"{i / 100:.2f},{min(i, 300) / 100:.4f}\n" for i in range(600)))
    assert main(["spirometry", "analyze", str(good), str(good), "--lang", lang, "--sex", "F", "--age", "50",
                 "--height-cm", "165"]) == 0
    out = capsys.readouterr().out.replace(good.name, "")
    for w in words:
        assert w in out, (w, out)
    for w in foreign:
        assert w not in out, (w, out)
