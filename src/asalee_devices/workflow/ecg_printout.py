"""The printed ECG of an analysis: what the PDF renderer needs, taken from the analysis (never recomputed by the
renderer, which imports nothing from ``signal/``), the one header every path prints (demo, web, ``ecg import``,
watched folder, GDT), and the one call that renders it.

The original version says "hors interprétation"; with a :class:`~asalee_devices.reports.ecg_pdf.GpInterpretation`
the same tracing is printed with the GP's conclusion (the "interprété" version).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from asalee_devices.reports.ecg_pdf import (
    BandClass,
    EcgPrintout,
    EcgReportContext,
    GpInterpretation,
    PrintedFilter,
)

if TYPE_CHECKING:
    from asalee_devices.drivers.ecg_files.base import FormatWarning
    from asalee_devices.drivers.identity import DeviceIdentity
    from asalee_devices.fhir_out.context import PatientContext
    from asalee_devices.reports.ecg_layout import EcgLayout
    from asalee_devices.signal.ecg.recording import EcgRecording
    from asalee_devices.signal.ecg.results import EcgAnalysis

Lang = Literal["fr", "en"]

#: The diagnostic band (IEC 60601-2-25, AHA 2007: 0.05-150 Hz for adults) as -3 dB points of the whole chain. The
#: low edge allows for our zero-phase order-2 0.05 Hz baseline high-pass, whose -3 dB point is 1.25 x 0.05 =
#: 0.062 Hz (it passes the IEC 3 mV x 100 ms impulse test, as a causal first-order 0.05 Hz does); the high edge is
#: the 150 Hz corner that the chain's low-pass is designed to keep (to 0.5 Hz of rounding).
DIAGNOSTIC_LOW_MAX_HZ = 0.07
DIAGNOSTIC_HIGH_MIN_HZ = 149.5


def band_class(low_hz: float | None, high_hz: float | None) -> BandClass:
    """How an effective band compares with the diagnostic band (``high_hz`` None: flat up to Nyquist)."""
    low_ok = low_hz is None or low_hz <= DIAGNOSTIC_LOW_MAX_HZ
    high_ok = high_hz is None or high_hz >= DIAGNOSTIC_HIGH_MIN_HZ
    if low_ok and high_ok:
        return "iec"
    if low_ok:
        return "high_cut_low"
    return "low_cut_high" if high_ok else "both"


def printout_from_recording(rec: EcgRecording, lead_off: np.ndarray | None = None) -> EcgPrintout:
    """The printout of a (cleaned) recording: its samples, the effective band of its whole chain (device's steps,
    then ours), the steps, and the electrode-off mask (``lead_off``, or the device's flags and the missing samples
    when not given)."""
    from asalee_devices.signal.ecg.chain import chain_band

    steps = rec.device_filters + rec.applied_filters
    band = chain_band(steps, rec.fs_hz)
    if lead_off is None:
        flags = rec.lead_off if rec.lead_off is not None and rec.lead_off.shape == rec.samples_uv.shape else None
        missing = ~np.isfinite(rec.samples_uv)
        lead_off = missing if flags is None else (missing | flags)
    filters = tuple(PrintedFilter(s.kind, s.applied_by == "device", s.cutoff_hz, s.cutoff_high_hz, s.zero_phase,
                                  s.restores_hz) for s in steps)
    return EcgPrintout(samples_uv=rec.samples_uv, fs_hz=rec.fs_hz, leads=rec.leads,
                       derived_leads=tuple(sorted(rec.derived_leads)),
                       lead_off=lead_off if lead_off.any() else None, band_low_hz=band.low_hz,
                       band_high_hz=band.high_hz, mains_filtered_hz=band.mains_filtered_hz,
                       band_class=band_class(band.low_hz, band.high_hz), filters=filters)


def printout_from_analysis(analysis: EcgAnalysis) -> EcgPrintout:
    """The printout of an analysis' cleaned trace. Electrode off = what the device flagged, and the missing samples
    of the leads the quality check found disconnected (other missing samples, e.g. lost in transmission, are left
    as gaps)."""
    rec = analysis.cleaned
    shape = rec.samples_uv.shape
    flags = rec.lead_off if rec.lead_off is not None and rec.lead_off.shape == shape else None
    off = np.zeros(shape, dtype=bool) if flags is None else flags.copy()
    disconnected = {lq.lead for lq in analysis.quality.leads
                    if not lq.connected or any(f.code == "lead_off" for f in lq.findings)}
    for k, name in enumerate(rec.leads):
        if name in disconnected:
            off[k] |= ~np.isfinite(rec.samples_uv[k])
    return printout_from_recording(rec, off)


def analysis_fields(analysis: EcgAnalysis, lang: Lang = "fr") -> dict[str, Any]:
    """The context fields an analysis gives the printout (read from it, never recomputed): the technical notes,
    the calibration signal's and the pacing spikes' times, the mains frequency."""
    from asalee_devices.messages.ecg import notes_text

    fs = analysis.raw.fs_hz
    return {"technical_notes": notes_text(analysis.notes, lang),
            "calibration_s": tuple(s.seconds(fs) for s in analysis.non_ecg),
            "pacing_spikes_s": tuple(t / fs for t in analysis.pacing_spikes),
            "mains_hz": analysis.quality.mains_hz}


def identity_line(patient: PatientContext, lang: Lang = "fr") -> str:
    """The identifier line of the header: the INS of a qualified identity (grouped, its kind named, a test
    identity said), else the practice's patient number."""
    from asalee_devices.fhir_out.codes import TEST_INS_KINDS
    from asalee_devices.messages.ecg_report import IDENTITY, format_ins

    words = IDENTITY[lang]
    if patient.ins is not None and patient.identity_qualified:
        kind = "NIA" if patient.ins_kind == "INS-NIA" else "NIR"
        line = words["ins"].format(kind=kind, ins=format_ins(patient.ins))
        return line + (words["test"] if patient.ins_kind in TEST_INS_KINDS else "")
    return words["local"].format(local_id=patient.local_id) if patient.local_id else ""


def device_label(device: DeviceIdentity | None, fallback: str = "", lang: Lang = "fr") -> str:
    """``Fabricant Modèle (n° série, fw version)`` (``s/n`` in English) — what is known of the device."""
    if device is None:
        return fallback
    known = [p for p in (device.manufacturer, device.model) if p and p != "unknown"]
    serial = "n°" if lang == "fr" else "s/n"
    details = [d for d in ((f"{serial} {device.serial_number}" if device.serial_number not in ("", "unknown") else ""),
                           (f"fw {device.firmware}" if device.firmware not in ("", "unknown") else "")) if d]
    label = " ".join(known) + (f" ({', '.join(details)})" if details else "")
    return label.strip() or fallback


def report_context(patient: PatientContext | None, analysis: EcgAnalysis, *, lang: Lang, acquired_at: datetime | None,
                   device: str, performer: str, file_warnings: Sequence[FormatWarning] = ()) -> EcgReportContext:
    """The header of the printed ECG, the same for every path: name (FAMILY Given), birth date dd/mm/yyyy, sex in
    the report's language, the INS line of a qualified identity, the quality verdict once ("Qualité technique :
    acceptable"), the quality messages and technical notes, the file reader's deviations in the report's language."""
    from asalee_devices.messages.ecg_report import SEX, VERDICT, deviation_text

    q = analysis.quality
    fields: dict[str, Any] = {}
    if patient is not None:
        fields = {"patient_name": f"{patient.family.upper()} {' '.join(patient.given)}".strip(),
                  "patient_identifier": identity_line(patient, lang),
                  "birth_date": patient.birth_date.strftime("%d/%m/%Y"), "sex": SEX[lang][patient.sex]}
    return EcgReportContext(
        **fields, acquired_at=acquired_at, device_label=device, performer_label=performer.strip(),
        quality_verdict=VERDICT[lang][q.verdict], quality_messages=tuple(q.messages(lang)),
        heart_rate_bpm=analysis.heart_rate_bpm, lang=lang,
        file_warnings=tuple(deviation_text(w.code, w.message, lang) for w in file_warnings),
        **analysis_fields(analysis, lang))


def render_ecg_report(analysis: EcgAnalysis, context: EcgReportContext, layout: EcgLayout | None = None, *,
                      interpretation: GpInterpretation | None = None) -> bytes:
    """The ECG PDF of ``analysis`` (its cleaned trace) with the header ``context``; the "interprété" version when
    ``interpretation`` is given."""
    from asalee_devices.reports.ecg_pdf import render_ecg_pdf

    return render_ecg_pdf(printout_from_analysis(analysis), context, layout, interpretation=interpretation)
