"""SMART Backend Services against a real authorization server: panva's oidc-provider (npm), client_credentials +
private_key_jwt, run strict (an assertion without ``kid`` is refused), RS384 and ES384 clients
(tests/node/smart_server.mjs). Tokens obtained, cached and renewed; invalid_client, invalid_scope, an HTML 200 and
unusable keys each give the right recorded error; no key, assertion or token appears in any output.

Skipped with a reason when Node or the npm package is missing (``make node-deps``); a failure in CI."""

from __future__ import annotations

import http.server
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import spirometry_bundle
from tests.fhir.medplum_server import SmartAuthServer, unavailable
from tests.fhir_test_server import FhirTestServer

from asalee_devices.config import Config, SinkConfig, validate
from asalee_devices.errors import ConfigError
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.outbox import Outbox
from asalee_devices.fhir_out.sinks import TransientDeliveryError
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink
from asalee_devices.fhir_out.sinks.smart import (
    SmartBackendAuth,
    SmartConfigurationError,
    default_scope,
    jwk_thumbprint,
    load_private_key,
    public_jwk,
    signed_jwt,
)

SCOPE = default_scope("v2")


def _keys() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return {"RS384": rsa.generate_private_key(65537, 2048), "ES384": ec.generate_private_key(ec.SECP384R1()),
            "other": rsa.generate_private_key(65537, 2048)}


def _pem(key: Any, password: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    enc = (serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))


def _jwk(key: Any, alg: str) -> dict[str, str]:
    return {**public_jwk(key), "kid": jwk_thumbprint(key), "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return _keys()


@pytest.fixture(scope="module")
def idp(keys: dict[str, Any]) -> Iterator[SmartAuthServer]:
    problem = unavailable("oidc-provider")
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (required in CI)")
        pytest.skip(problem)
    clients = [{"client_id": f"asalee-{alg.lower()}", "alg": alg, "scope": SCOPE,
                "jwks": {"keys": [_jwk(keys[alg], alg)]}} for alg in ("RS384", "ES384")]
    clients.append({"client_id": "asalee-narrow", "alg": "RS384", "scope": "system/Observation.cus",
                    "jwks": {"keys": [_jwk(keys["RS384"], "RS384")]}})
    srv = SmartAuthServer(clients, SCOPE + " system/Observation.cus", ttl_s=60).start()
    yield srv
    srv.stop()


class _Clock:
    def __init__(self) -> None:
        import time

        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_token_obtained_cached_and_renewed(idp: SmartAuthServer, keys: dict[str, Any], alg: str) -> None:
    clock = _Clock()
    auth = SmartBackendAuth(f"asalee-{alg.lower()}", idp.token_url, _pem(keys[alg]), clock=clock)
    assert auth.kid == jwk_thumbprint(keys[alg]) and auth.algorithm == alg
    with httpx.Client(timeout=30) as client:
        t1 = auth.token(client)
        assert auth.token(client) == t1 and auth.requests == 1  # cached
        clock.t += 60  # past the server's 60 s lifetime (a fake clock: no sleeping, no timing)
        t2 = auth.token(client)
        assert t2 != t1 and auth.requests == 2  # renewed
    import base64

    head = json.loads(base64.urlsafe_b64decode(auth.assertion().split(".")[0] + "=="))
    assert head == {"alg": alg, "typ": "JWT", "kid": jwk_thumbprint(keys[alg])}


def test_strict_server_refuses_an_assertion_without_kid(idp: SmartAuthServer, keys: dict[str, Any]) -> None:
    """What the previous code sent (no kid): the strict server answers invalid_client."""
    import time
    import uuid

    now = int(time.time())
    claims = {"iss": "asalee-rs384", "sub": "asalee-rs384", "aud": idp.token_url, "exp": now + 300, "iat": now,
              "jti": str(uuid.uuid4())}
    r = httpx.post(idp.token_url, data={"grant_type": "client_credentials", "scope": SCOPE,
                                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:"
                                                                 "jwt-bearer",
                                        "client_assertion": signed_jwt(claims, keys["RS384"], kid=None)})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def _outbox_send(tmp_path: Path, auth: SmartBackendAuth) -> Any:
    session, preds, _ = F.spiro_session()
    payload = to_json(spirometry_bundle(F.exam(), F.patient(), session, preds)).encode()  # type: ignore[arg-type]
    srv = FhirTestServer().start()
    try:
        box = Outbox(tmp_path / "o.sqlite3")
        mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                          payload=payload)
        state = box.deliver_due(FhirRestSink(srv.base_url, auth=auth))
        return state[mid], box.get(mid)
    finally:
        srv.stop()


def test_delivery_with_a_real_token(idp: SmartAuthServer, keys: dict[str, Any], tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    auth = SmartBackendAuth("asalee-es384", idp.token_url, _pem(keys["ES384"]))
    with caplog.at_level(logging.DEBUG):
        state, msg = _outbox_send(tmp_path, auth)
    assert state == "acknowledged", msg.last_error
    assert auth._token and repr(auth).find(auth._token) == -1  # the token is held, never shown (repr included)
    _no_secret(keys["ES384"], auth, caplog.text + capsys.readouterr().out + msg.last_error + msg.detail
               + repr(auth))


@pytest.mark.parametrize(("client_id", "key", "scope", "error"), [
    ("asalee-rs384", "other", SCOPE, "invalid_client"),  # signed with a key the server does not know
    ("nobody", "RS384", SCOPE, "invalid_client"),
    ("asalee-narrow", "RS384", SCOPE, "invalid_scope"),  # asks for more than the client was granted
])
def test_oauth_errors_are_configuration_errors_recorded_with_their_description(
        idp: SmartAuthServer, keys: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str], client_id: str, key: str, scope: str, error: str) -> None:
    auth = SmartBackendAuth(client_id, idp.token_url, _pem(keys[key]), scope, kid=jwk_thumbprint(keys["RS384"]))
    with caplog.at_level(logging.DEBUG):
        state, msg = _outbox_send(tmp_path, auth)
    print(f"{client_id}: {state}: {msg.last_error}")
    assert state == "failed" and msg.attempts == 1  # a human must fix the configuration; not retried as offline
    assert error in msg.last_error and "SMART authorization refused" in msg.last_error
    assert "unreachable" not in msg.last_error
    _no_secret(keys[key], auth, caplog.text + capsys.readouterr().out + msg.last_error + msg.detail)


def _no_secret(key: Any, auth: SmartBackendAuth, text: str) -> None:
    pem = _pem(key).decode()
    body = "".join(pem.splitlines()[1:-1])
    assert body[:40] not in text and "PRIVATE KEY" not in text
    assert "client_assertion" not in text and "eyJ" not in text  # no JWT (assertion) in any output
    if auth._token:
        assert auth._token not in text


class _HtmlToken(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>Portail de connexion</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_html_200_from_the_token_url_is_a_transient_error(keys: dict[str, Any], tmp_path: Path) -> None:
    """A captive portal or a misrouted proxy answering 200 with HTML: rescheduled (not stuck in 'sent')."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlToken)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        auth = SmartBackendAuth("asalee-rs384", f"http://127.0.0.1:{srv.server_port}/token", _pem(keys["RS384"]))
        with pytest.raises(TransientDeliveryError) as err, httpx.Client() as c:
            auth.token(c)
        assert "Malformed token response" in str(err.value) and "text/html" in str(err.value)
        state, msg = _outbox_send(tmp_path, auth)
        assert state == "pending" and "Malformed token response" in msg.last_error
    finally:
        srv.shutdown()


def test_unusable_keys_are_refused_at_load(keys: dict[str, Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    cases = {"EC P-256": _pem(ec.generate_private_key(ec.SECP256R1())),
             "encrypted": _pem(keys["RS384"], password=b"secret"), "not a key": b"hello"}
    for name, pem in cases.items():
        with pytest.raises(ConfigError) as err:
            load_private_key(pem)
        print(f"{name}: {err.value}")
        assert err.value.field == "sink.private_key" and "secret" not in str(err.value)
    # config check loads and test-signs the key (the CLI prints the algorithm and kid, never the key)
    path = tmp_path / "p256.pem"
    path.write_bytes(cases["EC P-256"])
    with pytest.raises(ConfigError):
        SmartBackendAuth.from_files("c", "https://auth.example.org/token", str(path), "")
    good = tmp_path / "rsa.pem"
    good.write_bytes(_pem(keys["RS384"]))
    auth = SmartBackendAuth.from_files("c", "https://auth.example.org/token", str(good), "")
    assert auth.check() == f"RS384, kid {jwk_thumbprint(keys['RS384'])}"


def test_discovery_tls_and_default_scope(keys: dict[str, Any]) -> None:
    """No token URL: discovered from .well-known/smart-configuration; plain http to a remote host refused; the
    default scope names every written resource type (v2 and v1)."""
    import re

    assert set(re.findall(r"system/(\w+)\.cus", default_scope("v2"))) >= {
        "Patient", "Practitioner", "PractitionerRole", "Organization", "Task", "Provenance", "Observation",
        "DiagnosticReport", "Device", "DeviceMetric", "Procedure", "MedicationAdministration"}
    assert "system/Task.write" in default_scope("v1")
    with pytest.raises(ConfigError):
        SmartBackendAuth("c", "http://auth.example.org/token", _pem(keys["RS384"]))
    problems = validate(Config(sink=SinkConfig(type="fhir", base_url="https://fhir.example.org", client_id="c",
                                               private_key="/nonexistent", token_url="http://auth.example.org/t")))
    assert any("sink.token_url uses plain http" in p for p in problems)

    class Wellknown(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"token_endpoint": f"http://127.0.0.1:{self.server.server_port}/token",
                               "token_endpoint_auth_methods_supported": ["private_key_jwt"]}).encode()
            self.send_response(200 if self.path.endswith("/.well-known/smart-configuration") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Wellknown)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        auth = SmartBackendAuth("c", "", _pem(keys["RS384"]), fhir_base_url=f"http://127.0.0.1:{srv.server_port}/fhir")
        with httpx.Client() as c:
            assert auth.discover(c) == f"http://127.0.0.1:{srv.server_port}/token"
        bad = SmartBackendAuth("c", "", _pem(keys["RS384"]), fhir_base_url=f"http://127.0.0.1:{srv.server_port}/x/")
        srv.RequestHandlerClass = type("NoWk", (Wellknown,), {"do_GET": lambda self: (
            self.send_response(404), self.end_headers())})
        with httpx.Client() as c, pytest.raises(SmartConfigurationError):
            bad.discover(c)
    finally:
        srv.shutdown()


def test_one_token_refresh_per_401_per_send(keys: dict[str, Any]) -> None:
    """A 401 refreshes the token once, for the same send; the later tries of the message after 5xx (the outbox's
    retries, each one send) reuse it."""
    srv = FhirTestServer(require_token="test-token").start()
    try:
        token_url = srv.base_url.rsplit("/", 1)[0] + "/token"
        auth = SmartBackendAuth("c", token_url, _pem(keys["RS384"]))
        auth._token, auth._expires_at = "stale", auth.clock() + 300
        srv.inject("500", "500")
        session, preds, _ = F.spiro_session()
        payload = to_json(spirometry_bundle(F.exam(), F.patient(), session, preds)).encode()  # type: ignore[arg-type]
        from asalee_devices.fhir_out.sinks import Delivery, TransientDeliveryError

        sink = FhirRestSink(srv.base_url, auth=auth)
        for _ in range(5):  # as the outbox would: one send per try until acknowledged
            try:
                sink.send(Delivery(1, "e", "spirometry", "2026-11-23", payload))
                break
            except TransientDeliveryError:
                continue
        else:
            raise AssertionError("never delivered")
        assert auth.requests == 1  # one refresh (after the 401), not one per retry
    finally:
        srv.stop()


def test_config_check_loads_and_test_signs_the_key(keys: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from asalee_devices.cli.main import main

    def check(pem: bytes) -> tuple[int, str]:
        (tmp_path / "k.pem").write_bytes(pem)
        cfg = tmp_path / "c.toml"
        cfg.write_text(f"""
[sink]
type = "fhir"
base_url = "https://fhir.example.org/fhir"
token_url = "https://auth.example.org/token"
client_id = "asalee"
private_key = "{(tmp_path / 'k.pem').as_posix()}"
""", encoding="utf-8")
        code = main(["config", "check", "--config", str(cfg)])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = check(_pem(keys["ES384"]))
    assert code == 0 and f"SMART key OK: ES384, kid {jwk_thumbprint(keys['ES384'])}" in out
    assert "system/Provenance.cus" in out and "PRIVATE KEY" not in out
    code, out = check(_pem(ec.generate_private_key(ec.SECP256R1())))  # passed config check before
    print(out)
    assert code == 2 and "Unsupported SMART key type" in out and "PRIVATE KEY" not in out
