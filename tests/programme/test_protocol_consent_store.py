"""Programme context (protocol in the bundle), the consent register and the indicators store."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.programme.conftest import OTHER, PATIENT

from asalee_devices.cli.main import main
from asalee_devices.config import ConfigError, load_config
from asalee_devices.errors import FormatError, InputError
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.programme import indicators
from asalee_devices.programme.consent import SCHEMA_VERSION, ConsentRegister


def _bundles(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json"))]


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_every_bundle_carries_its_protocol_as_careplan_basedon_and_reason(practice_month: Path) -> None:
    protocols = []
    for bundle in _bundles(practice_month):
        (plan,) = _resources(bundle, "CarePlan")
        plan_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is plan)
        code = plan["category"][0]["coding"][0]["code"]
        protocols.append(code)
        assert plan["instantiatesUri"] == [f"http://asalee-devices.example.org/fhir/protocol/{code}"]
        for report in _resources(bundle, "DiagnosticReport"):
            assert {"reference": plan_url} in report["basedOn"]
        for proc in _resources(bundle, "Procedure"):
            assert proc["reasonCode"][0]["coding"][0]["code"] == code
            assert {"reference": plan_url} in proc["basedOn"]
    # demo: spirometry -> configured default bpco-tabac, ECG -> risque-cv; the nurse's --protocol diabete-t2
    assert sorted(protocols) == sorted(["bpco-tabac", "risque-cv", "diabete-t2", "risque-cv"])


def test_same_patient_same_protocol_gives_one_careplan_identifier(practice_month: Path) -> None:
    ids: dict[str, set[str]] = {}
    for bundle in _bundles(practice_month):
        (plan,) = _resources(bundle, "CarePlan")
        (patient,) = _resources(bundle, "Patient")
        key = patient["identifier"][0]["value"] + "|" + plan["category"][0]["coding"][0]["code"]
        ids.setdefault(key, set()).add(plan["identifier"][0]["value"])
    assert all(len(v) == 1 for v in ids.values())
    assert len({next(iter(v)) for v in ids.values()}) == len(ids)


def test_unknown_protocol_is_refused_before_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["ecg", "record", "--demo-patient", "--out", str(tmp_path), "--protocol", "asthme", "--yes"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Unknown ASALEE protocol" in err and "bpco-tabac" in err
    assert not (tmp_path / "recordings").exists()


def test_configured_protocol_list_is_validated(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[programme]\nprotocols = ["bpco-tabac", "Bad Code"]\necg_protocol = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Bad Code"):
        load_config(cfg, env={})
    cfg.write_text('[programme]\nprotocols = ["bpco-tabac", "asthme"]\necg_protocol = "asthme"\n', encoding="utf-8")
    assert load_config(cfg, env={}).programme.protocols == ("bpco-tabac", "asthme")


# --- consent -------------------------------------------------------------------------------------------------------
def test_consent_record_withdraw_show_durable(tmp_path: Path) -> None:
    path = tmp_path / "consent.sqlite3"
    p = patient_from_mapping(PATIENT)
    with ConsentRegister(path) as reg:
        reg.record(p, given_on=date(2026, 1, 5), recorded_by="Demo INFIRMIERE", department="51")
        with pytest.raises(InputError, match="already recorded"):
            reg.record(p, given_on=date(2026, 1, 6), recorded_by="x")
        key = reg.patient_key(p)
    with ConsentRegister(path) as reg:  # reopened: durable
        assert list(reg.consenting()) == [key]
        assert reg.consenting()[key].birth_year == 1979 and reg.consenting()[key].department == "51"
        c = reg.withdraw(p, withdrawn_on=date(2026, 3, 1), recorded_by="Demo INFIRMIERE")
        assert not c.active and c.withdrawn_on == date(2026, 3, 1)
        assert reg.consenting() == {} and list(reg.withdrawn_patients()) == [key]
        with pytest.raises(InputError, match="No active consent"):
            reg.withdraw(p, withdrawn_on=date(2026, 3, 2), recorded_by="x")
        assert reg.schema_version == SCHEMA_VERSION


def test_patient_key_is_keyed_not_a_hash_of_the_nir(tmp_path: Path) -> None:
    import hashlib

    p = patient_from_mapping(PATIENT)
    with ConsentRegister(tmp_path / "a.sqlite3") as a, ConsentRegister(tmp_path / "b.sqlite3") as b:
        ka, kb = a.patient_key(p), b.patient_key(p)
        assert ka == a.patient_key(p) and ka != kb  # stable in one register, unlinkable across registers
    system, value = p.identifier_key()
    assert ka not in {hashlib.sha256(value.encode()).hexdigest()[:32],
                      hashlib.sha256(f"{system}|{value}".encode()).hexdigest()[:32]}


def test_consent_register_of_a_newer_version_or_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "consent.sqlite3"
    ConsentRegister(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(FormatError, match="newer"):
        ConsentRegister(path)
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(FormatError, match="not a readable SQLite"):
        ConsentRegister(bad)


def test_consent_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({**{k: v for k, v in OTHER.items() if k != "height_cm"}, "residence_department": "75"}),
                 encoding="utf-8")
    assert main(["consent", "record", "--patient", str(f), "--out", str(tmp_path), "--date", "2026-02-01"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["consents"][0]["given_on"] == "2026-02-01" and shown["consents"][0]["active"]
    assert "TESTAUTRE" not in json.dumps(shown) and OTHER["ins"] not in json.dumps(shown)
    assert main(["consent", "withdraw", "--patient", str(f), "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["consents"][0]["active"] is False
    f.write_text(json.dumps({**{k: v for k, v in OTHER.items() if k != "height_cm"}, "residence_department": "99"}),
                 encoding="utf-8")
    assert main(["consent", "record", "--patient", str(f), "--out", str(tmp_path)]) == 2
    assert "department" in capsys.readouterr().err


# --- indicators store ----------------------------------------------------------------------------------------------
def test_each_delivered_examination_has_one_row_and_rebuild_gives_the_same_rows(practice_month: Path,
                                                                                tmp_path: Path) -> None:
    store = practice_month / "indicators"
    files = indicators.month_files(store)
    folders = list(indicators.examination_folders(practice_month / "recordings"))
    assert len(files) == len(folders) == 4
    written = {r["exam_id"]: r for f in files for r in pq.ParquetFile(f).read().to_pylist()}
    counts = indicators.rebuild(practice_month / "recordings", tmp_path / "rebuilt")
    assert sum(counts.values()) == 4
    rebuilt = {r["exam_id"]: r for f in indicators.month_files(tmp_path / "rebuilt")
               for r in pq.ParquetFile(f).read().to_pylist()}
    assert rebuilt == written
    for f in files:
        assert pq.read_schema(f).metadata[b"asalee-indicators-schema"] == str(indicators.SCHEMA_VERSION).encode()


def test_store_holds_no_name_nir_or_birth_date(practice_month: Path) -> None:
    blob = b"".join(f.read_bytes() for f in indicators.month_files(practice_month / "indicators"))
    text = json.dumps([r for f in indicators.month_files(practice_month / "indicators")
                       for r in pq.ParquetFile(f).read().to_pylist()], default=str)
    for secret in (PATIENT["family"], PATIENT["ins"], OTHER["family"], OTHER["ins"], "1979-03-14", "1961-07-02",
                   "Marie", "Paul"):
        assert secret not in text and secret.encode() not in blob


def test_compaction_keeps_every_row_and_a_later_row_wins(practice_month: Path, tmp_path: Path) -> None:
    import shutil

    from asalee_devices.cli._record import with_output
    from asalee_devices.config import Config
    from asalee_devices.programme.dashboard import dashboard_for

    data = tmp_path / "data"
    shutil.copytree(practice_month, data)
    cfg = with_output(Config(), data)
    store = indicators.store_path(cfg)
    month = indicators.month_files(store)[0].parent.name.removeprefix("month=")
    before = dashboard_for(cfg, month=month).indicators
    assert indicators.compact(store, month, min_files=2) == 4
    assert [f.name for f in indicators.month_files(store, month)] == [indicators.COMPACTED]
    assert dashboard_for(cfg, month=month).indicators == before
    # a row written after the compaction (e.g. the same examination re-delivered with another protocol) wins
    row = next(r for r in map(indicators.row_from_folder, sorted(indicators.examination_folders(data / "recordings")))
               if r["protocol"] != "diabete-t2")  # one that changes protocol (folder order is the filesystem's)
    row["protocol"] = "diabete-t2"
    indicators.write_row(store, row)
    rows = indicators.read_rows(indicators.month_files(store, month))
    assert len(rows) == 4 and next(r for r in rows if r["exam_id"] == row["exam_id"])["protocol"] == "diabete-t2"
    after = dashboard_for(cfg, month=month)
    assert after.value("practice", "cabinet", "exams") == 4
    assert after.value("practice", "cabinet", "protocol:diabete-t2") == 2
    # compacting again merges the newer row into the compacted file, replacing the older one
    assert indicators.compact(store, month, min_files=1) == 1
    assert [f.name for f in indicators.month_files(store, month)] == [indicators.COMPACTED]
    rows = indicators.read_rows(indicators.month_files(store, month))
    assert len(rows) == 4 and next(r for r in rows if r["exam_id"] == row["exam_id"])["protocol"] == "diabete-t2"
    # rebuild drops the compacted file and rewrites one file per examination
    indicators.rebuild(data / "recordings", store)
    assert sorted(f.name for f in indicators.month_files(store, month)) == sorted(
        f"{f.name}.parquet" for f in indicators.examination_folders(data / "recordings"))


def test_recovery_completes_a_row_a_crash_left_out(practice_month: Path, tmp_path: Path) -> None:
    """A crash between the outbox commit and the indicators row (simulated: the row file removed): the start-up
    recovery pass writes it again from the stored examination, once; rows in a compacted month are not doubled."""
    import shutil

    from asalee_devices.cli._record import with_output
    from asalee_devices.config import Config
    from asalee_devices.workflow.delivery import recover_for_config

    data = tmp_path / "data"
    shutil.copytree(practice_month, data)
    cfg = with_output(Config(), data)
    store = indicators.store_path(cfg)
    before = {r["exam_id"]: r for r in indicators.read_rows(indicators.month_files(store))}
    lost = sorted(store.glob("month=*/*.parquet"))[0]
    lost.unlink()
    assert len(indicators.read_rows(indicators.month_files(store))) == len(before) - 1
    recover_for_config(cfg)
    after = {r["exam_id"]: r for r in indicators.read_rows(indicators.month_files(store))}
    assert after == before
    month = lost.parent.name.removeprefix("month=")
    indicators.compact(store, month, min_files=1)
    recover_for_config(cfg)  # everything is in the compacted file now: nothing is written again
    assert [f.name for f in indicators.month_files(store, month)] == [indicators.COMPACTED]
    assert indicators.backfill(data / "recordings", store) == 0
