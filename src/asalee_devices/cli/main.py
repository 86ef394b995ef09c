"""Entry point of the ``asalee-devices`` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from asalee_devices import __version__
from asalee_devices.errors import AsaleeError

#: Exit codes.
EXIT_OK = 0
EXIT_INPUT = 2  # bad input, bad file, unreachable device: an AsaleeError
EXIT_INTERNAL = 3  # a bug: reported without a traceback unless --debug

DESCRIPTION = """\
asalee-devices: spirometry and 12-lead ECG for ASALEE nurses and GPs.

Acquires spirometer curves and resting ECGs (devices, simulators, vendor files), computes what the standards define
(ATS/ERS 2019 spirometry with GLI reference values; a diagnostic-grade clean ECG trace with technical quality checks
and heart rate — never an interpretation), and delivers FHIR R4 results to the practice record.
"""

EPILOG = """\
examples:
  asalee-devices spirometry analyze blow1.csv blow2.csv blow3.csv --sex F --age 58 --height-cm 162
  asalee-devices spirometry predict --sex M --age 55 --height-cm 175 --equation gli-2012
  asalee-devices ecg analyze record.hea --json
  asalee-devices demo

Run 'asalee-devices COMMAND --help' for the options of each command.
"""


def _command_modules() -> list[ModuleType]:
    import asalee_devices.cli as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in {"main"} or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if callable(getattr(mod, "register", None)):
            mods.append(mod)
    mods.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asalee-devices",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"asalee-devices {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_OK if args.command is None else EXIT_INPUT
    try:
        return handler(args)
    except AsaleeError as exc:
        print(f"asalee-devices: error: {exc}", file=sys.stderr)
        code = getattr(exc, "exit_code", EXIT_INPUT)  # StorageError: 4 when the examination is in the outbox
        return code if isinstance(code, int) else EXIT_INPUT
    except KeyboardInterrupt:
        print("asalee-devices: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into e.g. `head`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the CLI boundary never shows a bare traceback
        if args.debug:
            raise
        print(
            f"asalee-devices: internal error ({type(exc).__name__}): {exc}\n"
            "This is a bug in asalee-devices; run again with --debug for details and report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
