"""The spirometry report as a vector PDF, one A4 portrait page laid out like a pulmonary-function printout: identity
block; session quality (ATS/ERS 2019 grades of FEV1 and FVC, repeatability in L and %, calibration verification);
the flow-volume loops and volume-time curves of every acceptable or usable blow, overlaid with a legend, the reported
one highlighted, at the ATS/ERS 2019 display scales; the table measured / predicted / LLN / z-score / % predicted
(pre/post bronchodilator columns when present) with its z-score chart; the per-blow table. French clinical vocabulary
(VEMS, CVF, DEP...) and French number formatting in a French report, English in an English one.

Display scales (Graham et al., Standardization of Spirometry 2019 Update, AJRCCM 2019;200:e70, "Display"): the
flow-volume graph keeps an aspect ratio flow : volume of 2 L/s : 1 L (2 L/s and 1 L cover the same length); the
volume-time graph has a time scale of at least 20 mm/s, a volume scale of at least 10 mm/L and starts at least 1 s
before time zero (the back-extrapolated start of the blow). The scales used are printed under each graph.

The input is :class:`SpirometryReportData`, a display model the examination workflow fills from the analysis
results (every word that depends on a code is already in the report's language); the report states values,
reference comparisons and quality only — never a diagnosis. This module imports nothing from ``signal/``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from reportlab.lib.colors import Color, black, white
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from asalee_devices import __version__
from asalee_devices.reports.ecg_layout import PT_PER_MM

Lang = Literal["fr", "en"]

A4_PORTRAIT_MM = (210.0, 297.0)
MARGIN_MM = 12.0
HIGHLIGHT = Color(0.75, 0.1, 0.1)
OTHER = Color(0.55, 0.55, 0.6)
POST = Color(0.1, 0.3, 0.8)
GRIDC = Color(0.85, 0.85, 0.85)
BOXC = Color(0.55, 0.55, 0.55)
SHADE = Color(0.94, 0.94, 0.94)
WARN = Color(0.75, 0.0, 0.0)
#: colours of the blows that are not the reported one (one per blow, in order); the phase is told by the dash
PALETTE = (Color(0.35, 0.35, 0.40), Color(0.0, 0.55, 0.25), Color(0.85, 0.45, 0.0), Color(0.5, 0.2, 0.65),
           Color(0.0, 0.55, 0.6), Color(0.55, 0.35, 0.15), Color(0.8, 0.2, 0.55), Color(0.45, 0.5, 0.0))
POST_DASH = (3.0, 1.6)
#: line widths (pt) of the reported curve and of the others
REPORTED_WIDTH = 1.2
OTHER_WIDTH = 0.6
#: ATS/ERS 2019 display: flow (L/s) per volume (L) for the same length on the flow-volume graph
FLOW_VOLUME_ASPECT = 2.0
#: ATS/ERS 2019 display minima of the volume-time graph
MIN_TIME_MM_PER_S = 20.0
MIN_VOLUME_MM_PER_L = 10.0
BEFORE_T0_S = 1.0
#: zero-flow band used to find the end of the exhaled segment when the workflow does not give it (L/s)
_ZERO_FLOW_L_S = 0.025


@dataclass(frozen=True)
class BlowCurve:
    """One manoeuvre for display: flow (L/s, exhaled positive) sampled at fs_hz from the start of the recording;
    ``reported`` marks the best-test curve. The per-blow values and the reasons (in the GP's vocabulary, in the
    report's language) fill the per-blow table; ``messages`` (the nurse's coaching) are never printed."""

    label: str
    flow_l_s: NDArray[np.float64]
    fs_hz: float
    acceptable: bool
    reported: bool = False
    phase: Literal["pre", "post"] = "pre"
    messages: tuple[str, ...] = ()
    #: acceptable or usable for FEV1 or FVC: drawn on the graphs (with the acceptable and the reported ones)
    usable: bool = False
    #: back-extrapolated time zero and end of the exhaled segment, from the start of the recording (None: found
    #: here from the flow, with the same back-extrapolation)
    t0_s: float | None = None
    end_s: float | None = None
    fev1_l: float | None = None
    fvc_l: float | None = None
    pef_l_s: float | None = None
    bev_l: float | None = None
    fet_s: float | None = None
    acceptable_fev1: bool | None = None
    acceptable_fvc: bool | None = None
    usable_fev1: bool | None = None
    usable_fvc: bool | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParameterRow:
    """One line of the results table (values in the units given; None = not available)."""

    name: str
    unit: str
    measured: float | None
    predicted: float | None = None
    lln: float | None = None
    z_score: float | None = None
    percent_predicted: float | None = None
    post_measured: float | None = None
    post_change_percent: float | None = None
    #: ERS/ATS 2022 bronchodilator response: post - pre (in the row's unit) and as % of the predicted value
    post_change_abs: float | None = None
    post_change_pct_predicted: float | None = None
    post_z_score: float | None = None
    #: the parameter's code (``fev1``, ``fvc``...; "" when the row is not one of the workflow's parameters)
    code: str = ""


@dataclass(frozen=True)
class PhaseQuality:
    """The session quality of one phase: ATS/ERS 2019 grades and repeatability (the difference between the two
    largest acceptable values, in L and in % of the largest) with the grade-A limit."""

    phase: Literal["pre", "post"] = "pre"
    grade_fev1: str = ""
    grade_fvc: str = ""
    grade_fev0_75: str = ""
    n_acceptable: int | None = None
    n_blows: int | None = None
    #: acceptable for FEV1, for FVC (None: only ``n_acceptable``, acceptable for both, is known)
    n_acceptable_fev1: int | None = None
    n_acceptable_fvc: int | None = None
    fev1_spread_l: float | None = None
    fev1_spread_pct: float | None = None
    fvc_spread_l: float | None = None
    fvc_spread_pct: float | None = None
    repeatability_limit_l: float | None = None
    #: children: the limit is max(0.100 L, 10 % of the largest value)
    repeatability_limit_pct: float | None = None


@dataclass(frozen=True)
class SpirometryReportData:
    patient_name: str = ""
    patient_identifier: str = ""
    birth_date: str = ""
    #: as printed ("femme" / "female")
    sex: str = ""
    age_years: float | None = None
    height_cm: float | None = None
    acquired_at: datetime | None = None
    device_label: str = ""
    performer_label: str = ""
    equation: str = ""
    grade_fev1: str = ""
    grade_fvc: str = ""
    #: children aged 6 or younger: FEV0.75 graded as FEV1 is (ATS/ERS 2019 Table 7 footnote); "" otherwise
    grade_fev0_75: str = ""
    n_acceptable: int | None = None
    btps_note: str = ""
    #: what the BTPS state means, in plain words (the workflow's sentence for the recordings' BTPS source)
    btps_explanation: str = ""
    #: the spirometer's last calibration verification (3-L syringe), and whether it is a warning (none passed today)
    calibration_note: str = ""
    calibration_warning: bool = False
    rows: tuple[ParameterRow, ...] = ()
    blows: tuple[BlowCurve, ...] = ()
    session_messages: tuple[str, ...] = ()
    lang: Lang = "fr"
    extra_lines: tuple[str, ...] = field(default=())
    #: per phase; when empty, the pre phase is read from grade_fev1 / grade_fvc / n_acceptable
    quality: tuple[PhaseQuality, ...] = ()
    #: parameter names of the grade line (FEV1, FVC, FEV0.75) in the report's language; defaults by language
    grade_labels: tuple[str, str, str] = ("", "", "")


_T = {
    "fr": {"title": "Spirométrie — compte rendu technique", "born": "Né(e) le", "born_f": "Née le",
           "born_m": "Né le", "years": "ans", "height": "taille", "acquired": "Examen du", "device": "Appareil",
           "performer": "Réalisé par", "equation": "Valeurs de référence", "quality": "Qualité de la séance",
           "grades_std": "ATS/ERS 2019", "grade": "Grades", "of": "sur", "acceptable_n": "essais acceptables",
           "acceptable_by": "Essais acceptables : {fev1} {n1}, {fvc} {n2} (sur {n} essais)",
           "repeat": "Répétabilité", "repeat_def": "écart entre les deux meilleures valeurs acceptables",
           "repeat_none": "non évaluable (moins de 2 essais acceptables)",
           "limit": "limite grade A", "limit_child": "limite grade A : max(0,100 L ; 10 %)",
           "param": "Paramètre", "measured": "Mesuré", "pred": "Prédit", "lln": "LIN", "z": "z-score",
           "pct": "% prédit", "post": "Post-BD", "chg": "Var. %", "chg_abs": "Var. abs.", "chg_pred": "Var. % préd.",
           "pre_phase": "Pré-BD", "post_phase": "Post-BD",
           "bd_note": "Réponse au bronchodilatateur (ERS/ATS 2022) : Var. abs. = valeur après BD - valeur avant BD ; "
                      "Var. % préd. = cette variation en % de la valeur prédite (critère : > 10 % pour le VEMS ou la "
                      "CVF) ; Var. % = variation en % de la valeur avant BD (ancien critère).",
           "fv": "Débit-volume", "vt": "Volume-temps", "flow_axis": "Débit (L/s)", "vol_axis": "Volume (L)",
           "time_axis": "Temps (s) depuis le temps zéro extrapolé",
           "fv_scale": "Échelle : 2 L/s = 1 L = {mm} mm", "vt_scale": "Échelle : {mms} mm/s, {mml} mm/L",
           "vt_cut": "courbes arrêtées à {s} s (TEF le plus long : {fet} s)",
           "zchart": "z-score", "legend": "Courbes", "reported": "retenu",
           "blows": "Essais", "blow": "Essai", "acc_fev1": "Accept. VEMS", "acc_fvc": "Accept. CVF",
           "yes": "oui", "usable": "utilisable", "no": "non", "reasons": "Motifs",
           "review": "Valeurs et qualité pour relecture par le médecin ; aucune interprétation n'est fournie.",
           "software": "Logiciel", "unknown": "non renseigné", "no_curve": "aucune courbe acceptable ou utilisable",
           "more": "… {n} essai(s) de plus, non imprimé(s) : voir les résultats transmis"},
    "en": {"title": "Spirometry — technical report", "born": "Born", "born_f": "Born", "born_m": "Born",
           "years": "years", "height": "height", "acquired": "Test date", "device": "Device", "performer": "Performed by",
           "equation": "Reference values", "quality": "Session quality", "grades_std": "ATS/ERS 2019",
           "grade": "Grades", "of": "of", "acceptable_n": "acceptable blows",
           "acceptable_by": "Acceptable blows: {fev1} {n1}, {fvc} {n2} (of {n} blows)", "repeat": "Repeatability",
           "repeat_def": "difference between the two largest acceptable values",
           "repeat_none": "not assessable (fewer than 2 acceptable blows)", "limit": "grade A limit",
           "limit_child": "grade A limit: max(0.100 L; 10 %)",
           "param": "Parameter", "measured": "Measured", "pred": "Predicted", "lln": "LLN", "z": "z-score",
           "pct": "% pred", "post": "Post-BD", "chg": "Change %", "chg_abs": "Change", "chg_pred": "Chg % pred",
           "pre_phase": "Pre-BD", "post_phase": "Post-BD",
           "bd_note": "Bronchodilator response (ERS/ATS 2022): Change = post-BD value - pre-BD value; Chg % pred = "
                      "that change as % of the predicted value (criterion: > 10 % for FEV1 or FVC); Change % = change "
                      "as % of the pre-BD value (former criterion).",
           "fv": "Flow-volume", "vt": "Volume-time", "flow_axis": "Flow (L/s)", "vol_axis": "Volume (L)",
           "time_axis": "Time (s) from back-extrapolated time zero",
           "fv_scale": "Scale: 2 L/s = 1 L = {mm} mm", "vt_scale": "Scale: {mms} mm/s, {mml} mm/L",
           "vt_cut": "curves stopped at {s} s (longest FET: {fet} s)",
           "zchart": "z-score", "legend": "Curves", "reported": "reported",
           "blows": "Blows", "blow": "Blow", "acc_fev1": "FEV1 accept.", "acc_fvc": "FVC accept.",
           "yes": "yes", "usable": "usable", "no": "no", "reasons": "Reasons",
           "review": "Values and quality for the physician's review; no interpretation is given.",
           "software": "Software", "unknown": "not given", "no_curve": "no acceptable or usable curve",
           "more": "… {n} more blow(s), not printed: see the results sent"},
}
#: the z-score chart's key: the measured (pre-BD) marker, the post-BD marker, the LLN line
_ZKEY = {"fr": ("pré-BD", "post-BD", "LIN (z = -1,645)"), "en": ("pre-BD", "post-BD", "LLN (z = -1.645)")}
_ZKEY_PRE_ONLY = {"fr": "mesuré", "en": "measured"}
#: names of the graded parameters, by language (the workflow may pass its own in ``grade_labels``)
_GRADE_LABELS = {"fr": ("VEMS", "CVF", "VEMS0,75"), "en": ("FEV1", "FVC", "FEV0.75")}
#: per-blow table column names (clinical abbreviations) and units
_BLOW_COLS = {"fr": ("VEMS", "CVF", "DEP", "BEV", "TEF"), "en": ("FEV1", "FVC", "PEF", "BEV", "FET")}
#: where the reasons column of the per-blow table starts (mm from the left margin)
REASONS_X = 128.0
#: height of a row of the results table (mm)
ROW_MM = 3.9
FONT = "Helvetica"
BOLD = "Helvetica-Bold"
ITALIC = "Helvetica-Oblique"


def _mm(v: float) -> float:
    return v * PT_PER_MM


def number(v: float | None, digits: int, lang: Lang, *, signed: bool = False) -> str:
    """``v`` with ``digits`` decimals (decimal comma in French), "—" when not available."""
    if v is None or not math.isfinite(v):
        return "—"
    text = f"{v:{'+' if signed else ''}.{digits}f}"
    if text.lstrip("+-").strip("0.") == "" and text[0] == "-":  # no "-0.0"
        text = text[1:]
    return text.replace(".", ",") if lang == "fr" else text


class _Page:
    """Drawing helpers in millimetres from the top-left corner of the page."""

    def __init__(self, c: Canvas, lang: Lang, *, curves: bool = True) -> None:
        self.c = c
        self.lang = lang
        #: False on the scratch canvas that measures the layout: the curves' paths take no room
        self.curves = curves
        self.height_mm = A4_PORTRAIT_MM[1]

    def y(self, top_mm: float) -> float:
        return _mm(self.height_mm - top_mm)

    def text(self, x: float, top: float, s: str, font: str = FONT, size: float = 7.5, *,
             color: Color = black, align: Literal["left", "right", "centre"] = "left") -> None:
        c = self.c
        c.setFillColor(color)
        c.setFont(font, size)
        if align == "right":
            c.drawRightString(_mm(x), self.y(top), s)
        elif align == "centre":
            c.drawCentredString(_mm(x), self.y(top), s)
        else:
            c.drawString(_mm(x), self.y(top), s)
        c.setFillColor(black)

    def wrapped(self, x: float, top: float, s: str, width: float, font: str = FONT, size: float = 7.5, *,
                color: Color = black, leading: float = 3.3, max_lines: int = 4) -> float:
        """Draw ``s`` wrapped to ``width`` mm; returns the top of the next line."""
        for line in wrap(s, font, size, width)[:max_lines]:
            self.text(x, top, line, font, size, color=color)
            top += leading
        return top

    def hline(self, x0: float, x1: float, top: float, width: float = 0.4, color: Color = black) -> None:
        self.c.setStrokeColor(color)
        self.c.setLineWidth(width)
        self.c.line(_mm(x0), self.y(top), _mm(x1), self.y(top))

    def box(self, x: float, top: float, w: float, h: float, *, fill: Color | None = None) -> None:
        c = self.c
        c.setStrokeColor(BOXC)
        c.setLineWidth(0.4)
        if fill is not None:
            c.setFillColor(fill)
        c.rect(_mm(x), self.y(top + h), _mm(w), _mm(h), stroke=1, fill=1 if fill is not None else 0)
        c.setFillColor(black)


def wrap(s: str, font: str, size: float, width_mm: float) -> list[str]:
    """``s`` cut into lines no wider than ``width_mm``, at ordinary spaces only: a no-break space (``37\u00a0°C``)
    keeps a number with its unit. A word longer than the line stands on its own line."""
    lines: list[str] = []
    line = ""
    for word in s.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and stringWidth(candidate, font, size) > _mm(width_mm):
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _fit(s: str, font: str, size: float, width_mm: float) -> str:
    """``s`` shortened with an ellipsis to fit ``width_mm`` (labels only; sentences are wrapped)."""
    if stringWidth(s, font, size) <= _mm(width_mm):
        return s
    while s and stringWidth(s + "…", font, size) > _mm(width_mm):
        s = s[:-1]
    return s + "…"


# -- curves ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Shown:
    blow: BlowCurve
    volume_l: NDArray[np.float64]  # exhaled since maximal inspiration
    t0_s: float
    end_s: float
    color: Color
    dash: tuple[float, ...]
    width: float


def _exhaled_volume(b: BlowCurve) -> tuple[NDArray[np.float64], int]:
    """Volume exhaled since maximal inspiration (the lowest volume before the peak flow), and the peak's index:
    the expiratory limb starts at 0 and a recorded inspiration lies below the zero-flow line of the loop."""
    f = np.nan_to_num(np.asarray(b.flow_l_s, dtype=np.float64))
    v = np.concatenate(([0.0], np.cumsum((f[1:] + f[:-1]) / 2.0) / b.fs_hz)) if f.size else np.zeros(0)
    ipef = int(np.argmax(f)) if f.size else 0
    return v - float(v[: ipef + 1].min()) if f.size else v, ipef


def _timing(b: BlowCurve, v: NDArray[np.float64], ipef: int) -> tuple[float, float]:
    """Back-extrapolated time zero (t_PEF - V_PEF / PEF, ATS/ERS 2019) and end of the exhaled segment (s from the
    start of the recording), from the workflow when it gives them."""
    f = np.nan_to_num(np.asarray(b.flow_l_s, dtype=np.float64))
    if b.t0_s is not None and math.isfinite(b.t0_s):
        t0 = b.t0_s
    elif f.size and f[ipef] > 0:
        t0 = ipef / b.fs_hz - float(v[ipef]) / float(f[ipef])
    else:
        t0 = 0.0
    if b.end_s is not None and math.isfinite(b.end_s):
        end = b.end_s
    else:
        after = np.nonzero(f[ipef:] < -_ZERO_FLOW_L_S)[0]
        end = (ipef + int(after[0]) if after.size else max(f.size - 1, 0)) / b.fs_hz
    return t0, end


def _shown(d: SpirometryReportData) -> list[_Shown]:
    blows = [b for b in d.blows if b.acceptable or b.usable or b.reported]
    out: list[_Shown] = []
    k = 0
    for b in blows:
        v, ipef = _exhaled_volume(b)
        if v.size < 2:
            continue
        t0, end = _timing(b, v, ipef)
        if b.reported:
            color, width = (POST if b.phase == "post" else HIGHLIGHT), REPORTED_WIDTH
        else:
            color, width = PALETTE[k % len(PALETTE)], OTHER_WIDTH
            k += 1
        out.append(_Shown(b, v, t0, end, color, POST_DASH if b.phase == "post" else (), width))
    return sorted(out, key=lambda s: s.blow.reported)  # reported drawn last (on top)


def _nice_step(span: float, target_ticks: int) -> float:
    for step in (0.5, 1.0, 2.0, 5.0):
        if span / step <= target_ticks:
            return step
    return 10.0


def _grid(p: _Page, x: float, top: float, w: float, h: float, x0: float, x1: float, y0: float, y1: float,
          xstep: float, ystep: float) -> None:
    """Axes frame with a grid at every step, tick labels outside the frame; zero lines darker."""
    c, lang = p.c, p.lang
    c.setLineWidth(0.25)
    xmm = w / (x1 - x0)
    ymm = h / (y1 - y0)
    k = math.ceil(x0 / xstep - 1e-9) * xstep
    while k <= x1 + 1e-9:
        xx = x + (k - x0) * xmm
        c.setStrokeColor(Color(0.6, 0.6, 0.6) if abs(k) < 1e-9 else GRIDC)
        c.line(_mm(xx), p.y(top), _mm(xx), p.y(top + h))
        p.text(xx, top + h + 3.0, number(k, 0 if xstep >= 1 else 1, lang), size=6, align="centre")
        k += xstep
    k = math.ceil(y0 / ystep - 1e-9) * ystep
    while k <= y1 + 1e-9:
        yy = top + h - (k - y0) * ymm
        c.setStrokeColor(Color(0.6, 0.6, 0.6) if abs(k) < 1e-9 else GRIDC)
        c.line(_mm(x), p.y(yy), _mm(x + w), p.y(yy))
        p.text(x - 1.0, yy + 1.0, number(k, 0 if ystep >= 1 else 1, lang), size=6, align="right")
        k += ystep
    c.setStrokeColor(black)
    c.setLineWidth(0.5)
    c.rect(_mm(x), p.y(top + h), _mm(w), _mm(h), stroke=1, fill=0)


def _polyline(p: _Page, xs: NDArray[np.float64], ys: NDArray[np.float64], s: _Shown) -> None:
    """One path per curve (x, y in mm from the top-left corner)."""
    if xs.size < 2 or not p.curves:
        return
    c = p.c
    c.setStrokeColor(s.color)
    c.setLineWidth(s.width)
    c.setDash(list(s.dash), 0) if s.dash else c.setDash()
    step = max(1, xs.size // 1500)
    idx = np.unique(np.concatenate((np.arange(0, xs.size, step), [xs.size - 1])))
    path = c.beginPath()
    path.moveTo(_mm(float(xs[0])), p.y(float(ys[0])))
    for xx, yy in zip(xs[idx[1:]].tolist(), ys[idx[1:]].tolist(), strict=True):
        path.lineTo(_mm(xx), p.y(yy))
    c.drawPath(path, stroke=1, fill=0)
    c.setDash()


def _flow_volume(p: _Page, shown: Sequence[_Shown], tx: dict[str, str], x: float, top: float, max_w: float,
                 max_h: float) -> tuple[float, float]:
    """The flow-volume graph at flow : volume = 2 L/s : 1 L; returns its (width, height) in mm."""
    vmax = max(1.0, math.ceil(max(float(s.volume_l.max()) for s in shown) + 0.2))
    vmin = min(0.0, math.floor(min(float(s.volume_l.min()) for s in shown)))
    fmax = max(2.0, 2 * math.ceil((max(float(np.nanmax(s.blow.flow_l_s)) for s in shown) + 0.4) / 2))
    fmin = min(0.0, 2 * math.floor(min(float(np.nanmin(s.blow.flow_l_s)) for s in shown) / 2))
    mm_per_l = min(max_w / (vmax - vmin), FLOW_VOLUME_ASPECT * max_h / (fmax - fmin), 30.0)
    mm_per_flow = mm_per_l / FLOW_VOLUME_ASPECT
    w, h = (vmax - vmin) * mm_per_l, (fmax - fmin) * mm_per_flow
    scale = tx["fv_scale"].format(mm=number(mm_per_l, 1, p.lang))
    if (stringWidth(tx["fv"], BOLD, 7.5) + stringWidth(scale, FONT, 6)) / PT_PER_MM + 3.0 > w:
        p.text(x, top - 5.2, tx["fv"], BOLD, 7.5)  # a narrow graph: the scale under the title
        p.text(x, top - 1.6, scale, size=6)
    else:
        p.text(x, top - 2.0, tx["fv"], BOLD, 7.5)
        p.text(x + w, top - 2.0, scale, size=6, align="right")
    _grid(p, x, top, w, h, vmin, vmax, fmin, fmax, 1.0, 2.0 if fmax - fmin > 8 else 1.0)
    p.text(x + w, top + h + 6.0, tx["vol_axis"], size=6, align="right")
    c = p.c
    c.saveState()
    c.translate(_mm(x - 6.0), p.y(top))
    c.rotate(90)
    c.setFont(FONT, 6)
    c.drawRightString(0, 0, tx["flow_axis"])
    c.restoreState()
    for s in shown:
        xs = x + (s.volume_l - vmin) * mm_per_l
        ys = top + h - (np.nan_to_num(s.blow.flow_l_s) - fmin) * mm_per_flow
        _polyline(p, xs, ys, s)
    return w, h


def _volume_time(p: _Page, shown: Sequence[_Shown], tx: dict[str, str], x: float, top: float,
                 max_w: float, preferred_mm_per_l: float) -> float:
    """The volume-time graph from 1 s before time zero, >= 20 mm/s and >= 10 mm/L; returns its height (mm)."""
    longest = max(s.end_s - s.t0_s for s in shown)
    fets = [s.blow.fet_s for s in shown if s.blow.fet_s is not None]
    longest_fet = max(fets) if fets else longest
    t_end = max(6.0, float(math.ceil(longest)))
    mm_per_s = max(MIN_TIME_MM_PER_S, min(30.0, max_w / (t_end + BEFORE_T0_S)))
    t_cap = math.floor(max_w / mm_per_s - BEFORE_T0_S)
    cut = t_end > t_cap
    t_end = min(t_end, float(t_cap))
    vmax = max(1.0, math.ceil(max(float(s.volume_l.max()) for s in shown) + 0.2))
    mm_per_l = max(MIN_VOLUME_MM_PER_L, min(preferred_mm_per_l, 45.0 / vmax))
    w, h = (t_end + BEFORE_T0_S) * mm_per_s, vmax * mm_per_l
    p.text(x, top - 2.0, tx["vt"], BOLD, 7.5)
    scale = tx["vt_scale"].format(mms=number(mm_per_s, 0, p.lang), mml=number(mm_per_l, 0, p.lang))
    if cut:
        scale += " — " + tx["vt_cut"].format(s=number(t_end, 0, p.lang), fet=number(longest_fet, 1, p.lang))
    p.text(x + w, top - 2.0, scale, size=6, align="right")
    _grid(p, x, top, w, h, -BEFORE_T0_S, t_end, 0.0, vmax, 1.0, _nice_step(vmax, 8))
    p.text(x + w, top + h + 6.0, tx["time_axis"], size=6, align="right")
    c = p.c
    c.saveState()
    c.translate(_mm(x - 6.0), p.y(top))
    c.rotate(90)
    c.setFont(FONT, 6)
    c.drawRightString(0, 0, tx["vol_axis"])
    c.restoreState()
    for s in shown:
        fs = s.blow.fs_hz
        i0 = max(0, int(math.ceil((s.t0_s - BEFORE_T0_S) * fs)))
        i1 = min(s.volume_l.size - 1, int(math.floor(min(s.end_s, s.t0_s + t_end) * fs)))
        if i1 <= i0:
            continue
        t = np.arange(i0, i1 + 1) / fs - s.t0_s
        vol = np.clip(s.volume_l[i0:i1 + 1], 0.0, vmax)
        _polyline(p, x + (t + BEFORE_T0_S) * mm_per_s, top + h - vol * mm_per_l, s)
    return h


def _swatch(p: _Page, x: float, top: float, s: _Shown) -> None:
    c = p.c
    c.setStrokeColor(s.color)
    c.setLineWidth(s.width + 0.2)  # a single segment, never counted as a curve
    c.setDash(list(s.dash), 0) if s.dash else c.setDash()
    c.line(_mm(x), p.y(top - 1.0), _mm(x + 7.0), p.y(top - 1.0))
    c.setDash()


def _legend(p: _Page, shown: Sequence[_Shown], tx: dict[str, str], x: float, top: float, w: float) -> float:
    p.text(x, top, tx["legend"], BOLD, 7.5)
    top += 4.0
    by_order = sorted(shown, key=lambda s: (s.blow.phase == "post", _blow_number(s.blow.label)))
    col_w = w / 2
    for k, s in enumerate(by_order):
        cx, cy = x + (k % 2) * col_w, top + (k // 2) * 3.4
        _swatch(p, cx, cy, s)
        label = s.blow.label + (f" ({tx['reported']})" if s.blow.reported else "")
        p.text(cx + 8.5, cy, _fit(label, BOLD if s.blow.reported else FONT, 7, col_w - 9), BOLD if s.blow.reported
               else FONT, 7)
    return top + math.ceil(len(by_order) / 2) * 3.4


def _blow_number(label: str) -> int:
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else 0


# -- blocks ----------------------------------------------------------------------------------------------------------
def _identity(p: _Page, d: SpirometryReportData, tx: dict[str, str], top: float) -> float:
    sep = " : " if d.lang == "fr" else ": "
    x0, w = MARGIN_MM, A4_PORTRAIT_MM[0] - 2 * MARGIN_MM
    left_w = 88.0
    lines_right = [
        f"{tx['acquired']}{sep}" + (d.acquired_at.strftime("%d/%m/%Y %H:%M") if d.acquired_at else tx["unknown"]),
        f"{tx['device']}{sep}{d.device_label or tx['unknown']}",
        *([f"{tx['performer']}{sep}{d.performer_label}"] if d.performer_label else []),
        f"{tx['equation']}{sep}{d.equation or tx['unknown']}",
    ]
    right = [ln for line in lines_right for ln in wrap(line, FONT, 7.5, w - left_w - 4)[:2]]
    who_lines = 2 + (1 if d.patient_identifier else 0)
    # the spirometer's calibration verification, across the block (it reads in one piece)
    cal_font = BOLD if d.calibration_warning else FONT
    cal = wrap(d.calibration_note, cal_font, 7, w - 4) if d.calibration_note else []
    h = 2.0 + max(who_lines, len(right)) * 3.8 + len(cal) * 3.3
    p.box(x0, top, w, h, fill=SHADE)
    y = top + 4.0
    p.text(x0 + 2, y, _fit(d.patient_name or tx["unknown"], BOLD, 9, left_w - 2), BOLD, 9)
    if d.patient_identifier:
        y += 3.8
        p.text(x0 + 2, y, _fit(d.patient_identifier, FONT, 7.5, left_w - 2))
    bits: list[str] = []
    if d.birth_date:
        key = {"femme": "born_f", "homme": "born_m"}.get(d.sex.lower(), "born")
        bits.append(f"{tx[key]} {d.birth_date}")
    if d.age_years is not None and math.isfinite(d.age_years):
        bits.append(f"{math.floor(d.age_years)} {tx['years']}")
    if d.sex:
        bits.append(d.sex)
    if d.height_cm is not None:
        bits.append(f"{number(d.height_cm, 0, d.lang)} cm")
    y += 3.8
    p.text(x0 + 2, y, _fit(" — ".join(bits) or tx["unknown"], FONT, 7.5, left_w - 2))
    yr = top + 4.0
    for line in right:
        p.text(x0 + left_w + 2, yr, line)
        yr += 3.8
    yc = max(y, yr - 3.8) + 3.6
    for line in cal:
        p.text(x0 + 2, yc, line, cal_font, 7, color=WARN if d.calibration_warning else black)
        yc += 3.3
    return top + h


def _qualities(d: SpirometryReportData) -> tuple[PhaseQuality, ...]:
    if d.quality:
        return d.quality
    return (PhaseQuality("pre", d.grade_fev1, d.grade_fvc, d.grade_fev0_75, d.n_acceptable),)


def _quality(p: _Page, d: SpirometryReportData, tx: dict[str, str], x: float, top: float, w: float) -> float:
    lang = d.lang
    sep = " : " if lang == "fr" else ": "
    labels = tuple(a or b for a, b in zip(d.grade_labels, _GRADE_LABELS[lang], strict=True))
    p.text(x, top, f"{tx['quality']} ({tx['grades_std']})", BOLD, 8)
    y = top + 4.2
    qs = _qualities(d)
    for q in qs:
        head = f"{tx['pre_phase' if q.phase == 'pre' else 'post_phase']} — " if len(qs) > 1 else ""
        grades = f"{labels[0]} {q.grade_fev1 or '—'}, {labels[1]} {q.grade_fvc or '—'}"
        if q.grade_fev0_75:
            grades += f", {labels[2]} {q.grade_fev0_75}"
        p.text(x, y, f"{head}{tx['grade']}{sep}", BOLD, 8)
        gx = x + stringWidth(f"{head}{tx['grade']}{sep}", BOLD, 8) / PT_PER_MM
        p.text(gx, y, grades, BOLD, 8)
        y += 3.6
        if q.n_acceptable_fev1 is not None and q.n_acceptable_fvc is not None:
            count = tx["acceptable_by"].format(fev1=labels[0], n1=q.n_acceptable_fev1, fvc=labels[1],
                                               n2=q.n_acceptable_fvc, n=q.n_blows if q.n_blows else "—")
            p.text(x, y, count, size=7.5)
            y += 3.4
        elif q.n_acceptable is not None:
            count = f"{q.n_acceptable} {tx['acceptable_n']}" + (f" {tx['of']} {q.n_blows}" if q.n_blows else "")
            p.text(x, y, count, size=7.5)
            y += 3.4
        if q.fev1_spread_l is not None or q.fvc_spread_l is not None:
            parts = []
            for name, sl, sp in ((labels[0], q.fev1_spread_l, q.fev1_spread_pct),
                                 (labels[1], q.fvc_spread_l, q.fvc_spread_pct)):
                if sl is not None:
                    parts.append(f"{name} {number(sl, 3, lang)} L ({number(sp, 1, lang)} %)")
            text = f"{tx['repeat']}{sep}" + " ; ".join(parts) if lang == "fr" else \
                f"{tx['repeat']}{sep}" + "; ".join(parts)
            p.text(x, y, _fit(text, FONT, 7.5, w))
            y += 3.4
        elif q.n_acceptable_fev1 is not None:
            p.text(x, y, f"{tx['repeat']}{sep}{tx['repeat_none']}", size=7.5)
            y += 3.4
    limit = next((q for q in qs if q.repeatability_limit_l is not None), None)
    note = tx["repeat_def"]
    if limit is not None and limit.repeatability_limit_pct is not None:
        note += f" ({tx['limit_child']})"
    elif limit is not None:
        note += f" ({tx['limit']} {number(limit.repeatability_limit_l, 3, lang)} L)"
    y = p.wrapped(x, y, note, w, ITALIC, 6.5, leading=3.0, max_lines=2)
    btps = (f"BTPS {d.btps_note}" if d.btps_note else "") + (
        (" — " if d.btps_note else "") + d.btps_explanation if d.btps_explanation else "")
    if btps:  # on a line of its own, so that the factor and its source read in one piece
        y = p.wrapped(x, y + 0.8, btps, w, FONT, 6.5, leading=3.0, max_lines=5)
    return y


def _results(p: _Page, d: SpirometryReportData, tx: dict[str, str], top: float) -> float:
    lang = d.lang
    has_post = any(r.post_measured is not None for r in d.rows)
    x0 = MARGIN_MM
    if has_post:  # narrower columns: the ERS/ATS 2022 response (absolute, % predicted) beside the change vs pre
        cols = [("param", 0.0, "l"), ("measured", 38.0, "r"), ("pred", 50.0, "r"), ("lln", 61.0, "r"),
                ("z", 74.0, "r"), ("pct", 87.0, "r"), ("post", 101.0, "r"), ("chg", 112.0, "r"),
                ("chg_abs", 125.0, "r"), ("chg_pred", 142.0, "r")]
        zx, zw = 148.0, 38.0
    else:
        cols = [("param", 0.0, "l"), ("measured", 48.0, "r"), ("pred", 66.0, "r"), ("lln", 84.0, "r"),
                ("z", 102.0, "r"), ("pct", 120.0, "r")]
        zx, zw = 128.0, 57.0
    header = top
    for key, x, al in cols:
        p.text(x0 + x, header, tx[key], BOLD, 7 if has_post else 7.5, align="right" if al == "r" else "left")

    p.hline(x0, x0 + 186.0, header + 1.5)
    zmin, zmax = -5.0, 3.0

    def zpos(z: float) -> float:
        return x0 + zx + zw * (min(max(z, zmin), zmax) - zmin) / (zmax - zmin)

    y = header + 5.0
    first = y
    for k, r in enumerate(d.rows):
        if k % 2 == 1:
            p.c.setFillColor(Color(0.965, 0.965, 0.965))
            p.c.rect(_mm(x0), p.y(y + 1.2), _mm(186.0), _mm(ROW_MM), stroke=0, fill=1)
            p.c.setFillColor(black)
        digits = {"%": 0, "s": 1}.get(r.unit, 2)
        name = f"{r.name} ({r.unit})" if r.unit else r.name
        vals = [name, number(r.measured, digits, lang), number(r.predicted, digits, lang),
                number(r.lln, digits, lang), number(r.z_score, 2, lang), number(r.percent_predicted, 0, lang)]
        if has_post:
            vals += [number(r.post_measured, digits, lang), number(r.post_change_percent, 1, lang),
                     number(r.post_change_abs, digits, lang, signed=True),
                     number(r.post_change_pct_predicted, 1, lang, signed=True)]
        for (_, x, al), v in zip(cols, vals, strict=True):
            bold = al == "l" or x == cols[1][1]
            p.text(x0 + x, y, _fit(v, BOLD if bold else FONT, 7.5, 34) if al == "l" else v, BOLD if bold else FONT,
                   7.5, align="right" if al == "r" else "left")
        y += ROW_MM
    last = y - ROW_MM
    # z-score chart beside the rows: grid at each integer, LLN (z = -1.645) in red, pre dot, post open circle
    c = p.c
    if any(r.z_score is not None or r.post_z_score is not None for r in d.rows):
        c.setLineWidth(0.25)
        for z in range(int(zmin), int(zmax) + 1):
            c.setStrokeColor(Color(0.55, 0.55, 0.55) if z == 0 else GRIDC)
            c.line(_mm(zpos(z)), p.y(first - 3.2), _mm(zpos(z)), p.y(last + 1.4))
            p.text(zpos(z), header, number(z, 0, lang), size=6, align="centre")
        c.setStrokeColor(HIGHLIGHT)
        c.setLineWidth(0.5)
        c.line(_mm(zpos(-1.645)), p.y(first - 3.2), _mm(zpos(-1.645)), p.y(last + 1.4))
        yy = first
        for r in d.rows:
            c.setLineWidth(0.4)  # markers are curves: never at a blow curve's width
            if r.z_score is not None and math.isfinite(r.z_score):
                c.setFillColor(black)
                c.circle(_mm(zpos(r.z_score)), p.y(yy - 1.0), _mm(0.9), stroke=0, fill=1)
            if r.post_z_score is not None and math.isfinite(r.post_z_score):
                c.setStrokeColor(POST)
                c.setFillColor(white)
                c.circle(_mm(zpos(r.post_z_score)), p.y(yy - 1.0), _mm(0.9), stroke=1, fill=0)
                c.setFillColor(black)
            yy += ROW_MM
        _z_key(p, x0 + 186.0, last + 4.2, any(r.post_z_score is not None for r in d.rows))
        y = last + 6.6
    if has_post:
        y = p.wrapped(x0, y + 1.0, tx["bd_note"], 186.0, ITALIC, 6.5, leading=3.0, max_lines=3)
    return y


def _z_key(p: _Page, right: float, top: float, with_post: bool) -> None:
    """The z-score chart's key, right-aligned at ``right``: drawn markers (the standard fonts have no bullet)."""
    pre_word, post_word, lln_word = _ZKEY[p.lang]
    if not with_post:
        pre_word = _ZKEY_PRE_ONLY[p.lang]
    size = 6.0

    def width(s: str) -> float:
        return float(stringWidth(s, FONT, size)) / PT_PER_MM

    total = 3.0 + width(pre_word) + (5.0 + width(post_word) if with_post else 0.0) + 6.0 + width(lln_word)
    x = right - total
    c = p.c
    c.setLineWidth(0.4)
    c.setFillColor(black)
    c.circle(_mm(x + 0.9), p.y(top - 0.7), _mm(0.8), stroke=0, fill=1)
    p.text(x + 2.4, top, pre_word, size=size)
    x += 3.0 + width(pre_word)
    if with_post:
        c.setStrokeColor(POST)
        c.circle(_mm(x + 2.0 + 0.9), p.y(top - 0.7), _mm(0.8), stroke=1, fill=0)
        p.text(x + 4.4, top, post_word, size=size)
        x += 5.0 + width(post_word)
    c.setStrokeColor(HIGHLIGHT)
    c.setLineWidth(0.5)
    c.line(_mm(x + 3.0), p.y(top + 0.6), _mm(x + 3.0), p.y(top - 2.2))
    p.text(x + 4.2, top, lln_word, size=size, color=HIGHLIGHT)


def _acc_word(acceptable: bool | None, usable: bool | None, tx: dict[str, str]) -> str:
    if acceptable is None:
        return "—"
    return tx["yes"] if acceptable else (tx["usable"] if usable else tx["no"])


def _blow_table(p: _Page, d: SpirometryReportData, shown: Sequence[_Shown], tx: dict[str, str], top: float,
                bottom: float) -> float:
    lang = d.lang
    x0 = MARGIN_MM
    names = _BLOW_COLS[lang]
    cols = [(tx["blow"], 8.0, "l"), (f"{names[0]} (L)", 45.0, "r"), (f"{names[1]} (L)", 57.0, "r"),
            (f"{names[2]} (L/s)", 70.0, "r"), (f"{names[3]} (L)", 81.0, "r"), (f"{names[4]} (s)", 91.0, "r"),
            (tx["acc_fev1"], 95.0, "l"), (tx["acc_fvc"], 112.0, "l"), (tx["reasons"], REASONS_X, "l")]
    p.text(x0, top, tx["blows"], BOLD, 8)
    top += 4.0
    for name, x, al in cols:
        p.text(x0 + x, top, name, BOLD, 6.5, align="right" if al == "r" else "left")
    p.hline(x0, x0 + 186.0, top + 1.3)
    y = top + 4.6
    style = {id(s.blow): s for s in shown}
    for n, b in enumerate(d.blows):
        reasons = wrap("; ".join(b.reasons), FONT, 6.5, 186.0 - REASONS_X) if b.reasons else ["—"]
        reserve = 3.4 if n < len(d.blows) - 1 else 0.0  # room to say how many rows are left out, never silently
        if y + 3.0 * min(len(reasons), 3) > bottom - reserve:
            p.text(x0 + 8.0, y, tx["more"].format(n=len(d.blows) - n), ITALIC, 7)
            y += 3.4
            break
        s = style.get(id(b))
        if s is not None:
            _swatch(p, x0, y, s)
        label = b.label + (f" ({tx['reported']})" if b.reported else "")
        font = BOLD if b.reported else FONT
        vals = [number(b.fev1_l, 2, lang), number(b.fvc_l, 2, lang), number(b.pef_l_s, 2, lang),
                number(b.bev_l, 3, lang), number(b.fet_s, 1, lang),
                _acc_word(b.acceptable_fev1, b.usable_fev1, tx), _acc_word(b.acceptable_fvc, b.usable_fvc, tx)]
        p.text(x0 + 8.0, y, _fit(label, font, 7, 25), font, 7)
        for (_, x, al), v in zip(cols[1:8], vals, strict=True):
            p.text(x0 + x, y, v, font, 7, align="right" if al == "r" else "left")
        for k, line in enumerate(reasons[:3]):
            p.text(x0 + REASONS_X, y + 3.0 * k, line, size=6.5)
        y += 3.5 + 3.0 * (min(len(reasons), 3) - 1)
    for msg in d.session_messages:
        if y > bottom:
            break
        y = p.wrapped(x0, y, msg, 186.0, size=7, leading=3.4, max_lines=2)
    for line in d.extra_lines:
        if y > bottom:
            break
        y = p.wrapped(x0, y, line, 186.0, size=7, leading=3.4, max_lines=2)
    return y


@dataclass(frozen=True)
class _Fit:
    end_mm: float  # where the per-blow table ends, from the top
    fv_h_mm: float  # the flow-volume graph's height as drawn
    fv_margin_mm: float  # how far the graph reaches below the quality column (what shrinking it can gain)


def _draw(c: Canvas, data: SpirometryReportData, fv_max_h: float, vt_mm_per_l: float, bottom: float) -> _Fit:
    """Lay the page out from the top."""
    tx = _T[data.lang]
    w_mm, h_mm = A4_PORTRAIT_MM
    p = _Page(c, data.lang, curves=math.isfinite(bottom))
    p.text(MARGIN_MM, 14.0, tx["title"], BOLD, 13)
    top = _identity(p, data, tx, 17.5) + 7.0
    shown = _shown(data)
    # graphs: flow-volume (left) beside the session quality and the legend; volume-time across the page below
    fv_x = MARGIN_MM + 9.0
    right_x = 112.0
    right_w = w_mm - MARGIN_MM - right_x
    if shown:
        _, fv_h = _flow_volume(p, shown, tx, fv_x, top, right_x - fv_x - 8.0, fv_max_h)
    else:
        fv_h = 0.0
        p.text(fv_x, top, tx["no_curve"], ITALIC, 7.5)
    q_bottom = _quality(p, data, tx, right_x, top - 2.0, right_w)
    legend_bottom = _legend(p, shown, tx, right_x, q_bottom + 3.0, right_w) if shown else q_bottom
    fv_margin = (top + fv_h + 10.0) - (legend_bottom + 4.0)
    top = max(top + fv_h + 10.0, legend_bottom + 4.0)
    if shown:
        vt_h = _volume_time(p, shown, tx, fv_x, top + 2.0, w_mm - MARGIN_MM - fv_x, vt_mm_per_l)
        top += 2.0 + vt_h + 10.0
    top = _results(p, data, tx, top + 2.0)
    end = _blow_table(p, data, shown, tx, top + 3.0, bottom)
    p.hline(MARGIN_MM, w_mm - MARGIN_MM, h_mm - 12.5, 0.3, BOXC)
    p.text(MARGIN_MM, h_mm - 9.0, tx["review"], ITALIC, 7)
    p.text(w_mm - MARGIN_MM, h_mm - 9.0, f"{tx['software']} asalee-devices {__version__}", ITALIC, 7,
           align="right")
    return _Fit(end, fv_h, fv_margin)


#: the tallest flow-volume graph (mm), and the smallest one before the volume-time graph gives up its extra scale
FV_MAX_H_MM = 95.0
FV_MIN_H_MM = 45.0
VT_PREFERRED_MM_PER_L = 15.0
BOTTOM_MM = A4_PORTRAIT_MM[1] - 15.0


def render_spirometry_pdf(data: SpirometryReportData) -> bytes:
    """Render the spirometry report as PDF bytes (one A4 portrait page, vector graphics). The page is laid out once
    on a scratch canvas to measure it: when the tables would run past the footer, the flow-volume graph is made
    smaller (its 2:1 aspect kept), then the volume-time graph goes down to its 10 mm/L minimum."""
    w_mm, h_mm = A4_PORTRAIT_MM
    fv_h, vt = FV_MAX_H_MM, VT_PREFERRED_MM_PER_L
    for _ in range(4):
        scratch = Canvas(io.BytesIO(), pagesize=(_mm(w_mm), _mm(h_mm)))
        fit = _draw(scratch, data, fv_h, vt, math.inf)
        over = fit.end_mm - BOTTOM_MM
        if over <= 0:
            break
        # the graph only gains what it reaches below the quality column beside it
        cut = min(over + 0.5, fit.fv_margin_mm, fit.fv_h_mm - FV_MIN_H_MM)
        if cut > 0.1:
            fv_h = fit.fv_h_mm - cut
        elif vt > MIN_VOLUME_MM_PER_L:
            vt = MIN_VOLUME_MM_PER_L
        else:
            break
    tx = _T[data.lang]
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(_mm(w_mm), _mm(h_mm)), invariant=True, pageCompression=1)
    c.setTitle(tx["title"])
    c.setAuthor("asalee-devices")
    c.setCreator(f"asalee-devices {__version__}")
    _draw(c, data, fv_h, vt, BOTTOM_MM)
    c.showPage()
    c.save()
    return buf.getvalue()
