"""Programme benchmarks (issue 21).

1. Dashboard of one practice-month of 1 000 examinations (1 000 one-row Parquet files in the indicators store, as
   delivery writes them): ``programme.dashboard.compute`` (DuckDB) vs a peer in the same run (pyarrow reads the
   same files, a Python loop computes the practice-scope counts). Target < 1 s.
2. National aggregation: synthetic exports for 2 500 practices x 12 months (>= 5 million examination rows), the
   ``asalee-devices evaluation aggregate`` command in a child process: wall time and the child's peak RSS
   (DuckDB runs in that process). Target < 60 s, < 4 GB. The national figures are then checked against a direct
   computation with pyarrow.compute over the same files (a different engine).

``python bench/bench_programme.py [--practices 2500] [--months 12] [--rows 170] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def _dashboard_bench(tmp: Path, n: int = 1000) -> None:
    from asalee_devices.programme.dashboard import compute
    from asalee_devices.programme.indicators import SCHEMA, month_files, write_row

    rng = np.random.default_rng(1)
    store = tmp / "indicators"
    t0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
    for i in range(n):
        spiro = bool(rng.random() < 0.6)
        at = t0 + timedelta(hours=float(rng.integers(0, 24 * 28)))
        row = {k: None for k in SCHEMA.names}
        row.update(schema_version=1, exam_id=f"exam-{i:05d}", kind="spirometry" if spiro else "ecg",
                   month="2026-11", performed_at=at, performed_on=at.date(),
                   protocol=("bpco-tabac", "diabete-t2", "risque-cv")[i % 3], practice_id="cabinet",
                   nurse_code=f"8{10000000000 + i % 3}", gp_code=f"8{20000000000 + i % 5}", patient_key=f"p{i % 400}")
        if spiro:
            blows = int(rng.integers(3, 9))
            acc = int(rng.binomial(blows, 0.75))
            row.update(blows=blows, acceptable_fev1_blows=acc, acceptable_fvc_blows=acc,
                       grade_fev1="ABCDEF"[int(rng.integers(0, 6))], grade_fvc="ABCDEF"[int(rng.integers(0, 6))],
                       failure_reasons=["bev_over_limit"] * (blows - acc), fev1_fvc=0.7, fev1_fvc_lln=0.68,
                       below_lln=bool(rng.random() < 0.2), post_bd=False)
        else:
            caps = int(rng.integers(1, 4))
            row.update(captures=caps, retakes=caps - 1, first_capture_acceptable=caps == 1,
                       electrode_off=["V3"] * (caps - 1), heart_rate_bpm=70.0)
        write_row(store, row)
    files = month_files(store, "2026-11")
    s = time.perf_counter()
    compute(files, month="2026-11", practice="cabinet", outbox=tmp / "none.sqlite3")
    loose = time.perf_counter() - s
    from asalee_devices.cli._record import with_output
    from asalee_devices.config import Config
    from asalee_devices.programme.dashboard import dashboard_for

    cfg = with_output(Config(), tmp)
    s = time.perf_counter()
    dashboard_for(cfg, month="2026-11", practice="cabinet")  # compacts the month's 1 000 files, then computes
    first = time.perf_counter() - s
    times = []
    for _ in range(3):
        s = time.perf_counter()
        d = dashboard_for(cfg, month="2026-11", practice="cabinet")
        times.append(time.perf_counter() - s)
    ours = min(times)
    files = month_files(store, "2026-11")
    s = time.perf_counter()
    rows = [r for f in files for r in pq.ParquetFile(f).read().to_pylist()]
    counts = {"exams": len(rows), "blows": sum(r["blows"] or 0 for r in rows),
              "acceptable": sum(r["acceptable_fev1_blows"] or 0 for r in rows),
              "grade_A": sum(r["grade_fev1"] == "A" for r in rows)}
    peer = time.perf_counter() - s
    assert d.value("practice", "cabinet", "exams") == counts["exams"] == n
    assert d.value("practice", "cabinet", "grade_fev1_A") == counts["grade_A"]
    print(f"dashboard, 1 practice-month of {n} examinations: {ours * 1000:.0f} ms from the compacted month "
          f"(target < 1000 ms); first call {first * 1000:.0f} ms (compacts the {n} per-examination files); "
          f"without compaction {loose * 1000:.0f} ms; peer pyarrow+Python loop over the same compacted file "
          f"(4 counts only): {peer * 1000:.0f} ms; ratio peer/ours {peer / ours:.2f}")


def _national_bench(root: Path, practices: int, months: int, rows: float, out: Path) -> None:
    from asalee_devices.programme.synthetic import synthetic_exports

    s = time.perf_counter()
    if not (root / "done").is_file():
        syn = synthetic_exports(root, practices=practices, months=months, rows_per_month=rows,
                                patients_per_practice=600, shared_patients=2000)
        (root / "done").write_text(str(syn.rows))
        n_rows = syn.rows
    else:
        n_rows = int((root / "done").read_text())
    print(f"synthetic exports: {practices} practices x {months} months = {practices * months} folders, "
          f"{n_rows} examination rows ({time.perf_counter() - s:.0f} s to generate)")
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    s = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "evaluation", "aggregate", str(root),
                           "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - s
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    print(proc.stdout.strip())
    print(f"aggregation of {n_rows} rows: {wall:.1f} s wall (target < 60 s), peak RSS of the aggregating process "
          f"{peak_kib / 1024 / 1024:.2f} GB (target < 4 GB; previous children peak {before / 1024 / 1024:.2f} GB)")
    # direct computation with pyarrow.compute (another engine) over the same files: national figures per month
    s = time.perf_counter()
    cols = ["month", "patient_pseudonym", "kind", "grade_fev1", "blows", "acceptable_fev1_blows", "below_lln"]
    table = pa.concat_tables(pq.read_table(f, columns=cols) for f in sorted(root.rglob("exams.parquet")))
    direct = table.group_by("month").aggregate([
        ("patient_pseudonym", "count"), ("patient_pseudonym", "count_distinct"), ("blows", "sum"),
        ("acceptable_fev1_blows", "sum")]).to_pylist()
    grade_a = table.filter(pc.equal(table["grade_fev1"], "A")).group_by("month").aggregate(
        [("month", "count")]).to_pylist()
    below = table.filter(pc.equal(table["below_lln"], True)).group_by("month").aggregate(
        [("month", "count")]).to_pylist()
    peer = time.perf_counter() - s
    agg = pq.read_table(out / "aggregate" / "indicators.parquet").to_pylist()
    national = {c["month"]: c for c in agg if c["level"] == "national"}
    for d in direct:
        c = national[d["month"]]
        assert c["n_exams"] == d["patient_pseudonym_count"], (c, d)
        assert c["n_patients"] == d["patient_pseudonym_count_distinct"]
        assert c["n_blows"] == d["blows_sum"] and c["n_acceptable_fev1_blows"] == d["acceptable_fev1_blows_sum"]
    for g in grade_a:
        assert national[g["month"]]["n_grade_fev1_a"] == g["month_count"]
    for b in below:
        assert national[b["month"]]["n_below_lln"] == b["month_count"]
    print(f"national figures ({len(direct)} months: exams, distinct patients, blows, acceptable blows, grade A, "
          f"below LLN) equal the direct pyarrow.compute computation; peer (national level only, {len(cols)} "
          f"columns) {peer:.1f} s vs aggregate {wall:.1f} s (3 levels, 20 measures, with checks)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--practices", type=int, default=2500)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--rows", type=float, default=170.0)
    ap.add_argument("--keep", type=Path, help="keep/reuse the synthetic exports in this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        _dashboard_bench(tmp)
        root = args.keep or tmp / "exports"
        root.mkdir(parents=True, exist_ok=True)
        _national_bench(root, args.practices, args.months, args.rows, tmp / "agg")


if __name__ == "__main__":
    main()
