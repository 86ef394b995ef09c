"""A small but real FHIR test server on loopback (http.server, HTTP/1.1 keep-alive) for the delivery tests.

Implements: POST of ``transaction`` Bundles at the base (atomic; ``urn:uuid:`` references rewritten to the
assigned ``Type/id``), conditional create (``ifNoneExist`` on ``identifier=system|value`` or ``_tag=system|code``;
0 match -> 201, 1 -> 200 with the existing resource, > 1 -> 412 for the whole transaction), conditional update
(``PUT Type?identifier=system|value``: 0 match -> 201 created, 1 -> 200 replaced with ``versionId`` + 1, > 1 -> 412),
a token endpoint
for SMART Backend Services (``/token``, records the client assertions) and bearer checks when ``require_token``.
Failures are injected in order with :meth:`FhirTestServer.inject`: ``"500"``, ``"429:<seconds>"`` (Retry-After),
``"412"``, ``"400"`` (OperationOutcome), ``"drop"`` (connection closed before processing), ``"commit-drop"``
(transaction committed, then the connection closed without a response), ``"commit-hold"`` (committed, then the
response waits until :meth:`release` — used to kill a sender between send and acknowledgement).

Misbehaving-peer modes (nothing is committed): ``"html"`` (200 with a captive portal's HTML page), ``"empty"``
(200, no body), ``"json-other"`` (200, unrelated JSON), ``"oo-200"`` (200 with an OperationOutcome), ``"202"`` /
``"204"`` (no body), ``"entries-400"`` (a transaction-response whose entries are 400), ``"entries-short"`` (one
entry missing), ``"entries-garbage"`` (entries without a readable status), ``"wrong-type"`` (a batch-response),
``"302"`` (redirect to a login page), ``"oo-garbage"`` (400 with an OperationOutcome of the wrong shape),
``"oo-garbage-422"`` (issues of the wrong types), ``"retry-after:<value>"`` (503 with that header, verbatim),
``"slow:<seconds>"`` (wait before answering), ``"close-mid-body"`` (headers announce 1000 bytes, 10 are sent, then
the connection closes). :attr:`FhirTestServer.always` applies one mode to every request.

Run standalone: ``python tests/fhir_test_server.py [port]``.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


class FhirTestServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, require_token: str | None = None) -> None:
        self.store: dict[str, dict[str, dict[str, Any]]] = {}
        self.index: dict[tuple[str, str, str], list[str]] = {}  # (type, identifier|_tag, system|value) -> ids
        self.lock = threading.Lock()
        self.failures: deque[str] = deque()
        self.always = ""  # a misbehaving mode applied to every request (after the injected failures)
        self.requests = 0
        self.transactions = 0
        self.assertions: list[str] = []
        self.require_token = require_token
        self.held = threading.Event()  # set when a commit-hold response is waiting
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # no Nagle delay between the header and body writes
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return None

            def _reply(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None,
                       *, raw: bytes | None = None, ctype: str = "application/fhir+json") -> None:
                data = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client went away (killed sender)
                    self.close_connection = True

            def _drop(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass

            def _misbehave(self, mode: str, raw: bytes) -> bool:
                """Answer in a misbehaving ``mode`` (nothing committed); False when ``mode`` is not one."""
                n = len(json.loads(raw).get("entry", [])) if raw.startswith(b"{") else 0
                resp = {"resourceType": "Bundle", "type": "transaction-response"}
                if mode == "html":
                    self._reply(200, None, raw=b"<html><body>Wi-Fi login</body></html>", ctype="text/html")
                elif mode == "empty":
                    self._reply(200, None)
                elif mode == "json-other":
                    self._reply(200, {"status": "ok", "id": 12})
                elif mode == "oo-200":
                    self._reply(200, _outcome("informational", "queued"))
                elif mode in ("202", "204"):
                    self._reply(int(mode), None)
                elif mode == "entries-400":
                    self._reply(200, {**resp, "entry": [{"response": {"status": "400 Bad Request", "outcome":
                                                                      _outcome("invalid", "bad code")}}] * n})
                elif mode == "entries-short":
                    self._reply(200, {**resp, "entry": [{"response": {"status": "201 Created"}}] * (n - 1)})
                elif mode == "entries-garbage":
                    self._reply(200, {**resp, "entry": [{"response": {"status": 201}}, "x", {"response": []},
                                                        {}] + [{"response": {"status": "201"}}] * (n - 4)})
                elif mode == "wrong-type":
                    self._reply(200, {**resp, "type": "batch-response",
                                      "entry": [{"response": {"status": "201 Created"}}] * n})
                elif mode == "302":
                    self._reply(302, None, {"Location": "http://portal.example/login"})
                elif mode == "oo-garbage":
                    self._reply(400, {"resourceType": "OperationOutcome", "issue": "boom"})
                elif mode == "oo-garbage-422":
                    self._reply(422, {"resourceType": "OperationOutcome",
                                      "issue": [7, {"details": [], "expression": "x", "severity": 3}]})
                elif mode.startswith("retry-after:"):
                    self._reply(503, _outcome("transient", "busy"), {"Retry-After": mode.split(":", 1)[1]})
                elif mode.startswith("slow:"):
                    server._release.wait(float(mode.split(":")[1]))
                    self._reply(500, _outcome("exception", "slow"))
                elif mode == "close-mid-body":
                    try:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/fhir+json")
                        self.send_header("Content-Length", "1000")
                        self.end_headers()
                        self.wfile.write(b'{"resourc')
                        self.wfile.flush()
                    except OSError:
                        pass
                    self._drop()
                else:
                    return False
                return True

            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = [p for p in url.path.split("/") if p]
                if len(parts) == 1:
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    with server.lock:
                        found = server.search(parts[0], q)
                    self._reply(200, {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                                      "entry": [{"resource": r} for r in found]})
                elif len(parts) == 2 and parts[1] in server.store.get(parts[0], {}):
                    self._reply(200, server.store[parts[0]][parts[1]])
                else:
                    self._reply(404, _outcome("not-found", "unknown resource"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                server.requests += 1
                if self.path.rstrip("/").endswith("/token"):
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    server.assertions.append(form.get("client_assertion", ""))
                    self._reply(200, {"access_token": "test-token", "token_type": "bearer", "expires_in": 300})
                    return
                if server.require_token and self.headers.get("Authorization") != f"Bearer {server.require_token}":
                    self._reply(401, _outcome("login", "bearer token required"))
                    return
                failure = server.failures.popleft() if server.failures else server.always
                if self._misbehave(failure, raw):
                    return
                if failure == "drop":
                    self._drop()
                    return
                if failure == "500":
                    self._reply(500, _outcome("exception", "injected server error"))
                    return
                if failure.startswith("429"):
                    self._reply(429, _outcome("throttled", "slow down"), {"Retry-After": failure.split(":")[1]})
                    return
                if failure == "412":
                    self._reply(412, _outcome("duplicate", "multiple matches for the conditional create"))
                    return
                if failure == "400":
                    self._reply(400, _outcome("invalid", "Observation.code: required binding not met"))
                    return
                try:
                    bundle = json.loads(raw)
                except ValueError:
                    self._reply(400, _outcome("structure", "body is not JSON"))
                    return
                if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
                    self._reply(400, _outcome("invalid", "expected a transaction Bundle"))
                    return
                status, body = server.transaction(bundle)
                if failure == "commit-drop":
                    self._drop()
                    return
                if failure == "commit-hold":
                    server.held.set()
                    server._release.wait(60)
                self._reply(status, body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/fhir"

    def start(self) -> FhirTestServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, *failures: str) -> None:
        self.failures.extend(failures)

    def release(self) -> None:
        self._release.set()

    # -- storage --------------------------------------------------------------------------------------------
    def count(self, rtype: str | None = None) -> int:
        with self.lock:
            if rtype:
                return len(self.store.get(rtype, {}))
            return sum(len(v) for v in self.store.values())

    def search(self, rtype: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if len(query) == 1:
            ((key, value),) = query.items()
            if key not in ("identifier", "_tag"):
                raise ValueError(f"unsupported search parameter {key}")
            return [self.store[rtype][i] for i in self.index.get((rtype, key, value), [])]
        out = []
        for res in self.store.get(rtype, {}).values():
            if all(self._matches(res, k, v) for k, v in query.items()):
                out.append(res)
        return out

    @staticmethod
    def _matches(res: dict[str, Any], key: str, value: str) -> bool:
        system, _, code = value.rpartition("|")
        if key == "identifier":
            return any(i.get("system") == system and i.get("value") == code for i in res.get("identifier", []))
        if key == "_tag":
            return any(t.get("system") == system and t.get("code") == code
                       for t in res.get("meta", {}).get("tag", []))
        raise ValueError(f"unsupported search parameter {key}")

    def transaction(self, bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            resolved: dict[str, str] = {}
            plan: list[tuple[str, dict[str, Any], str | None]] = []  # (type, resource, existing id)
            updates: set[int] = set()  # plan indexes of conditional updates (PUT Type?search)
            for entry in bundle.get("entry", []):
                req = entry.get("request", {})
                res = entry["resource"]
                rtype = res["resourceType"]
                put = req.get("method") == "PUT" and str(req.get("url", "")).startswith(f"{rtype}?")
                if not put and (req.get("method") != "POST" or req.get("url") != rtype):
                    return 400, _outcome("not-supported", "only POST <Type> and PUT <Type>?<search> entries")
                existing: str | None = None
                cond = req["url"].split("?", 1)[1] if put else req.get("ifNoneExist")
                if put:
                    updates.add(len(plan))
                if cond:
                    q = {k: v[0] for k, v in parse_qs(cond).items()}
                    try:
                        matches = self.search(rtype, q)
                    except ValueError as exc:
                        return 400, _outcome("not-supported", str(exc))
                    if len(matches) > 1:
                        return 412, _outcome("duplicate", f"{rtype}?{cond} matched {len(matches)} resources")
                    if matches:
                        existing = matches[0]["id"]
                new_id = existing or uuid.uuid4().hex
                resolved[entry["fullUrl"]] = f"{rtype}/{new_id}"
                plan.append((rtype, res, existing))
            text = json.dumps([p[1] for p in plan])
            for full, local in resolved.items():
                text = text.replace(json.dumps(full), json.dumps(local))
            resources = json.loads(text)
            responses = []
            for k, ((rtype, _res, existing), res, full) in enumerate(zip(plan, resources, resolved, strict=True)):
                rid = resolved[full].split("/")[1]
                if existing is not None and k in updates:
                    old = self.store[rtype][existing]
                    version = str(int(old.get("meta", {}).get("versionId", "1")) + 1)
                    res["id"] = existing
                    res["meta"] = {**res.get("meta", {}), "versionId": version}
                    self.store[rtype][existing] = res
                    responses.append({"response": {"status": "200 OK",
                                                   "location": f"{rtype}/{rid}/_history/{version}"}})
                elif existing is None:
                    res["id"] = rid
                    res["meta"] = {**res.get("meta", {}), "versionId": "1"}
                    self.store.setdefault(rtype, {})[rid] = res
                    for ident in res.get("identifier", []):
                        key = (rtype, "identifier", f"{ident.get('system')}|{ident.get('value')}")
                        self.index.setdefault(key, []).append(rid)
                    for tag in res.get("meta", {}).get("tag", []):
                        self.index.setdefault((rtype, "_tag", f"{tag.get('system')}|{tag.get('code')}"), []).append(rid)
                    responses.append({"response": {"status": "201 Created", "location": f"{rtype}/{rid}/_history/1"}})
                else:
                    responses.append({"response": {"status": "200 OK", "location": f"{rtype}/{rid}/_history/1"}})
            self.transactions += 1
            return 200, {"resourceType": "Bundle", "type": "transaction-response", "entry": responses}


if __name__ == "__main__":
    import sys
    import time

    srv = FhirTestServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8080).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
