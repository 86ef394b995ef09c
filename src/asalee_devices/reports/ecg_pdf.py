"""The 12-lead ECG report as a vector PDF (A4 landscape) at true scale: 25 mm/s and 10 mm/mV at 100 % print
scale on a millimetre grid with 5-mm major lines, 1 mV calibration pulses, 3x4 + rhythm strip (or 6x2).

The page carries the technical facts the GP needs to read the trace (patient, date, device, sampling rate, the
effective band of the whole filter chain, device's and ours, as its computed -3 dB points, the technical quality
verdict) and says that the trace is not interpreted
and awaits the physician's reading. It never contains an interpretation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from reportlab.lib.colors import Color
from reportlab.pdfgen.canvas import Canvas

from asalee_devices import __version__
from asalee_devices.messages.ecg import band_text
from asalee_devices.reports.ecg_layout import A4_LANDSCAPE_MM, PT_PER_MM, EcgLayout, PagePlan, plan_page
from asalee_devices.signal.ecg.chain import chain_band
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.ecg.results import EcgAnalysis

Lang = Literal["fr", "en"]

GRID_MINOR = Color(0.98, 0.80, 0.80)
GRID_MAJOR = Color(0.90, 0.45, 0.45)
TRACE = Color(0, 0, 0)

_TEXT = {
    "fr": {
        "title": "ECG 12 dérivations",
        "not_interpreted": "Tracé non interprété — en attente de lecture et d'interprétation par le médecin.",
        "patient": "Patient",
        "born": "né(e) le",
        "acquired": "Enregistré le",
        "device": "Appareil",
        "performer": "Réalisé par",
        "fs": "Échantillonnage",
        "none": "aucun",
        "quality": "Qualité technique",
        "hr": "Fréquence cardiaque mesurée",
        "speed": "Vitesse",
        "gain": "Amplitude",
        "derived": "dérivées calculées",
        "software": "Logiciel",
        "unknown": "non renseigné",
        "calibration": "étalonnage appareil",
        "file": "Fichier",
        "interpreted": "Tracé interprété par {gp} le {when} (version {version})",
        "conclusion": "Conclusion du médecin",
        "coded": "Énoncés codés",
    },
    "en": {
        "title": "12-lead ECG",
        "not_interpreted": "Trace not interpreted — awaiting the physician's reading and interpretation.",
        "patient": "Patient",
        "born": "born",
        "acquired": "Recorded",
        "device": "Device",
        "performer": "Performed by",
        "fs": "Sampling",
        "none": "none",
        "quality": "Technical quality",
        "hr": "Measured heart rate",
        "speed": "Speed",
        "gain": "Gain",
        "derived": "derived leads",
        "software": "Software",
        "unknown": "not given",
        "calibration": "device calibration",
        "file": "File",
        "interpreted": "Trace interpreted by {gp} on {when} (version {version})",
        "conclusion": "Physician's conclusion",
        "coded": "Coded statements",
    },
}


@dataclass(frozen=True)
class EcgReportContext:
    """What the header says besides the trace. Labels are already formatted for display."""

    patient_name: str = ""
    patient_identifier: str = ""
    birth_date: str = ""
    sex: str = ""
    acquired_at: datetime | None = None
    device_label: str = ""
    performer_label: str = ""
    quality_verdict: str = ""
    quality_messages: tuple[str, ...] = ()
    heart_rate_bpm: float | None = None
    lang: Lang = "fr"
    extra_lines: tuple[str, ...] = field(default=())
    #: technical notes of the analysis for the GP (device rate differs, calibration left out, pacing spikes)
    technical_notes: tuple[str, ...] = field(default=())
    #: what the file reader tolerated (format deviations), already worded
    file_warnings: tuple[str, ...] = field(default=())
    #: (start, stop) seconds of the recording that are the device's calibration signal (labelled on the trace)
    calibration_s: tuple[tuple[float, float], ...] = field(default=())
    #: mains frequency of the practice (the band line says whether a mains filter was applied)
    mains_hz: float = 50.0
    #: times (s) of the pacing spikes the analysis found (a tick above each on the trace)
    pacing_spikes_s: tuple[float, ...] = field(default=())


@dataclass(frozen=True)
class GpInterpretation:
    """The GP's reading of the trace, printed on the "interprété" version of the report (the original version, "hors
    interprétation", is kept unchanged beside it). ``coded_statements`` are the display labels of the coded
    statements the GP picked; ``version`` counts the interpretations of the same examination (1 = first)."""

    conclusion_text: str
    coded_statements: tuple[str, ...]
    gp_name: str
    interpreted_at: datetime
    version: int = 1


def analysis_fields(analysis: EcgAnalysis, lang: Lang = "fr") -> dict[str, Any]:
    """The context fields an analysis gives the printout (read from it, never recomputed): the technical notes,
    the calibration signal's and the pacing spikes' times, the mains frequency."""
    from asalee_devices.messages.ecg import notes_text

    fs = analysis.raw.fs_hz
    return {"technical_notes": notes_text(analysis.notes, lang),
            "calibration_s": tuple(s.seconds(fs) for s in analysis.non_ecg),
            "pacing_spikes_s": tuple(t / fs for t in analysis.pacing_spikes),
            "mains_hz": analysis.quality.mains_hz}


def _mm(v: float) -> float:
    return v * PT_PER_MM


def _draw_grid(c: Canvas, plan: PagePlan) -> None:
    x0, y0, w, h = plan.grid_x_mm, plan.grid_y_mm, plan.grid_w_mm, plan.grid_h_mm
    nx, ny = round(w), round(h)
    for major in (False, True):
        c.setStrokeColor(GRID_MAJOR if major else GRID_MINOR)
        c.setLineWidth(0.5 if major else 0.2)
        for k in range(nx + 1):
            if (k % 5 == 0) == major:
                x = _mm(x0 + k)
                c.line(x, _mm(y0), x, _mm(y0 + h))
        for k in range(ny + 1):
            if (k % 5 == 0) == major:
                y = _mm(y0 + k)
                c.line(_mm(x0), y, _mm(x0 + w), y)


def _draw_calibration(c: Canvas, plan: PagePlan) -> None:
    lay = plan.layout
    width_mm = lay.calibration_width_s * lay.speed_mm_s
    height_mm = lay.gain_mm_mv  # 1 mV
    c.setStrokeColor(TRACE)
    c.setLineWidth(0.6)
    for base in plan.row_baselines_mm:
        x = plan.calibration_x_mm
        p = c.beginPath()
        p.moveTo(_mm(x - 1.0), _mm(base))
        p.lineTo(_mm(x), _mm(base))
        p.lineTo(_mm(x), _mm(base + height_mm))
        p.lineTo(_mm(x + width_mm), _mm(base + height_mm))
        p.lineTo(_mm(x + width_mm), _mm(base))
        p.lineTo(_mm(x + width_mm + 1.0), _mm(base))
        c.drawPath(p, stroke=1, fill=0)


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [a, b) of consecutive True values."""
    if finite.size == 0:
        return []
    d = np.diff(np.concatenate(([0], finite.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _draw_traces(c: Canvas, rec: EcgRecording, plan: PagePlan) -> None:
    lay = plan.layout
    fs = rec.fs_hz
    c.setStrokeColor(TRACE)
    c.setLineWidth(0.5)
    c.setLineJoin(1)
    # clip to the grid so a large deflection does not run over the header
    c.saveState()
    clip = c.beginPath()
    clip.rect(_mm(plan.grid_x_mm), _mm(plan.grid_y_mm), _mm(plan.grid_w_mm), _mm(plan.grid_h_mm))
    c.clipPath(clip, stroke=0, fill=0)
    offsets = {}
    for name in rec.leads:
        v = rec.lead(name)
        fin = v[np.isfinite(v)]
        offsets[name] = float(np.median(fin)) if fin.size else 0.0
    for seg in plan.segments:
        i0 = int(round(seg.t_start_s * fs))
        i1 = min(int(round(seg.t_stop_s * fs)), rec.n_samples)
        if i1 - i0 < 2:
            continue
        v = rec.lead(seg.lead)[i0:i1] - offsets[seg.lead]
        t = np.arange(i0, i1) / fs - seg.t_start_s
        xs = seg.x_mm + t * lay.speed_mm_s
        ys = seg.baseline_y_mm + v / 1000.0 * lay.gain_mm_mv
        for a, b in _runs(np.isfinite(ys)):
            if b - a < 2:
                continue
            p = c.beginPath()
            p.moveTo(_mm(float(xs[a])), _mm(float(ys[a])))
            for x, y in zip(xs[a + 1:b].tolist(), ys[a + 1:b].tolist(), strict=True):
                p.lineTo(_mm(x), _mm(y))
            c.drawPath(p, stroke=1, fill=0)
    c.restoreState()
    # lead labels and column separators
    c.setFont("Helvetica-Bold", 8)
    c.setFillColor(TRACE)
    for seg in plan.segments:
        row_pitch_mm = plan.grid_h_mm / len(plan.row_baselines_mm)
        c.drawString(_mm(seg.x_mm + 1.0), _mm(seg.baseline_y_mm + 0.45 * row_pitch_mm), seg.lead)
        if seg.t_start_s > 0:
            x = _mm(seg.x_mm)
            c.setLineWidth(0.8)
            c.line(x, _mm(seg.baseline_y_mm - 2.5), x, _mm(seg.baseline_y_mm + 2.5))


def wrap(text: str, font: str, size: float, width_mm: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width_mm`` in ``font`` at ``size`` pt (a word longer
    than the width is broken inside); nothing is cut."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    limit = _mm(width_mm)
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        trial = f"{current} {word}" if current else word
        if stringWidth(trial, font, size) <= limit:
            current = trial
            continue
        if current:
            lines.append(current)
        while stringWidth(word, font, size) > limit and len(word) > 1:
            k = len(word)
            while k > 1 and stringWidth(word[:k], font, size) > limit:
                k -= 1
            lines.append(word[:k])
            word = word[k:]
        current = word
    if current:
        lines.append(current)
    return lines


def _draw_spike_ticks(c: Canvas, plan: PagePlan, ctx: EcgReportContext) -> None:
    """A short blue tick above the trace at each pacing spike the analysis found (left out of beat detection and
    quality, kept on the printed trace)."""
    if not ctx.pacing_spikes_s:
        return
    lay = plan.layout
    c.saveState()
    c.setStrokeColor(Color(0.1, 0.3, 0.8))
    c.setLineWidth(0.6)
    times = np.asarray(ctx.pacing_spikes_s)
    for seg in plan.segments:
        for t in times[(times >= seg.t_start_s) & (times < seg.t_stop_s)].tolist():
            x = _mm(seg.x_mm + (t - seg.t_start_s) * lay.speed_mm_s)
            c.line(x, _mm(seg.baseline_y_mm + 9.0), x, _mm(seg.baseline_y_mm + 11.0))
    c.restoreState()


def _draw_calibration_labels(c: Canvas, plan: PagePlan, ctx: EcgReportContext) -> None:
    """Shade and label, on every trace segment, the time the device's calibration signal takes."""
    _draw_spike_ticks(c, plan, ctx)
    if not ctx.calibration_s:
        return
    lay = plan.layout
    c.saveState()
    c.setFillColor(Color(0.85, 0.85, 0.85, alpha=0.5))
    c.setFont("Helvetica-Oblique", 6)
    for seg in plan.segments:
        for t0, t1 in ctx.calibration_s:
            a, b = max(t0, seg.t_start_s), min(t1, seg.t_stop_s)
            if b <= a:
                continue
            x = seg.x_mm + (a - seg.t_start_s) * lay.speed_mm_s
            w = (b - a) * lay.speed_mm_s
            c.rect(_mm(x), _mm(seg.baseline_y_mm - 4.0), _mm(w), _mm(14.0), stroke=0, fill=1)
            c.setFillColor(TRACE)
            c.drawString(_mm(x + 0.5), _mm(seg.baseline_y_mm - 6.0), _TEXT[ctx.lang]["calibration"])
            c.setFillColor(Color(0.85, 0.85, 0.85, alpha=0.5))
    c.restoreState()


def _draw_header(c: Canvas, rec: EcgRecording, ctx: EcgReportContext, plan: PagePlan,
                 interpretation: GpInterpretation | None = None) -> None:
    tx = _TEXT[ctx.lang]
    page_w, page_h = A4_LANDSCAPE_MM
    left = plan.grid_x_mm
    top = page_h - 9.0
    c.setFillColor(TRACE)
    c.setFont("Helvetica-Bold", 12)
    c.drawString(_mm(left), _mm(top), tx["title"])
    c.setFont("Helvetica-Bold", 9)
    if interpretation is None:
        c.drawString(_mm(left + 45), _mm(top), tx["not_interpreted"])
    else:
        c.drawString(_mm(left + 45), _mm(top), tx["interpreted"].format(
            gp=interpretation.gp_name, when=interpretation.interpreted_at.strftime("%d/%m/%Y %H:%M"),
            version=interpretation.version))
    c.setFont("Helvetica", 8)
    when = ctx.acquired_at.strftime("%d/%m/%Y %H:%M:%S") if ctx.acquired_at else tx["unknown"]
    patient = " ".join(p for p in (ctx.patient_name, ctx.patient_identifier) if p) or tx["unknown"]
    if ctx.birth_date:
        patient += f", {tx['born']} {ctx.birth_date}"
    if ctx.sex:
        patient += f", {ctx.sex}"
    lines_left = [
        f"{tx['patient']} : {patient}" if ctx.lang == "fr" else f"{tx['patient']}: {patient}",
        f"{tx['acquired']} : {when}" if ctx.lang == "fr" else f"{tx['acquired']}: {when}",
        (f"{tx['device']} : " if ctx.lang == "fr" else f"{tx['device']}: ") + (ctx.device_label or tx["unknown"])
        + (f" — {tx['performer']} : {ctx.performer_label}" if ctx.performer_label else ""),
        (f"{tx['fs']} : " if ctx.lang == "fr" else f"{tx['fs']}: ")
        + f"{rec.fs_hz:g} Hz, {rec.duration_s:.1f} s, "
        + ", ".join(rec.leads)
        + (f" ({tx['derived']} : {', '.join(sorted(rec.derived_leads))})" if rec.derived_leads else ""),
        band_text(chain_band(rec.device_filters + rec.applied_filters, rec.fs_hz), ctx.mains_hz, ctx.lang),
    ]
    if ctx.file_warnings:
        lines_left.append((f"{tx['file']} : " if ctx.lang == "fr" else f"{tx['file']}: ")
                          + "; ".join(ctx.file_warnings))
    y = top - 4.5
    if interpretation is not None:
        sep = " : " if ctx.lang == "fr" else ": "
        block = [f"{tx['conclusion']}{sep}{interpretation.conclusion_text}"]
        if interpretation.coded_statements:
            block.append(f"{tx['coded']}{sep}" + " ; ".join(interpretation.coded_statements))
        c.setFont("Helvetica-Bold", 8)
        for line in block:
            for part in wrap(line, "Helvetica-Bold", 8, 170.0):
                c.drawString(_mm(left), _mm(y), part)
                y -= 3.3
        c.setFont("Helvetica", 8)
    for line in lines_left:
        for part in wrap(line, "Helvetica", 8, 170.0):
            c.drawString(_mm(left), _mm(y), part)
            y -= 3.3
    # right column: quality and heart rate
    rx = left + 175.0
    y = top - 4.5
    c.setFont("Helvetica-Bold", 8)
    c.drawString(_mm(rx), _mm(y), (f"{tx['quality']} : " if ctx.lang == "fr" else f"{tx['quality']}: ")
                 + (ctx.quality_verdict or tx["unknown"]))
    right_w = page_w - rx - 5.0
    c.setFont("Helvetica", 7)
    for msg in ctx.quality_messages[:4]:
        for part in wrap(msg, "Helvetica", 7, right_w):
            y -= 3.0
            c.drawString(_mm(rx), _mm(y), part)
    if ctx.heart_rate_bpm is not None:
        y -= 3.6
        c.setFont("Helvetica", 8)
        c.drawString(_mm(rx), _mm(y), (f"{tx['hr']} : " if ctx.lang == "fr" else f"{tx['hr']}: ")
                     + f"{ctx.heart_rate_bpm:.0f} /min")
    c.setFont("Helvetica-Bold", 7)
    for note in ctx.technical_notes[:4]:
        for part in wrap(note, "Helvetica-Bold", 7, right_w):
            y -= 3.0
            c.drawString(_mm(rx), _mm(y), part)
    # footer: scale and software
    lay = plan.layout
    c.setFont("Helvetica", 8)
    c.drawString(_mm(left), _mm(plan.grid_y_mm - 5.0),
                 f"{tx['speed']} {lay.speed_mm_s:g} mm/s — {tx['gain']} {lay.gain_mm_mv:g} mm/mV — "
                 f"1 mV = {lay.gain_mm_mv:g} mm — {tx['software']} asalee-devices {__version__}")
    for k, extra in enumerate(ctx.extra_lines[:2]):
        c.drawString(_mm(left), _mm(plan.grid_y_mm - 8.5 - 3.5 * k), extra[:190])


def render_ecg_pdf(
    recording: EcgRecording,
    context: EcgReportContext | None = None,
    layout: EcgLayout | None = None,
    *,
    interpretation: GpInterpretation | None = None,
) -> bytes:
    """Render the printed ECG as PDF bytes (one A4 landscape page, vector graphics).

    Without ``interpretation`` the page says the trace is not interpreted ("hors interprétation"); with it, the same
    page carries the GP's conclusion, coded statements, name, date and version in place of that notice (the
    "interprété" version).

    The recording should be the cleaned trace (its ``applied_filters`` are printed). Missing samples (NaN, e.g.
    electrode off) leave gaps in the trace rather than a drawn line."""
    ctx = context or EcgReportContext()
    lay = layout or EcgLayout()
    plan = plan_page(lay, recording.leads)
    buf = io.BytesIO()
    page_w, page_h = A4_LANDSCAPE_MM
    c = Canvas(buf, pagesize=(_mm(page_w), _mm(page_h)), invariant=True, pageCompression=1)
    c.setTitle(_TEXT[ctx.lang]["title"])
    c.setAuthor("asalee-devices")
    c.setCreator(f"asalee-devices {__version__}")
    _draw_grid(c, plan)
    _draw_calibration(c, plan)
    _draw_traces(c, recording, plan)
    _draw_calibration_labels(c, plan, ctx)
    _draw_header(c, recording, ctx, plan, interpretation)
    c.showPage()
    c.save()
    return buf.getvalue()
