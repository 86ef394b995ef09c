"""The 12-lead ECG report as a vector PDF (A4 landscape) at true scale: 25 mm/s and 10 mm/mV at 100 % print
scale on a millimetre grid with 5-mm major lines, 1 mV calibration pulses, 3x4 + rhythm strip (or 6x2).

The page carries the technical facts the GP needs to read the trace (patient, date, device, sampling rate, the
effective band of the whole filter chain, device's and ours, as its computed -3 dB points, the technical quality
verdict) and says that the trace is not interpreted and awaits the physician's reading. It never contains an
interpretation of ours; the "interprété" version (:class:`GpInterpretation`) prints the GP's own conclusion on the
same tracing.

A pure renderer: its input is an :class:`EcgPrintout` (the trace and the facts of the filter chain, as numbers) and an
:class:`EcgReportContext` (the header's words), both filled by ``workflow.ecg_printout`` from the analysis; nothing
here imports ``signal/``. Text blocks are wrapped to their column; what does not fit above the grid continues on a
second page (said on the first), so no text ever leaves the page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from reportlab.lib.colors import Color
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from asalee_devices import __version__
from asalee_devices.messages.ecg_report import BAND_CLASS, HEADER, band_words, filter_words, number, sep
from asalee_devices.reports.ecg_layout import A4_LANDSCAPE_MM, PT_PER_MM, EcgLayout, PagePlan, plan_page

Lang = Literal["fr", "en"]
BandClass = Literal["iec", "high_cut_low", "low_cut_high", "both"]

GRID_MINOR = Color(0.98, 0.80, 0.80)
GRID_MAJOR = Color(0.90, 0.45, 0.45)
TRACE = Color(0, 0, 0)
#: the hatching of a lead's electrode-off time
LEAD_OFF = Color(0.85, 0.40, 0.05)
INTERPRETATION_BOX = Color(0.90, 0.94, 1.0)

_TEXT = HEADER


@dataclass(frozen=True)
class PrintedFilter:
    """One filtering step as printed: ``kind`` (highpass, lowpass, bandpass, notch, mains_canceller, resample,
    other), by the device or by us, its cut-off(s) in Hz."""

    kind: str
    by_device: bool
    cutoff_hz: float | None = None
    cutoff_high_hz: float | None = None
    zero_phase: bool | None = None
    restores_hz: float | None = None


@dataclass(frozen=True, eq=False)
class EcgPrintout:
    """What is printed of a trace: the samples (µV, one row per lead, NaN = no data), the rate, the lead names, the
    electrode-off mask (True where the electrode was off: hatched and labelled on the trace), and the filter chain
    as numbers (its effective -3 dB band, how that compares with the diagnostic band, the steps)."""

    samples_uv: NDArray[np.float64]
    fs_hz: float
    leads: tuple[str, ...]
    derived_leads: tuple[str, ...] = ()
    lead_off: NDArray[np.bool_] | None = None
    band_low_hz: float | None = None
    band_high_hz: float | None = None
    mains_filtered_hz: float | None = None
    band_class: BandClass | None = None
    filters: tuple[PrintedFilter, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.samples_uv.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    @property
    def nyquist_hz(self) -> float:
        return self.fs_hz / 2

    def lead(self, name: str) -> NDArray[np.float64]:
        row: NDArray[np.float64] = self.samples_uv[self.leads.index(name)]
        return row

    def off(self, name: str) -> NDArray[np.bool_] | None:
        if self.lead_off is None:
            return None
        row: NDArray[np.bool_] = self.lead_off[self.leads.index(name)]
        return row


@dataclass(frozen=True)
class EcgReportContext:
    """What the header says besides the trace, already worded in ``lang`` (``workflow.ecg_printout.report_context``
    builds it the same way for every path: demo, web, ``ecg import``, watched folder, GDT).

    ``patient_identifier`` is its own header line (the INS line of a qualified identity, or the practice's patient
    number); ``quality_verdict`` is the value printed after "Qualité technique :"."""

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


def _draw_traces(c: Canvas, rec: EcgPrintout, plan: PagePlan) -> None:
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


#: the band hatched over a lead's electrode-off time, relative to the segment's baseline (mm)
LEAD_OFF_BAND_MM = (-4.0, 10.0)


def _draw_lead_off(c: Canvas, rec: EcgPrintout, plan: PagePlan, lang: Lang) -> None:
    """Hatch and label, on each trace segment, the time its electrode was off (no trace there, or a meaningless
    one): a band from 4 mm below to 10 mm above the baseline, labelled "électrode déconnectée"."""
    if rec.lead_off is None or not rec.lead_off.any():
        return
    lay = plan.layout
    fs = rec.fs_hz
    label = _TEXT[lang]["lead_off"]
    lo, hi = LEAD_OFF_BAND_MM
    c.saveState()
    c.setLineWidth(0.3)
    for seg in plan.segments:
        off = rec.off(seg.lead)
        if off is None:
            continue
        i0 = int(round(seg.t_start_s * fs))
        i1 = min(int(round(seg.t_stop_s * fs)), rec.n_samples)
        for a, b in _runs(off[i0:i1]):
            x = seg.x_mm + a / fs * lay.speed_mm_s
            w = (b - a) / fs * lay.speed_mm_s
            if w < 0.5:
                continue
            y0, h = seg.baseline_y_mm + lo, hi - lo
            c.saveState()
            box = c.beginPath()
            box.rect(_mm(x), _mm(y0), _mm(w), _mm(h))
            c.clipPath(box, stroke=0, fill=0)
            c.setStrokeColor(LEAD_OFF)
            k = x - h
            while k < x + w:  # 45° hatching every 2 mm
                c.line(_mm(k), _mm(y0), _mm(k + h), _mm(y0 + h))
                k += 2.0
            c.restoreState()
            c.setStrokeColor(LEAD_OFF)
            c.rect(_mm(x), _mm(y0), _mm(w), _mm(h), stroke=1, fill=0)
            c.setFont("Helvetica-Bold", 6)
            if stringWidth(label, "Helvetica-Bold", 6) <= _mm(w - 1.0):
                tw = stringWidth(label, "Helvetica-Bold", 6)
                c.setFillColor(Color(1, 1, 1))
                c.rect(_mm(x + 0.5) - 0.5, _mm(y0 + h / 2 - 1.2), tw + 1.0, _mm(2.8), stroke=0, fill=1)
                c.setFillColor(LEAD_OFF)
                c.drawString(_mm(x + 0.5), _mm(y0 + h / 2 - 0.6), label)
    c.restoreState()


def wrap(text: str, font: str, size: float, width_mm: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width_mm`` in ``font`` at ``size`` pt (a word longer
    than the width is broken inside); nothing is cut."""
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


# ---- text blocks: wrapped lines placed in columns; what does not fit continues on the next page

@dataclass(frozen=True)
class _Line:
    text: str
    font: str
    size_pt: float
    leading_mm: float


def _lines(text: str, font: str, size: float, width_mm: float, leading_mm: float) -> list[_Line]:
    return [_Line(part, font, size, leading_mm) for part in wrap(text, font, size, width_mm)]


def _place(c: Canvas, lines: list[_Line], x_mm: float, y_mm: float, bottom_mm: float) -> tuple[float, list[_Line]]:
    """Draw ``lines`` from baseline ``y_mm`` down while the baseline stays at or above ``bottom_mm``; return the next
    baseline and the lines that did not fit."""
    for k, ln in enumerate(lines):
        if y_mm < bottom_mm:
            return y_mm, lines[k:]
        c.setFont(ln.font, ln.size_pt)
        c.drawString(_mm(x_mm), _mm(y_mm), ln.text)
        y_mm -= ln.leading_mm
    return y_mm, []


#: page margins for text (mm): every glyph stays inside them
MARGIN_MM = 6.0
#: lowest baseline of header text above the grid's top edge (mm), room for descenders
HEADER_GAP_MM = 2.0
LEFT_COLUMN_MM = 168.0
COLUMN_GAP_MM = 5.0


def _local(when: datetime) -> datetime:
    """An aware time in the practice's local time (the GP reads the clock of the practice, not UTC); a naive one
    (a device's own clock) as it is."""
    return when.astimezone() if when.tzinfo is not None else when


def _status_line(ctx: EcgReportContext, interpretation: GpInterpretation | None) -> str:
    tx = _TEXT[ctx.lang]
    if interpretation is None:
        return tx["not_interpreted"]
    when = _local(interpretation.interpreted_at).strftime("%d/%m/%Y %H:%M")
    return tx["interpreted"].format(gp=interpretation.gp_name, when=when, version=interpretation.version)


def _segment_lines(parts: tuple[str, ...], font: str, size: float, width_mm: float, leading_mm: float) -> list[_Line]:
    """``parts`` joined by " — " on a line while they fit, a part that does not fit starting the next line (a part
    wider than the column is wrapped)."""
    out: list[_Line] = []
    current = ""
    for part in parts:
        trial = f"{current} — {part}" if current else part
        if stringWidth(trial, font, size) <= _mm(width_mm):
            current = trial
            continue
        if current:
            out.append(_Line(current, font, size, leading_mm))
        *full, current = wrap(part, font, size, width_mm) or [""]
        out += [_Line(t, font, size, leading_mm) for t in full]
    if current:
        out.append(_Line(current, font, size, leading_mm))
    return out


def _left_texts(rec: EcgPrintout, ctx: EcgReportContext) -> list[str | tuple[str, ...]]:
    tx = _TEXT[ctx.lang]
    s = sep(ctx.lang)
    when = _local(ctx.acquired_at).strftime("%d/%m/%Y %H:%M:%S") if ctx.acquired_at else tx["unknown"]
    patient = ctx.patient_name or tx["unknown"]
    if ctx.birth_date:
        patient += f", {tx['born']} {ctx.birth_date}"
    if ctx.sex:
        patient += f", {ctx.sex}"
    out: list[str | tuple[str, ...]] = [f"{tx['patient']}{s}{patient}"]
    if ctx.patient_identifier:
        out.append(ctx.patient_identifier)
    parts = [f"{tx['acquired']}{s}{when}", f"{tx['device']}{s}{ctx.device_label or tx['unknown']}"]
    if ctx.performer_label:
        parts.append(f"{tx['performer']}{s}{ctx.performer_label}")
    out.append(tuple(parts))
    sampling = (f"{tx['fs']}{s}{number(rec.fs_hz, None, ctx.lang)} Hz, {number(rec.duration_s, 1, ctx.lang)} s, "
                + ", ".join(rec.leads))
    if rec.derived_leads:
        sampling += f" ({tx['derived']}{s}{', '.join(sorted(rec.derived_leads))})"
    out.append(sampling)
    band = band_words(rec.band_low_hz, rec.band_high_hz, rec.nyquist_hz, rec.mains_filtered_hz, ctx.mains_hz,
                      ctx.lang)
    if rec.band_class is not None:
        band += " — " + BAND_CLASS[ctx.lang][rec.band_class]
    out.append(band)
    if rec.filters:
        groups = []
        for by_device, who in ((True, tx["by_device"]), (False, tx["by_us"])):
            steps = [filter_words(f.kind, f.cutoff_hz, f.cutoff_high_hz, f.zero_phase, f.restores_hz, ctx.lang)
                     for f in rec.filters if f.by_device == by_device]
            if steps:
                groups.append(f"{who}{s}{', '.join(steps)}")
        out.append(f"{tx['filters']} — " + " ; ".join(groups) if ctx.lang == "fr"
                   else f"{tx['filters']} — " + "; ".join(groups))
    if ctx.file_warnings:
        out.append(f"{tx['file']}{s}" + ("; ".join(ctx.file_warnings)))
    out += list(ctx.extra_lines)
    return out


def _right_lines(ctx: EcgReportContext, width_mm: float) -> list[_Line]:
    """The right column, most important first: the verdict, the heart rate, the technical notes for the GP, then
    the quality messages (what continues on page 2 is the end of this list)."""
    tx = _TEXT[ctx.lang]
    s = sep(ctx.lang)
    out = _lines(f"{tx['quality']}{s}{ctx.quality_verdict or tx['unknown']}", "Helvetica-Bold", 8, width_mm, 3.4)
    if ctx.heart_rate_bpm is not None:
        out += _lines(f"{tx['hr']}{s}{ctx.heart_rate_bpm:.0f} /min", "Helvetica", 8, width_mm, 3.4)
    for note in ctx.technical_notes:
        out += _lines(note, "Helvetica-Bold", 7, width_mm, 3.0)
    for msg in ctx.quality_messages:
        out += _lines(msg, "Helvetica", 7, width_mm, 3.0)
    return out


def _interpretation_lines(ctx: EcgReportContext, interpretation: GpInterpretation, width_mm: float) -> list[_Line]:
    tx = _TEXT[ctx.lang]
    s = sep(ctx.lang)
    out: list[_Line] = []
    for k, para in enumerate(interpretation.conclusion_text.splitlines() or [""]):
        text = f"{tx['conclusion']}{s}{para}" if k == 0 else para
        out += _lines(text, "Helvetica-Bold", 9, width_mm, 3.8)
    if interpretation.coded_statements:
        out += _lines(f"{tx['coded']}{s}" + " ; ".join(interpretation.coded_statements), "Helvetica", 8,
                      width_mm, 3.4)
    return out


def _footer(c: Canvas, plan: PagePlan, ctx: EcgReportContext, pages: int) -> None:
    tx = _TEXT[ctx.lang]
    lay = plan.layout
    page_w, _ = A4_LANDSCAPE_MM
    c.setFillColor(TRACE)
    c.setFont("Helvetica", 8)
    gain = number(lay.gain_mm_mv, None, ctx.lang)
    c.drawString(_mm(plan.grid_x_mm), _mm(plan.grid_y_mm - 5.0),
                 f"{tx['speed']} {number(lay.speed_mm_s, None, ctx.lang)} mm/s — {tx['gain']} {gain} mm/mV — "
                 f"1 mV = {gain} mm — {tx['software']} asalee-devices {__version__}")
    if pages > 1:
        c.setFont("Helvetica-Bold", 8)
        c.drawRightString(_mm(page_w - MARGIN_MM), _mm(plan.grid_y_mm - 5.0),
                          tx["page"].format(page=1, pages=pages) + " — " + tx["continued"].format(page=2))


def _paginate(lines: list[_Line], height_mm: float) -> list[list[_Line]]:
    """``lines`` cut into pages of at most ``height_mm`` of leading each."""
    pages: list[list[_Line]] = []
    current: list[_Line] = []
    used = 0.0
    for ln in lines:
        if current and used + ln.leading_mm > height_mm:
            pages.append(current)
            current, used = [], 0.0
        current.append(ln)
        used += ln.leading_mm
    if current:
        pages.append(current)
    return pages


def _continuation_pages(c: Canvas, ctx: EcgReportContext, pages: list[list[_Line]], left_mm: float) -> None:
    """The text that did not fit on page 1, on the next pages (full width, top to bottom, the patient named)."""
    _, page_h = A4_LANDSCAPE_MM
    tx = _TEXT[ctx.lang]
    total = 1 + len(pages)
    for k, lines in enumerate(pages):
        c.showPage()
        c.setFillColor(TRACE)
        top = page_h - MARGIN_MM - 3.0
        c.setFont("Helvetica-Bold", 12)
        c.drawString(_mm(left_mm), _mm(top), tx["title"])
        head = tx["continuation"].format(page=k + 2, pages=total)
        if ctx.patient_name:
            head = f"{ctx.patient_name} — {head}"
        width = A4_LANDSCAPE_MM[0] - left_mm - 45.0 - MARGIN_MM
        y, _ = _place(c, _lines(head, "Helvetica", 9, width, 3.8)[:3], left_mm + 45, top, MARGIN_MM)
        _place(c, lines, left_mm, min(top - 8.0, y - 2.0), MARGIN_MM + 2.0)


#: the height of text a continuation page holds (mm of leading): from under its title (3 lines at most) to the bottom
#: margin
_CONTINUATION_MM = A4_LANDSCAPE_MM[1] - 2 * MARGIN_MM - 3.0 - 3 * 3.8 - 2.0 - 2.0


def render_ecg_pdf(
    printout: EcgPrintout,
    context: EcgReportContext | None = None,
    layout: EcgLayout | None = None,
    *,
    interpretation: GpInterpretation | None = None,
) -> bytes:
    """Render the printed ECG as PDF bytes (A4 landscape, vector graphics; a second page only when the header's text
    does not fit above the grid).

    Without ``interpretation`` the page says the trace is not interpreted ("hors interprétation"); with it, the same
    page carries the GP's conclusion, coded statements, name, date and version in place of that notice (the
    "interprété" version). Missing samples (NaN) leave gaps in the trace; the electrode-off time of the printout's
    mask is hatched and labelled."""
    ctx = context or EcgReportContext()
    lay = layout or EcgLayout()
    plan = plan_page(lay, printout.leads)
    tx = _TEXT[ctx.lang]
    buf = io.BytesIO()
    page_w, page_h = A4_LANDSCAPE_MM
    c = Canvas(buf, pagesize=(_mm(page_w), _mm(page_h)), invariant=True, pageCompression=1)
    c.setTitle(tx["title"] if interpretation is None else f"{tx['title']} — {_status_line(ctx, interpretation)}")
    c.setAuthor("asalee-devices")
    c.setCreator(f"asalee-devices {__version__}")
    _draw_grid(c, plan)
    _draw_calibration(c, plan)
    _draw_traces(c, printout, plan)
    _draw_lead_off(c, printout, plan, ctx.lang)
    _draw_calibration_labels(c, plan, ctx)

    left = plan.grid_x_mm
    full_w = page_w - left - MARGIN_MM
    bottom = plan.grid_y_mm + plan.grid_h_mm + HEADER_GAP_MM
    top = page_h - MARGIN_MM - 3.0
    c.setFillColor(TRACE)
    c.setFont("Helvetica-Bold", 12)
    c.drawString(_mm(left), _mm(top), tx["title"])
    status = _lines(_status_line(ctx, interpretation), "Helvetica-Bold", 9, full_w - 45.0, 3.8)
    y_status, _ = _place(c, status, left + 45.0, top, bottom)
    y = min(top - 4.6, y_status - 0.8)
    over_interp: list[_Line] = []
    if interpretation is not None:
        block = _interpretation_lines(ctx, interpretation, full_w - 2.0)
        # the conclusion first, leaving at least 4 lines of the columns (patient, identifier, date, device) on page 1
        shown = block[:max(0, int((y - bottom) // 3.8) - 4)]
        if shown:
            height = sum(ln.leading_mm for ln in shown)
            c.setFillColor(INTERPRETATION_BOX)
            c.rect(_mm(left - 1.0), _mm(y - height + 2.0), _mm(full_w + 1.0), _mm(height + 1.5), stroke=0,
                   fill=1)
            c.setFillColor(TRACE)
            y, _ = _place(c, shown, left, y, bottom)
            y -= 1.2
        over_interp = block[len(shown):]
    right_x = left + LEFT_COLUMN_MM + COLUMN_GAP_MM
    right_w = page_w - right_x - MARGIN_MM
    left_lines = [ln for t in _left_texts(printout, ctx)
                  for ln in (_segment_lines(t, "Helvetica", 8, LEFT_COLUMN_MM, 3.3) if isinstance(t, tuple)
                             else _lines(t, "Helvetica", 8, LEFT_COLUMN_MM, 3.3))]
    _, over_left = _place(c, left_lines, left, y, bottom)
    _, over_right = _place(c, _right_lines(ctx, right_w), right_x, y, bottom)
    rest: list[_Line] = []
    for part in (over_interp, over_left, over_right):
        if part:
            if rest:
                rest.append(_Line("", "Helvetica", 8, 2.0))
            rest += part
    more = _paginate(rest, _CONTINUATION_MM)
    _footer(c, plan, ctx, 1 + len(more))
    _continuation_pages(c, ctx, more, left)
    c.showPage()
    c.save()
    return buf.getvalue()
