"""Node test servers started on a free port and stopped by their process id: Medplum's FHIR router over its
in-memory repository (tests/node/fhir_server.mjs, strict transactions on) and panva's oidc-provider as a SMART
Backend Services authorization server (tests/node/smart_server.mjs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
#: the router's cap on a transaction with conditional operations (@medplum/fhir-router 5.2.13)
MEDPLUM_STRICT_MAX_ENTRIES = 8


def unavailable(package: str = "@medplum/fhir-router") -> str | None:
    """Why the server cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / package).is_dir():
        return f"{package} not installed in {NODE_DIR}/node_modules (run `make node-deps`)"
    return None


class NodeServer:
    script = ""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.env = env or {}

    def start(self, timeout_s: float = 60.0) -> NodeServer:
        node = shutil.which("node")
        assert node is not None
        self.proc = subprocess.Popen([node, "--experimental-websocket", "--no-warnings", self.script, "0"],
                                     cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "NODE_ENV": "test", **self.env})
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if line.startswith("LISTENING "):
                    self.port = int(line.split()[1])
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout_s):
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"{self.script} did not start: {''.join(lines)} {err}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


class MedplumServer(NodeServer):
    script = "fhir_server.mjs"

    def start(self, timeout_s: float = 60.0) -> MedplumServer:
        super().start(timeout_s)
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def counts(self) -> dict[str, int]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/_counts", timeout=60).json())

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_reset", timeout=30).raise_for_status()

    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.base_url}/{path}", timeout=60)
        r.raise_for_status()
        return r.json()


class SmartAuthServer(NodeServer):
    """oidc-provider with client_credentials + private_key_jwt; ``clients`` = [{client_id, jwks, alg, scope}]."""

    script = "smart_server.mjs"

    def __init__(self, clients: list[dict[str, Any]], scopes: str, ttl_s: int = 300) -> None:
        import json

        super().__init__({"SMART_CLIENTS": json.dumps(clients), "SMART_SCOPES": scopes, "SMART_TTL_S": str(ttl_s)})

    def start(self, timeout_s: float = 60.0) -> SmartAuthServer:
        super().start(timeout_s)
        return self

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"
