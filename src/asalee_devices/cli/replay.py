"""``asalee-devices replay DIR``: recompute an examination from its stored raw recordings and compare."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 80


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="re-analyse a stored examination from its raw recordings and compare",
                       description="Recompute the analysis of an examination folder (recordings/<exam id>/) and "
                                   "check it is byte-identical to the results stored at delivery.")
    p.add_argument("folder", type=Path, help="the examination's recordings folder")
    p.add_argument("--results-out", type=Path, help="write the recomputed results JSON here")
    p.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from asalee_devices.workflow.replay import replay

    r = replay(args.folder)
    if args.results_out:
        args.results_out.write_bytes(r.replayed)
    if r.identical:
        print(f"{r.kind} examination {r.exam_id}: replayed results are byte-identical ({len(r.replayed)} bytes)")
        return 0
    print(f"{r.kind} examination {r.exam_id}: replayed results DIFFER from the stored ones "
          f"({len(r.stored)} vs {len(r.replayed)} bytes)")
    return 1
