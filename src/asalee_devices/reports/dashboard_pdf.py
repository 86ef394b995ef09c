"""The monthly practice dashboard as a PDF (A4): the practice's indicators, examinations by protocol and the
month-over-month trend as charts drawn here (reportlab canvas, no external service), then one column per nurse
and per GP. Renders the figures of ``programme.dashboard.Dashboard`` unchanged, French first."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from asalee_devices import __version__

if TYPE_CHECKING:
    from asalee_devices.programme.dashboard import Dashboard, Indicator

BLUE = Color(0.16, 0.36, 0.62)
GREEN = Color(0.18, 0.55, 0.34)
GREY = Color(0.55, 0.55, 0.55)
LIGHT = Color(0.93, 0.94, 0.96)

TEXT = {
    "fr": {"title": "Tableau de bord ASALEE", "month": "Mois", "generated": "Édité le", "practice": "Cabinet",
           "protocols": "Examens par protocole", "trend": "Évolution sur 6 mois", "exams": "examens",
           "rate": "taux d'essais acceptables (VEMS), %", "nurses": "Par infirmière", "gps": "Par médecin",
           "none": "Aucun examen ce mois-ci.", "reasons": "Motifs d'échec les plus fréquents",
           "electrodes": "Électrodes déconnectées", "foot": "Chiffres mesurés (aucune interprétation)."},
    "en": {"title": "ASALEE dashboard", "month": "Month", "generated": "Issued", "practice": "Practice",
           "protocols": "Examinations by protocol", "trend": "6-month trend", "exams": "examinations",
           "rate": "acceptable-blow rate (FEV1), %", "nurses": "Per nurse", "gps": "Per GP",
           "none": "No examination this month.", "reasons": "Most frequent failure reasons",
           "electrodes": "Electrodes off", "foot": "Measured figures (no interpretation)."},
}
MAIN_KEYS = ("exams", "spirometry_sessions", "grade_fev1_A", "grade_fev1_B", "grade_fev1_C", "grade_fvc_A",
             "grade_fvc_B", "grade_fvc_C", "acceptable_fev1_rate", "below_lln_sessions", "calibration_days",
             "spirometry_days", "ecg_exams", "ecg_first_acceptable_rate", "ecg_retakes", "ecg_awaiting_gp",
             "ecg_gp_delay_median_h", "delivery_waiting", "delivery_failed")


def _bars(c: Canvas, x: float, y: float, w: float, h: float, items: list[tuple[str, float]], color: Color) -> None:
    """Horizontal bars with their value, longest = full width."""
    if not items:
        return
    top = max(v for _, v in items) or 1.0
    row = min(16.0, h / len(items))
    for i, (label, v) in enumerate(items):
        yy = y + h - (i + 1) * row
        c.setFillColor(black)
        c.setFont("Helvetica", 7)
        c.drawString(x, yy + 4, label[:48])
        bw = (w - 190) * v / top
        c.setFillColor(color)
        c.rect(x + 170, yy + 2, max(bw, 0.5), row - 5, stroke=0, fill=1)
        c.setFillColor(black)
        c.drawString(x + 174 + bw, yy + 4, f"{v:.0f}")


def _trend(c: Canvas, x: float, y: float, w: float, h: float, months: list[str], exams: list[float],
           rates: list[float | None], tx: dict[str, str]) -> None:
    c.setStrokeColor(GREY)
    c.setLineWidth(0.5)
    c.line(x, y, x + w, y)
    top = max(exams + [1.0])
    slot = w / len(months)
    for i, (m, n) in enumerate(zip(months, exams, strict=True)):
        bh = (h - 20) * n / top
        c.setFillColor(BLUE)
        c.rect(x + i * slot + slot * 0.2, y, slot * 0.6, bh, stroke=0, fill=1)
        c.setFillColor(black)
        c.setFont("Helvetica", 7)
        c.drawCentredString(x + i * slot + slot / 2, y - 9, m)
        c.drawCentredString(x + i * slot + slot / 2, y + bh + 2, f"{n:.0f}")
    pts = [(x + i * slot + slot / 2, y + (h - 20) * r / 100.0) for i, r in enumerate(rates) if r is not None]
    c.setStrokeColor(GREEN)
    c.setLineWidth(1.5)
    for a, b in zip(pts, pts[1:], strict=False):
        c.line(a[0], a[1], b[0], b[1])
    c.setFillColor(GREEN)
    c.setStrokeColor(Color(1, 1, 1))
    c.setLineWidth(1)
    for px, py in pts:
        c.circle(px, py, 3.5, stroke=1, fill=1)
        c.setFillColor(black)
        c.setFont("Helvetica", 6)
        c.drawString(px + 5, py - 2, f"{rates[int(round((px - x) / slot - 0.5))]:.0f} %")
        c.setFillColor(GREEN)
    c.setFont("Helvetica", 7)
    c.setFillColor(BLUE)
    c.rect(x, y + h + 2, 6, 6, stroke=0, fill=1)
    c.setFillColor(black)
    c.drawString(x + 9, y + h + 2, tx["exams"])
    c.setFillColor(GREEN)
    c.rect(x + 90, y + h + 2, 6, 6, stroke=0, fill=1)
    c.setFillColor(black)
    c.drawString(x + 99, y + h + 2, tx["rate"])


def _table(c: Canvas, x: float, top: float, rows: list[tuple[str, list[str]]], header: list[str],
           label_w: float, col_w: float) -> float:
    c.setFont("Helvetica-Bold", 7)
    for j, hd in enumerate(header):
        c.drawString(x + label_w + j * col_w, top, hd[:22])
    y = top - 11
    for i, (label, values) in enumerate(rows):
        if i % 2 == 0:
            c.setFillColor(LIGHT)
            c.rect(x - 2, y - 3, label_w + col_w * max(len(header), 1), 11, stroke=0, fill=1)
            c.setFillColor(black)
        c.setFont("Helvetica", 7)
        c.drawString(x, y, label[:70])
        for j, v in enumerate(values):
            c.drawString(x + label_w + j * col_w, y, v)
        y -= 11
    return y


def _by_key(items: list[Indicator]) -> dict[str, Indicator]:
    return {i.key: i for i in items}


def render_dashboard_pdf(d: Dashboard, lang: str = "fr") -> bytes:
    from asalee_devices.programme.dashboard import Indicator

    tx = TEXT["en" if lang == "en" else "fr"]
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"{tx['title']} {d.month}")
    c.setAuthor(f"asalee-devices {__version__}")
    W, H = A4
    left = 40.0
    c.setFont("Helvetica-Bold", 15)
    c.drawString(left, H - 50, f"{tx['title']} — {d.practice_name or d.practice_id}")
    c.setFont("Helvetica", 9)
    c.drawString(left, H - 64, f"{tx['month']} : {d.month}    {tx['practice']} : {d.practice_id}    "
                               f"{tx['generated']} {d.generated_at:%d/%m/%Y %H:%M} UTC")
    practice = _by_key(d.of("practice", d.practice_id))
    if not practice:
        c.setFont("Helvetica", 10)
        c.drawString(left, H - 95, tx["none"])
    c.setFont("Helvetica-Bold", 10)
    c.drawString(left, H - 86, tx["practice"])
    y = H - 100
    rows = [(practice[k].label(lang), [practice[k].text(lang)]) for k in MAIN_KEYS if k in practice]
    y = _table(c, left, y, rows, [""], 300, 120)
    right = left + 300 + 10
    # protocols
    c.setFont("Helvetica-Bold", 9)
    c.drawString(left, y - 12, tx["protocols"])
    protos = [(i.label(lang), i.value or 0.0) for k, i in practice.items() if k.startswith("protocol:")]
    _bars(c, left, y - 20 - 16 * max(len(protos), 1), W - 2 * left, 16 * max(len(protos), 1), protos, BLUE)
    y = y - 30 - 16 * max(len(protos), 1)
    # failure reasons and electrodes
    reasons = [(i.label(lang).split(": ", 1)[-1].split(" : ", 1)[-1], i.value or 0.0)
               for k, i in practice.items() if k.startswith("failure_")]
    leads = [(i.key.split(":", 1)[1], i.value or 0.0) for k, i in practice.items() if k.startswith("electrode_")]
    c.setFont("Helvetica-Bold", 9)
    c.drawString(left, y - 12, tx["reasons"])
    c.drawString(right, y - 12, tx["electrodes"])
    c.setFont("Helvetica", 7)
    for j, (r, n) in enumerate(reasons):
        c.drawString(left, y - 24 - 10 * j, f"{r} : {n:.0f}")
    for j, (ld, n) in enumerate(leads):
        c.drawString(right, y - 24 - 10 * j, f"{ld} : {n:.0f}")
    y = y - 30 - 10 * max(len(reasons), len(leads), 1)
    # trend
    trend = _by_key(d.of("trend", d.practice_id))
    months = sorted({k.rsplit(":", 1)[1] for k in trend})
    c.setFont("Helvetica-Bold", 9)
    c.drawString(left, y - 12, tx["trend"])
    if months:
        _trend(c, left + 10, y - 150, W - 2 * left - 20, 110, months,
               [trend[f"trend:exams:{m}"].value or 0.0 for m in months],
               [trend[f"trend:acceptable_fev1_rate:{m}"].value for m in months], tx)
    c.setFont("Helvetica-Oblique", 7)
    c.drawString(left, 30, f"{tx['foot']}  asalee-devices {__version__}")
    c.showPage()
    # per nurse, per GP
    y = H - 50
    for scope, title in (("nurse", tx["nurses"]), ("gp", tx["gps"])):
        ids = d.scope_ids(scope)
        if not ids:
            continue
        c.setFont("Helvetica-Bold", 11)
        c.drawString(left, y, title)
        cols = [_by_key(d.of(scope, sid)) for sid in ids[:4]]
        keys = [k for k in MAIN_KEYS if any(k in col for col in cols)]
        extra = sorted({k for col in cols for k in col if ":" in k})
        rows = [((cols[0].get(k) or Indicator(scope, "", k, None)).label(lang),
                 [col[k].text(lang) if k in col else "—" for col in cols]) for k in [*keys, *extra]]
        y = _table(c, left, y - 16, rows, [d.display_name(sid) for sid in ids[:4]], 250, 70) - 16
        if y < 120:
            c.showPage()
            y = H - 50
    c.setFont("Helvetica-Oblique", 7)
    c.drawString(left, 30, f"{tx['foot']}  asalee-devices {__version__}")
    c.showPage()
    c.save()
    return buf.getvalue()
