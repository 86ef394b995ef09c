"""``asalee-devices watch [DIR]``: the watched-folder bridge for vendor ECG exports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 60


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="watch a folder where ECG software exports files, and deliver each file once",
        description="Watch DIR (default: [watch] folder of the configuration) for ECG files written by vendor "
                    "software. Each file is processed once it has stopped changing: ECG analysis, printed ECG "
                    "(PDF), FHIR bundle queued in the outbox and delivered through the configured sink; then it is "
                    "moved to DIR/done/ (or DIR/failed/ with a .reason.txt file). A SQLite ledger keyed by content "
                    "hash makes a restart resume and delivers the same content once. With --out, the decoded "
                    "summary is written as <sha256>.json in OUT instead (no analysis, no delivery).",
    )
    p.add_argument("dir", metavar="DIR", type=Path, nargs="?",
                   help="the folder the vendor software writes into (default: [watch] folder)")
    p.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    p.add_argument("--out", type=Path, help="write the decoded summaries to OUT instead of running the pipeline")
    p.add_argument("--ledger", type=Path, help="ledger file (default DIR/.asalee-watch.sqlite)")
    p.add_argument("--settle-s", type=float, help="seconds a file must stay unchanged (default: [watch] settle_s)")
    p.add_argument("--poll-s", type=float, default=1.0, help="seconds between scans (default 1)")
    p.add_argument("--once", action="store_true", help="one scan (with --settle-s 0: process what is there) and exit")
    p.add_argument("--strict", action="store_true", default=None,
                   help="refuse files that deviate from their format (default: [watch] strict)")
    p.set_defaults(handler=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    from asalee_devices.config import load_config
    from asalee_devices.devices.watch_folder import JsonSummaryWriter, ProcessFn, WatchedFolder
    from asalee_devices.errors import ConfigError

    cfg = load_config(args.config)
    inbox = args.dir or (Path(cfg.watch.folder) if cfg.watch.folder else None)
    if inbox is None:
        raise ConfigError("No folder to watch", field="watch.folder",
                          expected="DIR on the command line or [watch] folder in the configuration")
    settle_s = cfg.watch.settle_s if args.settle_s is None else args.settle_s
    strict = cfg.watch.strict if args.strict is None else args.strict
    importer = None
    process: ProcessFn
    if args.out is not None:
        process = JsonSummaryWriter(args.out)
    else:
        from asalee_devices.workflow.ecg_file_import import EcgFileImporter

        importer = EcgFileImporter.from_config(cfg)
        process = importer
    folder = WatchedFolder(inbox, process, ledger_path=args.ledger, settle_s=settle_s, poll_s=args.poll_s,
                           strict=strict, on_cycle=importer.deliver_pending if importer is not None else None)
    try:
        if args.once:
            for o in folder.scan_once():
                print(f"{o.status}: {o.name}" + (f" ({o.reason})" if o.reason else ""))
            if importer is not None:
                counts = importer.outbox.counts()
                print("outbox: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        else:
            where = f"delivering through the {cfg.sink.type} sink" if importer is not None else f"summaries in {args.out}"
            print(f"watching {inbox}, {where} (Ctrl-C to stop)")
            folder.run()
    finally:
        folder.close()
        if importer is not None:
            importer.close()
    return 0
