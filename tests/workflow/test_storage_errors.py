"""Full disks and read-only folders (issue 18): refused before the device is touched (exit 2, nothing taken), or,
once the examination is in the outbox, a clear error saying so (exit 4); never "internal error".

Real mounts: a small tmpfs (full) and a read-only tmpfs, mounted by the test (the suite runs as root, where chmod
does not stop writes); skipped with the reason where the machine refuses to mount.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asalee_devices.cli.main import main
from asalee_devices.fhir_out.outbox import Outbox

FAST_ECG = "sim://ecg12?speed=50"
FAST_SPIRO = "sim://spirometer?speed=50"
Mount = Callable[..., Path]


@pytest.fixture()
def mount(tmp_path: Path) -> Iterator[Mount]:
    mounted: list[Path] = []

    def make(name: str, *, size: str = "1m", read_only: bool = False) -> Path:
        where = tmp_path / name
        where.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"this machine refuses to mount a tmpfs ({proc.stderr.strip() or proc.returncode})")
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("kind", ["ecg", "spirometry"])
def test_read_only_output_refused_before_the_device(mount: Mount, capsys: pytest.CaptureFixture[str],
                                                   kind: str) -> None:
    ro = mount("ro", read_only=True)
    device = FAST_ECG if kind == "ecg" else FAST_SPIRO
    code = main([kind, "record", "--demo-patient", "--device", device, "--out", str(ro / "out"), "--yes"])
    cap = capsys.readouterr()
    print(cap.err)
    assert code == 2 and "read-only" in cap.err and str(ro / "out") in cap.err and "nothing was recorded" in cap.err
    assert "internal error" not in cap.err and cap.out == ""  # no blow, no capture: the device was not touched


def test_full_disk_refused_before_the_device(mount: Mount, capsys: pytest.CaptureFixture[str]) -> None:
    small = mount("small", size="2m")
    code = main(["ecg", "record", "--demo-patient", "--device", FAST_ECG, "--out", str(small), "--yes"])
    cap = capsys.readouterr()
    print(cap.err)
    assert code == 2 and "Not enough free space" in cap.err and str(small) in cap.err and cap.out == ""
    assert [p.name for p in small.iterdir()] == []  # the check left nothing behind


def test_record_folder_full_keeps_the_exam_waiting_then_delivers(tmp_path: Path, mount: Mount,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder sink's disk fills up after the check (another program): the examination waits in the outbox
    with the reason (exit 4), and is delivered once there is room."""
    sink = mount("record", size="80m")
    out = tmp_path / "out"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'outbox = "{out / "outbox.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{sink}"\n')
    import asalee_devices.cli._record as rec

    check = rec.check_storage

    def check_then_fill(*a: object) -> None:
        check(*a)  # type: ignore[arg-type]
        _fill(sink)

    monkeypatch.setattr(rec, "check_storage", check_then_fill)
    code = main(["ecg", "record", "--demo-patient", "--device", FAST_ECG, "--config", str(cfg), "--yes"])
    text = capsys.readouterr().out
    print(text)
    assert code == 4 and "disk is full" in text and str(sink) in text
    with Outbox(out / "outbox.sqlite3") as box:
        (msg,) = box.messages()
        assert msg.state == "pending"
    (sink / "filler").unlink()
    assert main(["outbox", "send", "--config", str(cfg)]) == 0
    assert len(list(sink.glob("*_ecg_*.json"))) == 1 and not list(sink.glob(".tmp-*"))


def test_results_unwritable_after_the_commit_is_exit_4_and_recovered(tmp_path: Path, mount: Mount,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The recordings folder becomes read-only between the outbox commit and results.json (remounted under the
    running examination): exit 4, the examination is safe in the outbox; the next start completes the folder."""
    disk = mount("disk", size="80m")
    out = disk / "out"
    import asalee_devices.workflow.delivery as delivery

    write = delivery.atomic_write

    def remount_before_results(path: Path, data: bytes) -> None:
        if path.name == "results.json":  # the outbox transaction is committed and its database closed
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        write(path, data)

    monkeypatch.setattr(delivery, "atomic_write", remount_before_results)
    code = main(["ecg", "record", "--demo-patient", "--device", FAST_ECG, "--out", str(out), "--yes"])
    monkeypatch.setattr(delivery, "atomic_write", write)
    cap = capsys.readouterr()
    print(cap.err)
    assert code == 4 and "read-only" in cap.err and "safe in the outbox" in cap.err
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'outbox = "{out / "outbox.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{out}"\n')
    assert main(["outbox", "send", "--config", str(cfg)]) == 0
    assert "completed after an interruption" in capsys.readouterr().out
    (folder,) = (out / "recordings").glob("*/exam.json")
    assert (folder.parent / "results.json").is_file() and (folder.parent / "report.pdf").is_file()
    assert len(list(out.glob("*_ecg_*.json"))) == 1


def test_check_writable_leaves_no_trace(tmp_path: Path) -> None:
    from asalee_devices.files import check_writable

    check_writable(tmp_path / "a" / "b", what="recordings", min_free_bytes=0)
    assert not (tmp_path / "a").exists()
    assert os.listdir(tmp_path) == []


def test_web_capture_refused_with_507_before_the_device(tmp_path: Path, mount: Mount) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient
    from tests.web.webfixtures import PATIENT, make_config

    from asalee_devices.web.app import create_app
    from asalee_devices.web.settings import WebSettings

    ro = mount("ro", read_only=True)
    cfg = replace(make_config(tmp_path), outbox=str(ro / "outbox.sqlite3"))
    with TestClient(create_app(WebSettings.from_config(cfg, tmp_path / "data", ecg_speed=5)),
                    base_url="http://127.0.0.1:8765") as c:
        c.headers["X-Asalee-Token"] = c.app.state.web.token  # type: ignore[attr-defined]
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        r = c.post(f"/api/exams/{eid}/capture", json={})
        print(r.status_code, r.json())
        assert r.status_code == 507 and "read-only" in r.json()["message"] and str(ro) in r.json()["message"]
        assert c.get(f"/api/exams/{eid}").json()["exam"]["busy"] is False  # the device was not started
