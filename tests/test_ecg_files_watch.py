"""Watched-folder bridge: completion detection, duplicates, failures, and resuming after a kill."""

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

from asalee_devices.devices.watch_folder import JsonSummaryWriter, WatchedFolder
from asalee_devices.drivers.ecg_files import EcgFile

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ecg"
SCP = DATA / "ecgtoolkit-example" / "Example.scp"
CONTEC = DATA / "contec-ecg90a" / "0000037.ECG"


@pytest.fixture(autouse=True)
def _need_data() -> None:
    if not SCP.exists():
        pytest.skip("external test data not found")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, ecg: EcgFile, path: Path) -> None:
        self.calls.append((ecg.format, path.name))


def _ledger(inbox: Path) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(inbox / ".asalee-watch.sqlite")
    try:
        return [(str(a), str(b), int(c)) for a, b, c in db.execute("SELECT name, state, attempts FROM files")]
    finally:
        db.close()


def test_waits_until_the_file_stops_changing(tmp_path: Path) -> None:
    now = [0.0]
    rec = Recorder()
    w = WatchedFolder(tmp_path, rec, settle_s=2.0, clock=lambda: now[0])
    data = SCP.read_bytes()
    target = tmp_path / "exam.scp"
    target.write_bytes(data[:10000])  # the vendor software is still writing
    assert w.scan_once() == []
    now[0] = 1.0
    with target.open("ab") as fh:
        fh.write(data[10000:])
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert w.scan_once() == []  # changed: the settle time starts again
    now[0] = 2.5
    assert w.scan_once() == []  # stable for 1.5 s only
    now[0] = 3.1
    out = w.scan_once()
    assert [o.status for o in out] == ["done"] and rec.calls == [("scp-ecg", "exam.scp")]
    assert (tmp_path / "done" / "exam.scp").read_bytes() == data
    w.close()


def test_same_content_twice_is_delivered_once_and_failures_are_explained(tmp_path: Path) -> None:
    rec = Recorder()
    w = WatchedFolder(tmp_path, rec, settle_s=0)
    shutil.copy(SCP, tmp_path / "a.scp")
    shutil.copy(SCP, tmp_path / "b-copy.scp")
    shutil.copy(CONTEC, tmp_path / "c.ECG")
    (tmp_path / "broken.xml").write_bytes(b"<RestingECG><Waveform>")
    (tmp_path / "upload.part").write_bytes(b"partial")  # temporary names are ignored
    statuses = {o.name: o.status for o in w.scan_once()}
    assert statuses == {"a.scp": "done", "b-copy.scp": "duplicate", "c.ECG": "done", "broken.xml": "failed"}
    assert len(rec.calls) == 2
    reason = (tmp_path / "failed" / "broken.xml.reason.txt").read_text()
    assert "FormatError" in reason
    assert (tmp_path / "upload.part").exists()
    # the same content dropped again later, after a restart: still not delivered again
    w.close()
    shutil.copy(SCP, tmp_path / "again.scp")
    w2 = WatchedFolder(tmp_path, rec, settle_s=0)
    assert [o.status for o in w2.scan_once()] == ["duplicate"]
    assert len(rec.calls) == 2
    w2.close()


def test_transient_processing_errors_are_retried_then_given_up(tmp_path: Path) -> None:
    def broken_sink(ecg: EcgFile, path: Path) -> None:
        raise OSError("sink unreachable")

    w = WatchedFolder(tmp_path, broken_sink, settle_s=0, max_attempts=2)
    shutil.copy(SCP, tmp_path / "x.scp")
    for _ in range(2):
        assert w.scan_once() == []
        assert (tmp_path / "x.scp").exists()
    out = w.scan_once()
    assert [o.status for o in out] == ["failed"] and "interrupted 2 times" in out[0].reason
    assert (tmp_path / "failed" / "x.scp").exists()
    w.close()


_CHILD = r"""
import sys, time
from pathlib import Path
from asalee_devices.devices.watch_folder import JsonSummaryWriter, WatchedFolder
inbox, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
writer = JsonSummaryWriter(out)
def slow(ecg, path):
    if mode == "after-delivery":
        writer(ecg, path)
    (inbox.parent / "started").write_text("1")
    time.sleep(60)
    if mode == "before-delivery":
        writer(ecg, path)
w = WatchedFolder(inbox, slow, settle_s=0)
w.scan_once()
"""


@pytest.mark.parametrize("mode", ["before-delivery", "after-delivery"])
def test_survives_a_kill_during_processing(tmp_path: Path, mode: str) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    shutil.copy(SCP, inbox / "exam.scp")
    shutil.copy(CONTEC, inbox / "other.ECG")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(inbox), str(out), mode], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and child.poll() is None, "child never started processing"
            time.sleep(0.05)
        child.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no cleanup runs
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert (inbox / "exam.scp").exists() and (inbox / "other.ECG").exists()  # nothing lost
    assert ("processing" in {s for _n, s, _a in _ledger(inbox)})
    # restart (the command line, as a service would)
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "watch", str(inbox), "--out", str(out),
                           "--once", "--settle-s", "0"], env=env, capture_output=True, text=True, check=True)
    assert sorted(proc.stdout.split()) == sorted(["done:", "exam.scp", "done:", "other.ECG"])
    delivered = sorted(p.name for p in out.glob("*.json"))
    assert len(delivered) == 2  # each file delivered exactly once, nothing duplicated
    names = sorted(json.loads(p.read_text())["source_file"] for p in out.glob("*.json"))
    assert names == ["exam.scp", "other.ECG"]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["exam.scp", "other.ECG"]
    assert {s for _n, s, _a in _ledger(inbox)} == {"done"}
    print(f"\nkill {mode}: restart resumed, {len(delivered)} deliveries for 2 files, ledger {_ledger(inbox)}")


def test_default_writer_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    w = WatchedFolder(tmp_path, JsonSummaryWriter(out), settle_s=0)
    shutil.copy(SCP, tmp_path / "e.scp")
    w.scan_once()
    (f,) = list(out.glob("*.json"))
    info = json.loads(f.read_text())
    assert info["format"] == "scp-ecg" and info["n_samples"] == 5000 and info["source_file"] == "e.scp"
    w.close()
