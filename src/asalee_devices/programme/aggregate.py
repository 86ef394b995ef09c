"""The programme's monthly indicators by practice, region and nationally from many practices' evaluation exports
(``asalee-devices evaluation aggregate``): one DuckDB query (``GROUPING SETS``) over the Parquet files, no loop of
ours over rows.

Every export folder is checked first (manifest present, ``exams.parquet`` matching the SHA-256 its manifest gives,
Parquet footer readable), with a progress bar; a bad file stops the run with an error naming it. Published cells
follow the SNDS small-numbers rule: a cell counting fewer than :data:`SUPPRESSION_THRESHOLD` (11) patients or
examinations has its figures suppressed (``suppressed = true``, values empty); cells of 0 are kept (nothing to
protect). Sources in ``docs/evaluation-export.md``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from asalee_devices.errors import FormatError, InputError
from asalee_devices.programme.evaluation import EXPORT_SCHEMA, EXPORT_SCHEMA_VERSION

SUPPRESSION_THRESHOLD = 11  # SNDS / ATIH ScanSanté: counts under 11 are not published
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_EXPORT_BYTES = 512 * 1024 * 1024  # one practice-month

#: (output column, SQL over the rows of a cell): counts first; rates are computed from them
MEASURES: tuple[tuple[str, str], ...] = (
    ("n_exams", "count(*)"),
    ("n_patients", "count(DISTINCT patient_pseudonym)"),
    ("n_practices", "count(DISTINCT practice_code)"),
    ("n_bpco_tabac", "count(*) FILTER (WHERE protocol = 'bpco-tabac')"),
    ("n_diabete_t2", "count(*) FILTER (WHERE protocol = 'diabete-t2')"),
    ("n_risque_cv", "count(*) FILTER (WHERE protocol = 'risque-cv')"),
    ("n_spirometry", "count(*) FILTER (WHERE kind = 'spirometry')"),
    ("n_grade_fev1_a", "count(*) FILTER (WHERE grade_fev1 = 'A')"),
    ("n_grade_fev1_b", "count(*) FILTER (WHERE grade_fev1 = 'B')"),
    ("n_grade_fev1_c", "count(*) FILTER (WHERE grade_fev1 = 'C')"),
    ("n_grade_fvc_a", "count(*) FILTER (WHERE grade_fvc = 'A')"),
    ("n_grade_fvc_b", "count(*) FILTER (WHERE grade_fvc = 'B')"),
    ("n_grade_fvc_c", "count(*) FILTER (WHERE grade_fvc = 'C')"),
    ("n_blows", "coalesce(sum(blows), 0)"),
    ("n_acceptable_fev1_blows", "coalesce(sum(acceptable_fev1_blows), 0)"),
    ("n_below_lln", "count(*) FILTER (WHERE below_lln)"),
    ("n_ecg", "count(*) FILTER (WHERE kind = 'ecg')"),
    ("n_ecg_first_acceptable", "count(*) FILTER (WHERE first_capture_acceptable)"),
    ("n_ecg_retakes", "coalesce(sum(retakes), 0)"),
    ("n_electrode_off", "coalesce(sum(electrode_off_count), 0)"),
)
REQUIRED_COLUMNS = frozenset({"month", "patient_pseudonym", "practice_code", "region", "protocol", "kind",
                              "grade_fev1", "grade_fvc", "blows", "acceptable_fev1_blows", "below_lln",
                              "first_capture_acceptable", "retakes", "electrode_off_count"})


@dataclass(frozen=True)
class AggregateResult:
    folder: Path
    files: int
    exam_rows: int
    cells: int
    suppressed_cells: int


def export_files(dirs: Sequence[Path]) -> list[Path]:
    """The ``exams.parquet`` of each export folder given, or of every export folder under a folder given."""
    files: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise InputError("Export folder not found", field="EXPORT_DIR", value=str(d))
        found = [d / "exams.parquet"] if (d / "exams.parquet").is_file() else sorted(d.rglob("exams.parquet"))
        if not found:
            raise InputError("No evaluation export in the folder", field="EXPORT_DIR", value=str(d),
                             expected="folders written by asalee-devices evaluation export")
        files += found
    return files


def check_export(path: Path) -> int:
    """Verify one export's ``exams.parquet`` against its manifest; returns its row count."""
    manifest_path = path.parent / "manifest.json"
    if not manifest_path.is_file() or manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise FormatError("Export without its manifest", field="EXPORT_DIR", value=str(path.parent),
                          expected="manifest.json beside exams.parquet")
    try:
        manifest = json.loads(manifest_path.read_bytes())
        expected = manifest["files"]["exams.parquet"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise FormatError("Export manifest unreadable", field="manifest", value=str(manifest_path)) from None
    size = path.stat().st_size
    if size > MAX_EXPORT_BYTES:
        raise FormatError("Export file too large", field="exams.parquet", value=str(path),
                          expected=f"<= {MAX_EXPORT_BYTES} bytes")
    data = path.read_bytes()  # read once: hashed, then its footer parsed from memory
    if hashlib.sha256(data).hexdigest() != expected:
        raise FormatError("Export file damaged: its SHA-256 differs from the manifest's", field="exams.parquet",
                          value=str(path), expected="the file as exported (export it again)")
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        meta = pf.metadata
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"Not a readable Parquet file ({exc})", field="exams.parquet", value=str(path)) from None
    missing = REQUIRED_COLUMNS - set(names)
    if missing:
        raise FormatError("Export lacks columns", field="exams.parquet", value=str(path),
                          expected=", ".join(sorted(missing)))
    if names != EXPORT_SCHEMA.names:  # the files are read by column position (union by name costs 1.8x memory)
        raise FormatError("Export schema differs from this version's", field="exams.parquet", value=str(path),
                          expected=f"the columns of export schema version {EXPORT_SCHEMA_VERSION}, in order")
    return int(meta.num_rows)


def progress_bar(stream: TextIO = sys.stderr, label: str = "vérification / checking") -> Callable[[int, int], None]:
    width = 30
    last = [-1]

    def show(done: int, total: int) -> None:
        filled = width * done // max(total, 1)
        if filled == last[0] and done != total:
            return
        last[0] = filled
        stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def _load(files: list[Path]) -> str:
    """Only the columns the measures use, from every export, into one DuckDB table (the aggregation then runs
    on it: about half the time and memory of aggregating straight from 30 000 small files)."""
    file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return (f"CREATE TEMP TABLE exams AS SELECT {', '.join(sorted(REQUIRED_COLUMNS))} "
            f"FROM read_parquet([{file_list}])")


def _query() -> str:
    measures = ",\n  ".join(f"{sql} AS {name}" for name, sql in MEASURES)
    keep = ", ".join(
        f"CASE WHEN suppressed THEN NULL ELSE {name} END AS {name}" for name, _ in MEASURES)
    return f"""
WITH cells AS (
  SELECT CASE WHEN grouping(region) = 1 THEN 'national'
              WHEN grouping(practice_code) = 1 THEN 'region' ELSE 'practice' END AS level,
         month, CASE WHEN grouping(region) = 1 THEN NULL ELSE region END AS region,
         CASE WHEN grouping(practice_code) = 1 THEN NULL ELSE practice_code END AS practice_code,
  {measures}
  FROM exams
  GROUP BY GROUPING SETS ((month, region, practice_code), (month, region), (month))
), flagged AS (
  SELECT *, (n_patients BETWEEN 1 AND {SUPPRESSION_THRESHOLD - 1}
             OR n_exams BETWEEN 1 AND {SUPPRESSION_THRESHOLD - 1}) AS suppressed FROM cells
)
SELECT level, month, region, practice_code, suppressed, {keep},
       CASE WHEN suppressed OR n_blows = 0 THEN NULL
            ELSE round(n_acceptable_fev1_blows / n_blows, 4) END AS acceptable_fev1_blow_rate,
       CASE WHEN suppressed OR n_ecg = 0 THEN NULL
            ELSE round(n_ecg_first_acceptable / n_ecg, 4) END AS ecg_first_acceptable_rate
FROM flagged
ORDER BY CASE level WHEN 'national' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, month, region, practice_code
"""


def arrow_table(result: Any) -> pa.Table:
    """A DuckDB result as an Arrow table (``to_arrow_table`` in DuckDB 2, ``fetch_arrow_table`` before)."""
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    table: pa.Table = fetch()
    return table


def aggregate(dirs: Sequence[Path], out: Path, *, progress: Callable[[int, int], None] | None = None,
              memory_limit: str = "3GB", threads: int = 2) -> AggregateResult:
    """Aggregate the exports under ``dirs`` into ``out/indicators.parquet`` + ``indicators.csv`` +
    ``manifest.json`` (written under a temporary name, renamed when complete)."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb

    files = export_files(dirs)
    rows = 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:  # hashing and footer parsing release the GIL
        for i, n in enumerate(pool.map(check_export, files)):  # in order: the first bad file is the one named
            rows += n
            if progress is not None:
                progress(i + 1, len(files))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".tmp-aggregate-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET threads = {int(threads)}")
            con.execute(f"SET temp_directory = '{str(tmp / 'spill').replace(chr(39), chr(39) * 2)}'")
            try:
                con.execute(_load(files))
                table = arrow_table(con.sql(_query()))
            except duckdb.Error as exc:
                raise FormatError(f"Aggregation failed on the exports ({exc})", field="EXPORT_DIR") from None
        finally:
            con.close()
        shutil.rmtree(tmp / "spill", ignore_errors=True)
        pq.write_table(table, tmp / "indicators.parquet", compression="zstd")
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, tmp / "indicators.csv")
        suppressed = int(sum(1 for s in table.column("suppressed").to_pylist() if s))
        manifest = {"format": "asalee-evaluation-aggregate", "version": 1, "exports": len(files),
                    "exam_rows": rows, "cells": table.num_rows, "suppressed_cells": suppressed,
                    "suppression_threshold": SUPPRESSION_THRESHOLD,
                    "files": {n: hashlib.sha256((tmp / n).read_bytes()).hexdigest()
                              for n in ("indicators.parquet", "indicators.csv")}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        final = out / "aggregate"
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return AggregateResult(final, len(files), rows, table.num_rows, suppressed)
