"""The spirometry report as a GP reads it, measured from the PDF itself: ATS/ERS 2019 display scales (flow-volume
2 L/s : 1 L, volume-time >= 20 mm/s and >= 10 mm/L from >= 1 s before the back-extrapolated time zero), one page,
nothing outside the page, French clinical vocabulary and formatting in a French report (no English term), English
in an English one, the per-blow table and the quality block. PNGs of the cases go to ``test-artifacts/spirometry/``
(git-ignored) for a look."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asalee_devices import __version__
from asalee_devices.reports.ecg_layout import PT_PER_MM
from asalee_devices.reports.spirometry_pdf import (
    OTHER_WIDTH,
    REPORTED_WIDTH,
    SpirometryReportData,
    render_spirometry_pdf,
)
from asalee_devices.simulators.generators.spirometry import SimPatient, forced_expiration, patient_blow
from asalee_devices.workflow.spirometry_exam import (
    ReferenceSubject,
    SpirometryExamination,
    spirometry_report_data,
)

pdfplumber = pytest.importorskip("pdfplumber")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "spirometry"
WHO: dict[str, Any] = {"patient_name": "TESTPATIENT Marie Louise", "patient_identifier": "INS 279035121518989 (test)",
                       "birth_date": "1979-03-14", "acquired_at": datetime(2026, 12, 3, 16, 58),
                       "device_label": "Asalee Sim Turbine USB SIM (n° SIM-TURB-0001, fw 1.03)",
                       "performer_label": "Demo INFIRMIERE", "btps_note": "non corrigé (conditions ambiantes non saisies)",
                       "calibration_note": "ATTENTION : aucune vérification de l'étalonnage enregistrée pour ce spiromètre",
                       "calibration_warning": True}
#: English clinical words that must not appear in a French report (whole words, case-sensitive)
ENGLISH_TERMS = ("FEV1", "FEV6", "FEV0.75", "FVC", "PEF", "FEF25-75", "FET", "LLN", "pre", "post", "(pre)", "(post)",
                 "female", "male", "age", "height", "Measured", "Predicted", "OK", "acceptable", "usable", "Blow",
                 "Flow", "Time", "yes", "no", "reported", "Parameter", "Grades:", "Repeatability")


def _adult(lang: str = "fr") -> SpirometryExamination:
    """The demo's session: a hesitant first blow, then three good ones (47-year-old woman, 165 cm)."""
    patient = SimPatient("female", 47.7, 165.0, "normal", patient_seed=3)
    exam = SpirometryExamination(ReferenceSubject("female", 47.7, 165.0), lang=lang)  # type: ignore[arg-type]
    exam.add_blow(patient_blow(patient, seed=1, fault="hesitant_start"))
    for seed in (2, 3, 4):
        exam.add_blow(patient_blow(patient, seed=seed))
    return exam


def _post_bd() -> SpirometryExamination:
    patient = SimPatient("male", 62.0, 174.0, "obstructive-moderate", patient_seed=5)
    exam = SpirometryExamination(ReferenceSubject("male", 62.0, 174.0), lang="fr")
    for seed in (1, 2, 3):
        exam.add_blow(patient_blow(patient, seed=seed))
    exam.start_post_bronchodilator()
    for seed in (11, 12, 13):
        rec = patient_blow(patient, seed=seed)
        exam.add_blow(type(rec)(flow_l_s=rec.flow_l_s * 1.12, fs_hz=rec.fs_hz))
    return exam


def _child() -> SpirometryExamination:
    exam = SpirometryExamination(ReferenceSubject("female", 5.5, 110.0, equation="gli-2012"), lang="fr")
    for i in range(3):
        exam.add_blow(forced_expiration("normal", fvc_l=1.10 - 0.01 * i, pef_l_s=2.5, seed=i))
    return exam


def _poor() -> SpirometryExamination:
    patient = SimPatient("male", 55.0, 178.0, "normal", patient_seed=9)
    exam = SpirometryExamination(ReferenceSubject("male", 55.0, 178.0), lang="fr")
    for seed, fault in ((1, "cough"), (2, "early_termination"), (3, "no_plateau"), (4, "hesitant_start"),
                        (5, "glottic_closure")):
        exam.add_blow(patient_blow(patient, seed=seed, fault=fault))  # type: ignore[arg-type]
    exam.mark_blow(3, ["fuite"])
    return exam


def _sixteen() -> SpirometryExamination:
    """The most a session holds: 8 blows before and 8 after the bronchodilator, most of them faulty."""
    patient = SimPatient("male", 70.0, 182.0, "obstructive-severe", patient_seed=2)
    exam = SpirometryExamination(ReferenceSubject("male", 70.0, 182.0), lang="fr")
    faults = ("cough", "early_termination", None, "no_plateau", "hesitant_start", "glottic_closure", None, "leak")
    for phase in ("pre", "post"):
        if phase == "post":
            exam.start_post_bronchodilator()
        for k, fault in enumerate(faults):
            exam.add_blow(patient_blow(patient, seed=k + (20 if phase == "post" else 0), fault=fault))  # type: ignore[arg-type]
        exam.mark_blow(3, ["fuite", "embout", "effort"])
    return exam


CASES = {"demo-pre": lambda: _adult("fr"), "post-bd": _post_bd, "child-fev075": _child, "poor-session": _poor,
         "english": lambda: _adult("en"), "sixteen-blows": _sixteen}


WHO_EN = {**WHO, "btps_note": "not corrected (no ambient conditions entered)",
          "calibration_note": "WARNING: no calibration verification recorded for this spirometer"}


def _render(name: str, tmp_path: Path) -> tuple[SpirometryReportData, Path]:
    exam = CASES[name]()
    data = spirometry_report_data(exam, **(WHO_EN if exam.lang == "en" else WHO))
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(render_spirometry_pdf(data))
    return data, path


def _curves(page: Any) -> list[dict[str, Any]]:
    return [c for c in page.curves if c["linewidth"] in (pytest.approx(OTHER_WIDTH), pytest.approx(REPORTED_WIDTH))]


def _shown_in_drawing_order(data: SpirometryReportData) -> list[Any]:
    """The blows on the graphs, as the renderer draws them: the others in order, the reported ones last (on top);
    every flow-volume path, then every volume-time path."""
    shown = [b for b in data.blows if b.acceptable or b.usable or b.reported]
    return [b for b in shown if not b.reported] + [b for b in shown if b.reported]


def _volume(flow: np.ndarray, fs: float) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum((flow[1:] + flow[:-1]) / 2.0) / fs))


@pytest.mark.parametrize("name", list(CASES))
def test_flow_volume_aspect_is_2_to_1_measured_on_the_page(tmp_path: Path, name: str) -> None:
    """Every blow's loop on the page: its width against its volume span, its height against its flow span."""
    data, path = _render(name, tmp_path)
    shown = _shown_in_drawing_order(data)
    with pdfplumber.open(path) as pdf:
        paths = _curves(pdf.pages[0])
    assert len(paths) == 2 * len(shown)
    aspects = []
    for b, fv in zip(shown, paths[: len(shown)], strict=True):
        flow = b.flow_l_s
        vol = _volume(flow, b.fs_hz)
        xs = [pt[0] for pt in fv["pts"]]
        ys = [pt[1] for pt in fv["pts"]]
        # decimated paths keep the extremes within one sample: 1 kHz recordings, a few 1/1000 of the span
        mm_per_l = (max(xs) - min(xs)) / PT_PER_MM / float(vol.max() - vol.min())
        mm_per_l_s = (max(ys) - min(ys)) / PT_PER_MM / float(flow.max() - flow.min())
        aspects.append(mm_per_l / mm_per_l_s)
    print(f"\n{name}: flow-volume aspect of {len(aspects)} loops: {min(aspects):.3f}-{max(aspects):.3f} "
          f"({mm_per_l:.2f} mm/L)")
    assert all(a == pytest.approx(2.0, rel=0.02) for a in aspects)


def _axis_ticks(page: Any, frame: dict[str, Any], side: str) -> dict[float, float]:
    """The grid of a frame, read from the page: each tick label's value -> the position (pt) of the grid line it
    labels (the nearest one within 2 mm): x under the frame, top left of it."""
    inside = [ln for ln in page.lines if frame["x0"] - 0.5 <= ln["x0"] <= frame["x1"] + 0.5
              and frame["top"] - 0.5 <= ln["top"] <= frame["bottom"] + 0.5]
    verticals = [ln["x0"] for ln in inside if abs(ln["x0"] - ln["x1"]) < 0.1]
    horizontals = [ln["top"] for ln in inside if abs(ln["top"] - ln["bottom"]) < 0.1]
    out: dict[float, float] = {}
    for w in page.extract_words():
        try:
            value = float(w["text"].replace(",", ".").replace("−", "-"))
        except ValueError:
            continue
        if side == "bottom" and frame["bottom"] < w["top"] < frame["bottom"] + 4 * PT_PER_MM:
            centre, grid = (w["x0"] + w["x1"]) / 2, verticals
        elif side == "left" and frame["x0"] - 8 * PT_PER_MM < w["x1"] < frame["x0"]:
            centre, grid = (w["top"] + w["bottom"]) / 2, horizontals
        else:
            continue
        near = [g for g in grid if abs(g - centre) < 2 * PT_PER_MM]
        if near:
            out[value] = min(near, key=lambda g: abs(g - centre))
    assert len(out) >= 3
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_volume_time_scales_and_time_before_t0_measured_on_the_page(tmp_path: Path, name: str) -> None:
    """The volume-time frame's tick labels give the scales and where t0 is; every curve lies on those scales."""
    data, path = _render(name, tmp_path)
    shown = _shown_in_drawing_order(data)
    with pdfplumber.open(path) as pdf:
        page = pdf.pages[0]
        paths = _curves(page)[len(shown):]
        xs_all = [pt[0] for c in paths for pt in c["pts"]]
        ys_all = [pt[1] for c in paths for pt in c["pts"]]
        frames = [r for r in page.rects if r["x0"] <= min(xs_all) + 0.5 and r["x1"] >= max(xs_all) - 0.5
                  and r["top"] <= min(ys_all) + 0.5 and r["bottom"] >= max(ys_all) - 0.5]
        frame = min(frames, key=lambda r: r["width"] * r["height"])
        times = _axis_ticks(page, frame, "bottom")
        volumes = _axis_ticks(page, frame, "left")
    t = np.array(sorted(times))
    bx, ax = np.polyfit(t, [times[v] for v in t], 1)  # x = ax + bx * t (pt)
    v = np.array(sorted(volumes))
    by, ay = np.polyfit(v, [volumes[k] for k in v], 1)  # top = ay + by * volume (pt, downwards)
    mm_per_s, mm_per_l = bx / PT_PER_MM, -by / PT_PER_MM
    before_s = (ax - frame["x0"]) / bx
    print(f"\n{name}: volume-time {mm_per_s:.2f} mm/s, {mm_per_l:.2f} mm/L, {before_s:.2f} s before t0")
    # PDF coordinates are written to 1/100 pt or so: 1e-4 relative is 0.005 mm on a 50-mm axis
    assert mm_per_s >= 20.0 * (1 - 1e-4) and mm_per_l >= 10.0 * (1 - 1e-4) and before_s >= 1.0 - 1e-3
    # each curve is drawn on these scales: its end (time, volume) and its start against its own data
    for b, c in zip(shown, paths, strict=True):
        assert b.t0_s is not None and b.end_s is not None
        flow, fs = b.flow_l_s, b.fs_hz
        vol = _volume(flow, fs)
        vol = vol - vol[: int(np.argmax(flow)) + 1].min()
        (x_first, y_first), (x_last, y_last) = c["pts"][0], c["pts"][-1]
        i_first = round((b.t0_s + (x_first - ax) / bx) * fs)
        i_last = round((b.t0_s + (x_last - ax) / bx) * fs)
        assert i_first == max(0, int(np.ceil((b.t0_s - 1.0) * fs)))  # from 1 s before t0 (or the recording's start)
        assert i_last <= round(b.end_s * fs)  # not past the end of the exhaled segment
        for i, y in ((i_first, y_first), (i_last, y_last)):
            assert (y - ay) / by == pytest.approx(min(max(vol[i], 0.0), max(volumes)), abs=0.005)


@pytest.mark.parametrize("name", list(CASES))
def test_one_page_nothing_outside_it(tmp_path: Path, name: str) -> None:
    _, path = _render(name, tmp_path)
    with pdfplumber.open(path) as pdf:
        assert len(pdf.pages) == 1
        page = pdf.pages[0]
        margin = 5 * PT_PER_MM
        chars = page.chars
        assert chars
        outside = [ch["text"] for ch in chars if ch["x0"] < margin or ch["x1"] > page.width - margin
                   or ch["top"] < margin or ch["bottom"] > page.height - margin]
        assert outside == []
        for obj in page.curves + page.rects + page.lines:
            assert obj["x0"] >= margin and obj["x1"] <= page.width - margin
            assert obj["top"] >= margin and obj["bottom"] <= page.height - margin


@pytest.mark.parametrize("name", list(CASES))
def test_no_two_characters_overlap(tmp_path: Path, name: str) -> None:
    """Text never runs into other text (a key over a note, a title over its scale): no two glyph boxes of the page
    overlap by more than 0.3 pt in both directions."""
    _, path = _render(name, tmp_path)
    with pdfplumber.open(path) as pdf:
        chars = [ch for ch in pdf.pages[0].chars if ch["text"].strip()]
    cells: dict[tuple[int, int], list[int]] = {}
    for i, ch in enumerate(chars):
        for cx in range(int(ch["x0"] // 10), int(ch["x1"] // 10) + 1):
            for cy in range(int(ch["top"] // 10), int(ch["bottom"] // 10) + 1):
                cells.setdefault((cx, cy), []).append(i)
    clashes = set()
    for members in cells.values():
        for k, i in enumerate(members):
            a = chars[i]
            for j in members[k + 1:]:
                b = chars[j]
                dx = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
                # glyph boxes are font-size tall: lines of one block touch; 0.3 pt of real overlap is a clash
                dy = min(a["bottom"] - 0.25 * a["size"], b["bottom"] - 0.25 * b["size"]) - max(
                    a["top"] + 0.2 * a["size"], b["top"] + 0.2 * b["size"])
                if dx > 0.3 and dy > 0.3:
                    clashes.add((a["text"], b["text"], round(a["x0"]), round(a["top"])))
    assert sorted(clashes) == []


def test_a_recording_that_cannot_be_analysed_is_named_on_the_report(tmp_path: Path) -> None:
    exam = _adult("fr")
    flat = patient_blow(SimPatient(), seed=9)
    exam.add_blow(type(flat)(flow_l_s=np.zeros_like(flat.flow_l_s), fs_hz=flat.fs_hz))
    data = spirometry_report_data(exam, **WHO)
    path = tmp_path / "r.pdf"
    path.write_bytes(render_spirometry_pdf(data))
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text() or ""
    assert "Essai 5 : non analysable, exclu de la séance" in text and len(data.blows) == 4


def _words(text: str) -> set[str]:
    return set(re.findall(r"[\w.()\-:/]+", text))


@pytest.mark.parametrize("name", ["demo-pre", "post-bd", "child-fev075", "poor-session"])
def test_french_report_speaks_french(tmp_path: Path, name: str) -> None:
    data, path = _render(name, tmp_path)
    with pdfplumber.open(path) as pdf:
        text = (pdf.pages[0].extract_text() or "").replace("\xa0", " ")
    tokens = set(re.findall(r"[A-Za-z0-9().:\-]+", text))
    english = [t for t in ENGLISH_TERMS if t in tokens or re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", text)]
    assert english == []
    assert "VEMS" in text and "CVF" in text and "VEMS/CVF" in text and "DEP" in text and "DEM 25-75" in text
    assert "TEF" in text and "LIN" in text and ("femme" in text or "homme" in text)
    assert re.search(r"\d ans\b", text) and "14/03/1979" in text and "1979-03-14" not in text
    # decimal commas (the software version and the firmware are not numbers)
    plain = text.replace(f"asalee-devices {__version__}", "").replace("fw 1.03", "")
    assert re.search(r"\d,\d\d\b", text) and not re.search(r"\b\d+\.\d+\b", plain)
    # the nurse's coaching is not the GP's
    assert "souffler" not in text and "Séance terminée" not in text and "Encore un essai" not in text
    # BTPS explained in plain words
    assert "BTPS non corrigé" in text and "37 °C" in text
    if name == "child-fev075":
        assert "VEMS0,75" in text


def test_english_report_keeps_ats_terms(tmp_path: Path) -> None:
    data, path = _render("english", tmp_path)
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text() or ""
    for term in ("FEV1", "FVC", "FEV1/FVC", "PEF", "FEF25-75", "FET", "LLN", "female", "Repeatability"):
        assert term in text
    assert "VEMS" not in text and "CVF" not in text and re.search(r"\d\.\d\d\b", text)


def test_quality_block_states_grades_repeatability_and_calibration(tmp_path: Path) -> None:
    data, path = _render("demo-pre", tmp_path)
    (q,) = data.quality
    assert q.fev1_spread_l is not None and q.fvc_spread_l is not None and q.fev1_spread_pct is not None
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text() or ""
    assert f"VEMS {q.grade_fev1}, CVF {q.grade_fvc}" in text
    fev1_l = f"{q.fev1_spread_l:.3f}".replace(".", ",")
    fev1_pct = f"{q.fev1_spread_pct:.1f}".replace(".", ",")
    assert f"VEMS {fev1_l} L ({fev1_pct} %)" in text
    assert "Essais acceptables : VEMS 3, CVF 3 (sur 4 essais)" in text
    assert "aucune vérification de l'étalonnage" in text


def test_per_blow_table_has_each_blow_with_both_acceptabilities_and_reasons(tmp_path: Path) -> None:
    data, path = _render("poor-session", tmp_path)
    with pdfplumber.open(path) as pdf:
        text = pdf.pages[0].extract_text() or ""
    lines = text.splitlines()

    def row_of(b: Any) -> str:
        fev1 = f"{b.fev1_l:.2f}".replace(".", ",")
        (row,) = [ln for ln in lines if re.match(rf"{re.escape(b.label)}( \(retenu\))? {fev1} ", ln)]
        return row

    for b in data.blows:
        row = row_of(b)
        assert f"{b.fvc_l:.2f}".replace(".", ",") in row and f"{b.pef_l_s:.2f}".replace(".", ",") in row
        assert f"{b.bev_l:.3f}".replace(".", ",") in row and f"{b.fet_s:.1f}".replace(".", ",") in row
    # a blow acceptable for FEV1 but not for FVC (no plateau / early end) reads so, in two columns
    split = [b for b in data.blows if b.acceptable_fev1 and not b.acceptable_fvc]
    assert split
    assert re.search(r"\boui (non|utilisable)\b", row_of(split[0]))
    assert "tronqu" not in text and "non imprimé" not in text  # every blow printed
    flat = text.replace("\n", " ")  # a reason may wrap onto the row's next line
    assert "Fuite (notée par l'infirmière)" in flat and "Toux dans la 1re seconde" in flat


def test_sixteen_blows_fit_on_the_page_every_row_printed(tmp_path: Path) -> None:
    data, path = _render("sixteen-blows", tmp_path)
    assert len(data.blows) == 16
    with pdfplumber.open(path) as pdf:
        assert len(pdf.pages) == 1
        text = (pdf.pages[0].extract_text() or "").replace("\n", " ")
    assert "non imprimé" not in text
    for b in data.blows:
        assert b.label in text


def test_every_acceptable_or_usable_blow_is_overlaid_and_in_the_legend(tmp_path: Path) -> None:
    data, path = _render("post-bd", tmp_path)
    shown = [b for b in data.blows if b.acceptable or b.usable or b.reported]
    with pdfplumber.open(path) as pdf:
        page = pdf.pages[0]
        curves = _curves(page)
        text = page.extract_text() or ""
    assert len(curves) == 2 * len(shown)
    assert sum(c["linewidth"] == pytest.approx(REPORTED_WIDTH) for c in curves) == 4  # one reported per phase
    assert "Courbes" in text and text.count("(retenu)") >= 2
    assert "Post-BD" in text and "ERS/ATS 2022" in text


@pytest.mark.parametrize("name", list(CASES))
def test_render_png_artifacts(tmp_path: Path, name: str) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    _, path = _render(name, tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(path), str(ARTIFACTS / name)], check=True,
                   timeout=60)
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
