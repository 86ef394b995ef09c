"""The national evaluation export of one practice-month (``asalee-devices evaluation export``).

Only patients with an active consent (``programme.consent``) are exported. Every identifier is replaced by an
HMAC-SHA-256 under the association's key (a key file given by the command line or ``programme.key_file``; never
printed, never written to the export; only its key id, an HMAC of a fixed text, goes in the manifest so the
association knows which key a file was made with): the patient pseudonym (of the INS, or of the practice's patient
number), the examination, the practice and the nurse codes. No NIR, no name, no full birth date: birth year, sex,
department of residence. Files: ``exams.parquet`` + ``exams.csv`` (same rows), ``deletion-notice.csv`` (rows already
exported for patients who withdrew since), ``manifest.json`` (counts, per-file SHA-256, a digest of them). The folder
is built under a temporary name and renamed when complete: a failed export leaves no partial files.
Columns and code lists: ``docs/evaluation-export.md``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from asalee_devices import __version__
from asalee_devices.errors import ConfigError, InputError
from asalee_devices.files import atomic_write

if TYPE_CHECKING:
    from asalee_devices.config import Config

EXPORT_SCHEMA_VERSION = 1
MIN_KEY_BYTES = 32  # HMAC-SHA-256: a key at least as long as the hash output (RFC 2104 section 3)
MAX_KEY_FILE_BYTES = 4096
MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

EXPORT_SCHEMA = pa.schema([
    ("schema_version", pa.int16()),
    ("month", pa.string()),
    ("exam_code", pa.string()),
    ("patient_pseudonym", pa.string()),
    ("practice_code", pa.string()),
    ("nurse_code", pa.string()),
    ("region", pa.string()),
    ("practice_department", pa.string()),
    ("birth_year", pa.int16()),
    ("sex", pa.string()),
    ("residence_department", pa.string()),
    ("kind", pa.string()),
    ("protocol", pa.string()),
    ("performed_on", pa.date32()),
    ("blows", pa.int32()),
    ("acceptable_fev1_blows", pa.int32()),
    ("acceptable_fvc_blows", pa.int32()),
    ("grade_fev1", pa.string()),
    ("grade_fvc", pa.string()),
    ("failure_reasons", pa.string()),
    ("fev1_l", pa.float64()),
    ("fvc_l", pa.float64()),
    ("fev1_fvc", pa.float64()),
    ("fev1_fvc_lln", pa.float64()),
    ("fev1_z", pa.float64()),
    ("fvc_z", pa.float64()),
    ("fev1_fvc_z", pa.float64()),
    ("below_lln", pa.bool_()),
    ("post_bd", pa.bool_()),
    ("captures", pa.int32()),
    ("first_capture_acceptable", pa.bool_()),
    ("retakes", pa.int32()),
    ("electrode_off", pa.string()),
    ("electrode_off_count", pa.int32()),
    ("heart_rate_bpm", pa.float64()),
], metadata={"asalee-evaluation-schema": str(EXPORT_SCHEMA_VERSION)})

#: measured facts copied unchanged from the indicators store
_FACTS = ("kind", "protocol", "performed_on", "blows", "acceptable_fev1_blows", "acceptable_fvc_blows", "grade_fev1",
          "grade_fvc", "fev1_l", "fvc_l", "fev1_fvc", "fev1_fvc_lln", "fev1_z", "fvc_z", "fev1_fvc_z", "below_lln",
          "post_bd", "captures", "first_capture_acceptable", "retakes", "heart_rate_bpm")


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    exams: int
    patients: int
    deletions: int
    excluded_without_consent: int


class Pseudonymiser:
    """HMAC-SHA-256 under the association's key; one instance per export (the key never leaves it)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def code(self, domain: str, value: str, length: int = 64) -> str:
        return hmac.new(self._key, f"asalee|{domain}|{value}".encode(), hashlib.sha256).hexdigest()[:length]

    @property
    def key_id(self) -> str:
        return self.code("key-id", "", 12)

    def __repr__(self) -> str:  # never the key
        return f"Pseudonymiser(key_id={self.key_id})"


def read_key_file(path: str | Path | None) -> Pseudonymiser:
    """The association's key: the file's bytes (or the bytes its hexadecimal text decodes to), at least
    :data:`MIN_KEY_BYTES`. Errors name the file, never its content."""
    if not path:
        raise ConfigError("No pseudonymisation key file", field="--key-file",
                          expected="the association's key file (--key-file or programme.key_file)")
    p = Path(path)
    if not p.is_file():
        raise InputError("Key file not found", field="--key-file", value=str(p))
    size = p.stat().st_size
    if size > MAX_KEY_FILE_BYTES:
        raise InputError("Key file too large", field="--key-file", value=str(p),
                         expected=f"<= {MAX_KEY_FILE_BYTES} bytes")
    raw = p.read_bytes()
    text = raw.strip()
    key = raw
    if text and re.fullmatch(rb"[0-9a-fA-F]+", text) and len(text) % 2 == 0:
        key = bytes.fromhex(text.decode("ascii"))
    if len(key) < MIN_KEY_BYTES:
        raise InputError(f"Key file too short ({len(key)} bytes of key)", field="--key-file", value=str(p),
                         expected=f">= {MIN_KEY_BYTES} random bytes (e.g. 64 hexadecimal characters)")
    return Pseudonymiser(key)


def check_month(month: str, *, today: datetime | None = None) -> str:
    if not MONTH_RE.fullmatch(month):
        raise InputError("Bad month", field="--month", value=month, expected="YYYY-MM")
    now = today or datetime.now(UTC)
    if month > now.strftime("%Y-%m"):
        raise InputError("Export month is in the future", field="--month", value=month,
                         expected=f"{now.strftime('%Y-%m')} or earlier")
    return month


def _read_rows(store: Path, month: str) -> list[dict[str, Any]]:
    from asalee_devices.programme.indicators import month_files, read_rows

    return read_rows(month_files(store, month))


def _csv_bytes(table: pa.Table) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.column_names)
    for row in table.to_pylist():
        w.writerow(["" if v is None else (str(v).lower() if isinstance(v, bool) else v) for v in row.values()])
    return buf.getvalue().encode("utf-8")


def export_month(config: Config, *, month: str, key_file: str | Path | None, out: Path,
                 today: datetime | None = None) -> ExportResult:
    """Export the practice's month for the national evaluation (see the module docstring)."""
    from asalee_devices.programme.consent import ConsentRegister, register_path
    from asalee_devices.programme.indicators import practice_id, store_path

    check_month(month, today=today)
    ps = read_key_file(key_file or config.programme.key_file)
    prog = config.programme
    practice_code = ps.code("practice", practice_id(config), 16)
    rows = _read_rows(store_path(config), month)
    with ConsentRegister(register_path(config)) as reg:
        consenting = reg.consenting()
        withdrawn = reg.withdrawn_patients()

        def pseudonym(pkey: str, table: Any) -> str:
            p = table[pkey]
            return ps.code("patient", f"{p.id_system}|{p.id_value}")

        exported: list[dict[str, Any]] = []
        carried: list[tuple[str, str]] = []
        excluded = 0
        for r in sorted(rows, key=lambda r: (r["performed_at"], r["exam_id"])):
            patient = consenting.get(r["patient_key"])
            if patient is None:
                excluded += 1
                continue
            off = r["electrode_off"] or []
            exported.append({
                "schema_version": EXPORT_SCHEMA_VERSION, "month": month,
                "exam_code": ps.code("exam", r["exam_id"], 32), "patient_pseudonym": pseudonym(r["patient_key"],
                                                                                                consenting),
                "practice_code": practice_code, "nurse_code": ps.code("nurse", r["nurse_code"], 16),
                "region": prog.region, "practice_department": prog.department, "birth_year": patient.birth_year,
                "sex": patient.sex, "residence_department": patient.department,
                "failure_reasons": ";".join(r["failure_reasons"] or []) if r["kind"] == "spirometry" else None,
                "electrode_off": ";".join(off) if r["kind"] == "ecg" else None,
                "electrode_off_count": len(off) if r["kind"] == "ecg" else None,
                **{k: r[k] for k in _FACTS}})
            carried.append((r["exam_id"], r["patient_key"]))
        deletions = [(ps.code("patient", f"{withdrawn[pk].id_system}|{withdrawn[pk].id_value}"),
                      ps.code("exam", exam_id, 32), m) for pk, exam_id, m in reg.to_delete()]
        to_notify = [exam_id for _pk, exam_id, _m in reg.to_delete()]

        table = pa.Table.from_pylist(exported, schema=EXPORT_SCHEMA)
        name = f"asalee-evaluation-{month}-{practice_code}"
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            files = {"exams.parquet": buf.getvalue(), "exams.csv": _csv_bytes(table)}
            notice = io.StringIO()
            w = csv.writer(notice, lineterminator="\n")
            w.writerow(["patient_pseudonym", "exam_code", "exported_month"])
            w.writerows(deletions)
            files["deletion-notice.csv"] = notice.getvalue().encode("utf-8")
            digests = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
            digest = hashlib.sha256("".join(f"{n}\n{d}\n" for n, d in sorted(digests.items())).encode()
                                    ).hexdigest()
            counts = {"exams": table.num_rows, "patients": len({r["patient_pseudonym"] for r in exported}),
                      "spirometry": sum(1 for r in exported if r["kind"] == "spirometry"),
                      "ecg": sum(1 for r in exported if r["kind"] == "ecg"),
                      "deletions": len(deletions), "excluded_without_consent": excluded}
            manifest: dict[str, Any] = {
                "format": "asalee-evaluation-export", "version": EXPORT_SCHEMA_VERSION, "month": month,
                "practice_code": practice_code, "region": prog.region, "practice_department": prog.department,
                "key_id": ps.key_id, "software_version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "counts": counts, "files": digests, "digest": digest,
            }
            files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
            for n, b in files.items():
                atomic_write(tmp / n, b)
            # remember what was carried before the folder appears: at worst a deletion is notified twice
            reg.commit_export(digest, month, carried, to_notify)
            final = out / name
            if final.exists():
                old = out / f".old-{name}-{uuid.uuid4().hex[:8]}"
                final.rename(old)
                tmp.rename(final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ExportResult(final, table.num_rows, counts["patients"], len(deletions), excluded)
