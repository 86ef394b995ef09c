"""Web app fixtures: a real uvicorn server on a free loopback port (stopped after the test)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web.webfixtures import RunningServer, free_port

from asalee_devices.config import Config


@pytest.fixture

def serve() -> Iterator[Callable[..., RunningServer]]:
    import uvicorn

    from asalee_devices.web.app import create_app
    from asalee_devices.web.settings import WebSettings

    running: list[RunningServer] = []

    def start(config: Config, data_dir: Path, **settings: Any) -> RunningServer:
        app = create_app(WebSettings.from_config(config, data_dir, **settings))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False,
                                               log_level="warning", ws="websockets-sansio"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        rs = RunningServer(f"http://127.0.0.1:{port}", app, app.state.web.token, server, thread)
        running.append(rs)
        return rs

    yield start
    for rs in running:
        rs.stop()
