"""Delivery: folder sink, FHIR REST sink against the loopback test server (conditional create, injected failures,
SMART Backend Services), the SQLite outbox (states, crash between send and acknowledgement), and identity errors
caught before anything is queued."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import spirometry_bundle
from tests.fhir_test_server import FhirTestServer

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, PatientDataError
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.outbox import Outbox, RetryPolicy
from asalee_devices.fhir_out.pipeline import patient_from_mapping, queue_exam
from asalee_devices.fhir_out.sinks import Delivery, RejectedDeliveryError, create_sink
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink
from asalee_devices.fhir_out.sinks.smart import SmartBackendAuth

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def server() -> Iterator[FhirTestServer]:
    srv = FhirTestServer().start()
    yield srv
    srv.stop()


def _bundle_bytes(exam_id: str = "exam-0001") -> bytes:
    session, preds, best = F.spiro_session()
    return to_json(spirometry_bundle(F.exam(exam_id), F.patient(), session, preds, best_curve=best)).encode()  # type: ignore[arg-type]


def _delivery(exam_id: str = "exam-0001", mid: int = 1) -> Delivery:
    return Delivery(mid, exam_id, "spirometry", "2026-11-23", _bundle_bytes(exam_id), F.PDF)


def _n_entries(payload: bytes) -> int:
    return len(json.loads(payload)["entry"])


@dataclass(frozen=True)
class _RecordingPolicy(RetryPolicy):
    """The outbox's retry policy, recording each delay it chose before a next try (the waits of a delivery)."""

    chosen: list[float] = field(default_factory=list, compare=False)

    def next_delay_s(self, attempts: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        delay = super().next_delay_s(attempts, rng, retry_after_s)
        self.chosen.append(delay)
        return delay


def test_folder_sink_atomic_and_named(tmp_path: Path) -> None:
    sink = create_sink(SinkConfig(type="folder", folder=str(tmp_path / "out")))
    d = _delivery("exam/../0001")
    r1 = sink.send(d)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    print("folder sink wrote:", files)
    assert files == ["2026-11-23_spirometry_exam_.._0001.json", "2026-11-23_spirometry_exam_.._0001.pdf"]
    assert (tmp_path / "out" / files[0]).read_bytes() == d.bundle_json
    assert (tmp_path / "out" / files[1]).read_bytes() == F.PDF
    r2 = sink.send(d)  # re-send replaces, never a second file
    assert (r1.created, r2.existing) == (1, 1) and len(list((tmp_path / "out").iterdir())) == 2


def test_rest_sink_arrives_once_through_failures(server: FhirTestServer, tmp_path: Path) -> None:
    """The sink sends once per try; the outbox retries (its backoff, or the peer's Retry-After)."""
    payload = _bundle_bytes()
    n = _n_entries(payload)
    server.inject("500", "429:1", "drop")
    policy = _RecordingPolicy(max_attempts=5, base_s=0.5, cap_s=30.0)
    sleeps = policy.chosen
    box = Outbox(tmp_path / "o.sqlite3", policy=policy)
    mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                      payload=payload)
    sink = FhirRestSink(server.base_url)
    for _ in range(5):  # each pass is one try, whatever the scheduled delay
        if box.deliver_due(sink, now=float("inf")) != {mid: "pending"}:
            break
    res = box.get(mid)
    print(f"after 500, 429 (Retry-After 1), dropped connection: {res.state} ({res.detail}), waits "
          f"{[round(s, 3) for s in sleeps]}, server requests {server.requests}, stored {server.count()} of {n} "
          f"entries")
    assert res.state == "acknowledged" and f"created {n}," in res.detail
    assert server.count() == n and server.requests == 4
    assert 1.0 in sleeps and len(sleeps) == 3  # Retry-After honoured; backoff between the others
    res2 = sink.send(Delivery(1, "exam-0001", "spirometry", "2026-11-23", payload))  # a re-send
    assert res2.created == 0 and res2.existing == n and server.count() == n  # conditional create: no duplicate
    assert server.count("Observation") == 8 and server.count("Patient") == 1
    # a second exam of the same patient reuses Patient, Practitioners and Device, adds its own results
    sink.send(Delivery(2, "exam-0002", "spirometry", "2026-11-23", _bundle_bytes("exam-0002")))
    assert server.count("Patient") == 1 and server.count("Device") == 2 and server.count("Observation") == 16
    sink.close()


def test_rest_references_rewritten(server: FhirTestServer) -> None:
    FhirRestSink(server.base_url).send(_delivery())
    obs = next(iter(server.store["Observation"].values()))
    assert obs["subject"]["reference"].startswith("Patient/")
    assert obs["subject"]["reference"].split("/")[1] in server.store["Patient"]


def test_400_reported_with_operation_outcome_not_retried(server: FhirTestServer, tmp_path: Path) -> None:
    server.inject("400")
    box = Outbox(tmp_path / "outbox.sqlite3", policy=RetryPolicy(base_s=0.01))
    mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                      payload=_bundle_bytes())
    out = box.deliver_due(FhirRestSink(server.base_url))
    msg = box.get(mid)
    print(f"400: state {msg.state}, attempts {msg.attempts}, server requests {server.requests}, "
          f"reason: {msg.last_error}")
    assert out == {mid: "failed"} and msg.attempts == 1 and server.requests == 1 and server.count() == 0
    assert "HTTP 400" in msg.last_error and "required binding not met" in msg.last_error
    assert box.deliver_due(FhirRestSink(server.base_url)) == {}  # failed messages are not picked up again
    assert box.retry(mid) == 1
    assert box.deliver_due(FhirRestSink(server.base_url)) == {mid: "acknowledged"}


def test_412_is_not_retried(server: FhirTestServer) -> None:
    server.inject("412")
    with pytest.raises(RejectedDeliveryError) as exc:
        FhirRestSink(server.base_url).send(_delivery())
    assert "duplicate" in exc.value.outcome and server.requests == 1


def test_outbox_lost_ack_then_retry_no_duplicate(server: FhirTestServer, tmp_path: Path) -> None:
    """The server commits, then the connection drops before the response: the outbox keeps the message pending
    and the re-send is absorbed by the conditional create."""
    server.inject("commit-drop")
    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(base_s=0.01))
    payload = _bundle_bytes()
    mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                      payload=payload)
    sink = FhirRestSink(server.base_url)
    assert box.deliver_due(sink) == {mid: "pending"}
    assert server.count() == _n_entries(payload)
    counts = box.drain(sink, timeout_s=10)
    msg = box.get(mid)
    print(f"lost ack: {counts}, detail '{msg.detail}', stored {server.count()}")
    assert counts["acknowledged"] == 1 and server.count() == _n_entries(payload) and server.transactions == 2
    assert "created 0" in msg.detail


def test_sender_killed_between_send_and_ack(server: FhirTestServer, tmp_path: Path) -> None:
    box_path = tmp_path / "outbox.sqlite3"
    payload = _bundle_bytes()
    with Outbox(box_path) as box:
        mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                          payload=payload)
    server.inject("commit-hold")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    cmd = [sys.executable, str(ROOT / "tests" / "fhir" / "outbox_sender.py"), str(box_path), server.base_url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.held.wait(60), "the sender never reached the server"
        proc.kill()  # crash between send and acknowledgement
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Outbox(box_path) as box:
        state_after_crash = box.get(mid).state
    server.release()
    stored = server.count()
    assert state_after_crash == "sent" and stored == _n_entries(payload)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Outbox(box_path) as box:
        msg = box.get(mid)
    print(f"killed sender (pid exit {proc.returncode}): state after crash '{state_after_crash}', after restart "
          f"'{msg.state}' ({msg.detail}); resources stored {server.count()} (entries {_n_entries(payload)}), "
          f"transactions {server.transactions}")
    assert msg.state == "acknowledged" and server.count() == stored and server.transactions == 2
    assert server.count("Observation") == 8


def test_smart_backend_services_jwt(server: FhirTestServer) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    server.require_token = "test-token"
    for key in (ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 2048)):
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        token_url = server.base_url.rsplit("/", 1)[0] + "/token"
        auth = SmartBackendAuth("asalee-client", token_url, pem, "system/*.write")
        FhirRestSink(server.base_url, auth=auth).send(_delivery())
        jwt = server.assertions[-1]
        head, body, sig = jwt.split(".")

        def unb64(s: str) -> bytes:
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        header, claims = json.loads(unb64(head)), json.loads(unb64(body))
        signed = f"{head}.{body}".encode()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            assert header["alg"] == "ES384"
            raw = unb64(sig)
            der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
            key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA384()))
        else:
            assert header["alg"] == "RS384"
            key.public_key().verify(unb64(sig), signed, padding.PKCS1v15(), hashes.SHA384())
        assert claims["iss"] == claims["sub"] == "asalee-client" and claims["aud"] == token_url
        assert 0 < claims["exp"] - time.time() <= 300
    assert len(server.assertions) == 2 and len({*server.assertions}) == 2
    with pytest.raises(RejectedDeliveryError):  # a static wrong token: 401 is not retried
        FhirRestSink(server.base_url, token="wrong").send(_delivery())


@pytest.mark.parametrize("data, field", [
    ({"family": "X", "given": "Y", "sex": "female", "ins": F.TEST_INS}, "birth_date"),
    ({"family": "X", "birth_date": "1979-03-14", "sex": "female"}, "given"),
    ({"family": "X", "given": "Y", "birth_date": "1979-03-14", "sex": "female", "ins": "279035121518988",
      "ins_kind": "INS-NIR-TEST", "identity_qualified": True, "birth_place_cog": "51215"}, "ins"),
    ({"family": "X", "given": "Y", "birth_date": "1979-03-14", "sex": "female", "ins": F.TEST_INS,
      "ins_kind": "INS-NIR-TEST", "identity_qualified": False, "birth_place_cog": "51215"}, "ins"),
])
def test_invalid_identity_refused_before_queueing(tmp_path: Path, data: dict[str, object], field: str) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    session, preds, _ = F.spiro_session()
    with pytest.raises(PatientDataError) as exc:
        patient = patient_from_mapping(data)
        queue_exam(box, sink="fhir", exam=F.exam(), kind="spirometry",
                   build=lambda: spirometry_bundle(F.exam(), patient, session, preds))  # type: ignore[arg-type]
    print(f"refused ({exc.value.field}): {exc.value}")
    assert field in str(exc.value.field)
    assert sum(box.counts().values()) == 0


def test_test_ins_outside_test_mode_refused_before_queueing(tmp_path: Path) -> None:
    from dataclasses import replace

    box = Outbox(tmp_path / "o.sqlite3")
    session, preds, _ = F.spiro_session()
    prod_exam = replace(F.exam(), test_mode=False)
    with pytest.raises(PatientDataError):
        queue_exam(box, sink="fhir", exam=prod_exam, kind="spirometry",
                   build=lambda: spirometry_bundle(prod_exam, F.patient(), session, preds))  # type: ignore[arg-type]
    assert sum(box.counts().values()) == 0
    ok = queue_exam(box, sink="fhir", exam=F.exam(), kind="spirometry",
                    build=lambda: spirometry_bundle(F.exam(), F.patient(), session, preds))  # type: ignore[arg-type]
    assert box.counts()["pending"] == 1 and box.get(ok).has_pdf
    assert queue_exam(box, sink="fhir", exam=F.exam(), kind="spirometry",
                      build=lambda: spirometry_bundle(F.exam(), F.patient(), session, preds)) == ok  # type: ignore[arg-type]


def test_retry_after_forms_and_backoff_bounds() -> None:
    import email.utils
    import random

    from asalee_devices.backoff import Backoff
    from asalee_devices.fhir_out.sinks.fhir_rest import retry_after_s

    assert retry_after_s("7") == 7.0 and retry_after_s(None) is None and retry_after_s("soon") is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    got = retry_after_s(when)
    assert got is not None and 28 <= got <= 31
    rng = random.Random(1)
    delays = [Backoff(0.5, 30.0).delay_s(a + 1, rng) for a in range(12) for _ in range(50)]
    assert min(delays) >= 0 and max(delays) <= 30.0 and len(set(delays)) > 500  # jittered, capped


def test_outbox_gives_up_after_max_attempts(server: FhirTestServer, tmp_path: Path) -> None:
    server.inject("500", "500", "500")
    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=2, base_s=0.01))
    mid = box.enqueue(exam_id="exam-0001", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                      payload=_bundle_bytes())
    counts = box.drain(FhirRestSink(server.base_url), timeout_s=10)
    msg = box.get(mid)
    print(f"persistent 500: {counts}, reason: {msg.last_error}")
    assert msg.state == "failed" and msg.attempts == 2 and "gave up after 2 attempts" in msg.last_error
    assert server.count() == 0


def test_fhir_sink_from_config_verifies_tls_by_default(tmp_path: Path) -> None:
    sink = create_sink(SinkConfig(type="fhir", base_url="https://fhir.example.org/fhir", token="t"))
    assert isinstance(sink, FhirRestSink) and sink.verify_tls
    with pytest.raises(ConfigError) as exc:  # SMART without a readable key: a configuration error
        create_sink(SinkConfig(type="fhir", base_url="https://x/fhir", client_id="c", token_url="https://x/t",
                               private_key=str(tmp_path / "missing.pem")))
    assert "private key" in str(exc.value)


def test_server_412_on_ambiguous_conditional_create(server: FhirTestServer) -> None:
    """Two resources already carry the patient's INS: the conditional create is ambiguous, the server answers 412
    and the sink reports it without retrying."""
    for rid in ("a", "b"):
        server.store.setdefault("Patient", {})[rid] = {"resourceType": "Patient", "id": rid}
        server.index.setdefault(("Patient", "identifier", f"urn:oid:1.2.250.1.213.1.4.10|{F.TEST_INS}"), []).append(rid)
    with pytest.raises(RejectedDeliveryError) as exc:
        FhirRestSink(server.base_url).send(_delivery())
    print("ambiguous conditional create:", exc.value.outcome)
    assert "matched 2" in exc.value.outcome and server.requests == 1 and server.count("Observation") == 0
