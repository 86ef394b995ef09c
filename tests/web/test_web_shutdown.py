"""`asalee-devices serve` stops promptly on SIGTERM after a session (issue 20: it used to ignore it for ~14 s) and
loses nothing: the examination's journal and takes are on disk, the outbox closed, the process exits 0."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.web.webfixtures import PATIENT, free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_idle(c: httpx.Client, eid: str) -> None:
    deadline = time.monotonic() + 30
    while c.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("page_open", [True, False], ids=["page-open", "no-page"])
def test_sigterm_after_a_session_exits_promptly_and_keeps_the_journals(tmp_path: Path, page_open: bool) -> None:
    from websockets.sync.client import connect

    port = free_port()
    cfg = tmp_path / "asalee.toml"
    cfg.write_text(f'outbox = "{tmp_path / "outbox.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{tmp_path / "out"}"\n'
                   '[devices]\necg = "sim://ecg12?speed=5"\nspirometer = "sim://turbine?speed=8"\n', encoding="utf-8")
    data = tmp_path / "data"
    env = {**os.environ, "ASALEE_DATA_DIR": str(data), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "asalee_devices.cli.main", "serve", "--port", str(port),
                             "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    ws = None
    pages = contextlib.ExitStack()
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        token = (data / "web-token").read_text().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(base + "/")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # an open page: its WebSocket stays connected, as a nurse's browser tab does
        if page_open:
            ws = pages.enter_context(connect(f"ws://127.0.0.1:{port}/ws",
                                             additional_headers={"X-Asalee-Token": token, "Origin": base}))
        with httpx.Client(base_url=base, headers={"X-Asalee-Token": token}, timeout=30) as c:
            assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
            sid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
            assert c.post(f"/api/exams/{sid}/blow", json={"sim": "good"}).status_code == 202
            _wait_idle(c, sid)
            eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
            assert c.post(f"/api/exams/{eid}/capture", json={"sim": "good"}).status_code == 202
            _wait_idle(c, eid)
            assert c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
        if ws is not None:
            assert ws.recv(timeout=5)  # the page received the session's live messages
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        exit_s = time.monotonic() - t0
    finally:
        pages.close()
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=10)
    print(f"\nSIGTERM -> process exit: {exit_s:.2f} s (exit code {code}); stderr {err[-300:]!r}")
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM, the POSIX convention)
    assert code in (0, -signal.SIGTERM) and "Traceback" not in err
    assert exit_s < 5.0  # promptly: the ~14 s it used to take would fail here; a loaded machine has 5 s
    # nothing lost: the spirometry in progress is journaled with its take, the ECG sent
    spiro = [p.parent for p in (data / "in-progress").glob("*/blow-01.npz")]
    assert len(spiro) == 1 and (spiro[0] / "blow-01.npz").stat().st_size > 1000
    journal = json.loads((spiro[0] / "exam.json").read_text(encoding="utf-8"))
    assert "blow-01.npz" in json.dumps(journal) and journal["kind"] == "spirometry"
    assert len(list((tmp_path / "out").glob("*_ecg_*.json"))) == 1
    # the outbox was closed (the lifespan's shutdown ran): SQLite folded its write-ahead log back into the file
    wal = tmp_path / "outbox.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
