"""The ECG PDF at true scale, measured from the PDF itself (pdfplumber reads the vector geometry)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.errors import InputError
from asalee_devices.reports.ecg_layout import PT_PER_MM, EcgLayout
from asalee_devices.reports.ecg_pdf import EcgReportContext
from asalee_devices.reports.ecg_pdf import render_ecg_pdf as _render_printout
from asalee_devices.signal.ecg import from_leads
from asalee_devices.signal.filters import FilterStep
from asalee_devices.workflow.ecg_printout import printout_from_recording

pdfplumber = pytest.importorskip("pdfplumber")

FS = 500.0


def render_ecg_pdf(rec, context=None, layout=None, **kw):  # type: ignore[no-untyped-def]
    """The renderer on the printout of a recording (how the workflow builds it)."""
    return _render_printout(printout_from_recording(rec), context, layout, **kw)


def _pulse_recording(t_on: float = 1.0, t_off: float = 2.0, amp_uv: float = 1000.0):  # type: ignore[no-untyped-def]
    n = int(10 * FS)
    t = np.arange(n) / FS
    pulse = np.where((t >= t_on) & (t < t_off), amp_uv, 0.0)
    zeros = np.zeros(n)
    leads = {"I": zeros, "II": pulse, **{f"V{k}": zeros for k in range(1, 7)}}
    return from_leads(leads, FS)


def _page(pdf: bytes, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "ecg.pdf"
    path.write_bytes(pdf)
    doc = pdfplumber.open(path)
    return doc, doc.pages[0]


def _edges(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(x, dy) of every vertical jump in a polyline (PDF points, y downwards)."""
    out = []
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if abs(x1 - x0) < 1e-6 or abs(y1 - y0) > 5.0:
            out.append((x1, y1 - y0))
    return out


def test_grid_is_one_millimetre_with_five_millimetre_major_lines(tmp_path: Path) -> None:
    doc, page = _page(render_ecg_pdf(_pulse_recording()), tmp_path)
    with doc:
        assert page.width == pytest.approx(297 * PT_PER_MM, abs=0.01)  # A4 landscape
        grid = [ln for ln in page.lines if ln["linewidth"] in (pytest.approx(0.2), pytest.approx(0.5))]
        verticals = sorted({round(ln["x0"], 5) for ln in grid if abs(ln["x0"] - ln["x1"]) < 1e-6})
        steps = np.diff(verticals)
        print(f"grid: {len(verticals)} vertical lines, step {steps.min():.4f}-{steps.max():.4f} pt")
        assert steps == pytest.approx(2.835, abs=0.001)  # 1 mm = 2.835 pt
        majors = sorted({round(ln["x0"], 5) for ln in grid
                         if abs(ln["x0"] - ln["x1"]) < 1e-6 and ln["linewidth"] == pytest.approx(0.5)})
        assert np.diff(majors) == pytest.approx(5 * 2.835, abs=0.005)
        horizontals = sorted({round(ln["top"], 5) for ln in grid if abs(ln["top"] - ln["bottom"]) < 1e-6})
        assert np.diff(horizontals) == pytest.approx(2.835, abs=0.001)


def test_calibration_pulse_is_10_mm_high_and_0_2_s_wide(tmp_path: Path) -> None:
    doc, page = _page(render_ecg_pdf(_pulse_recording()), tmp_path)
    with doc:
        cals = [c for c in page.curves if c["linewidth"] == pytest.approx(0.6)]
        assert len(cals) == 4  # one per row (3 rows + rhythm strip)
        for cal in cals:
            height_mm = (cal["bottom"] - cal["top"]) / PT_PER_MM
            xs = [x for x, _ in cal["pts"]]
            plateau_mm = (xs[3] - xs[2]) / PT_PER_MM
            assert height_mm == pytest.approx(10.0, abs=0.01)
            assert plateau_mm == pytest.approx(0.2 * 25.0, abs=0.01)


@pytest.mark.parametrize("speed, gain", [(25.0, 10.0), (50.0, 10.0), (25.0, 20.0)])
def test_trace_scale_matches_speed_and_gain(tmp_path: Path, speed: float, gain: float) -> None:
    # a 1 mV x 1 s rectangular pulse in lead II must measure gain mm high and speed mm wide on the rhythm strip
    doc, page = _page(render_ecg_pdf(_pulse_recording(), layout=EcgLayout(speed_mm_s=speed, gain_mm_mv=gain)),
                      tmp_path)
    with doc:
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
        rhythm = max(traces, key=lambda c: c["x1"] - c["x0"])  # the full-width strip
        edges = _edges(rhythm["pts"])
        assert len(edges) == 2, edges
        (x_up, dy_up), (x_down, dy_down) = edges
        width_mm = (x_down - x_up) / PT_PER_MM
        print(f"speed {speed} mm/s gain {gain} mm/mV: pulse {width_mm:.3f} mm wide, "
              f"{-dy_up / PT_PER_MM:.3f} mm high")
        assert width_mm == pytest.approx(speed * 1.0, abs=2.0 / FS * speed)  # within one sample
        assert -dy_up / PT_PER_MM == pytest.approx(gain, abs=0.01)
        assert dy_down / PT_PER_MM == pytest.approx(gain, abs=0.01)


def test_3x4_layout_uses_consecutive_2_5_s_windows(tmp_path: Path) -> None:
    doc, page = _page(render_ecg_pdf(_pulse_recording()), tmp_path)
    with doc:
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
        assert len(traces) == 13  # 12 leads + rhythm strip
        widths_mm = sorted((c["x1"] - c["x0"]) / PT_PER_MM for c in traces)
        assert widths_mm[:12] == pytest.approx([2.5 * 25.0 - 25.0 / FS] * 12, abs=0.01)
        assert widths_mm[12] == pytest.approx(250.0 - 25.0 / FS, abs=0.01)


def test_6x2_layout(tmp_path: Path) -> None:
    doc, page = _page(render_ecg_pdf(_pulse_recording(), layout=EcgLayout(name="6x2")), tmp_path)
    with doc:
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
        assert len(traces) == 13
        widths_mm = sorted((c["x1"] - c["x0"]) / PT_PER_MM for c in traces)
        assert widths_mm[0] == pytest.approx(5.0 * 25.0 - 25.0 / FS, abs=0.01)


def test_missing_samples_leave_gaps(tmp_path: Path) -> None:
    rec = _pulse_recording()
    samples = rec.samples_uv.copy()
    samples[rec.leads.index("V3")] = np.nan
    doc, page = _page(render_ecg_pdf(rec.with_samples(samples)), tmp_path)
    with doc:
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
        assert len(traces) == 12  # V3 not drawn


def test_header_states_facts_filters_and_not_interpreted(tmp_path: Path) -> None:
    rec = _pulse_recording()
    rec = rec.with_samples(rec.samples_uv, applied_filters=(
        FilterStep("highpass", "asalee", cutoff_hz=0.05, order=2, zero_phase=True, design="Butterworth"),))
    ctx = EcgReportContext(patient_name="TESTNOM Prénom", quality_verdict="acceptable", heart_rate_bpm=72.0)
    doc, page = _page(render_ecg_pdf(rec, ctx), tmp_path)
    with doc:
        text = page.extract_text()
    assert "non interprété" in text and "médecin" in text
    # the whole chain's band in plain French (its -3 dB points), not the steps' technical descriptions
    assert "Bande passante : 0,06–250 Hz ; filtre secteur 50 Hz : non" in text
    assert "25 mm/s" in text and "10 mm/mV" in text and "500 Hz" in text
    assert "72 /min" in text


def test_invalid_layout_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="paper speed"):
        EcgLayout(speed_mm_s=30.0)


def test_pdf_renders_to_a_non_blank_png(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm (poppler-utils) is required in CI")
        pytest.skip("pdftoppm (poppler-utils) not installed")
    pdf = tmp_path / "ecg.pdf"
    pdf.write_bytes(render_ecg_pdf(_pulse_recording()))
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == 1
    data = pngs[0].read_bytes()
    # decode the PNG with the standard library to count non-white pixels
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * 3
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)[:, 1:]
    non_white = np.count_nonzero(rows < 200) / rows.size
    print(f"non-white fraction {non_white:.3f}")
    assert non_white > 0.01


def test_pacing_spikes_and_calibration_are_marked(tmp_path: Path) -> None:
    """A tick above the trace at each pacing spike, on every segment showing that time (lead I, II, III columns
    0-2.5 s and the rhythm strip: 4 for a spike at 1 s); the device's calibration signal shaded and labelled."""
    rec = _pulse_recording()
    ctx = EcgReportContext(pacing_spikes_s=(1.0,), calibration_s=((3.0, 3.4),))
    doc, page = _page(render_ecg_pdf(rec, ctx), tmp_path)
    with doc:
        ticks = [ln for ln in page.lines if tuple(round(v, 2) for v in (ln.get("stroking_color") or ())) ==
                 (0.1, 0.3, 0.8)]
        text = page.extract_text()
    segments_at_1s = 3 + 1  # I, II, III in the first column + the II rhythm strip
    assert len(ticks) == segments_at_1s
    assert "étalonnage appareil" in text


def test_interpreted_version_carries_the_gps_conclusion_in_place_of_the_notice(tmp_path: Path) -> None:
    """The "interprété" version: the same tracing, the GP's conclusion, coded statements, name, date and version
    instead of the "not interpreted" notice; the original version is unchanged by the existence of the other."""
    from datetime import datetime

    from asalee_devices.reports.ecg_pdf import GpInterpretation

    rec = _pulse_recording()
    ctx = EcgReportContext(patient_name="TESTNOM Prénom", quality_verdict="acceptable", heart_rate_bpm=72.0)
    original = render_ecg_pdf(rec, ctx)
    gp = GpInterpretation(conclusion_text="Rythme sinusal régulier, pas de trouble de repolarisation.",
                          coded_statements=("Rythme sinusal",), gp_name="Dr TESTMÉDECIN Jean",
                          interpreted_at=datetime(2026, 3, 14, 10, 30), version=2)
    interpreted = render_ecg_pdf(rec, ctx, interpretation=gp)
    assert render_ecg_pdf(rec, ctx) == original  # deterministic, the original untouched
    doc, page = _page(interpreted, tmp_path)
    with doc:
        text = page.extract_text()
        traces = [c for c in page.curves if c["linewidth"] == pytest.approx(0.5)]
    flat = " ".join(text.split())
    assert "Rythme sinusal régulier, pas de trouble de repolarisation." in flat
    assert "Rythme sinusal" in flat and "Dr TESTMÉDECIN Jean" in flat
    assert "14/03/2026 10:30" in flat and "version 2" in flat
    assert "non interprété" not in flat
    assert len(traces) == 13  # the same tracing
    doc, page = _page(original, tmp_path)
    with doc:
        assert "non interprété" in page.extract_text() and "TESTMÉDECIN" not in page.extract_text()
