"""``asalee-devices ecg import FILE [--patient P.json]``: the way to send a real device file the watched folder refused
for a missing identity. The identity given is checked like at the bedside and must not contradict the file's; the
bundle carries it; the same content is one examination however often it is imported."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.test_fhir_mapping import _validate_each

from asalee_devices.cli.main import main
from asalee_devices.drivers.ecg_files import read_ecg_file

SCP = "ecgtoolkit-example/Example.scp"  # family name and birth date, no given name: refused by the watched folder
CONTEC = "contec-ecg90a/0000053.ECG"  # a patient number only
TEST_INS_PATIENT = {"family": "TESTPATIENT", "given": "Marie Louise", "birth_date": "1979-03-14", "sex": "female",
                    "ins": "279035121518989", "ins_kind": "INS-NIR-TEST", "identity_qualified": True,
                    "birth_place_cog": "51215"}


@pytest.fixture
def ecg_dir(shared_data: Path) -> Path:
    return shared_data / "ecg"


def _valid(bundle: dict[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    assert _validate_each(Bundle.model_validate(bundle)) > 0  # every resource validates, references resolve


def _import(tmp: Path, file: Path, patient: dict[str, Any] | None, *extra: str) -> int:
    argv = ["ecg", "import", str(file), "--out", str(tmp / "out"), *extra]
    if patient is not None:
        (tmp / "patient.json").write_text(json.dumps(patient), encoding="utf-8")
        argv += ["--patient", str(tmp / "patient.json")]
    return main(argv)


def _bundles(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "out").glob("*.json"))] if (tmp / "out").is_dir() else []


def _patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    (patient,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return dict(patient)


def test_file_without_given_name_needs_the_checked_identity(ecg_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert _import(tmp_path, ecg_dir / SCP, None) == 2
    err = capsys.readouterr().err
    assert "given_name" in err and "ecg import FILE --patient" in err  # the refusal says how to complete it
    assert _bundles(tmp_path) == []
    in_file = read_ecg_file(ecg_dir / SCP).patient
    checked = {"family": in_file.family_name, "given": "Jean", "birth_date": in_file.birth_date, "sex": "male",
               "local_id": "DOSSIER-42", "local_system": "urn:oid:1.2.250.1.999.1.1"}
    assert _import(tmp_path, ecg_dir / SCP, checked) == 0
    assert "envoyé au dossier" in capsys.readouterr().out
    (bundle,) = _bundles(tmp_path)
    _valid(bundle)
    patient = _patient_of(bundle)
    assert patient["name"][0]["given"] == ["Jean"] and patient["birthDate"] == in_file.birth_date
    assert [i["value"] for i in patient["identifier"]] == ["DOSSIER-42"]
    # the same file again: the same examination, nothing new sent
    assert _import(tmp_path, ecg_dir / SCP, checked) == 0
    assert len(_bundles(tmp_path)) == 1
    with sqlite3.connect(tmp_path / "out" / "outbox.sqlite3") as db:
        assert db.execute("select count(*) from messages").fetchone()[0] == 1


def test_identity_contradicting_the_file_is_refused(ecg_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _import(tmp_path, ecg_dir / SCP, TEST_INS_PATIENT) == 2
    err = capsys.readouterr().err
    assert "another patient" in err and "family" in err and "--file-identity-differs" in err
    assert TEST_INS_PATIENT["family"] not in err  # names the field, never the values
    assert _bundles(tmp_path) == []
    # after checking, the nurse may override; the bundle carries the qualified INS identity given
    assert _import(tmp_path, ecg_dir / SCP, TEST_INS_PATIENT, "--file-identity-differs") == 0
    (bundle,) = _bundles(tmp_path)
    assert [i["value"] for i in _patient_of(bundle)["identifier"]] == [TEST_INS_PATIENT["ins"]]


def test_file_with_only_a_patient_number_takes_the_identity_given(ecg_dir: Path, tmp_path: Path) -> None:
    assert _import(tmp_path, ecg_dir / CONTEC, TEST_INS_PATIENT) == 0
    (bundle,) = _bundles(tmp_path)
    _valid(bundle)
    assert _patient_of(bundle)["name"][0]["family"] == "TESTPATIENT"


def test_invalid_identity_is_refused_before_the_file_is_read(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = dict(TEST_INS_PATIENT, ins="279035121518980")  # wrong NIR key
    assert _import(tmp_path, tmp_path / "no-such-file.scp", bad) == 2
    assert "key" in capsys.readouterr().err  # the identity error, not "file not found"


def test_a_file_from_the_watched_folder_failed_dir_is_settled(ecg_dir: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "failed").mkdir(parents=True)
    refused = inbox / "failed" / "0000053.ECG"
    refused.write_bytes((ecg_dir / CONTEC).read_bytes())
    (inbox / "failed" / "0000053.ECG.reason.txt").write_text("PatientDataError: ...\n")
    config = tmp_path / "asalee.toml"
    config.write_text(f'[watch]\nfolder = "{inbox.as_posix()}"\n', encoding="utf-8")
    assert _import(tmp_path, refused, TEST_INS_PATIENT, "--config", str(config)) == 0
    assert len(_bundles(tmp_path)) == 1
    assert [p.name for p in (inbox / "failed").iterdir()] == []  # the file and its reason are gone from failed/
    assert [p.name for p in (inbox / "done").iterdir()] == ["0000053.ECG"]
