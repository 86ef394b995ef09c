"""``asalee-devices ecg``: ECG commands (file reading; analysis is added by the ECG pipeline)."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 20


def register(subparsers: Any) -> None:
    from asalee_devices.cli._ecg_read import add_read_parser

    p: argparse.ArgumentParser = subparsers.add_parser("ecg", help="12-lead ECG commands",
                                                       description="12-lead ECG commands.")
    sub = p.add_subparsers(dest="ecg_command", metavar="SUBCOMMAND")
    add_read_parser(sub)
