"""`asalee-devices serve` as a process: prints the login URL (the only place the token appears), serves on loopback,
and writes no patient data (nor the token) to its output while an examination runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.web.webfixtures import PATIENT, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_the_login_url_and_logs_nothing_sensitive(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "asalee.toml"
    cfg.write_text(f'outbox = "{tmp_path / "outbox.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{tmp_path / "out"}"\n'
                   '[devices]\necg = "sim://ecg12?speed=5"\n', encoding="utf-8")
    env = {**os.environ, "ASALEE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "asalee_devices.cli.main", "-vv", "serve", "--port", str(port),
                             "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        token = (tmp_path / "data" / "web-token").read_text().strip()
        assert line == f"asalee-devices web app: http://127.0.0.1:{port}/login?token={token}"
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(base + "/")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with httpx.Client(base_url=base, headers={"X-Asalee-Token": token}, timeout=30) as c:
            assert httpx.get(base + "/api/session").status_code == 401
            assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
            eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
            assert c.post(f"/api/exams/{eid}/capture", json={"sim": "electrode_off:V3"}).status_code == 202
            while c.get(f"/api/exams/{eid}").json()["exam"]["busy"]:
                time.sleep(0.2)
            r = c.get(f"/login?token={token}", follow_redirects=False)
            assert r.status_code == 303 and "token" not in r.headers["location"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    text = out + err
    print(f"\nserve output after the run ({len(text)} characters): {text[:300]!r}")
    for secret in ("TESTPATIENT", "Marie", PATIENT["ins"], "1979-03-14", token):
        assert secret not in text
