"""``asalee-devices ecg``: ECG commands (``read`` a file, ``analyze`` it, ``import`` it to the record, ``record`` from a
device)."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 20


def register(subparsers: Any) -> None:
    from asalee_devices.cli._ecg_analyze import add_analyze_parser
    from asalee_devices.cli._ecg_import import add_import_parser
    from asalee_devices.cli._ecg_read import add_read_parser

    p: argparse.ArgumentParser = subparsers.add_parser("ecg", help="12-lead ECG commands",
                                                       description="12-lead ECG commands.")
    sub = p.add_subparsers(dest="ecg_command", metavar="SUBCOMMAND")
    add_read_parser(sub)
    add_analyze_parser(sub)
    add_import_parser(sub)
    from asalee_devices.cli._record import add_ecg_record

    add_ecg_record(sub)
