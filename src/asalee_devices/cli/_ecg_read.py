"""``asalee-devices ecg read FILE``: decode any supported ECG file and show what it holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: JSON keys of ``ecg read --json`` (documented in docs/cli.md).
JSON_KEYS = ("format", "format_version", "sampling_rate_hz", "leads", "derived_leads", "n_samples", "duration_s",
             "resolution_uv", "device", "acquired_at", "patient", "device_filters", "pacemaker", "lead_off_leads",
             "median_beats", "device_data", "warnings")


def add_read_parser(ecg_subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``read`` subcommand to the ``ecg`` command group."""
    p: argparse.ArgumentParser = ecg_subparsers.add_parser(
        "read",
        help="decode an ECG file (SCP-ECG, HL7 aECG, DICOM, GE MUSE, Philips Sierra, Contec...)",
        description="Decode an ECG file exported by a device or its software. The format is detected from the "
                    "content, never from the file name. Prints the format, device, acquisition time, leads, "
                    "sampling rate, number of samples and the tolerated deviations from the format.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the ECG file")
    p.add_argument("--json", action="store_true", help="print a JSON object (keys in docs/cli.md)")
    p.add_argument("--samples-out", metavar="OUT.csv", type=Path,
                   help="write the rhythm samples in µV exactly as decoded (header of lead names, one row per "
                        "sample, derived leads included; empty cell = no data)")
    p.add_argument("--strict", action="store_true", help="refuse every deviation from the format instead of "
                                                         "tolerating it with a warning")
    p.set_defaults(handler=run_read)
    return p


def summary(ecg: Any) -> dict[str, Any]:
    """The JSON summary of an :class:`~asalee_devices.drivers.ecg_files.EcgFile`."""
    import numpy as np

    rec = ecg.recording
    off: list[str] = []
    if rec.lead_off is not None:
        off = [name for name, row in zip(rec.leads, rec.lead_off, strict=True) if bool(np.any(row))]
    med = ecg.median_beats
    return {
        "format": ecg.format,
        "format_version": ecg.format_version,
        "sampling_rate_hz": rec.fs_hz,
        "leads": list(rec.leads),
        "derived_leads": [n for n in rec.leads if n in rec.derived_leads],
        "n_samples": rec.n_samples,
        "duration_s": round(rec.duration_s, 6),
        "resolution_uv": rec.resolution_uv,
        "device": {"manufacturer": ecg.device.manufacturer, "model": ecg.device.model,
                   "serial_number": ecg.device.serial_number, "firmware": ecg.device.firmware},
        "acquired_at": ecg.acquired_at.isoformat() if ecg.acquired_at else None,
        "patient": ecg.patient,
        "device_filters": [{"kind": f.kind, "cutoff_hz": f.cutoff_hz, "description": f.describe()}
                           for f in rec.device_filters],
        "pacemaker": rec.pacemaker,
        "lead_off_leads": off,
        "median_beats": None if med is None else {"sampling_rate_hz": med.fs_hz, "leads": list(med.leads),
                                                  "n_samples": med.n_samples},
        "device_data": ecg.device_data,
        "warnings": [{"code": w.code, "message": w.message} for w in ecg.warnings],
    }


def write_samples_csv(rec: Any, out: Path) -> None:
    """Header of lead names, one row per sample, values in µV with the shortest exact representation."""
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(rec.leads) + "\n")
        for row in rec.samples_uv.T.tolist():
            fh.write(",".join("" if v != v else repr(v) for v in row) + "\n")


def run_read(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json
    from asalee_devices.drivers.ecg_files import read_ecg_file

    ecg = read_ecg_file(args.file, strict=args.strict)
    if args.samples_out is not None:
        write_samples_csv(ecg.recording, args.samples_out)
    info = summary(ecg)
    if args.json:
        print_json(info)
        return 0
    print(f"format:        {info['format']} {info['format_version']}".rstrip())
    print(f"device:        {ecg.device.label()}")
    print(f"acquired at:   {info['acquired_at'] or 'unknown'}")
    derived = set(info["derived_leads"])
    print("leads:         " + " ".join(n + ("*" if n in derived else "") for n in info["leads"])
          + ("   (* derived)" if derived else ""))
    print(f"sampling rate: {info['sampling_rate_hz']:g} Hz, {info['n_samples']} samples "
          f"({info['duration_s']:.2f} s), {info['resolution_uv'] or 'n/a'} µV/LSB")
    if info["device_filters"]:
        print("device filters: " + "; ".join(f["description"] for f in info["device_filters"]))
    if info["lead_off_leads"]:
        print("electrode off:  " + " ".join(info["lead_off_leads"]))
    if info["median_beats"]:
        print(f"median beats:  {info['median_beats']['n_samples']} samples per lead")
    if ecg.device_data:
        print(f"device data:   {len(ecg.device_data)} measurements/statements written by the device "
              "(device-provided, shown with --json)")
    for w in info["warnings"]:
        print(f"warning [{w['code']}]: {w['message']}")
    return 0
