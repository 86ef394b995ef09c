"""Helpers of the web app tests: the test patient, a config on temporary paths, a running uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from asalee_devices.config import Config, SinkConfig

TEST_INS = "279035121518989"  # the INS test system's identity used by the FHIR tests (female, 03/1979, 51215)
PATIENT: dict[str, Any] = {"family": "TESTPATIENT", "given": "Marie Louise", "birth_date": "1979-03-14",
                           "sex": "female", "ins": TEST_INS, "ins_kind": "INS-NIR-TEST", "identity_qualified": True,
                           "birth_place_cog": "51215"}


def make_config(tmp: Path, sink: SinkConfig | None = None, **kw: Any) -> Config:
    return replace(Config(), sink=sink or SinkConfig(type="folder", folder=str(tmp / "out")),
                   outbox=str(tmp / "outbox.sqlite3"), **kw)


@dataclass
class RunningServer:
    base_url: str
    app: Any
    token: str
    server: Any
    thread: threading.Thread

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/login?token={self.token}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




def client(tmp_path: Path, sink: SinkConfig | None = None, **config: Any) -> TestClient:
    """A test client of the app on ``tmp_path`` (data dir ``tmp_path/data``, folder sink ``tmp_path/out``, other
    configuration fields from ``config``), with its token; fast simulators. Two clients on the same ``tmp_path`` are
    the same installation (a restart)."""
    from asalee_devices.web.app import create_app
    from asalee_devices.web.settings import WebSettings

    settings = WebSettings.from_config(make_config(tmp_path, sink, **config), tmp_path / "data", spirometry_speed=8,
                                       ecg_speed=5)
    c = TestClient(create_app(settings), base_url="http://127.0.0.1:8765")
    c.headers["X-Asalee-Token"] = c.app.state.web.token  # type: ignore[attr-defined]
    return c


def run_action(c: TestClient, eid: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start a blow / capture and wait until the examination is no longer busy; its view."""
    assert c.post(f"/api/exams/{eid}/{action}", json=body or {}).status_code == 202
    deadline = time.monotonic() + 30
    while (exam := c.get(f"/api/exams/{eid}").json()["exam"])["busy"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return dict(exam)
