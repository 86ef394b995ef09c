"""``asalee-devices gdt``: the GDT exchange with a vendor spirometry or ECG program.

``gdt watch [DIR]`` imports the results (6310) the program writes into ``[gdt] folder``; ``gdt request`` writes the
examination request (6302) or patient data (6301) for the program into ``[gdt] out_folder``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 65


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "gdt", help="GDT exchange with a vendor spirometry or ECG program",
        description="GDT 2.1 / 3.0 files with a vendor program: results in (watch), requests out (request).")
    sub = p.add_subparsers(dest="gdt_command", metavar="SUBCOMMAND")
    w = sub.add_parser("watch", help="import the GDT results (6310) the vendor program writes",
                       description="Watch DIR (default [gdt] folder): each complete GDT file (stable size) is "
                                   "decoded whole, its identity checked, stored as an examination computed by the "
                                   "device software and delivered through the configured sink; then moved to "
                                   "DIR/done/, or DIR/failed/ with a .reason.txt file.")
    w.add_argument("dir", metavar="DIR", type=Path, nargs="?", help="exchange folder (default: [gdt] folder)")
    w.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    w.add_argument("--settle-s", type=float, help="seconds a file must stay unchanged (default: [gdt] settle_s)")
    w.add_argument("--poll-s", type=float, default=1.0, help="seconds between scans (default 1)")
    w.add_argument("--once", action="store_true", help="one scan and exit")
    w.set_defaults(handler=_watch)
    r = sub.add_parser("request", help="write an examination request (6302) for the vendor program",
                       description="Write the patient's identity for the vendor program into [gdt] out_folder (file "
                                   "named receiver id + sender id), so the nurse never retypes it.")
    r.add_argument("--patient", metavar="FILE", help="patient JSON (as for spirometry record)")
    r.add_argument("--demo-patient", action="store_true", help="the demonstration patient (test INS)")
    r.add_argument("--patient-id", help="the patient number the vendor program knows (field 3000; default the "
                                        "patient's local_id)")
    r.add_argument("--record", choices=("6302", "6301"), default="6302",
                   help="6302 examination request (default) or 6301 patient data")
    r.add_argument("--out", type=Path, help="folder (default: [gdt] out_folder)")
    r.add_argument("--config", metavar="FILE", help="TOML file")
    r.set_defaults(handler=_request)


def _watch(args: argparse.Namespace) -> int:
    from asalee_devices.config import load_config
    from asalee_devices.devices.gdt_bridge import gdt_watched_folder
    from asalee_devices.errors import ConfigError
    from asalee_devices.workflow.gdt_import import GdtImporter

    cfg = load_config(args.config)
    inbox = args.dir or (Path(cfg.gdt.folder) if cfg.gdt.folder else None)
    if inbox is None:
        raise ConfigError("No GDT folder to watch", field="gdt.folder",
                          expected="DIR on the command line or [gdt] folder in the configuration")
    importer = GdtImporter.from_config(cfg)
    folder = gdt_watched_folder(inbox, importer, ledger_path=inbox / ".asalee-gdt.sqlite",
                                settle_s=cfg.gdt.settle_s if args.settle_s is None else args.settle_s,
                                poll_s=args.poll_s, on_cycle=importer.deliver_pending)
    try:
        if args.once:
            for o in folder.scan_once():
                print(f"{o.status}: {o.name}" + (f" ({o.reason})" if o.reason else ""))
        else:
            print(f"watching {inbox} for GDT results, delivering through the {cfg.sink.type} sink (Ctrl-C to stop)")
            folder.run()
    finally:
        folder.close()
        importer.close()
    return 0


def _request(args: argparse.Namespace) -> int:
    from asalee_devices.cli._record import read_patient
    from asalee_devices.config import load_config
    from asalee_devices.devices.gdt_bridge import GdtPatient, GdtProgram, write_request
    from asalee_devices.errors import ConfigError, PatientDataError
    from asalee_devices.fhir_out.pipeline import patient_from_mapping

    cfg = load_config(args.config)
    out = args.out or (Path(cfg.gdt.out_folder) if cfg.gdt.out_folder else None)
    if out is None:
        raise ConfigError("No folder for the vendor program", field="gdt.out_folder",
                          expected="--out DIR or [gdt] out_folder in the configuration")
    data, height = read_patient(args)
    p = patient_from_mapping(data)
    pid = args.patient_id or p.local_id
    if not pid:
        raise PatientDataError("The vendor program needs its patient number", field="--patient-id",
                               expected="--patient-id or local_id in the patient file")
    g = cfg.gdt
    program = GdtProgram(receiver_id=g.receiver_id, sender_id=g.sender_id, version=g.version, charset=g.charset,
                         file_extension=g.file_extension, procedure=g.procedure)
    path = write_request(out, GdtPatient(pid, p.family, " ".join(p.given), p.birth_date, p.sex, height), program,
                         record_type=args.record)
    print(f"GDT {args.record} written: {path}")
    return 0
