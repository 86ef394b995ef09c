"""The page for ECG files the watched folder refused for a missing identity: listed with what they hold and what is
missing (files that do not decode are not), sent with the patient the nurse selected, refused when that patient
contradicts the file unless she confirms, then moved to done/ with the ledger told; no file name in the API."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.web.webfixtures import PATIENT, client

from asalee_devices.config import Config
from asalee_devices.devices.watch_folder import sha256_file

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def inbox(shared_data: Path, tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    (inbox / "failed").mkdir(parents=True)
    # vendor file names often hold the patient's name: it must not reach the API
    shutil.copy(shared_data / "ecg" / "ecgtoolkit-example" / "Example.scp", inbox / "failed" / "DURANDAL_Pierre.scp")
    shutil.copy(shared_data / "ecg" / "contec-ecg90a" / "0000053.ECG", inbox / "failed" / "0000053.ECG")
    (inbox / "failed" / "broken.xml").write_bytes(b"<AnnotatedECG>not finished")
    for name in ("DURANDAL_Pierre.scp", "0000053.ECG", "broken.xml"):
        (inbox / "failed" / f"{name}.reason.txt").write_text("refused\n")
    return inbox


def _bundles(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))]


def test_refused_files_are_completed_with_the_selected_patient(tmp_path: Path, inbox: Path) -> None:
    watch = replace(Config().watch, folder=str(inbox))
    scp_hash = sha256_file(inbox / "failed" / "DURANDAL_Pierre.scp")
    with client(tmp_path, watch=watch) as c:
        listing = c.get("/api/ecg-files")
        assert "DURANDAL" not in listing.text and "broken" not in listing.text
        files = listing.json()["files"]
        assert listing.json()["configured"] and len(files) == 2  # the undecodable file is not listed
        scp = next(f for f in files if f["format"] == "scp-ecg")
        contec = next(f for f in files if f["format"] == "contec-ecg90a")
        assert scp["missing"] == "given_name" and scp["in_file"]["family"] and scp["leads"] == 12
        assert contec["missing"] == "family_name, given_name, birth_date"
        assert c.post(f"/api/ecg-files/{scp['id']}/import", json={}).json()["error"] == "no_patient"
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        refused = c.post(f"/api/ecg-files/{scp['id']}/import", json={})
        assert refused.status_code == 409 and refused.json()["error"] == "identity_differs"
        assert refused.json()["field"] == "family" and PATIENT["family"] not in refused.text
        assert _bundles(tmp_path) == []
        sent = c.post(f"/api/ecg-files/{scp['id']}/import", json={"identity_checked": True}).json()["delivery"]
        assert sent["status"] == "sent"
        assert c.post(f"/api/ecg-files/{contec['id']}/import", json={}).json()["delivery"]["status"] == "sent"
        assert c.get("/api/ecg-files").json()["files"] == []
        assert c.post(f"/api/ecg-files/{scp['id']}/import", json={}).status_code == 404  # already sent
    bundles = _bundles(tmp_path)
    assert len(bundles) == 2
    for b in bundles:
        (patient,) = [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert [i["value"] for i in patient["identifier"]] == [PATIENT["ins"]]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["0000053.ECG", "DURANDAL_Pierre.scp"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["broken.xml", "broken.xml.reason.txt"]
    with sqlite3.connect(inbox / ".asalee-watch.sqlite") as db:  # the same content dropped again is not refused
        assert db.execute("select state from files where sha256 = ?", (scp_hash,)).fetchone() == ("done",)


def test_without_a_watched_folder_the_page_says_so(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.get("/api/ecg-files").json() == {"configured": False, "files": []}
