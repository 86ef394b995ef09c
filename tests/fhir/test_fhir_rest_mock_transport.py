"""FhirRestSink against ``httpx.MockTransport``: one POST per send, no sleeping, the reply classified (delivered,
transient with the peer's Retry-After, refused); retries are the outbox's and its attempt limit holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from asalee_devices.fhir_out.outbox import Outbox, RetryPolicy
from asalee_devices.fhir_out.sinks import Delivery, RejectedDeliveryError, TransientDeliveryError
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink

BASE = "https://fhir.example.test/fhir"
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": [
    {"fullUrl": "urn:uuid:7f4d2b7a-0000-4000-8000-000000000001",
     "resource": {"resourceType": "Patient", "id": "7f4d2b7a-0000-4000-8000-000000000001"},
     "request": {"method": "POST", "url": "Patient",
                 "ifNoneExist": "identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"}},
    {"fullUrl": "urn:uuid:7f4d2b7a-0000-4000-8000-000000000002",
     "resource": {"resourceType": "Observation", "id": "7f4d2b7a-0000-4000-8000-000000000002"},
     "request": {"method": "POST", "url": "Observation"}},
]}
PAYLOAD = json.dumps(BUNDLE).encode()


def _confirmed(statuses: tuple[str, ...] = ("201 Created", "200 OK")) -> httpx.Response:
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": s, "location": f"{t}/{k}/_history/1"}}
        for k, (s, t) in enumerate(zip(statuses, ("Patient", "Observation"), strict=True))]},
        headers={"Content-Type": "application/fhir+json"})


class Peer:
    """A handler answering from a script (the last answer repeats), counting and keeping the requests."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


def _sink(peer: Peer, **kw: Any) -> FhirRestSink:
    return FhirRestSink(BASE, transport=httpx.MockTransport(peer), **kw)


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send never sleeps (the old sink waited up to 30 s between its own retries on the outbox thread)."""
    def refuse(_s: float) -> None:
        raise AssertionError("the sink slept")
    monkeypatch.setattr("time.sleep", refuse)


def _delivery() -> Delivery:
    return Delivery(1, "exam-1", "spirometry", "2026-11-23", PAYLOAD)


def test_confirmed_transaction_is_one_post() -> None:
    peer = Peer(_confirmed())
    with _sink(peer, token="t0k") as sink:
        res = sink.send(_delivery())
    assert (res.created, res.existing, res.detail) == (1, 1, "HTTP 200")
    assert res.locations == ("Patient/0", "Observation/1")  # the version part dropped
    (req,) = peer.requests
    assert req.method == "POST" and str(req.url) == BASE and req.content == PAYLOAD
    assert req.headers["Authorization"] == "Bearer t0k"
    assert req.headers["Content-Type"].startswith("application/fhir+json")
    assert sink._client is None  # closed by the context manager


@pytest.mark.parametrize(("code", "headers", "retry_after"), [
    (503, {"Retry-After": "7"}, 7.0), (429, {"Retry-After": "120"}, 120.0), (500, {}, None), (408, {}, None),
    (503, {"Retry-After": "soon"}, None), (503, {"Retry-After": "99999999"}, 3600.0),
])
def test_busy_server_is_one_try_with_its_retry_after(code: int, headers: dict[str, str],
                                                     retry_after: float | None) -> None:
    peer = Peer(httpx.Response(code, headers=headers), _confirmed())
    with pytest.raises(TransientDeliveryError) as exc:
        _sink(peer).send(_delivery())
    assert len(peer.requests) == 1 and exc.value.retry_after_s == retry_after
    assert f"HTTP {code}" in str(exc.value)


def test_network_error_is_transient_after_one_try() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)
    peer = Peer(refused)
    with pytest.raises(TransientDeliveryError, match="Network error: ConnectError"):
        _sink(peer).send(_delivery())
    assert len(peer.requests) == 1


def test_refusal_carries_the_operation_outcome() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "diagnostics": "Observation.status: required"}]}
    peer = Peer(httpx.Response(422, json=outcome, headers={"Content-Type": "application/fhir+json"}))
    with pytest.raises(RejectedDeliveryError) as exc:
        _sink(peer).send(_delivery())
    assert len(peer.requests) == 1 and "Observation.status: required" in exc.value.outcome
    assert "HTTP 422" in exc.value.message


def test_unconfirmed_2xx_is_transient() -> None:
    peer = Peer(httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(TransientDeliveryError, match="not JSON"):
        _sink(peer).send(_delivery())
    assert len(peer.requests) == 1


def test_the_outbox_owns_the_retries(tmp_path: Path) -> None:
    """Two 503s then a confirmation: three passes of the outbox, three POSTs, the Retry-After scheduled by the
    outbox; with a persistent 503 the attempt limit holds exactly."""
    peer = Peer(httpx.Response(503, headers={"Retry-After": "30"}), httpx.Response(502), _confirmed())
    with Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=3, base_s=1.0, cap_s=1.0)) as box, \
            _sink(peer) as sink:
        mid = box.enqueue(exam_id="exam-1", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                          payload=PAYLOAD)
        assert box.deliver_due(sink) == {mid: "pending"}
        msg = box.get(mid)
        assert 29.0 < msg.next_attempt_at - msg.updated_at <= 30.0  # the peer's delay, kept by the outbox
        assert box.deliver_due(sink) == {}  # not due yet
        assert box.deliver_due(sink, now=float("inf")) == {mid: "pending"}
        msg = box.get(mid)
        assert 0.0 <= msg.next_attempt_at - msg.updated_at <= 1.0  # the backoff (cap 1 s), no Retry-After
        assert box.deliver_due(sink, now=float("inf")) == {mid: "acknowledged"}
        assert len(peer.requests) == 3 and box.get(mid).attempts == 3
        always_busy = Peer(httpx.Response(503))
        other = box.enqueue(exam_id="exam-2", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                            payload=PAYLOAD)
        with _sink(always_busy) as busy:
            for _ in range(6):
                box.deliver_due(busy, now=float("inf"))
        assert box.get(other).state == "failed" and box.get(other).attempts == 3 and len(always_busy.requests) == 3
