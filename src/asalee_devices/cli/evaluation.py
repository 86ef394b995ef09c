"""``asalee-devices evaluation export|aggregate``: the national evaluation of the ASALEE programme.

``export --month YYYY-MM --key-file FILE --out DIR``: this practice's month, consented patients only, pseudonymised
under the association's key (Parquet + CSV + deletion notice + manifest; ``docs/evaluation-export.md``).
``aggregate EXPORT_DIR... --out DIR``: monthly indicators by practice, region and nationally over many practices'
exports with DuckDB, cells under the SNDS small-numbers threshold suppressed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ORDER = 75


def register(sub: Any) -> None:
    p = sub.add_parser("evaluation", help="national evaluation: export this practice's month, aggregate exports",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="evaluation_command", metavar="ACTION", required=True)
    e = s.add_parser("export", help="export a month of this practice for the national evaluation")
    e.add_argument("--month", required=True, metavar="YYYY-MM", help="the month to export (not in the future)")
    e.add_argument("--key-file", metavar="FILE",
                   help="the association's pseudonymisation key (default: programme.key_file); never printed")
    e.add_argument("--out", metavar="DIR", type=Path, required=True, help="where the export folder is written")
    e.add_argument("--data", metavar="DIR", type=Path,
                   help="the practice's data folder (outbox, consent register, indicators; overrides the "
                        "configuration)")
    e.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    e.set_defaults(handler=_export)
    a = s.add_parser("aggregate", help="aggregate many practices' exports by practice, region and nationally")
    a.add_argument("exports", nargs="+", type=Path, metavar="EXPORT_DIR",
                   help="export folders, or folders holding them")
    a.add_argument("--out", metavar="DIR", type=Path, required=True, help="where aggregate/ is written")
    a.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit (default 3GB)")
    a.set_defaults(handler=_aggregate)


def _export(args: argparse.Namespace) -> int:
    from asalee_devices.cli._record import with_output
    from asalee_devices.config import load_config
    from asalee_devices.programme.evaluation import export_month

    cfg = with_output(load_config(args.config), args.data)
    r = export_month(cfg, month=args.month, key_file=args.key_file, out=args.out)
    print(f"Export {args.month}: {r.exams} examen(s), {r.patients} patient(s) consentant(s), "
          f"{r.excluded_without_consent} examen(s) sans consentement exclu(s), {r.deletions} suppression(s) "
          f"notifiée(s)\n  {r.folder}")
    return 0


def _aggregate(args: argparse.Namespace) -> int:
    import time

    from asalee_devices.programme.aggregate import aggregate, progress_bar

    t0 = time.monotonic()
    r = aggregate(args.exports, args.out, progress=progress_bar(sys.stderr), memory_limit=args.memory_limit)
    print(f"{r.files} export(s), {r.exam_rows} examen(s) -> {r.cells} cellule(s) "
          f"({r.suppressed_cells} masquée(s), seuil SNDS < 11) en {time.monotonic() - t0:.1f} s\n  {r.folder}")
    return 0
