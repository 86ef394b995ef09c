"""The spirometry report as a vector PDF (A4 portrait): flow-volume loops of the acceptable blows with the
reported one highlighted, volume-time curves, the table measured / predicted / LLN / z-score / % predicted with the
equation named, a z-score chart, the FEV1 and FVC grades, per-blow quality messages, and pre/post bronchodilator
columns when present. French by default.

The input is :class:`SpirometryReportData`, a display model the examination workflow fills from the analysis
results; the report states values, reference comparisons and quality only — never a diagnosis.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from reportlab.lib.colors import Color, black
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from asalee_devices import __version__
from asalee_devices.reports.ecg_layout import PT_PER_MM

Lang = Literal["fr", "en"]

A4_PORTRAIT_MM = (210.0, 297.0)
HIGHLIGHT = Color(0.75, 0.1, 0.1)
OTHER = Color(0.55, 0.55, 0.6)
POST = Color(0.1, 0.3, 0.8)
GRIDC = Color(0.85, 0.85, 0.85)


@dataclass(frozen=True)
class BlowCurve:
    """One manoeuvre's curve for display: flow (L/s, exhaled positive) sampled at fs_hz, from the start of the
    blow; ``reported`` marks the best-test curve."""

    label: str
    flow_l_s: NDArray[np.float64]
    fs_hz: float
    acceptable: bool
    reported: bool = False
    phase: Literal["pre", "post"] = "pre"
    messages: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class SpirometryReportData:
    patient_name: str = ""
    patient_identifier: str = ""
    birth_date: str = ""
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
    #: the spirometer's last calibration verification (3-L syringe), and whether it is a warning (none passed today)
    calibration_note: str = ""
    calibration_warning: bool = False
    rows: tuple[ParameterRow, ...] = ()
    blows: tuple[BlowCurve, ...] = ()
    session_messages: tuple[str, ...] = ()
    lang: Lang = "fr"
    extra_lines: tuple[str, ...] = field(default=())


_T = {
    "fr": {"title": "Spirométrie — courbe débit-volume", "patient": "Patient", "born": "né(e) le",
           "age": "âge", "height": "taille", "acquired": "Examen du", "device": "Appareil",
           "performer": "Réalisé par", "equation": "Valeurs de référence", "grades": "Qualité ATS/ERS 2019",
           "acceptable": "essais acceptables", "param": "Paramètre", "measured": "Mesuré", "pred": "Prédit",
           "lln": "LIN", "z": "z-score", "pct": "% prédit", "post": "Post-BD", "chg": "Var. %", "chg_abs": "Var. abs.",
           "chg_pred": "Var. % préd.",
           "bd_note": "Réponse au bronchodilatateur (ERS/ATS 2022) : variation (post - pré) en % de la valeur prédite ; "
                      "critère : > 10 % pour le VEMS ou la CVF. Var. % : variation en % de la valeur pré-BD (ancien "
                      "critère).",
           "fv": "Débit (L/s) / Volume (L)", "vt": "Volume (L) / Temps (s)", "zchart": "z-scores",
           "blows": "Essais", "review": "Valeurs et qualité pour relecture par le médecin ; aucune interprétation "
           "n'est fournie.", "software": "Logiciel", "unknown": "non renseigné", "reported": "retenu",
           "not_acc": "non acceptable"},
    "en": {"title": "Spirometry — flow-volume", "patient": "Patient", "born": "born", "age": "age",
           "height": "height", "acquired": "Test date", "device": "Device", "performer": "Performed by",
           "equation": "Reference values", "grades": "ATS/ERS 2019 grade", "acceptable": "acceptable blows",
           "param": "Parameter", "measured": "Measured", "pred": "Predicted", "lln": "LLN", "z": "z-score",
           "pct": "% pred", "post": "Post-BD", "chg": "Change %", "chg_abs": "Change",
           "chg_pred": "Chg % pred",
           "bd_note": "Bronchodilator response (ERS/ATS 2022): change (post - pre) as % of the predicted value; "
                      "criterion: > 10 % for FEV1 or FVC. Change %: change as % of the pre-BD value (former "
                      "criterion).", "fv": "Flow (L/s) / Volume (L)",
           "vt": "Volume (L) / Time (s)", "zchart": "z-scores", "blows": "Blows",
           "review": "Values and quality for the physician's review; no interpretation is given.",
           "software": "Software", "unknown": "not given", "reported": "reported", "not_acc": "not acceptable"},
}


def _mm(v: float) -> float:
    return v * PT_PER_MM


def _fmt(v: float | None, digits: int = 2, *, signed: bool = False) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:{'+' if signed else ''}.{digits}f}"


def _volume(b: BlowCurve) -> NDArray[np.float64]:
    """Volume exhaled since maximal inspiration: when the recording holds the inspiration before the blow, volumes
    are counted from its deepest point (TLC), so the expiratory limb starts at 0 and the inspiration lies below the
    zero-flow line on the loop."""
    f = np.nan_to_num(b.flow_l_s)
    v = np.concatenate(([0.0], np.cumsum((f[1:] + f[:-1]) / 2.0) / b.fs_hz))
    return v - min(0.0, float(v.min()))


def _blow_start(v: NDArray[np.float64]) -> int:
    """Index of maximal inspiration (start of the forced expiration) for the volume-time curve."""
    return int(np.argmin(v))


def _axes(c: Canvas, x: float, y: float, w: float, h: float, xmax: float, ymin: float, ymax: float,
          xstep: float, ystep: float, title: str) -> None:
    c.setStrokeColor(GRIDC)
    c.setLineWidth(0.3)
    k = 0.0
    while k <= xmax + 1e-9:
        xx = x + w * k / xmax
        c.line(_mm(xx), _mm(y), _mm(xx), _mm(y + h))
        c.setFillColor(black)
        c.setFont("Helvetica", 6)
        c.drawCentredString(_mm(xx), _mm(y - 3), f"{k:g}")
        k += xstep
    k = math.ceil(ymin / ystep) * ystep
    while k <= ymax + 1e-9:
        yy = y + h * (k - ymin) / (ymax - ymin)
        c.setStrokeColor(GRIDC)
        c.line(_mm(x), _mm(yy), _mm(x + w), _mm(yy))
        c.drawRightString(_mm(x - 1), _mm(yy - 1), f"{k:g}")
        k += ystep
    c.setStrokeColor(black)
    c.setLineWidth(0.6)
    c.rect(_mm(x), _mm(y), _mm(w), _mm(h), stroke=1, fill=0)
    c.setFont("Helvetica-Bold", 7)
    c.drawString(_mm(x), _mm(y + h + 1.5), title)


def _polyline(c: Canvas, xs: NDArray[np.float64], ys: NDArray[np.float64], color: Color, width: float) -> None:
    if xs.size < 2:
        return
    c.setStrokeColor(color)
    c.setLineWidth(width)
    step = max(1, xs.size // 1500)
    p = c.beginPath()
    p.moveTo(_mm(float(xs[0])), _mm(float(ys[0])))
    for xx, yy in zip(xs[::step].tolist(), ys[::step].tolist(), strict=True):
        p.lineTo(_mm(xx), _mm(yy))
    c.drawPath(p, stroke=1, fill=0)


def _curves(c: Canvas, d: SpirometryReportData, tx: dict[str, str]) -> None:
    shown = [b for b in d.blows if b.acceptable or b.reported] or list(d.blows)
    if not shown:
        return
    vols = [_volume(b) for b in shown]
    vmax = max(1.0, math.ceil(max(float(v.max()) for v in vols)))
    fmax = max(2.0, math.ceil(max(float(np.nanmax(b.flow_l_s)) for b in shown) + 0.5))
    fmin = min(0.0, math.floor(min(float(np.nanmin(b.flow_l_s)) for b in shown)))
    # flow-volume (expiratory part, plus inspiration below zero if recorded)
    x0, y0, w, h = 18.0, 150.0, 85.0, 80.0
    _axes(c, x0, y0, w, h, vmax, fmin, fmax, 1.0, 2.0 if fmax > 6 else 1.0, tx["fv"])
    # volume-time
    starts = [_blow_start(v) for v in vols]
    tmax = max(6.0, math.ceil(max((b.flow_l_s.size - i0) / b.fs_hz for b, i0 in zip(shown, starts, strict=True))))
    x1 = 115.0
    _axes(c, x1, y0, w, h, tmax, 0.0, vmax, 2.0 if tmax > 8 else 1.0, 1.0, tx["vt"])
    order = sorted(range(len(shown)), key=lambda k: shown[k].reported)  # reported drawn last (on top)
    for k in order:
        b, v = shown[k], vols[k]
        color = HIGHLIGHT if b.reported else (POST if b.phase == "post" else OTHER)
        width = 1.2 if b.reported else 0.6
        xs = x0 + w * v / vmax
        ys = y0 + h * (np.nan_to_num(b.flow_l_s) - fmin) / (fmax - fmin)
        _polyline(c, xs, ys, color, width)
        ve = v[starts[k]:]
        t = np.arange(ve.size) / b.fs_hz
        keep = t <= tmax
        _polyline(c, x1 + w * t[keep] / tmax, y0 + h * ve[keep] / vmax, color, width)


def _table(c: Canvas, d: SpirometryReportData, tx: dict[str, str], top: float) -> float:
    has_post = any(r.post_measured is not None for r in d.rows)
    cols = [("param", 18.0), ("measured", 52.0), ("pred", 72.0), ("lln", 90.0), ("z", 108.0), ("pct", 126.0)]
    if has_post:  # narrower columns: the ERS/ATS 2022 response (absolute, % predicted) beside the change vs pre
        cols = [("param", 18.0), ("measured", 48.0), ("pred", 62.0), ("lln", 75.0), ("z", 88.0), ("pct", 102.0),
                ("post", 118.0), ("chg", 134.0), ("chg_abs", 150.0), ("chg_pred", 166.0)]
    c.setFillColor(black)
    c.setFont("Helvetica-Bold", 8)
    for key, x in cols:
        c.drawString(_mm(x), _mm(top), tx[key])
    c.setLineWidth(0.4)
    c.line(_mm(18), _mm(top - 1.5), _mm(192), _mm(top - 1.5))
    y = top - 5.5
    c.setFont("Helvetica", 8)
    for r in d.rows:
        digits = 2 if r.unit != "%" else 0
        vals = [f"{r.name} ({r.unit})" if r.unit else r.name, _fmt(r.measured, digits), _fmt(r.predicted, digits), _fmt(r.lln, digits),
                _fmt(r.z_score, 2), _fmt(r.percent_predicted, 0)]
        if has_post:
            vals += [_fmt(r.post_measured, digits), _fmt(r.post_change_percent, 1),
                     _fmt(r.post_change_abs, digits, signed=True), _fmt(r.post_change_pct_predicted, 1, signed=True)]
        for (_, x), v in zip(cols, vals, strict=True):
            c.drawString(_mm(x), _mm(y), v)
        y -= 4.5
    if has_post:
        c.setFont("Helvetica-Oblique", 7)
        for line in simpleSplit(tx["bd_note"], "Helvetica-Oblique", 7, _mm(174)):
            c.drawString(_mm(18), _mm(y + 1.0), line)
            y -= 3.2
    return y


def _zchart(c: Canvas, d: SpirometryReportData, tx: dict[str, str], top: float) -> float:
    rows = [r for r in d.rows if r.z_score is not None and math.isfinite(r.z_score)]
    if not rows:
        return top
    c.setFont("Helvetica-Bold", 8)
    c.drawString(_mm(18), _mm(top), tx["zchart"])
    x0, w = 50.0, 120.0
    zmin, zmax = -5.0, 3.0
    y = top - 5.0
    for r in rows:
        c.setFont("Helvetica", 7)
        c.setFillColor(black)
        c.drawString(_mm(18), _mm(y - 1), r.name)
        c.setStrokeColor(GRIDC)
        c.setLineWidth(0.3)
        for z in range(int(zmin), int(zmax) + 1):
            xx = x0 + w * (z - zmin) / (zmax - zmin)
            c.line(_mm(xx), _mm(y - 2), _mm(xx), _mm(y + 2))
        lln_x = x0 + w * (-1.645 - zmin) / (zmax - zmin)
        c.setStrokeColor(HIGHLIGHT)
        c.line(_mm(lln_x), _mm(y - 2.5), _mm(lln_x), _mm(y + 2.5))
        zc = min(max(r.z_score or 0.0, zmin), zmax)
        c.setFillColor(black)
        c.circle(_mm(x0 + w * (zc - zmin) / (zmax - zmin)), _mm(y), _mm(1.0), stroke=0, fill=1)
        y -= 5.5
    c.setFont("Helvetica", 6)
    for z in range(int(zmin), int(zmax) + 1):
        c.drawCentredString(_mm(x0 + w * (z - zmin) / (zmax - zmin)), _mm(y + 1.5), str(z))
    c.drawString(_mm(x0 + w + 2), _mm(y + 1.5), "| = -1.645 (LLN/LIN)")
    return y - 3.0


def render_spirometry_pdf(data: SpirometryReportData) -> bytes:
    """Render the spirometry report as PDF bytes (one A4 portrait page, vector graphics)."""
    tx = _T[data.lang]
    buf = io.BytesIO()
    w_mm, h_mm = A4_PORTRAIT_MM
    c = Canvas(buf, pagesize=(_mm(w_mm), _mm(h_mm)), invariant=True, pageCompression=1)
    c.setTitle(tx["title"])
    c.setAuthor("asalee-devices")
    c.setCreator(f"asalee-devices {__version__}")
    sep = " : " if data.lang == "fr" else ": "
    c.setFont("Helvetica-Bold", 13)
    c.drawString(_mm(18), _mm(282), tx["title"])
    c.setFont("Helvetica", 8)
    who = " ".join(p for p in (data.patient_name, data.patient_identifier) if p) or tx["unknown"]
    if data.birth_date:
        who += f", {tx['born']} {data.birth_date}"
    bits = [data.sex] if data.sex else []
    if data.age_years is not None:
        bits.append(f"{tx['age']} {data.age_years:.1f}")
    if data.height_cm is not None:
        bits.append(f"{tx['height']} {data.height_cm:.0f} cm")
    when = data.acquired_at.strftime("%d/%m/%Y %H:%M") if data.acquired_at else tx["unknown"]
    lines = [
        f"{tx['patient']}{sep}{who}" + (f" ({', '.join(bits)})" if bits else ""),
        f"{tx['acquired']}{sep}{when} — {tx['device']}{sep}{data.device_label or tx['unknown']}"
        + (f" — {tx['performer']}{sep}{data.performer_label}" if data.performer_label else ""),
        f"{tx['equation']}{sep}{data.equation or tx['unknown']}" + (f" — BTPS {data.btps_note}" if data.btps_note
                                                                   else ""),
    ]
    y = 276.0
    for line in lines:
        c.drawString(_mm(18), _mm(y), line[:150])
        y -= 4.0
    if data.calibration_note:
        c.setFillColor(Color(0.75, 0.0, 0.0) if data.calibration_warning else black)
        c.setFont("Helvetica-Bold" if data.calibration_warning else "Helvetica", 8)
        c.drawString(_mm(18), _mm(y), data.calibration_note[:170])
        c.setFillColor(black)
        y -= 4.0
    c.setFont("Helvetica-Bold", 9)
    grades = f"{tx['grades']}{sep}FEV1 {data.grade_fev1 or '—'}, FVC {data.grade_fvc or '—'}"
    if data.grade_fev0_75:
        grades += f", FEV0.75 {data.grade_fev0_75}"
    if data.n_acceptable is not None:
        grades += f" ({data.n_acceptable} {tx['acceptable']})"
    c.drawString(_mm(18), _mm(y - 1), grades)
    _curves(c, data, tx)
    y = _table(c, data, tx, 138.0)
    y = _zchart(c, data, tx, y - 3.0)
    c.setFont("Helvetica-Bold", 8)
    c.setFillColor(black)
    c.drawString(_mm(18), _mm(y - 2), tx["blows"])
    c.setFont("Helvetica", 7)
    y -= 6.0
    for b in data.blows:
        status = tx["reported"] if b.reported else ("OK" if b.acceptable else tx["not_acc"])
        text = f"{b.label} ({b.phase}) — {status}" + (": " + "; ".join(b.messages) if b.messages else "")
        for k, line in enumerate(simpleSplit(text, "Helvetica", 7, _mm(172))[:3]):  # wrapped, never cut
            c.drawString(_mm(20 if k == 0 else 24), _mm(y), line)
            y -= 3.6
        if y < 20:
            break
    for msg in data.session_messages:
        if y < 20:
            break
        c.drawString(_mm(20), _mm(y), msg[:160])
        y -= 3.6
    c.setFont("Helvetica-Oblique", 7)
    c.drawString(_mm(18), _mm(12), tx["review"])
    c.drawString(_mm(18), _mm(8), f"{tx['software']} asalee-devices {__version__}")
    c.showPage()
    c.save()
    return buf.getvalue()
