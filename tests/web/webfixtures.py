"""Helpers of the web app tests: the test patient, a config on temporary paths, a running uvicorn server."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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


