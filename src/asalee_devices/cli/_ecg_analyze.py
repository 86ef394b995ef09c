"""``asalee-devices ecg analyze FILE``: clean, check the technical quality and measure the heart rate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: JSON keys of ``ecg analyze --json`` (documented in docs/cli.md).
JSON_KEYS = ("format", "sampling_rate_hz", "duration_s", "leads", "derived_leads", "device_filters",
             "applied_filters", "quality", "heart_rate_bpm", "rr_ms", "r_peaks_s", "warnings",
             "device_heart_rate_bpm", "non_ecg_segments", "band", "notes")


def add_analyze_parser(ecg_subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = ecg_subparsers.add_parser(
        "analyze",
        help="clean the trace, check per-lead technical quality, measure R peaks and heart rate",
        description="Analyse an ECG: diagnostic cleaning (0.05 Hz baseline, 150 Hz low-pass, mains only when "
                    "present), per-lead technical quality with the nurse's messages, R peaks, RR intervals and "
                    "heart rate. Technical measurements only: no interpretation. A WFDB record is given by its "
                    "path without extension; a CSV of leads (header of lead names, µV) needs --rate.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the ECG file (any format `ecg read` reads, or CSV)")
    p.add_argument("--json", action="store_true", help="print one JSON document (keys in docs/cli.md)")
    p.add_argument("--rate", type=float, metavar="HZ", help="sampling rate of a CSV file")
    p.add_argument("--mains", type=float, choices=(50.0, 60.0), default=50.0, help="mains frequency (default 50)")
    p.add_argument("--mode", choices=("adult", "child"), default="adult",
                   help="low-pass 150 Hz (adult) or 250 Hz (child)")
    p.add_argument("--clean-out", metavar="OUT.csv", type=Path,
                   help="write the cleaned trace: header of lead names, one row per sample in µV")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the nurse messages")
    p.set_defaults(handler=run_analyze)
    return p


def _load(args: argparse.Namespace) -> Any:
    from asalee_devices.drivers.ecg_files import read_ecg_file
    from asalee_devices.drivers.ecg_files.csv_leads import read_csv_leads
    from asalee_devices.errors import InputError

    if args.file.suffix.lower() == ".csv" or args.rate is not None:
        if args.rate is None:
            raise InputError("A CSV file needs its sampling rate", field="--rate", expected="e.g. --rate 500")
        return read_csv_leads(args.file, args.rate)
    return read_ecg_file(args.file)


def analysis_document(ecg: Any, analysis: Any, lang: str) -> dict[str, Any]:
    from asalee_devices.messages.ecg import band_text, note_text, quality_messages, warnings_text
    from asalee_devices.signal.ecg.chain import chain_band

    band = chain_band(analysis.cleaned.device_filters + analysis.cleaned.applied_filters, analysis.cleaned.fs_hz)
    rec, cleaned, q, hr = analysis.raw, analysis.cleaned, analysis.quality, analysis.heart

    def r(v: float | None, nd: int = 1) -> float | None:
        return None if v is None else round(float(v), nd)

    return {
        "format": ecg.format,
        "sampling_rate_hz": cleaned.fs_hz,
        "duration_s": round(rec.duration_s, 3),
        "leads": list(rec.leads),
        "derived_leads": [n for n in rec.leads if n in rec.derived_leads],
        "device_filters": [{"kind": f.kind, "description": f.describe()} for f in rec.device_filters],
        "applied_filters": [{"kind": f.kind, "cutoff_hz": f.cutoff_hz, "order": f.order,
                             "zero_phase": f.zero_phase, "description": f.describe()}
                            for f in cleaned.applied_filters],
        "quality": {
            "verdict": q.verdict,
            "messages": list(quality_messages(q, "en" if lang == "en" else "fr")),
            "findings": [{"code": f.code, "lead": f.lead, "indicator": r(f.indicator, 3),
                          "threshold": f.threshold, "unit": f.unit} for f in q.findings],
            "leads": [{"lead": lq.lead, "connected": lq.connected, "peak_to_peak_uv": r(lq.peak_to_peak_uv),
                       "baseline_wander_uv": r(lq.baseline_wander_uv),
                       "mains_fraction": r(lq.mains_fraction, 5), "hf_noise_uv": r(lq.hf_noise_uv),
                       "saturated_fraction": r(lq.saturated_fraction, 5),
                       "findings": [f.code for f in lq.findings]} for lq in q.leads],
        },
        "heart_rate_bpm": r(hr.heart_rate_bpm),
        "rr_ms": {"n": int(hr.rr_ms.size), "mean": r(hr.rr_ms.mean()) if hr.rr_ms.size else None,
                  "min": r(hr.rr_min_ms), "max": r(hr.rr_max_ms), "sd": r(hr.rr_sd_ms)},
        "r_peaks_s": [round(float(t), 4) for t in hr.r_peaks_s],
        "warnings": warnings_text(analysis.warnings) + [w.message for w in ecg.warnings],
        "device_heart_rate_bpm": r(analysis.device_heart_rate_bpm),
        "non_ecg_segments": [{"kind": s.kind, "source": s.source, "start_s": round(s.start / rec.fs_hz, 4),
                              "stop_s": round(s.stop / rec.fs_hz, 4), "step_uv": s.step_uv}
                             for s in analysis.non_ecg],
        "band": {"low_hz": r(band.low_hz, 4), "high_hz": r(band.high_hz, 2), "nyquist_hz": band.nyquist_hz,
                 "mains_filtered_hz": band.mains_filtered_hz,
                 "text": band_text(band, analysis.quality.mains_hz, "en" if lang == "en" else "fr")},
        "notes": [{"code": n.code, "values": dict(n.values), "for_gp": n.for_gp, "text": note_text(n, "en" if lang == "en" else "fr")}
                  for n in analysis.notes],
    }


def run_analyze(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json
    from asalee_devices.cli._ecg_read import write_samples_csv
    from asalee_devices.messages.ecg import OK_MESSAGE
    from asalee_devices.signal.ecg.analysis import analyze_ecg

    ecg = _load(args)
    analysis = analyze_ecg(ecg.recording, mains_hz=args.mains, mode=args.mode,
                           device_heart_rate_bpm=getattr(ecg, "device_heart_rate_bpm", None))
    if args.clean_out is not None:
        write_samples_csv(analysis.cleaned, args.clean_out)
    doc = analysis_document(ecg, analysis, args.lang)
    if args.json:
        print_json(doc)
        return 0
    derived = set(doc["derived_leads"])
    print(f"format:          {doc['format']}")
    print("leads:           " + " ".join(n + ("*" if n in derived else "") for n in doc["leads"])
          + ("   (* derived)" if derived else ""))
    print(f"sampling rate:   {doc['sampling_rate_hz']:g} Hz, {doc['duration_s']:.2f} s")
    if doc["device_filters"]:
        print("device filters:  " + "; ".join(f["description"] for f in doc["device_filters"]))
    print("applied filters: " + ("; ".join(f["description"] for f in doc["applied_filters"]) or "none"))
    print(f"whole chain:     {doc['band']['text']}")
    q = doc["quality"]
    print(f"quality:         {q['verdict']}")
    msgs = q["messages"] or [OK_MESSAGE["fr" if args.lang == "fr" else "en"]]
    for m in msgs:
        print(f"  - {m}")
    print("  lead    p-p µV  baseline µV  mains %  HF µV  status")
    for lq in q["leads"]:
        status = ",".join(lq["findings"]) or "ok"
        if not lq["connected"]:
            print(f"  {lq['lead']:<6} {'-':>7} {'-':>12} {'-':>8} {'-':>6}  {status}")
            continue
        print(f"  {lq['lead']:<6} {lq['peak_to_peak_uv']:>7.0f} {lq['baseline_wander_uv']:>12.0f} "
              f"{100 * lq['mains_fraction']:>8.2f} {lq['hf_noise_uv']:>6.1f}  {status}")
    rr = doc["rr_ms"]
    if doc["heart_rate_bpm"] is None:
        print("heart rate:      not measured (fewer than 2 R peaks)")
    else:
        print(f"heart rate:      {doc['heart_rate_bpm']:.0f} /min ({len(doc['r_peaks_s'])} R peaks)")
        print(f"RR intervals:    mean {rr['mean']:.0f} ms, min {rr['min']:.0f}, max {rr['max']:.0f}, "
              f"SD {rr['sd']:.0f} ms")
    if doc["device_heart_rate_bpm"] is not None:
        print(f"device HR:       {doc['device_heart_rate_bpm']:.0f} /min (stored by the device)")
    for seg in doc["non_ecg_segments"]:
        print(f"not ECG:         {seg['kind']} {seg['start_s']:.2f}-{seg['stop_s']:.2f} s ({seg['source']}), "
              "left out of the analysis")
    for note in doc["notes"]:
        print(f"note:            {note['text']}")
    for w in doc["warnings"]:
        print(f"warning: {w}")
    return 0
