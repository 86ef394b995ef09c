"""Watched folder wired to the real pipeline (workflow/ecg_file_import.py): a real vendor file dropped in the folder
ends as a validated FHIR bundle (+ PDF) in the folder sink; redeliveries give one bundle; files that cannot become
an examination go to failed/ with the reason; a kill during processing loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fhir.fhirpath_rules import violations
from tests.fhir.test_fhir_mapping import _validate_each

from asalee_devices.config import Config, load_config
from asalee_devices.devices.watch_folder import WatchedFolder
from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.workflow.ecg_file_import import EcgFileImporter, exam_id_for

ROOT = Path(__file__).resolve().parents[1]
MUSE_NAME = "ge-muse/MUSE_20200923_093504_79000_example.xml"
PID = b"<PatientID>201700237</PatientID>"
SYSTEM = "urn:oid:1.2.250.1.999.1.1"


@pytest.fixture
def muse(shared_data: Path) -> Path:
    return shared_data / "ecg" / MUSE_NAME


def _config(tmp: Path) -> Path:
    cfg = tmp / "asalee.toml"
    cfg.write_text(f"""
outbox = "{(tmp / 'outbox.sqlite3').as_posix()}"
[sink]
type = "folder"
folder = "{(tmp / 'record').as_posix()}"
[nurse]
family_name = "INFIRMIERE"
given_name = "Anne"
rpps = "10000000001"
[watch]
folder = "{(tmp / 'inbox').as_posix()}"
settle_s = 0
mains_hz = 50
patient_id_system = "{SYSTEM}"
""", encoding="utf-8")
    return cfg


def _setup(tmp: Path) -> tuple[Config, Path, Path]:
    inbox = tmp / "inbox"
    inbox.mkdir()
    return load_config(_config(tmp), env={}), inbox, tmp / "record"


def _bundles(record: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(record.glob("*.json"))]


def _resources(bundle: dict[str, object], kind: str) -> list[dict[str, object]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]  # type: ignore[index, union-attr]


def test_dropped_file_ends_as_a_validated_bundle_and_pdf(tmp_path: Path, muse: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle

    cfg, inbox, record = _setup(tmp_path)
    importer = EcgFileImporter.from_config(cfg)
    w = WatchedFolder(inbox, importer, settle_s=0)
    shutil.copy(muse, inbox / "export.xml")
    t0 = time.perf_counter()
    out = w.scan_once()
    elapsed = time.perf_counter() - t0
    assert [(o.name, o.status) for o in out] == [("export.xml", "done")]
    assert (inbox / "done" / "export.xml").exists() and not (inbox / "export.xml").exists()
    (bundle,) = _bundles(record)
    (pdf,) = list(record.glob("*.pdf"))
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stem == next(record.glob("*.json")).stem
    n = _validate_each(Bundle.model_validate(bundle))
    (patient,) = _resources(bundle, "Patient")
    assert "extension" not in patient and "meta" not in patient  # not claimed as a qualified INS identity
    assert violations(bundle) == []
    digest = out[0].sha256
    assert next(record.glob("*.json")).name == f"2020-09-22_ecg_{exam_id_for(digest)}.json"  # exam id from the hash
    ids = patient["identifier"]
    assert ids == [{"use": "usual", "system": SYSTEM, "value": "201700237"}]  # local id only, never an INS
    ecg = read_ecg_file(muse)
    assert patient["birthDate"] == ecg.patient.birth_date and patient["gender"] == ecg.patient.sex
    devices = _resources(bundle, "Device")
    assert any(ecg.device.model in json.dumps(d) for d in devices)
    nurse = _resources(bundle, "Practitioner")
    assert any("INFIRMIERE" in json.dumps(p) and "10000000001" in json.dumps(p) for p in nurse)
    assert importer.outbox.counts()["acknowledged"] == 1
    print(f"\nMUSE export -> bundle of {n} entries (validated, FHIRPath rules hold) + PDF "
          f"{pdf.stat().st_size} bytes in {elapsed:.2f} s; patient identifier {ids[0]['system']}")
    w.close()
    importer.close()


def test_same_content_twice_gives_one_bundle(tmp_path: Path, muse: Path) -> None:
    cfg, inbox, record = _setup(tmp_path)
    importer = EcgFileImporter.from_config(cfg)
    w = WatchedFolder(inbox, importer, settle_s=0)
    shutil.copy(muse, inbox / "first.xml")
    shutil.copy(muse, inbox / "second.xml")
    assert sorted(o.status for o in w.scan_once()) == ["done", "duplicate"]
    w.close()
    importer.close()
    # a restart, and a redelivery that bypasses the ledger (a lost ledger): still the same exam, one bundle
    importer = EcgFileImporter.from_config(cfg)
    (inbox / ".asalee-watch.sqlite").unlink()
    shutil.copy(muse, inbox / "third.xml")
    w = WatchedFolder(inbox, importer, settle_s=0)
    assert [o.status for o in w.scan_once()] == ["done"]
    assert len(_bundles(record)) == 1 and len(list(record.glob("*.pdf"))) == 1
    assert len(importer.outbox.messages()) == 1
    print(f"\nsame content 3 times (one after a lost ledger): {len(_bundles(record))} bundle, "
          f"{len(importer.outbox.messages())} outbox message")
    w.close()
    importer.close()


def test_files_that_cannot_become_an_exam_fail_with_a_reason(tmp_path: Path, muse: Path, shared_data: Path) -> None:
    cfg, inbox, record = _setup(tmp_path)
    importer = EcgFileImporter.from_config(cfg)
    w = WatchedFolder(inbox, importer, settle_s=0)
    (inbox / "no-id.xml").write_bytes(muse.read_bytes().replace(PID, b"<PatientID></PatientID>"))
    (inbox / "garbage.ecg").write_bytes(b"\x00\x01 not an ECG file" * 50)
    shutil.copy(shared_data / "ecg" / "contec-ecg90a" / "0000037.ECG", inbox / "nameless.ECG")
    statuses = {o.name: o.status for o in w.scan_once()}
    assert statuses == {"no-id.xml": "failed", "garbage.ecg": "failed", "nameless.ECG": "failed"}
    reasons = {p.name: p.read_text(encoding="utf-8") for p in (inbox / "failed").glob("*.reason.txt")}
    assert "patient_id" in reasons["no-id.xml.reason.txt"] and "PatientDataError" in reasons["no-id.xml.reason.txt"]
    assert "FormatError" in reasons["garbage.ecg.reason.txt"]
    assert "given_name" in reasons["nameless.ECG.reason.txt"]  # the Contec file carries no given name
    assert "201700237" not in "".join(reasons.values())  # reasons name fields, never patient data
    assert _bundles(record) == [] and importer.outbox.messages() == []
    for name, text in sorted(reasons.items()):
        print(f"\n{name}: {text.strip()}")
    w.close()
    importer.close()


_CHILD = r"""
import sys, time
from pathlib import Path
from asalee_devices.config import load_config
from asalee_devices.devices.watch_folder import WatchedFolder
from asalee_devices.workflow.ecg_file_import import EcgFileImporter
config, mode = Path(sys.argv[1]), sys.argv[2]
cfg = load_config(config, env={})
importer = EcgFileImporter.from_config(cfg)
def slow(ecg, path):
    if mode == "after-delivery":
        importer(ecg, path)
    (config.parent / "started").write_text("1")
    time.sleep(60)
    if mode == "before-delivery":
        importer(ecg, path)
w = WatchedFolder(Path(cfg.watch.folder), slow, settle_s=0)
w.scan_once()
"""


@pytest.mark.parametrize("mode", ["before-delivery", "after-delivery"])
def test_kill_during_processing_with_the_real_pipeline(tmp_path: Path, muse: Path, mode: str) -> None:
    config = _config(tmp_path)
    inbox, record = tmp_path / "inbox", tmp_path / "record"
    inbox.mkdir()
    shutil.copy(muse, inbox / "a.xml")
    (inbox / "b.xml").write_bytes(muse.read_bytes().replace(PID, b"<PatientID>201700999</PatientID>"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASALEE_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(config), mode], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and child.poll() is None, "child never started processing"
            time.sleep(0.05)
        child.kill()  # no cleanup runs
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert (inbox / "a.xml").exists() and (inbox / "b.xml").exists()  # nothing lost
    before = len(_bundles(record))
    assert before == (1 if mode == "after-delivery" else 0)
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "watch", "--config", str(config),
                           "--once"], env=env, capture_output=True, text=True, check=True, timeout=300)
    lines = proc.stdout.splitlines()
    assert sorted(lines[:2]) == ["done: a.xml", "done: b.xml"] and lines[2] == "outbox: acknowledged 2"
    bundles = _bundles(record)
    assert len(bundles) == 2 and len(list(record.glob("*.pdf"))) == 2  # each file once, nothing duplicated
    pids = sorted(_resources(b, "Patient")[0]["identifier"][0]["value"] for b in bundles)  # type: ignore[index]
    assert pids == ["201700237", "201700999"]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.xml", "b.xml"]
    db = sqlite3.connect(inbox / ".asalee-watch.sqlite")
    try:
        states = {str(s) for (s,) in db.execute("SELECT state FROM files")}
    finally:
        db.close()
    assert states == {"done"}
    print(f"\nkill {mode} (real pipeline): {before} bundle before the restart, {len(bundles)} after, "
          f"for 2 files; ledger {states}")


def test_watch_configuration_section(tmp_path: Path) -> None:
    from asalee_devices.errors import ConfigError

    cfg = load_config(_config(tmp_path), env={"ASALEE_WATCH_SETTLE_S": "5.5", "ASALEE_WATCH_STRICT": "true"})
    assert cfg.watch.folder.endswith("inbox") and cfg.watch.settle_s == 5.5 and cfg.watch.strict
    assert cfg.watch.mains_hz == 50 and cfg.watch.patient_id_system == SYSTEM
    assert Config().watch.mains_hz == 0 and Config().watch.settle_s == 2.0  # 0: the top-level mains_hz
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for env, needle in (({"ASALEE_WATCH_SETTLE_S": "-1"}, "watch.settle_s"),
                        ({"ASALEE_WATCH_SETTLE_S": "soon"}, "watch.settle_s"),
                        ({"ASALEE_WATCH_MAINS_HZ": "55"}, "watch.mains_hz"),
                        ({"ASALEE_WATCH_FOLDER": str(a_file)}, "watch.folder"),
                        ({"ASALEE_WATCH_PATIENT_ID_SYSTEM": "practice ids"}, "watch.patient_id_system")):
        with pytest.raises(ConfigError) as exc:
            load_config(_config(tmp_path), env=env)
        assert needle in str(exc.value)
    # `config check` reports it; `watch` without DIR and without [watch] folder says what to set
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASALEE_")}
    env |= {"PYTHONPATH": str(ROOT / "src"), "ASALEE_WATCH_MAINS_HZ": "55"}
    bad = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "config", "check", "--config",
                          str(_config(tmp_path))], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "watch.mains_hz" in bad.stderr
    env.pop("ASALEE_WATCH_MAINS_HZ")
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    none = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "watch", "--config", str(empty),
                           "--once"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert none.returncode == 2 and "watch.folder" in none.stderr


def test_file_deviations_and_technical_notes_reach_the_pdf_and_the_bundle(tmp_path: Path, shared_data: Path) -> None:
    """A Sierra 1.04 export whose acquisition rate differs from its waveforms' (a tolerated deviation): the
    deviation is printed on the PDF and noted on the FHIR waveform; the cart's calibration signal, left out of the
    analysis, is noted on the quality Observation."""
    pdfplumber = pytest.importorskip("pdfplumber")
    src = shared_data / "ecg" / "philips-sierra" / "ad4d3d80-d165_1-04_orig.xml"
    text = src.read_bytes().decode("utf-16").replace("<samplingrate>500<", "<samplingrate>1000<", 1)
    cfg, inbox, record = _setup(tmp_path)
    importer = EcgFileImporter.from_config(cfg)
    w = WatchedFolder(inbox, importer, settle_s=0)
    (inbox / "sierra.xml").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    assert [o.status for o in w.scan_once()] == ["done"]
    (bundle,) = _bundles(record)
    notes = [n["text"] for o in _resources(bundle, "Observation") for n in o.get("note", [])]  # type: ignore[union-attr, attr-defined]
    assert any(t.startswith("Fichier / file: acquisition at 1000 Hz") for t in notes)
    assert any("étalonnage" in t for t in notes)
    (pdf,) = list(record.glob("*.pdf"))
    with pdfplumber.open(pdf) as doc:
        page = doc.pages[0].extract_text()
    # the deviation in the report's language (issue 20: no English sentence on the French PDF)
    assert "Fichier : acquisition à 1000 Hz, tracés enregistrés à 500 Hz" in page
    assert "acquisition at" not in page and "Bande passante : 0,05–150 Hz" in page
    assert "étalonnage" in page
    w.close()
    importer.close()
