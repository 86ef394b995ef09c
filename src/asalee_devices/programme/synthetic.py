"""Synthetic evaluation exports (the programme-side simulator): many practices x months of examination rows in the
export schema, each folder with its manifest, for the aggregation's tests and benchmark. Seeded, vectorised (numpy
+ pyarrow), no real identity: pseudonyms are random hexadecimal strings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from asalee_devices.programme.evaluation import EXPORT_SCHEMA, EXPORT_SCHEMA_VERSION

REGIONS = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94")
PROTOCOLS = ("bpco-tabac", "diabete-t2", "risque-cv")
GRADES = ("A", "B", "C", "D", "E", "F", "U")
LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class SyntheticSet:
    root: Path
    folders: int
    rows: int


def _hex(rng: np.random.Generator, n: int, chars: int) -> pa.StringArray:
    """``n`` random hexadecimal strings of ``chars`` characters, built as one Arrow buffer (no Python loop)."""
    data = rng.integers(0, 256, size=n * chars // 2, dtype=np.uint8).tobytes().hex().encode("ascii")
    offsets = np.arange(0, n * chars + 1, chars, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _pick(values: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.array(values).take(pa.array(idx))


def month_table(rng: np.random.Generator, *, month: str, practice: str, region: str, patients: pa.Array,
                n: int) -> pa.Table:
    kind_spiro = rng.random(n) < 0.55
    blows = np.where(kind_spiro, rng.integers(3, 9, n), 0)
    acc = np.minimum(blows, rng.binomial(blows, 0.75))
    grade = _pick(GRADES, rng.choice(len(GRADES), n, p=[.5, .15, .12, .08, .06, .05, .04]))
    grade_fvc = _pick(GRADES, rng.choice(len(GRADES), n, p=[.45, .17, .13, .09, .07, .05, .04]))
    ratio = rng.normal(0.76, 0.09, n)
    lln = rng.normal(0.69, 0.03, n)
    captures = np.where(kind_spiro, 0, rng.integers(1, 4, n))
    off_count = np.where(kind_spiro, 0, rng.binomial(np.maximum(captures - 1, 0), 0.8))
    y, m = (int(x) for x in month.split("-"))
    day = rng.integers(1, 29, n)

    def when(values: np.ndarray | pa.Array, typ: pa.DataType, spiro_only: bool) -> pa.Array:
        mask = pa.array(~kind_spiro if spiro_only else kind_spiro)
        arr = values.cast(typ) if isinstance(values, pa.Array) else pa.array(values, type=typ)
        return pc.if_else(mask, pa.nulls(n, typ), arr)

    cols = {
        "schema_version": pa.array(np.full(n, EXPORT_SCHEMA_VERSION), pa.int16()),
        "month": pa.array([month] * n), "exam_code": pa.array(_hex(rng, n, 32)),
        "patient_pseudonym": patients.take(pa.array(rng.integers(0, len(patients), n))),
        "practice_code": pa.array([practice] * n), "nurse_code": pa.array([practice[:8] + "n1"] * n),
        "region": pa.array([region] * n), "practice_department": pa.array([""] * n),
        "birth_year": pa.array(rng.integers(1935, 2000, n), pa.int16()),
        "sex": pa.array(np.where(rng.random(n) < 0.5, "female", "male")),
        "residence_department": pa.array([""] * n),
        "kind": pa.array(np.where(kind_spiro, "spirometry", "ecg")),
        "protocol": _pick(PROTOCOLS, rng.integers(0, 3, n)),
        "performed_on": pa.array((np.datetime64(date(y, m, 1), "D") + day - 1).astype("datetime64[D]"),
                                 pa.date32()),
        "blows": when(blows, pa.int32(), True), "acceptable_fev1_blows": when(acc, pa.int32(), True),
        "acceptable_fvc_blows": when(acc, pa.int32(), True), "grade_fev1": when(grade, pa.string(), True),
        "grade_fvc": when(grade_fvc, pa.string(), True), "failure_reasons": when(
            np.where(acc < blows, "bev_over_limit", ""), pa.string(), True),
        "fev1_l": when(rng.normal(2.8, 0.6, n), pa.float64(), True),
        "fvc_l": when(rng.normal(3.6, 0.7, n), pa.float64(), True),
        "fev1_fvc": when(ratio, pa.float64(), True), "fev1_fvc_lln": when(lln, pa.float64(), True),
        "fev1_z": when(rng.normal(-0.5, 1, n), pa.float64(), True),
        "fvc_z": when(rng.normal(-0.3, 1, n), pa.float64(), True),
        "fev1_fvc_z": when(rng.normal(-0.6, 1, n), pa.float64(), True),
        "below_lln": when(ratio < lln, pa.bool_(), True), "post_bd": when(np.zeros(n, bool), pa.bool_(), True),
        "captures": when(captures, pa.int32(), False),
        "first_capture_acceptable": when(rng.random(n) < 0.8, pa.bool_(), False),
        "retakes": when(np.maximum(captures - 1, 0), pa.int32(), False),
        "electrode_off": when(_pick(LEADS, rng.integers(0, len(LEADS), n)), pa.string(), False),
        "electrode_off_count": when(off_count, pa.int32(), False),
        "heart_rate_bpm": when(rng.normal(72, 10, n), pa.float64(), False),
    }
    return pa.Table.from_pydict(cols, schema=EXPORT_SCHEMA)


def write_export(folder: Path, table: pa.Table, *, month: str, practice: str, region: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    (folder / "exams.parquet").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = {"format": "asalee-evaluation-export", "version": EXPORT_SCHEMA_VERSION, "month": month,
                "practice_code": practice, "region": region, "synthetic": True,
                "counts": {"exams": table.num_rows}, "files": {"exams.parquet": digest}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def synthetic_exports(root: Path, *, practices: int, months: int, rows_per_month: float, seed: int = 21,
                      patients_per_practice: int = 400, shared_patients: int = 50, year: int = 2026
                      ) -> SyntheticSet:
    """``practices`` x ``months`` export folders under ``root`` (``<root>/<practice>/<month>/``). Each practice
    has its own patients; ``shared_patients`` pseudonyms are seen in several practices (moving patients), so the
    national distinct-patient count is not the sum of the practices'."""
    rng = np.random.default_rng(seed)
    shared = _hex(rng, shared_patients, 64)
    total = 0
    for p in range(practices):
        practice = hashlib.sha256(f"synthetic-practice-{seed}-{p}".encode()).hexdigest()[:16]
        region = REGIONS[p % len(REGIONS)]
        patients = pa.concat_arrays([_hex(rng, patients_per_practice, 64), shared])
        for m in range(months):
            month = f"{year}-{m + 1:02d}"
            n = int(rng.poisson(rows_per_month))
            table = month_table(rng, month=month, practice=practice, region=region, patients=patients, n=n)
            write_export(root / practice / month, table, month=month, practice=practice, region=region)
            total += n
    return SyntheticSet(root, practices * months, total)
