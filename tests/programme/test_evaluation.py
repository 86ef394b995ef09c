"""The national evaluation export and its aggregation."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.programme.conftest import OTHER, PATIENT

from asalee_devices.cli._record import with_output
from asalee_devices.cli.main import main
from asalee_devices.config import Config
from asalee_devices.errors import ConfigError, FormatError, InputError
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.programme import evaluation, indicators
from asalee_devices.programme.aggregate import SUPPRESSION_THRESHOLD, aggregate
from asalee_devices.programme.consent import ConsentRegister, register_path
from asalee_devices.programme.synthetic import synthetic_exports

KEY = "a1" * 32
KEY2 = "b2" * 32


@pytest.fixture()
def practice(practice_month: Path, tmp_path: Path) -> tuple[Config, Path, Path]:
    """A private copy of the practice month (the tests change consents), with the keys."""
    data = tmp_path / "data"
    shutil.copytree(practice_month, data)
    (tmp_path / "key").write_text(KEY, encoding="ascii")
    (tmp_path / "key2").write_text(KEY2, encoding="ascii")
    return with_output(Config(), data), tmp_path / "key", tmp_path / "key2"


def _month(cfg: Config) -> str:
    return indicators.month_files(indicators.store_path(cfg))[0].parent.name.removeprefix("month=")


def _rows(folder: Path) -> list[dict]:
    return pq.read_table(folder / "exams.parquet").to_pylist()


def _copy_to_month(cfg: Config, month: str) -> None:
    """The same examinations again in another month (as if the patients came back): rows rewritten from the stored
    examinations with another date and exam id."""
    for folder in indicators.examination_folders(Path(cfg.outbox).parent / "recordings"):
        row = indicators.row_from_folder(folder)
        row.update(month=month, exam_id=row["exam_id"] + "-" + month,
                   performed_at=datetime.fromisoformat(month + "-15T10:00:00+00:00"),
                   performed_on=date.fromisoformat(month + "-15"))
        indicators.write_row(indicators.store_path(cfg), row)


def test_demo_month_exports_one_consented_patient_and_no_identity(practice: tuple[Config, Path, Path],
                                                                   tmp_path: Path) -> None:
    cfg, key, _ = practice
    month = _month(cfg)
    r = evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "out")
    rows = _rows(r.folder)
    # the demo patient consented (2 examinations); the other patient did not (2 examinations excluded)
    assert (r.exams, r.patients, r.excluded_without_consent) == (2, 1, 2)
    assert {row["kind"] for row in rows} == {"spirometry", "ecg"}
    assert {row["birth_year"] for row in rows} == {1979} and {row["sex"] for row in rows} == {"female"}
    blob = b"".join(p.read_bytes() for p in r.folder.iterdir())
    text = blob.decode("utf-8", "replace")
    for secret in (PATIENT["ins"], PATIENT["ins"][:13], PATIENT["family"], "Marie", "Louise", "1979-03-14",
                   "14/03/1979", "19790314", OTHER["ins"], OTHER["family"], KEY, "INFIRMIERE", "MEDECIN"):
        assert secret not in text, secret
    # CSV = Parquet, manifest digests match the files
    with (r.folder / "exams.csv").open(encoding="utf-8") as fh:
        assert [row["exam_code"] for row in csv.DictReader(fh)] == [row["exam_code"] for row in rows]
    manifest = json.loads((r.folder / "manifest.json").read_text(encoding="utf-8"))
    import hashlib

    for name, digest in manifest["files"].items():
        assert hashlib.sha256((r.folder / name).read_bytes()).hexdigest() == digest
    assert manifest["counts"]["exams"] == 2 and manifest["key_id"] != KEY[:12]


def test_same_patient_same_pseudonym_across_months_other_key_unlinkable(practice: tuple[Config, Path, Path],
                                                                         tmp_path: Path) -> None:
    cfg, key, key2 = practice
    month = _month(cfg)
    previous = (datetime.fromisoformat(month + "-01T00:00:00+00:00") - timedelta(days=1)).strftime("%Y-%m")
    _copy_to_month(cfg, previous)
    a = _rows(evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "a").folder)
    b = _rows(evaluation.export_month(cfg, month=previous, key_file=key, out=tmp_path / "b").folder)
    c = _rows(evaluation.export_month(cfg, month=month, key_file=key2, out=tmp_path / "c").folder)
    assert {r["patient_pseudonym"] for r in a} == {r["patient_pseudonym"] for r in b}
    assert len({r["patient_pseudonym"] for r in a}) == 1
    codes = lambda rows: {v for r in rows for k, v in r.items() if k.endswith(("_code", "_pseudonym"))}  # noqa: E731
    assert not codes(a) & codes(c)  # another key shares no pseudonym or code
    assert {r["exam_code"] for r in a}.isdisjoint({r["exam_code"] for r in b})


def test_withdrawal_excludes_next_month_and_lists_exported_rows_in_the_deletion_notice(
        practice: tuple[Config, Path, Path], tmp_path: Path) -> None:
    cfg, key, _ = practice
    month = _month(cfg)
    previous = (datetime.fromisoformat(month + "-01T00:00:00+00:00") - timedelta(days=1)).strftime("%Y-%m")
    _copy_to_month(cfg, previous)
    first = evaluation.export_month(cfg, month=previous, key_file=key, out=tmp_path / "out")
    exported = _rows(first.folder)
    assert len(exported) == 2
    with ConsentRegister(register_path(cfg)) as reg:
        reg.withdraw(patient_from_mapping(PATIENT), withdrawn_on=date.today(), recorded_by="Demo INFIRMIERE")
    nxt = evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "out")
    assert nxt.exams == 0 and nxt.excluded_without_consent == 4
    with (nxt.folder / "deletion-notice.csv").open(encoding="utf-8") as fh:
        notice = list(csv.DictReader(fh))
    assert {(n["patient_pseudonym"], n["exam_code"], n["exported_month"]) for n in notice} == {
        (r["patient_pseudonym"], r["exam_code"], previous) for r in exported}
    # notified once: the following export does not list them again
    again = evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "again")
    assert again.deletions == 0


def test_bad_key_files_and_future_month(practice: tuple[Config, Path, Path], tmp_path: Path) -> None:
    cfg, key, _ = practice
    month = _month(cfg)
    short = tmp_path / "short"
    short.write_text("ab" * 15, encoding="ascii")
    with pytest.raises(InputError, match="too short") as exc:
        evaluation.export_month(cfg, month=month, key_file=short, out=tmp_path / "o")
    assert str(short) in str(exc.value) and "ab" * 15 not in str(exc.value)
    with pytest.raises(InputError, match="not found") as exc:
        evaluation.export_month(cfg, month=month, key_file=tmp_path / "nokey", out=tmp_path / "o")
    assert "nokey" in str(exc.value)
    with pytest.raises(ConfigError, match="key file"):
        evaluation.export_month(cfg, month=month, key_file=None, out=tmp_path / "o")
    future = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m")
    with pytest.raises(InputError, match="future"):
        evaluation.export_month(cfg, month=future, key_file=key, out=tmp_path / "o")
    with pytest.raises(InputError, match="YYYY-MM"):
        evaluation.export_month(cfg, month="2026-13", key_file=key, out=tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_failed_export_leaves_no_partial_files(practice: tuple[Config, Path, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, key, _ = practice
    real = evaluation.atomic_write
    calls = []

    def failing(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(evaluation, "atomic_write", failing)
    with pytest.raises(OSError, match="disk full"):
        evaluation.export_month(cfg, month=_month(cfg), key_file=key, out=tmp_path / "out")
    assert len(calls) == 3 and list((tmp_path / "out").iterdir()) == []
    with ConsentRegister(register_path(cfg)) as reg:  # nothing remembered as exported either
        assert reg._db.execute("SELECT count(*) FROM exported").fetchone()[0] == 0


def test_export_cli(practice: tuple[Config, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, key, _ = practice
    data = Path(cfg.outbox).parent
    assert main(["evaluation", "export", "--month", _month(cfg), "--key-file", str(key), "--out",
                 str(tmp_path / "x"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "2 examen(s), 1 patient(s)" in out and KEY not in out


# --- aggregation ---------------------------------------------------------------------------------------------------
def test_aggregate_national_regional_practice_figures_equal_a_direct_computation(tmp_path: Path) -> None:
    s = synthetic_exports(tmp_path / "exports", practices=12, months=2, rows_per_month=30, patients_per_practice=15,
                          shared_patients=5)
    r = aggregate([s.root], tmp_path / "agg")
    assert r.files == 24 and r.exam_rows == s.rows
    agg = pq.read_table(r.folder / "indicators.parquet").to_pylist()
    rows = pa.concat_tables(pq.read_table(f) for f in sorted(s.root.rglob("exams.parquet"))).to_pylist()
    assert len(rows) == s.rows
    checked = 0
    for cell in agg:
        sel = [x for x in rows if x["month"] == cell["month"]
               and (cell["region"] is None or x["region"] == cell["region"])
               and (cell["practice_code"] is None or x["practice_code"] == cell["practice_code"])]
        n_pat = len({x["patient_pseudonym"] for x in sel})
        small = 0 < n_pat < SUPPRESSION_THRESHOLD or 0 < len(sel) < SUPPRESSION_THRESHOLD
        assert cell["suppressed"] is small
        if small:
            assert cell["n_exams"] is None and cell["n_patients"] is None
            continue
        checked += 1
        spiro = [x for x in sel if x["kind"] == "spirometry"]
        ecg = [x for x in sel if x["kind"] == "ecg"]
        assert cell["n_exams"] == len(sel) and cell["n_patients"] == n_pat
        assert cell["n_grade_fev1_a"] == sum(x["grade_fev1"] == "A" for x in spiro)
        assert cell["n_grade_fvc_c"] == sum(x["grade_fvc"] == "C" for x in spiro)
        assert cell["n_below_lln"] == sum(bool(x["below_lln"]) for x in spiro)
        assert cell["n_blows"] == sum(x["blows"] for x in spiro)
        assert cell["acceptable_fev1_blow_rate"] == pytest.approx(
            sum(x["acceptable_fev1_blows"] for x in spiro) / sum(x["blows"] for x in spiro), abs=1e-4)
        assert cell["n_ecg_first_acceptable"] == sum(bool(x["first_capture_acceptable"]) for x in ecg)
        assert cell["n_electrode_off"] == sum(x["electrode_off_count"] for x in ecg)
        assert cell["n_diabete_t2"] == sum(x["protocol"] == "diabete-t2" for x in sel)
    national = [c for c in agg if c["level"] == "national"]
    assert len(national) == 2 and all(not c["suppressed"] for c in national)
    assert checked >= 2
    # moving patients (shared pseudonyms) are counted once nationally, not once per practice
    per_practice = sum(len({x["patient_pseudonym"] for x in rows if x["month"] == "2026-01"
                            and x["practice_code"] == p}) for p in {x["practice_code"] for x in rows})
    assert next(c for c in national if c["month"] == "2026-01")["n_patients"] < per_practice


def test_small_cells_are_suppressed(practice: tuple[Config, Path, Path], tmp_path: Path) -> None:
    cfg, key, _ = practice
    r = evaluation.export_month(cfg, month=_month(cfg), key_file=key, out=tmp_path / "exp")
    res = aggregate([r.folder], tmp_path / "agg")
    cells = pq.read_table(res.folder / "indicators.parquet").to_pylist()
    assert len(cells) == 3 and all(c["suppressed"] and c["n_exams"] is None for c in cells)
    assert res.suppressed_cells == 3


def test_corrupt_parquet_among_many_is_named(tmp_path: Path) -> None:
    s = synthetic_exports(tmp_path / "exports", practices=5, months=2, rows_per_month=20)
    victim = sorted(s.root.rglob("exams.parquet"))[6]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(FormatError) as exc:
        aggregate([s.root], tmp_path / "agg")
    assert str(victim) in str(exc.value)
    assert not (tmp_path / "agg" / "aggregate").exists()
    # a truncated file whose manifest was rewritten to match still fails on its footer, named
    victim.write_bytes(b"PAR1 not really")
    m = victim.parent / "manifest.json"
    import hashlib

    doc = json.loads(m.read_text(encoding="utf-8"))
    doc["files"]["exams.parquet"] = hashlib.sha256(victim.read_bytes()).hexdigest()
    m.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FormatError, match="Parquet") as exc:
        aggregate([s.root], tmp_path / "agg")
    assert str(victim) in str(exc.value)


def test_aggregate_cli_shows_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = synthetic_exports(tmp_path / "exports", practices=3, months=1, rows_per_month=40)
    assert main(["evaluation", "aggregate", str(s.root), "--out", str(tmp_path / "agg")]) == 0
    cap = capsys.readouterr()
    assert "3/3" in cap.err and "3 export(s)" in cap.out
    con = duckdb.connect()
    n = con.execute(f"SELECT n_exams FROM read_parquet('{tmp_path / 'agg' / 'aggregate' / 'indicators.parquet'}') "
                    "WHERE level = 'national'").fetchone()
    assert n is not None and n[0] == s.rows


def test_config_key_file_is_masked() -> None:
    cfg = replace(Config(), programme=replace(Config().programme, key_file="/secret/path"))
    assert cfg.redacted()["programme"]["key_file"] == "***"


def test_export_with_other_columns_is_refused_named(tmp_path: Path) -> None:
    s = synthetic_exports(tmp_path / "exports", practices=2, months=1, rows_per_month=15)
    victim = sorted(s.root.rglob("exams.parquet"))[1]
    table = pq.read_table(victim)
    table = table.select(list(reversed(table.column_names)))  # same columns, another order
    pq.write_table(table, victim)
    import hashlib

    m = victim.parent / "manifest.json"
    doc = json.loads(m.read_text(encoding="utf-8"))
    doc["files"]["exams.parquet"] = hashlib.sha256(victim.read_bytes()).hexdigest()
    m.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(FormatError, match="schema differs") as exc:
        aggregate([s.root], tmp_path / "agg")
    assert str(victim) in str(exc.value)
