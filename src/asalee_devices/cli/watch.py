"""``asalee-devices watch DIR``: the watched-folder bridge for vendor ECG exports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 60


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "watch",
        help="watch a folder where ECG software exports files, and deliver each file once",
        description="Watch DIR for ECG files written by vendor software. Each file is processed once it has "
                    "stopped changing, then moved to DIR/done/ (or DIR/failed/ with a .reason.txt file). A SQLite "
                    "ledger keyed by content hash makes a restart resume and delivers the same content once. "
                    "Default delivery: the decoded summary as <sha256>.json in --out.",
    )
    p.add_argument("dir", metavar="DIR", type=Path, help="the folder the vendor software writes into")
    p.add_argument("--out", type=Path, help="output folder of the JSON summaries (default DIR/output)")
    p.add_argument("--ledger", type=Path, help="ledger file (default DIR/.asalee-watch.sqlite)")
    p.add_argument("--settle-s", type=float, default=2.0, help="seconds a file must stay unchanged (default 2)")
    p.add_argument("--poll-s", type=float, default=1.0, help="seconds between scans (default 1)")
    p.add_argument("--once", action="store_true", help="one scan (with --settle-s 0: process what is there) and exit")
    p.add_argument("--strict", action="store_true", help="refuse files that deviate from their format")
    p.set_defaults(handler=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    from asalee_devices.devices.watch_folder import JsonSummaryWriter, WatchedFolder

    out = args.out or args.dir / "output"
    folder = WatchedFolder(args.dir, JsonSummaryWriter(out), ledger_path=args.ledger, settle_s=args.settle_s,
                           poll_s=args.poll_s, strict=args.strict)
    try:
        if args.once:
            for o in folder.scan_once():
                print(f"{o.status}: {o.name}" + (f" ({o.reason})" if o.reason else ""))
        else:
            print(f"watching {args.dir} (Ctrl-C to stop)")
            folder.run()
    finally:
        folder.close()
    return 0
