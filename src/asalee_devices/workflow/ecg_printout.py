"""The printed ECG of an analysis: what the PDF renderer needs, taken from the analysis (never recomputed by the
renderer), and the one call every caller (demo, web, ``ecg import``, watched folder, GDT) uses to render it.

The original version says "hors interprétation"; with a :class:`~asalee_devices.reports.ecg_pdf.GpInterpretation`
the same tracing is printed with the GP's conclusion (the "interprété" version).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asalee_devices.reports.ecg_layout import EcgLayout
    from asalee_devices.reports.ecg_pdf import EcgReportContext, GpInterpretation
    from asalee_devices.signal.ecg.results import EcgAnalysis


def render_ecg_report(analysis: EcgAnalysis, context: EcgReportContext, layout: EcgLayout | None = None, *,
                      interpretation: GpInterpretation | None = None) -> bytes:
    """The ECG PDF of ``analysis`` (its cleaned trace) with the header ``context``; the "interprété" version when
    ``interpretation`` is given."""
    from asalee_devices.reports.ecg_pdf import render_ecg_pdf

    return render_ecg_pdf(analysis.cleaned, context, layout, interpretation=interpretation)
