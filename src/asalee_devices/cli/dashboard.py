"""``asalee-devices dashboard [--month YYYY-MM] [--out DIR] [--practice ID]``: the practice's monthly dashboard
(indicators per practice, nurse and GP) as a PDF and a CSV (``;``-separated, French labels). Default: this practice,
this month. ``--rebuild`` first rewrites the indicators store from the stored examinations.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 72


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="the practice's monthly dashboard (PDF + CSV)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--month", metavar="YYYY-MM", help="the month (default: this month)")
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("."),
                   help="where the PDF and the CSV are written (default: current folder)")
    p.add_argument("--practice", metavar="ID", help="practice code (default: this practice)")
    p.add_argument("--data", metavar="DIR", type=Path,
                   help="the practice's data folder (outbox, recordings, indicators; overrides the configuration)")
    p.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language (default fr)")
    p.add_argument("--rebuild", action="store_true",
                   help="rewrite the indicators store from the stored examinations first")
    p.set_defaults(handler=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    from asalee_devices.cli._record import with_output
    from asalee_devices.config import load_config
    from asalee_devices.files import atomic_write
    from asalee_devices.programme.dashboard import dashboard_for
    from asalee_devices.programme.indicators import rebuild, store_path
    from asalee_devices.reports.dashboard_pdf import render_dashboard_pdf

    cfg = with_output(load_config(args.config), args.data)
    if args.rebuild:
        counts = rebuild(Path(cfg.outbox).parent / "recordings", store_path(cfg))
        print(f"Indicateurs reconstruits : {sum(counts.values())} examen(s)")
    d = dashboard_for(cfg, month=args.month, practice=args.practice)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"tableau-de-bord-{d.practice_id}-{d.month}" if args.lang == "fr" else f"dashboard-{d.practice_id}-{d.month}"
    pdf, csv_path = args.out / f"{stem}.pdf", args.out / f"{stem}.csv"
    atomic_write(pdf, render_dashboard_pdf(d, args.lang))
    atomic_write(csv_path, d.csv_bytes(args.lang))
    exams = next((i.value for i in d.of("practice", d.practice_id) if i.key == "exams"), 0) or 0
    print(f"{'Tableau de bord' if args.lang == 'fr' else 'Dashboard'} {d.month}: {exams:.0f} examen(s)\n"
          f"  {pdf}\n  {csv_path}")
    return 0
