"""The ECG PDF's words, measured from the PDF (pdfplumber: every glyph's box, every page): one header format for
every path, French words on the French report, text blocks inside the page, electrode-off time marked on the trace,
the "interprété" version, and a renderer that imports nothing from ``signal/``."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.ecg.test_no_interpretation import _PATTERN as INTERPRETIVE

from asalee_devices.drivers.ecg_files.base import FormatWarning
from asalee_devices.fhir_out.context import PatientContext
from asalee_devices.reports.ecg_layout import PT_PER_MM, plan_page
from asalee_devices.reports.ecg_pdf import LEAD_OFF, EcgReportContext, GpInterpretation, render_ecg_pdf
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.results import EcgAnalysis
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg
from asalee_devices.workflow.ecg_printout import (
    band_class,
    printout_from_analysis,
    render_ecg_report,
    report_context,
)

pdfplumber = pytest.importorskip("pdfplumber")

#: the INS *test* identity of the demo (2 79 03 ... female born 03/1979)
PATIENT = PatientContext(family="Testpatient", given=("Marie", "Louise"), birth_date=date(1979, 3, 14),
                         sex="female", ins="279035121518989", ins_kind="INS-NIR-TEST", identity_qualified=True,
                         birth_place_cog="51215")
LOCAL = PatientContext(family="Testpatient", given=("Paul",), birth_date=date(1960, 1, 2), sex="male",
                       local_id="P-42", local_system="urn:oid:1.2.250.1.999.1.1")
WHEN = datetime(2026, 3, 14, 9, 5, 7)

#: English clinical and technical words that must not appear on a French report (case-sensitive whole words; the
#: French words are distinct: "Électrode", "dérivation", "passe-bas"...)
ENGLISH = ("Heart rate", "heart rate", "Sampling", "Bandwidth", "mains filter", "Technical quality", "Recorded",
           "Device", "Performed by", "Speed", "Gain", "derived leads", "Software", "female", "male", "born",
           "Electrode", "electrode", "disconnected", "poorly attached", "check", "lead", "leads", "high-pass",
           "low-pass", "zero-phase", "causal", "device calibration", "not interpreted", "retake", "acquisition at",
           "waveforms", "stored", "notch", "baseline", "noise", "Flat signal", "unknown", "not given", "File",
           "Filters", "qualified", "Trace", "Physician", "insufficient")


def _analysis(**kw: Any) -> EcgAnalysis:
    return analyze_ecg(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=3, **kw))


def _pages(pdf: bytes, tmp_path: Path, name: str = "ecg.pdf") -> tuple[list[str], list[dict[str, Any]], Any]:
    path = tmp_path / name
    path.write_bytes(pdf)
    doc = pdfplumber.open(path)
    texts = [p.extract_text() or "" for p in doc.pages]
    return texts, doc.pages, doc


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_renderer_imports_nothing_from_signal() -> None:
    """reports/ecg_pdf (and what it imports) renders a printout in a fresh interpreter without loading signal/."""
    code = ("import sys, numpy as np\n"
            "from asalee_devices.reports.ecg_pdf import EcgPrintout, EcgReportContext, GpInterpretation, "
            "render_ecg_pdf\n"
            "from datetime import datetime\n"
            "leads = ('I','II','III','aVR','aVL','aVF','V1','V2','V3','V4','V5','V6')\n"
            "p = EcgPrintout(np.zeros((12, 5000)), 500.0, leads, lead_off=np.ones((12, 5000), bool), "
            "band_low_hz=0.05, band_high_hz=150.0, band_class='iec')\n"
            "gp = GpInterpretation('x', ('y',), 'Dr Z', datetime(2026, 1, 1), 1)\n"
            "assert render_ecg_pdf(p, EcgReportContext(), interpretation=gp).startswith(b'%PDF')\n"
            "bad = sorted(m for m in sys.modules if m.startswith('asalee_devices.signal'))\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_one_header_format_in_french(tmp_path: Path) -> None:
    """Birth date dd/mm/yyyy, sex in French, the INS line of a qualified identity, the verdict after its label once,
    the effective band in plain words."""
    analysis = _analysis()
    ctx = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="Sim ECG12 (n° 1, fw 1.2)",
                         performer="Anne INFIRMIERE")
    texts, _, doc = _pages(render_ecg_report(analysis, ctx), tmp_path)
    with doc:
        text = _flat(texts[0])
    print(texts[0][:600])
    assert "Patient : TESTPATIENT Marie Louise, né(e) le 14/03/1979, femme" in text
    assert "INS (matricule NIR) : 2 79 03 51 215 189 89 — identité qualifiée (INS de test)" in text
    assert "Enregistré le : 14/03/2026 09:05:07" in text
    assert "Qualité technique : acceptable" in text and text.count("Qualité technique") == 1
    assert "Bande passante : 0,06–151 Hz ; filtre secteur 50 Hz : non — couvre la bande 0,05–150 Hz de la CEI 60601-2-25" in text
    assert "Filtres — asalee-devices : passe-haut 0,05 Hz (phase nulle), passe-bas 150 Hz (phase nulle)" in text
    assert "1979-03-14" not in text and "female" not in text


def test_no_ins_line_without_a_qualified_identity(tmp_path: Path) -> None:
    analysis = _analysis()
    ctx = report_context(LOCAL, analysis, lang="fr", acquired_at=WHEN, device="", performer="")
    texts, _, doc = _pages(render_ecg_report(analysis, ctx), tmp_path)
    with doc:
        text = _flat(texts[0])
    assert "Patient : TESTPATIENT Paul, né(e) le 02/01/1960, homme" in text
    assert "N° patient du cabinet : P-42" in text and "INS" not in text


def test_french_report_has_no_english_term(tmp_path: Path) -> None:
    """An electrode off, a file deviation, a pacing-like note: every word on the French PDF is French."""
    analysis = _analysis(electrode_off="V3", electrode_off_from_s=2.0)
    warnings = (FormatWarning("sampling_rate_differs", "acquisition at 1000 Hz, stored waveforms at 500 Hz (the "
                                                       "waveforms' rate is used)"),
                FormatWarning("crc_mismatch", "record CRC does not match (reading continues)"),
                FormatWarning("some_future_code", "an English sentence we do not know"))
    ctx = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="Sim", performer="Anne INFIRMIERE",
                         file_warnings=warnings)
    texts, _, doc = _pages(render_ecg_report(analysis, ctx), tmp_path)
    with doc:
        text = _flat(" ".join(texts))
    print(text[:1200])
    found = [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    assert not found, found
    assert INTERPRETIVE.search(text) is None, INTERPRETIVE.search(text)  # "hors interprétation": no such word
    assert "Fichier : acquisition à 1000 Hz, tracés enregistrés à 500 Hz" in text
    assert "somme de contrôle (CRC) incorrecte" in text and "écart au format toléré (code some_future_code)" in text
    assert "Qualité technique : insuffisante — nouvel enregistrement conseillé" in text


def test_english_report_keeps_english_words(tmp_path: Path) -> None:
    analysis = _analysis()
    ctx = report_context(PATIENT, analysis, lang="en", acquired_at=WHEN, device="Sim", performer="Anne")
    texts, _, doc = _pages(render_ecg_report(analysis, ctx), tmp_path)
    with doc:
        text = _flat(texts[0])
    assert "Patient: TESTPATIENT Marie Louise, born 14/03/1979, female" in text
    assert "Technical quality: acceptable" in text and "covers the IEC 60601-2-25 0.05–150 Hz band" in text


def _assert_inside(pages: list[Any]) -> int:
    n = 0
    for page in pages:
        for ch in page.chars:
            n += 1
            assert 0 <= ch["x0"] and ch["x1"] <= page.width, ch["text"]
            assert 0 <= ch["top"] and ch["bottom"] <= page.height, ch["text"]
    return n


def test_long_text_stays_inside_the_page_and_continues(tmp_path: Path) -> None:
    """Many long quality messages and notes, a long file deviation and a long conclusion: every glyph on every page
    lies inside the page box, the header text stays above the grid, and what does not fit continues on page 2 (said
    on page 1)."""
    analysis = _analysis()
    long = ("Mesure technique très détaillée portant sur l'ensemble des dérivations avec des mots assez longs pour "
            "remplir plusieurs lignes de la colonne de droite, sans jamais sortir de la page ni chevaucher le tracé")
    base = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="Sim", performer="Anne")
    ctx = EcgReportContext(**{**base.__dict__, "quality_messages": tuple(f"{k + 1}. {long}" for k in range(12)),
                              "technical_notes": tuple(f"Note {k + 1} : {long}" for k in range(6)),
                              "file_warnings": tuple(f"écart {k} : {long}" for k in range(8)),
                              "patient_name": "TESTPATIENT-" + "X" * 300})
    gp = GpInterpretation(" ".join([long] * 6), ("Rythme sinusal",) * 5, "Dr TESTMÉDECIN Jean",
                          datetime(2026, 3, 15, 8, 0), 3)
    for name, interp in (("orig.pdf", None), ("interp.pdf", gp)):
        texts, pages, doc = _pages(render_ecg_report(analysis, ctx, interpretation=interp), tmp_path, name)
        with doc:
            n = _assert_inside(pages)
            plan = plan_page(__import__("asalee_devices.reports.ecg_layout", fromlist=["EcgLayout"]).EcgLayout(),
                             analysis.cleaned.leads)
            grid_top_pt = pages[0].height - (plan.grid_y_mm + plan.grid_h_mm) * PT_PER_MM
            header = [ch for ch in pages[0].chars if ch["top"] < grid_top_pt]
            assert all(ch["bottom"] <= grid_top_pt for ch in header)
            n_pages = len(pages)
        all_text = _flat(" ".join(texts))
        print(f"{name}: {n} glyphs on {n_pages} pages, all inside the page box")
        assert n_pages >= 2 and "page 1/" in all_text and "suite page 2" in _flat(texts[0])
        assert all(f"{k + 1}. Mesure" in all_text for k in range(12))  # nothing lost
        assert all(f"Note {k + 1} :" in all_text for k in range(6))
        if interp is not None:
            assert "Dr TESTMÉDECIN Jean" in _flat(texts[0]) and "version 3" in _flat(texts[0])
            assert len(re.findall(r"\bchevaucher\b", all_text)) == 6 + 12 + 6 + 8  # every word printed once


def test_electrode_off_time_is_hatched_and_labelled(tmp_path: Path) -> None:
    """V3 off from 2 s: the V3 segment (2.5-5 s column, fully off) and the leads its electrode does not feed are
    hatched only where the mask says, with the label "électrode déconnectée"."""
    analysis = _analysis(electrode_off="V3", electrode_off_from_s=2.0)
    printout = printout_from_analysis(analysis)
    assert printout.lead_off is not None
    off_leads = {n for k, n in enumerate(printout.leads) if printout.lead_off[k].any()}
    assert off_leads == {"V3"}
    ctx = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="", performer="")
    texts, pages, doc = _pages(render_ecg_pdf(printout, ctx), tmp_path)
    with doc:
        page = pages[0]
        color = tuple(round(v, 2) for v in (LEAD_OFF.red, LEAD_OFF.green, LEAD_OFF.blue))
        boxes = [r for r in page.rects if r["stroke"]
                 and tuple(round(v, 2) for v in (r.get("stroking_color") or ())) == color]
        hatch = [ln for ln in page.lines if tuple(round(v, 2) for v in (ln.get("stroking_color") or ())) == color]
        labels = [w for w in page.extract_words() if w["text"] == "déconnectée"]
    plan = plan_page(__import__("asalee_devices.reports.ecg_layout", fromlist=["EcgLayout"]).EcgLayout(),
                     printout.leads)
    (seg,) = [s for s in plan.segments if s.lead == "V3"]
    (box,) = boxes
    x0_mm, x1_mm = box["x0"] / PT_PER_MM, box["x1"] / PT_PER_MM
    t_off = float(np.argmax(printout.lead_off[printout.leads.index("V3")])) / printout.fs_hz
    print(f"V3 off from {t_off:.3f} s; hatched {x0_mm:.2f}-{x1_mm:.2f} mm; segment {seg.x_mm:.2f}-"
          f"{seg.x_mm + 62.5:.2f} mm; {len(hatch)} hatch lines")
    assert t_off == pytest.approx(2.0, abs=0.01)
    assert x0_mm == pytest.approx(seg.x_mm, abs=0.05)  # V3 column starts at 2.5 s: off from its first sample
    assert x1_mm == pytest.approx(seg.x_mm + 62.5, abs=0.1)
    inside = [w for w in labels if box["x0"] <= w["x0"] and w["x1"] <= box["x1"] and box["top"] <= w["top"]
              and w["bottom"] <= box["bottom"]]
    assert len(hatch) > 20 and len(inside) == 1
    assert "électrode déconnectée" in _flat(texts[0])


def test_band_class_thresholds() -> None:
    assert band_class(0.062, 151.0) == "iec"
    assert band_class(None, None) == "iec"
    assert band_class(0.05, 40.0) == "high_cut_low"
    assert band_class(0.5, 150.0) == "low_cut_high"
    assert band_class(0.67, 40.0) == "both"


def test_interpreted_version_is_the_same_tracing_with_the_gps_words(tmp_path: Path) -> None:
    analysis = _analysis()
    ctx = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="Sim", performer="Anne")
    original = render_ecg_report(analysis, ctx)
    gp = GpInterpretation("Rythme sinusal à 68/min.\nPas d'anomalie de la repolarisation.",
                          ("Rythme sinusal", "ECG normal"), "Dr TESTMÉDECIN Jean", datetime(2026, 3, 15, 8, 0), 1)
    interpreted = render_ecg_report(analysis, ctx, interpretation=gp)
    t_orig, p_orig, d1 = _pages(original, tmp_path, "a.pdf")
    t_int, p_int, d2 = _pages(interpreted, tmp_path, "b.pdf")
    with d1, d2:
        curves_orig = [c["pts"] for c in p_orig[0].curves]
        curves_int = [c["pts"] for c in p_int[0].curves]
        assert len(p_int) == 1
    text = _flat(t_int[0])
    assert curves_orig == curves_int  # the same tracing, point for point
    assert "Tracé interprété par Dr TESTMÉDECIN Jean le 15/03/2026 08:00 (version 1)" in text
    assert "Conclusion du médecin : Rythme sinusal à 68/min. Pas d'anomalie de la repolarisation." in text
    assert "Énoncés codés : Rythme sinusal ; ECG normal" in text
    assert "non interprété" not in text and "non interprété" in _flat(t_orig[0])


def test_every_path_builds_its_header_with_report_context() -> None:
    """One header format everywhere: the demo/CLI delivery (and the web app through it), ``ecg import`` / watched
    folder / GDT build their ECG header with ``workflow.ecg_printout.report_context``: no other module of src/
    constructs an EcgReportContext."""
    src = Path(__file__).resolve().parents[1] / "src" / "asalee_devices"
    builders = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                      if "EcgReportContext(" in p.read_text(encoding="utf-8"))
    assert builders == ["reports/ecg_pdf.py", "workflow/ecg_printout.py"], builders
    callers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if "report_context(" in p.read_text(encoding="utf-8") and "ecg_printout" not in p.name)
    assert {"workflow/delivery.py", "workflow/ecg_file_import.py"} <= set(callers), callers  # the web goes through
    # workflow.delivery (the CLI's path) or calls report_context itself


def test_the_part_recorded_before_the_electrode_came_off_is_printed(tmp_path: Path) -> None:
    """LA off from 6 s (the cart flags the leads and rails them): leads I, III, aVR, aVL, aVF are printed normally
    over 0-2.5 s, their curves within their row. The railed samples used to enter the zero-phase baseline filter and
    drag the good part of those leads ~140 mV off the grid (clipped: blank leads with no marker), and the step was
    taken for a pacing spike."""
    analysis = _analysis(electrode_off="LA", electrode_off_from_s=6.0)
    # the step of the electrode coming off is no pacing spike (was: 1 spike at 6.000 s, a tick and a note)
    assert analysis.pacing_spikes == () and not analysis.notes
    printout = printout_from_analysis(analysis)
    plan = plan_page(__import__("asalee_devices.reports.ecg_layout", fromlist=["EcgLayout"]).EcgLayout(),
                     printout.leads)
    ctx = report_context(PATIENT, analysis, lang="fr", acquired_at=WHEN, device="", performer="")
    _, pages, doc = _pages(render_ecg_pdf(printout, ctx), tmp_path)
    with doc:
        page = pages[0]
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
        for lead in ("I", "III", "aVR", "aVL", "aVF"):
            (seg,) = [s for s in plan.segments if s.lead == lead]
            x0_pt = seg.x_mm * PT_PER_MM
            column = [c for c in traces if abs(c["x0"] - x0_pt) < 0.5 and (c["x1"] - c["x0"]) / PT_PER_MM > 60.0]
            spans = [[(page.height - y) / PT_PER_MM - seg.baseline_y_mm for _, y in c["pts"]] for c in column]
            inside = [sp for sp in spans if -15.0 < min(sp) and max(sp) < 15.0]
            print(f"{lead} ({seg.t_start_s:.1f}-{seg.t_stop_s:.1f} s): {len(inside)} of {len(column)} curves of "
                  "the column within 15 mm of its baseline")
            assert len(inside) == 1, lead


def test_device_label_in_the_reports_language() -> None:
    from asalee_devices.drivers.identity import DeviceIdentity
    from asalee_devices.workflow.ecg_printout import device_label

    dev = DeviceIdentity("Asalee Sim", "ECG12-SIM", "SIM-1", "1.2.0")
    assert device_label(dev) == "Asalee Sim ECG12-SIM (n° SIM-1, fw 1.2.0)"
    assert device_label(dev, lang="en") == "Asalee Sim ECG12-SIM (s/n SIM-1, fw 1.2.0)"
    assert device_label(DeviceIdentity("unknown", "unknown", "unknown", "", "web"), "scp-ecg") == "scp-ecg"
    assert device_label(None, "aecg") == "aecg"


def test_aware_times_are_printed_in_local_time(tmp_path: Path) -> None:
    """The GP's interpretation time (stored in UTC) and the acquisition time read in the practice's local time."""
    import os

    code = ("import time, os\n"
            "from datetime import datetime, timezone\n"
            "from asalee_devices.reports.ecg_pdf import _local\n"
            "utc = datetime(2026, 3, 15, 8, 0, tzinfo=timezone.utc)\n"
            "print(_local(utc).strftime('%H:%M'), _local(datetime(2026, 3, 15, 8, 0)).strftime('%H:%M'))\n")
    env = {**os.environ, "TZ": "Europe/Paris"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout.split() == ["09:00", "08:00"], r.stdout + r.stderr  # CET = UTC+1 in March before the switch
