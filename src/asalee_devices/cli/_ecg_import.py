"""``asalee-devices ecg import FILE``: one exported ECG file to the practice record, with the identity the nurse
checked when the file lacks one (the watched folder refuses such files into ``failed/`` and names this command)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_import_parser(ecg_subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``import`` subcommand to the ``ecg`` command group."""
    p: argparse.ArgumentParser = ecg_subparsers.add_parser(
        "import",
        help="send one ECG file to the record (the watched folder's processing, for one file)",
        description="Decode an ECG file exported by a device's software (any format `ecg read` reads), analyse it "
                    "and send it to the practice record like the watched folder does: printed ECG, FHIR bundle "
                    "through the outbox and the configured sink. With --patient the identity comes from the "
                    "patient JSON (checked like at the bedside) instead of the file: the way to send a file the "
                    "watched folder refused for a missing identity. The same file content is the same "
                    "examination: importing it again sends nothing new.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the ECG file (e.g. from the watched folder's failed/)")
    p.add_argument("--patient", metavar="FILE",
                   help="patient JSON (family, given, birth_date YYYY-MM-DD, sex, and ins/ins_kind/"
                        "identity_qualified/birth_place_cog for a qualified INS identity, or local_id/local_system); "
                        "'-' reads standard input. Default: the identity written in the file")
    p.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder for the folder sink and the outbox (overrides the configuration)")
    p.add_argument("--strict", action="store_true", help="refuse every deviation from the format instead of "
                                                         "tolerating it with a warning")
    p.add_argument("--file-identity-differs", action="store_true",
                   help="send with --patient even though the file names another patient (family name or birth "
                        "date differ): only after checking that the file is this patient's ECG")
    p.set_defaults(handler=run_import, demo_patient=False)
    return p


def run_import(args: argparse.Namespace) -> int:
    from asalee_devices.cli._record import exit_code, read_patient, with_output
    from asalee_devices.config import load_config
    from asalee_devices.devices.watch_folder import settle_refused, sha256_file
    from asalee_devices.drivers.ecg_files import read_ecg_file
    from asalee_devices.fhir_out.pipeline import patient_from_mapping
    from asalee_devices.workflow.delivery import outcome
    from asalee_devices.workflow.ecg_file_import import EcgFileImporter, check_same_patient

    cfg = with_output(load_config(args.config), args.out)
    # everything the nurse gave is checked before the file is read or anything is queued
    patient = patient_from_mapping(read_patient(args)[0]) if args.patient else None
    ecg = read_ecg_file(args.file, strict=args.strict)
    if patient is not None and not args.file_identity_differs:
        check_same_patient(ecg.patient, patient)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    digest = sha256_file(args.file)
    importer = EcgFileImporter.from_config(cfg)
    try:
        msg = importer.outbox.get(importer.import_file(ecg, args.file, patient, sha256=digest))
    finally:
        importer.close()
    inbox = Path(cfg.watch.folder) if cfg.watch.folder else None
    if inbox is not None and args.file.resolve().parent == (inbox / "failed").resolve():
        settle_refused(inbox, args.file, digest)  # in the record now: out of failed/
    status, message = outcome([msg], "en" if cfg.lang == "en" else "fr")
    print(f"{msg.exam_id} ({ecg.format}): {message}")
    for w in ecg.warnings:
        print(f"warning [{w.code}]: {w.message}")
    return exit_code(status)
