"""The indicators store: one row of measured facts per delivered examination, Parquet files partitioned by month.

``<store>/month=YYYY-MM/<exam id>.parquet`` holds one row (schema :data:`SCHEMA`, version in the file metadata and
in the ``schema_version`` column). A row is written atomically (temporary file, fsync, rename) when the examination
is delivered (``workflow.delivery`` -> :func:`record_examination`); writing the same examination again replaces its
row, so a re-delivery or a rebuild never duplicates it. :func:`rebuild` recomputes every row from the stored
examinations (``recordings/<exam id>/exam.json``, ``results.json`` and ``programme.json``).

No names, no NIR, no birth date: the patient is the consent register's local key (``programme.consent``); the
nurse and the GP are their national professional identifiers (idNatPs), or a short local code when none is
configured.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from asalee_devices.errors import FormatError
from asalee_devices.files import atomic_write

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.fhir_out.context import PatientContext, PerformerContext
    from asalee_devices.programme.protocols import Protocol as AsaleeProtocol

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PROGRAMME = "programme.json"  # beside exam.json / results.json in the examination folder
COMPACTED = "_compacted.parquet"  # a month's rows merged (programme.indicators.compact)
MAX_DOC_BYTES = 16 * 1024 * 1024

SCHEMA = pa.schema([
    ("schema_version", pa.int16()),
    ("exam_id", pa.string()),
    ("kind", pa.string()),  # spirometry | ecg
    ("month", pa.string()),  # YYYY-MM of performed_at (UTC)
    ("performed_at", pa.timestamp("us", tz="UTC")),
    ("performed_on", pa.date32()),
    ("protocol", pa.string()),  # programme.protocols code, "" when none was given
    ("practice_id", pa.string()),
    ("nurse_code", pa.string()),
    ("gp_code", pa.string()),
    ("patient_key", pa.string()),  # consent register's local key, "" when unknown
    # spirometry (pre-bronchodilator phase)
    ("blows", pa.int32()),
    ("acceptable_fev1_blows", pa.int32()),
    ("acceptable_fvc_blows", pa.int32()),
    ("grade_fev1", pa.string()),  # A-F, U; null when no session
    ("grade_fvc", pa.string()),
    ("failure_reasons", pa.list_(pa.string())),  # every reason code of each blow not acceptable for FEV1
    ("fev1_l", pa.float64()),
    ("fvc_l", pa.float64()),
    ("fev1_fvc", pa.float64()),  # fraction
    ("fev1_fvc_lln", pa.float64()),  # fraction, reference equation's 5th centile
    ("fev1_z", pa.float64()),
    ("fvc_z", pa.float64()),
    ("fev1_fvc_z", pa.float64()),
    ("below_lln", pa.bool_()),  # measured FEV1/FVC < its LLN; null without reference values
    ("post_bd", pa.bool_()),
    ("calibration_verified", pa.bool_()),  # null: not recorded (stored before the calibration log existed)
    # ECG
    ("captures", pa.int32()),
    ("first_capture_acceptable", pa.bool_()),
    ("retakes", pa.int32()),
    ("electrode_off", pa.list_(pa.string())),  # one entry per capture and electrode found off
    ("heart_rate_bpm", pa.float64()),
], metadata={"asalee-indicators-schema": str(SCHEMA_VERSION)})


def store_path(config: Config) -> Path:
    p = config.programme.indicators
    return Path(p) if p else Path(config.outbox).parent / "indicators"


def practice_id(config: Config) -> str:
    return config.programme.practice_id or config.practice.finess or "cabinet"


def professional_code(person: PerformerContext | None) -> str:
    """idNatPs (8 + RPPS / 0 + ADELI), else a short code of the name (local use only), "" without a person."""
    if person is None:
        return ""
    ident = person.id_nat_ps
    if ident is not None:
        return ident[1]
    return "local-" + hashlib.sha256(f"{person.family}|{person.given}".encode()).hexdigest()[:8]


# --- recording ----------------------------------------------------------------------------------------------------
class ProgrammeSetup(Protocol):
    """What recording an examination's row reads of its setup (:class:`asalee_devices.workflow.setup.ExaminationSetup`
    satisfies it): described here rather than imported, so the dashboard, a renderer, does not reach the workflow and,
    through it, ``signal/`` (issue 19)."""

    @property
    def config(self) -> Config: ...
    @property
    def patient(self) -> PatientContext: ...
    @property
    def performer(self) -> PerformerContext | None: ...
    @property
    def gp(self) -> PerformerContext | None: ...
    @property
    def protocol(self) -> AsaleeProtocol | None: ...


def programme_doc(setup: ProgrammeSetup, *, patient_key: str) -> dict[str, Any]:
    return {"format": "asalee-programme", "version": 1,
            "protocol": setup.protocol.code if setup.protocol is not None else "",
            "practice_id": practice_id(setup.config), "nurse_code": professional_code(setup.performer),
            "gp_code": professional_code(setup.gp), "patient_key": patient_key}


def write_programme(setup: ProgrammeSetup, *, folder: Path) -> None:
    """Write the examination's ``programme.json`` (protocol, practice, nurse and GP codes, local patient key) beside
    its recordings, before it is queued: the one part of its indicators row that needs the patient's identity, so
    that :func:`backfill` can complete the row after a crash without it. A failure is logged (no patient data):
    the row then carries empty programme codes."""
    from asalee_devices.programme.consent import ConsentRegister, register_path

    try:
        with ConsentRegister(register_path(setup.config)) as reg:
            pkey = reg.patient_key(setup.patient)
        data = json.dumps(programme_doc(setup, patient_key=pkey), sort_keys=True, indent=1).encode("utf-8")
        atomic_write(folder / PROGRAMME, data)
    except Exception as exc:
        log.warning("programme context not stored for examination %s (%s)", folder.name, type(exc).__name__)


def record_examination(setup: ProgrammeSetup, *, folder: Path) -> None:
    """Called by ``workflow.delivery`` once the examination is in the outbox: its row in the indicators store (and
    its ``programme.json`` if :func:`write_programme` did not run). A failure is logged (no patient data) and leaves
    the delivery alone: the recovery pass (:func:`backfill`) or ``asalee-devices dashboard --rebuild`` restores it."""
    if not (folder / PROGRAMME).is_file():
        write_programme(setup, folder=folder)
    try:
        write_row(store_path(setup.config), row_from_folder(folder))
    except Exception as exc:  # the examination is safe in the outbox; the store is rebuilt from the folders
        log.warning("indicators store not updated for examination %s (%s); run asalee-devices dashboard "
                    "--rebuild", folder.name, type(exc).__name__)


def backfill(recordings: Path, store: Path) -> int:
    """Write the missing row of every stored examination (results and programme context present, no row in its
    month's per-examination file nor in the compacted file): what a crash between the outbox commit and the row
    left out. Idempotent; returns how many rows were written."""
    compacted: dict[str, set[str]] = {}
    written = 0
    for folder in examination_folders(recordings):
        if not (folder / PROGRAMME).is_file():
            continue
        manifest = _json(folder / "exam.json")
        month = datetime.fromisoformat(str(manifest["performed_at"])).astimezone(UTC).strftime("%Y-%m")
        exam_id = str(manifest["exam_id"])
        if (store / f"month={month}" / f"{exam_id}.parquet").is_file():
            continue
        if month not in compacted:
            path = store / f"month={month}" / COMPACTED
            compacted[month] = (set(pq.read_table(path, columns=["exam_id"]).column("exam_id").to_pylist())
                                if path.is_file() else set())
        if exam_id not in compacted[month]:
            write_row(store, row_from_folder(folder))
            written += 1
    if written:
        log.info("indicators store: %d row(s) completed from the stored examinations", written)
    return written


IMPORTED = "imported"  # recordings/imported/<exam id>/: ECGs imported from files (no raw recording of ours)


def record_import(config: Config, *, exam_id: str, performed_at: datetime, results: bytes,
                  patient: PatientContext, protocol: str, nurse: PerformerContext | None,
                  gp: PerformerContext | None) -> None:
    """The indicators row of an ECG imported from a file (watched folder, ``ecg import``), once it is in the
    outbox: its manifest, results and programme facts under ``recordings/imported/<exam id>/`` (so a rebuild finds
    it) and its row. Like :func:`record_examination`, a failure is logged and leaves the delivery alone."""
    from asalee_devices.programme.consent import ConsentRegister, register_path

    folder = Path(config.outbox).parent / "recordings" / IMPORTED / exam_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with ConsentRegister(register_path(config)) as reg:
            pkey = reg.patient_key(patient)
        manifest = {"format": "asalee-imported-ecg", "version": 1, "kind": "ecg", "exam_id": exam_id,
                    "performed_at": performed_at.isoformat()}
        prog = {"format": "asalee-programme", "version": 1, "protocol": protocol,
                "practice_id": practice_id(config), "nurse_code": professional_code(nurse),
                "gp_code": professional_code(gp), "patient_key": pkey}
        atomic_write(folder / "exam.json", json.dumps(manifest, sort_keys=True, indent=1).encode("utf-8"))
        atomic_write(folder / "results.json", results)
        atomic_write(folder / PROGRAMME, json.dumps(prog, sort_keys=True, indent=1).encode("utf-8"))
        write_row(store_path(config), row_from_folder(folder))
    except Exception as exc:  # the examination is safe in the outbox
        log.warning("indicators store not updated for imported ECG %s (%s); run asalee-devices dashboard "
                    "--rebuild", exam_id, type(exc).__name__)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_row(store: Path, row: dict[str, Any]) -> Path:
    buf = io.BytesIO()
    pq.write_table(_table([row]), buf, compression="zstd")
    path = store / f"month={row['month']}" / f"{row['exam_id']}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
    return path


# --- rows from the stored examinations ----------------------------------------------------------------------------
def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FormatError("Examination document missing", field=path.name, value=str(path.parent.name))
    if path.stat().st_size > MAX_DOC_BYTES:
        raise FormatError("Examination document too large", field=path.name, expected=f"<= {MAX_DOC_BYTES} B")
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FormatError("Examination document is not JSON", field=path.name, value=path.parent.name) from None
    if not isinstance(doc, dict):
        raise FormatError("Examination document is not a JSON object", field=path.name, value=path.parent.name)
    return doc


def _param(params: list[dict[str, Any]], name: str, key: str) -> float | None:
    for p in params:
        if p.get("name") == name:
            v = p.get(key)
            return None if v is None else float(v)
    return None


def _spirometry(res: dict[str, Any]) -> dict[str, Any]:
    pre = (res.get("phases") or {}).get("pre") or {}
    session = pre.get("session") or {}
    blows = session.get("blows") or []
    params = pre.get("parameters") or []
    ratio, lln = session.get("fev1_fvc"), _param(params, "fev1_fvc", "lln")
    reasons = [code for b in blows if not b["acceptability"]["acceptable_fev1"]
               for code in (b["acceptability"]["reasons"] or ["other"])]
    return {"blows": int(pre.get("blows", 0)),
            "acceptable_fev1_blows": sum(1 for b in blows if b["acceptability"]["acceptable_fev1"]),
            "acceptable_fvc_blows": sum(1 for b in blows if b["acceptability"]["acceptable_fvc"]),
            "grade_fev1": session.get("grade_fev1"), "grade_fvc": session.get("grade_fvc"),
            "failure_reasons": reasons, "fev1_l": session.get("fev1_l"), "fvc_l": session.get("fvc_l"),
            "fev1_fvc": ratio, "fev1_fvc_lln": lln, "fev1_z": _param(params, "fev1", "z_score"),
            "fvc_z": _param(params, "fvc", "z_score"), "fev1_fvc_z": _param(params, "fev1_fvc", "z_score"),
            "below_lln": None if ratio is None or lln is None else bool(ratio < lln),
            "post_bd": "post" in (res.get("phases") or {}), "calibration_verified": None}


def _ecg(res: dict[str, Any]) -> dict[str, Any]:
    caps = [c for c in (res.get("captures") or []) if c is not None]
    off = [f["lead"] for c in caps for f in c["quality"]["findings"] if f["code"] == "lead_off" and f.get("lead")]
    kept = res.get("kept")
    hr = None
    if isinstance(kept, int) and 0 <= kept < len(res.get("captures") or []):
        k = res["captures"][kept]
        hr = None if k is None else (k.get("heart") or {}).get("heart_rate_bpm")
    return {"captures": len(res.get("captures") or []),
            "first_capture_acceptable": (caps[0]["verdict"] == "acceptable") if caps else None,
            "retakes": max(0, len(res.get("captures") or []) - 1), "electrode_off": off, "heart_rate_bpm": hr}


def row_from_folder(folder: Path) -> dict[str, Any]:
    """The indicators row of one stored examination (``programme.json`` may be absent for examinations stored
    before the programme context existed: protocol and codes are then empty)."""
    manifest = _json(folder / "exam.json")
    results = _json(folder / "results.json")
    prog = _json(folder / PROGRAMME) if (folder / PROGRAMME).is_file() else {}
    performed = datetime.fromisoformat(str(manifest["performed_at"])).astimezone(UTC)
    kind = str(manifest["kind"])
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(schema_version=SCHEMA_VERSION, exam_id=str(manifest["exam_id"]), kind=kind,
               month=performed.strftime("%Y-%m"), performed_at=performed, performed_on=performed.date(),
               protocol=str(prog.get("protocol", "")), practice_id=str(prog.get("practice_id", "")),
               nurse_code=str(prog.get("nurse_code", "")), gp_code=str(prog.get("gp_code", "")),
               patient_key=str(prog.get("patient_key", "")))
    row.update(_spirometry(results) if kind == "spirometry" else _ecg(results))
    calibration = manifest.get("calibration")
    if kind == "spirometry" and isinstance(calibration, dict):  # absent: stored before the calibration log existed
        row["calibration_verified"] = bool(calibration.get("verified_that_day"))
    return row


def examination_folders(recordings: Path) -> Iterator[Path]:
    """The stored examinations: ``recordings/<exam id>/`` and the imported ECGs ``recordings/imported/<id>/``."""
    for root in (recordings, recordings / IMPORTED):
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                if (folder / "exam.json").is_file() and (folder / "results.json").is_file():
                    yield folder


def rebuild(recordings: Path, store: Path) -> Counter[str]:
    """Rewrite the store's rows from every stored examination; returns the count per month. Folders that cannot
    be read are named in the error (nothing else is changed for them)."""
    for old in store.glob(f"month=*/{COMPACTED}"):
        old.unlink()
    counts: Counter[str] = Counter()
    for folder in examination_folders(recordings):
        row = row_from_folder(folder)
        write_row(store, row)
        counts[row["month"]] += 1
    return counts


def month_files(store: Path, month: str | None = None) -> list[Path]:
    """The month's files: the compacted one (if any) first, then one file per examination written since."""
    pattern = f"month={month}/*.parquet" if month else "month=*/*.parquet"
    return sorted(store.glob(pattern), key=lambda p: (p.parent.name, p.name != COMPACTED, p.name))


def _read_many(files: list[Path]) -> pa.Table:
    """Many one-row files at once (DuckDB opens them in parallel: about 3x faster than one by one)."""
    import duckdb

    from asalee_devices.programme.aggregate import arrow_table

    file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        table = arrow_table(con.sql(f"SELECT {', '.join(SCHEMA.names)} FROM read_parquet([{file_list}], "
                                    "hive_partitioning = false, union_by_name = true)"))
    except duckdb.Error as exc:
        raise FormatError(f"Indicators files unreadable ({exc})", field="indicators",
                          expected="Parquet files (rebuild with asalee-devices dashboard --rebuild)") from None
    finally:
        con.close()
    return table.cast(SCHEMA)


def _read_table(f: Path) -> pa.Table:
    try:
        return pq.ParquetFile(f).read().cast(SCHEMA)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"Indicators file unreadable ({exc})", field="indicators", value=str(f),
                          expected="a Parquet file (rebuild with asalee-devices dashboard --rebuild)") from None


def read_rows(files: list[Path]) -> list[dict[str, Any]]:
    """The rows of ``files``, one per examination: a per-examination file wins over the compacted file (it was
    written later). Unreadable files are named in the error."""
    rows: dict[str, dict[str, Any]] = {}
    for f in files:
        for r in _read_table(f).to_pylist():
            if f.name != COMPACTED or r["exam_id"] not in rows:
                rows[r["exam_id"]] = r
    return list(rows.values())


def compact(store: Path, month: str, *, min_files: int = 20) -> int:
    """Merge the month's per-examination files into ``month=M/_compacted.parquet`` (atomically), then delete the
    merged files; returns how many were merged (0 below ``min_files``). Readers see every row at every moment: the
    compacted file is complete before any file it holds is removed, and a row written meanwhile stays in its own
    file (a per-examination file wins over the compacted one)."""
    files = month_files(store, month)
    loose = [f for f in files if f.name != COMPACTED]
    if len(loose) < min_files:
        return 0
    merged = _read_many(loose)
    compacted = store / f"month={month}" / COMPACTED
    if compacted.is_file():  # rows of the compacted file that no per-examination file replaces
        import pyarrow.compute as pc

        old = _read_table(compacted)
        old = old.filter(pc.invert(pc.is_in(old["exam_id"], value_set=merged["exam_id"])))
        merged = pa.concat_tables([old, merged])
    merged = merged.sort_by([("performed_at", "ascending"), ("exam_id", "ascending")])
    buf = io.BytesIO()
    pq.write_table(merged, buf, compression="zstd")
    atomic_write(compacted, buf.getvalue())
    for f in loose:
        f.unlink(missing_ok=True)
    return len(loose)
