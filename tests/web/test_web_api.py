"""API security and validation of the web app (issue 8): token, CSRF/Origin, clear 4xx on malformed bodies, the
patient checks as the nurse types, the per-install token file, and no patient data in logs or URLs."""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.web.webfixtures import PATIENT, TEST_INS, make_config

from asalee_devices.web.app import create_app
from asalee_devices.web.settings import WebSettings

BASE = "http://127.0.0.1:8765"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(WebSettings.from_config(make_config(tmp_path), tmp_path / "data", spirometry_speed=8,
                                             ecg_speed=5))
    with TestClient(app, base_url=BASE) as c:
        yield c


def login(c: TestClient) -> dict[str, str]:
    r = c.get(f"/login?token={c.app.state.web.token}", follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"] == "/"
    return {"X-CSRF-Token": c.cookies["asalee_csrf"]}


ENDPOINTS = [("GET", "/api/session"), ("POST", "/api/lang"), ("POST", "/api/patient/validate"),
             ("POST", "/api/patient"), ("POST", "/api/exams"), ("GET", "/api/exams/0123abcd"),
             ("POST", "/api/exams/0123abcd/blow"), ("POST", "/api/exams/0123abcd/capture"),
             ("POST", "/api/exams/0123abcd/blows/pre/1/marks"), ("POST", "/api/exams/0123abcd/ambient"),
             ("POST", "/api/calibration"),
             ("POST", "/api/exams/0123abcd/send"), ("GET", "/api/exams/0123abcd/report.pdf"),
             ("GET", "/api/history"), ("GET", "/api/devices"), ("GET", "/api/gp/worklist"),
             ("GET", "/api/gp/ecg/0123abcd"), ("POST", "/api/gp/ecg/0123abcd/interpretation")]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_rejects_requests_without_the_token(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={})
    assert r.status_code == 401
    assert r.json()["error"] == "missing_token" and "login URL" in r.json()["message"]
    r = client.request(method, path, json={}, headers={"X-Asalee-Token": "not-the-token"})
    assert r.status_code == 401 and r.json()["error"] == "bad_token"


def test_login_link_and_header_token(client: TestClient) -> None:
    assert client.get("/login?token=wrong", follow_redirects=False).status_code == 401
    token = client.app.state.web.token  # type: ignore[attr-defined]
    assert client.get("/api/session", headers={"X-Asalee-Token": token}).status_code == 200
    r = client.get(f"/login?token={token}", follow_redirects=False)
    cookie = r.headers.get_list("set-cookie")
    assert any(c.startswith("asalee_token=") and "HttpOnly" in c and "SameSite=strict" in c for c in cookie)
    assert client.get("/api/session").status_code == 200


def test_csrf_and_origin_on_state_changes(client: TestClient) -> None:
    h = login(client)
    body = {"lang": "en"}
    r = client.post("/api/lang", json=body)
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    assert client.post("/api/lang", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    r = client.post("/api/lang", json=body, headers={**h, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "bad_origin"
    assert client.get("/api/session", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/lang", json=body, headers={**h, "Origin": BASE}).status_code == 200


def test_websocket_needs_the_token_and_our_origin(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc, client.websocket_connect("/ws") as ws:
        ws.receive_text()
    assert exc.value.code == 4401
    login(client)
    cookie = {"Cookie": f"asalee_token={client.cookies['asalee_token']}"}
    with pytest.raises(WebSocketDisconnect) as exc, \
            client.websocket_connect("/ws", headers={**cookie, "Origin": "http://evil.example"}) as ws:
        ws.receive_text()
    assert exc.value.code == 4403
    with client.websocket_connect("/ws", headers=cookie) as ws:  # accepted (no Origin: not a browser)
        client.app.state.web.hub.publish({"t": "ping"})  # type: ignore[attr-defined]
        assert ws.receive_json() == {"t": "ping"}


@pytest.mark.parametrize(("content", "ctype", "status", "code"), [
    (b"{not json", "application/json", 400, "malformed_json"),
    (b"[1, 2]", "application/json", 400, "malformed_body"),
    (b"family=X", "application/x-www-form-urlencoded", 415, "content_type"),
    (b"{\"patient\": \"X\"}", "application/json", 400, "missing_field"),
    (b"{\"patient\": {\"family\": 3}}", "application/json", 400, "bad_field"),
    (b"{\"patient\": {\"nickname\": \"X\"}}", "application/json", 400, "unknown_field"),
    (b"{\"patient\": {\"identity_qualified\": \"yes\"}}", "application/json", 400, "bad_field"),
    (b"{\"patient\": {}, \"height_cm\": \"tall\"}", "application/json", 400, "bad_field"),
    (b"{" + b"\"a\": \"" + b"x" * 70_000 + b"\"}", "application/json", 413, "too_large"),
    (b"[" * 30_000, "application/json", 400, "too_deep"),  # was a 500 and a traceback (RecursionError)
    (b"{\"patient\": " + b"[" * 40 + b"]" * 40 + b"}", "application/json", 400, "too_deep"),
])
def test_malformed_bodies_get_a_clear_4xx(client: TestClient, content: bytes, ctype: str, status: int,
                                          code: str) -> None:
    h = login(client)
    path = "/api/patient" if b"height_cm" in content else "/api/patient/validate"
    r = client.post(path, content=content, headers={**h, "Content-Type": ctype})
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["message"]


def test_bad_values_name_the_field(client: TestClient) -> None:
    h = login(client)
    r = client.post("/api/exams", json={"kind": "ekg"}, headers=h)
    assert r.status_code == 400 and r.json()["field"] == "kind"
    r = client.post("/api/exams", json={"kind": "ecg"}, headers=h)
    assert r.status_code == 409 and r.json()["error"] == "no_patient"
    r = client.post("/api/patient", json={"patient": {**PATIENT, "ins": TEST_INS[:-1] + "8"}}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "ins"
    assert TEST_INS[:10] not in r.text  # the value is never echoed


def test_patient_validation_as_you_type(client: TestClient) -> None:
    h = login(client)

    def check(**changes: Any) -> dict[str, Any]:
        p = {k: v for k, v in {**PATIENT, **changes}.items() if v is not None}
        r = client.post("/api/patient/validate", json={"patient": p}, headers=h)
        assert r.status_code == 200
        return dict(r.json())

    assert check() == {"valid": True}
    cases = {"ins": dict(ins=TEST_INS[:-2] + "00"), "sex": dict(sex="male"),
             "birth_place_cog": dict(birth_place_cog=None), "family": dict(family=None),
             "birth_date": dict(birth_date="14/03/1979")}
    for field, change in cases.items():
        r = check(**change)
        print(f"{field}: {r['message']}")
        assert r["valid"] is False and field in str(r["field"])
    short = check(ins=TEST_INS[:10])
    assert short["field"] == "ins" and "15 caractères" in short["message"]  # French by default
    assert client.post("/api/lang", json={"lang": "en"}, headers=h).status_code == 200
    assert "15 characters" in check(ins=TEST_INS[:10])["message"]  # the CLI's wording in English


def test_test_ins_refused_outside_test_mode(tmp_path: Path) -> None:
    app = create_app(WebSettings.from_config(make_config(tmp_path, test_mode=False), tmp_path / "data"))
    with TestClient(app, base_url=BASE) as c:
        h = login(c)
        r = c.post("/api/patient/validate", json={"patient": PATIENT}, headers=h).json()
        assert r["valid"] is False and r["field"] == "ins_kind"


def test_token_is_created_once_private_and_reused(tmp_path: Path) -> None:
    from asalee_devices.web.security import load_or_create_token

    t1 = load_or_create_token(tmp_path / "d")
    assert len(t1) >= 40 and load_or_create_token(tmp_path / "d") == t1
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(tmp_path / "d" / "web-token").st_mode) == 0o600
    assert load_or_create_token(tmp_path / "other") != t1


def _wait_idle(c: TestClient, eid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        if not exam["busy"]:
            return dict(exam)
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_no_patient_data_in_logs_or_urls(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = login(client)
    urls: list[str] = []
    orig = client.request

    def spy(method: str, url: Any, *a: Any, **kw: Any) -> Any:
        urls.append(str(url))
        return orig(method, url, *a, **kw)

    client.request = spy  # type: ignore[method-assign]
    assert client.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}, headers=h).status_code == 201
    eid = client.post("/api/exams", json={"kind": "spirometry"}, headers=h).json()["exam"]["id"]
    client.post(f"/api/exams/{eid}/blow", json={}, headers=h)
    exam = _wait_idle(client, eid)
    assert exam["blows"][0]["acceptable"] is False  # scripted hesitant start
    r = client.post(f"/api/exams/{eid}/send", json={}, headers=h)
    assert r.json()["deliveries"][0]["status"] == "sent"
    assert len(eid) == 24 and int(eid, 16) >= 0
    secrets_ = ("TESTPATIENT", "Marie", TEST_INS, "1979-03-14", "51215")
    for u in urls:
        assert not any(s in u for s in secrets_), u
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert caplog.records, "expected some log output to check"
    assert not any(s in text for s in secrets_)


def test_nothing_imports_the_web_package() -> None:
    """``web`` sits on top: only the ``serve`` command (inside its handler) reaches it."""
    src = Path(__file__).resolve().parents[2] / "src" / "asalee_devices"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if "asalee_devices.web" in p.read_text(encoding="utf-8")
                 and p.parent.name != "web" and p.name != "serve.py"]
    assert offenders == []


def test_pages_and_scripts_are_local_only(client: TestClient) -> None:
    """No external network resources: every script/style is served by the app, and the CSP forbids others."""
    import re

    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    refs = [r for r in re.findall(r'(?:src|href)="([^"]+)"', page.text) if r != "about:blank"]
    assert refs and all(r.startswith("/static/") for r in refs)
    for r in refs:
        body = client.get(r)
        assert body.status_code == 200 and len(body.content) > 500
        assert not re.search(r"https?://(?!127\.0\.0\.1)", body.text.replace("http://evil", ""))


def test_a_client_that_falls_behind_is_closed_not_the_acquisition() -> None:
    import asyncio

    from asalee_devices.web.live import CLOSE, QUEUE_MAX, LiveHub

    async def run() -> tuple[int, str, bool]:
        hub = LiveHub()
        hub.bind(asyncio.get_running_loop())
        slow = hub.add()
        for k in range(QUEUE_MAX + 5):  # publish never blocks the device thread
            hub.publish({"t": "block", "k": k})
        await asyncio.sleep(0.05)
        return slow.qsize(), slow.get_nowait(), slow in hub.queues

    size, first, still = asyncio.run(run())
    assert (size, first, still) == (1, CLOSE, False)
