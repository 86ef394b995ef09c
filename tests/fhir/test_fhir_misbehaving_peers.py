"""Misbehaving peers (issue 18): a FHIR server and an MLLP receiver that answer anything but a confirmation.

For every mode: no message is acknowledged wrongly, no exception leaves the outbox, the failure is recorded on the
message with a reason, the retry limit holds exactly, the next message is always tried, and the web app's outbox
service shows the true status (never "sent", retry running) after each. The counts are printed for the closing note.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import spirometry_bundle
from tests.fhir_test_server import FhirTestServer

from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.outbox import Outbox, RetryPolicy
from asalee_devices.fhir_out.sinks import Delivery, MockSink, SendResult
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink, retry_after_s
from asalee_devices.fhir_out.sinks.mllp import MllpSink
from asalee_devices.web.delivery import OutboxService, Prepared

MAX_ATTEMPTS = 3
#: mode -> the state the message must end in after MAX_ATTEMPTS passes ("failed" by refusal after 1 attempt)
FHIR_MODES: dict[str, tuple[str, int]] = {
    "html": ("failed", MAX_ATTEMPTS), "empty": ("failed", MAX_ATTEMPTS), "json-other": ("failed", MAX_ATTEMPTS),
    "oo-200": ("failed", MAX_ATTEMPTS), "202": ("failed", MAX_ATTEMPTS), "204": ("failed", MAX_ATTEMPTS),
    "entries-400": ("failed", 1), "entries-short": ("failed", MAX_ATTEMPTS),
    "entries-garbage": ("failed", MAX_ATTEMPTS), "wrong-type": ("failed", MAX_ATTEMPTS),
    "302": ("failed", MAX_ATTEMPTS), "oo-garbage": ("failed", 1), "oo-garbage-422": ("failed", 1),
    "retry-after:²": ("failed", MAX_ATTEMPTS), "retry-after:-5": ("failed", MAX_ATTEMPTS),
    "retry-after:1e9": ("failed", MAX_ATTEMPTS), "retry-after:Fri, 31 Dec 9999 23:59:59 GMT": ("failed", MAX_ATTEMPTS),
    "retry-after:99999999999": ("failed", MAX_ATTEMPTS), "slow:3": ("failed", MAX_ATTEMPTS),
    "close-mid-body": ("failed", MAX_ATTEMPTS),
}


@pytest.fixture()
def server() -> Iterator[FhirTestServer]:
    srv = FhirTestServer().start()
    yield srv
    srv.stop()


def _payload(exam_id: str) -> bytes:
    session, preds, best = F.spiro_session()
    return to_json(spirometry_bundle(F.exam(exam_id), F.patient(), session, preds, best_curve=best)).encode()  # type: ignore[arg-type]


def _sink(server: FhirTestServer) -> FhirRestSink:
    return FhirRestSink(server.base_url, timeout_s=1.0)


def _queue(box: Outbox, n: int, sink: str = "fhir") -> list[int]:
    return [box.enqueue(exam_id=f"exam-{k}", kind="spirometry", sink=sink, performed_on="2026-11-23",
                        payload=_payload(f"exam-{k}")) for k in range(n)]


@pytest.mark.parametrize("mode", list(FHIR_MODES))
def test_fhir_misbehaving_reply_never_acknowledged(server: FhirTestServer, tmp_path: Path, mode: str) -> None:
    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=MAX_ATTEMPTS, base_s=0.0))
    bad, good = _queue(box, 2)
    server.inject(mode)  # the first request (message `bad`) misbehaves; the next one is answered properly
    first = box.deliver_due(_sink(server))
    assert first[bad] in ("pending", "failed") and first[good] == "acknowledged"  # the next message was tried
    reason = box.get(bad).last_error
    server.always = mode  # from now on every request misbehaves: the retry limit must hold exactly
    for _ in range(MAX_ATTEMPTS + 2):
        box.deliver_due(_sink(server), now=float("inf"))
    msg = box.get(bad)
    want_state, want_attempts = FHIR_MODES[mode]
    print(f"{mode!r}: first pass {first[bad]} ({reason}); after {MAX_ATTEMPTS + 2} passes {msg.state}, "
          f"attempts {msg.attempts}")
    assert reason and msg.state == want_state and msg.attempts == want_attempts
    assert box.get(good).state == "acknowledged"
    assert server.count("Observation") == 8  # only the good message was stored


def test_fhir_reply_reasons_are_clear(server: FhirTestServer, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=MAX_ATTEMPTS, base_s=0.0))
    expect = {"html": "not JSON (text/html", "empty": "empty body", "202": "HTTP 202 without a transaction-response",
              "entries-short": "entries for", "302": "http://portal.example/login",
              "entries-400": "bad code", "oo-garbage": "OperationOutcome without issues",
              "close-mid-body": "Network error"}
    for mode, text in expect.items():
        (mid,) = _queue(box, 1, sink=f"fhir-{mode}")
        server.inject(mode)
        sink = _sink(server)
        sink.key = f"fhir-{mode}"
        box.deliver_due(sink)
        print(f"{mode}: {box.get(mid).last_error}")
        assert text in box.get(mid).last_error


def test_retry_after_capped_and_garbage_ignored(server: FhirTestServer, tmp_path: Path) -> None:
    assert retry_after_s("²") is None and retry_after_s("-5") is None and retry_after_s("1e9") is None
    assert retry_after_s("Fri, 31 Dec 9999 23:59:59 GMT") == 3600.0 and retry_after_s("99999999999") == 3600.0
    assert retry_after_s("120", cap_s=60.0) == 60.0
    box = Outbox(tmp_path / "o.sqlite3")
    (mid,) = _queue(box, 1)
    server.inject("retry-after:Fri, 31 Dec 9999 23:59:59 GMT")
    t0 = time.time()
    box.deliver_due(_sink(server))
    wait = box.get(mid).next_attempt_at - t0
    print(f"year-9999 Retry-After: next attempt in {wait:.0f} s")
    assert 0 < wait <= 3600.0 + 5


def test_unexpected_sink_exception_recorded_and_next_message_tried(tmp_path: Path) -> None:
    def odd(d: Delivery) -> SendResult:
        if d.exam_id == "exam-0":
            raise AttributeError("'list' object has no attribute 'get'")
        return SendResult("ok")

    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=2, base_s=0.0))
    bad, good = _queue(box, 2, sink="odd")
    assert box.deliver_due(MockSink(odd, key="odd")) == {bad: "pending", good: "acknowledged"}
    assert "AttributeError" in box.get(bad).last_error
    for _ in range(4):
        box.deliver_due(MockSink(odd, key="odd"), now=float("inf"))
    assert box.get(bad).state == "failed" and box.get(bad).attempts == 2


def test_crash_left_sent_on_last_attempt_is_not_sent_again(server: FhirTestServer, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=2, base_s=0.0))
    (mid,) = _queue(box, 1)
    box._db.execute("UPDATE messages SET state='sent', attempts=2 WHERE id=?", (mid,))  # as a crash leaves it
    assert box.deliver_due(_sink(server)) == {mid: "failed"}
    assert server.requests == 0 and "gave up after 2 attempts" in box.get(mid).last_error


def _web_status_after(svc: OutboxService, payload: bytes, rejected: bool, heal: Callable[[], None]) -> str:
    """Enqueue through the web app's service against a misbehaving peer, let the timer retry, check the status
    the page shows; then heal the peer and check the timer delivers."""
    (mid,) = svc.enqueue([Prepared("spirometry", "exam-web", "2026-11-23", payload, None)])
    time.sleep(0.3)  # several timer passes against the misbehaving peer
    (st,) = svc.statuses([mid])
    health = svc.health()
    view = st.view("fr")
    assert st.status == ("failed" if rejected else "waiting") and st.reason, (st, view)
    assert view["retrying"] is True and health["running"] and health["restarts"] == 0 and not health["last_error"]
    heal()
    svc.call(lambda box, _sink: box.retry(mid)).result()
    deadline = time.monotonic() + 20
    while svc.statuses([mid])[0].status != "sent":
        assert time.monotonic() < deadline, "the timer never delivered after the peer recovered"
        time.sleep(0.05)
    return f"{st.status} ({st.reason[:70]})"


@pytest.mark.parametrize("mode", list(FHIR_MODES))
def test_web_outbox_status_true_after_misbehaving_fhir_reply(server: FhirTestServer, tmp_path: Path,
                                                            mode: str) -> None:
    svc = OutboxService(tmp_path / "o.sqlite3", lambda: _sink(server), interval_s=0.05)
    try:
        server.always = mode

        def heal() -> None:
            server.always = ""
        shown = _web_status_after(svc, _payload("exam-web"), FHIR_MODES[mode][1] == 1, heal)
        print(f"web, FHIR {mode}: {shown}, then sent")
    finally:
        svc.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_web_outbox_timer_restarted_after_it_died(tmp_path: Path) -> None:
    calls = {"n": 0}

    def dying(d: Delivery) -> SendResult:
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("a sink that kills its thread")
        return SendResult("ok")

    svc = OutboxService(tmp_path / "o.sqlite3", lambda: MockSink(dying, key="dying"), interval_s=0.05)
    try:
        (mid,) = svc.call(lambda box, _s: _queue(box, 1, sink="dying")).result()
        deadline = time.monotonic() + 10
        while svc._timer.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        health = svc.health()  # the supervisor notices and restarts it
        print("after the timer died:", health)
        assert health["restarts"] == 1 and health["running"]
        while svc.statuses([mid])[0].status != "sent":
            assert time.monotonic() < deadline, "the restarted timer never delivered"
            time.sleep(0.05)
    finally:
        svc.close()


def test_web_status_says_when_automatic_delivery_is_failing(tmp_path: Path) -> None:
    from asalee_devices.errors import ConfigError

    def broken() -> object:
        raise ConfigError("FHIR sink needs the server base URL", field="sink.base_url")

    svc = OutboxService(tmp_path / "o.sqlite3", broken, interval_s=0.05)
    try:
        time.sleep(0.2)
        health = svc.health()
        assert health["running"] and "base URL" in health["last_error"]
    finally:
        svc.close()


# -- MLLP ------------------------------------------------------------------------------------------------------
class BadMllpPeer:
    """A raw TCP MLLP 'receiver' answering each framed message in a misbehaving ``mode``."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while b"\x1c\r" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            self.received += 1
            msh = buf[1:].split(b"\r", 1)[0].split(b"|")
            control = msh[9].decode() if len(msh) > 9 else ""
            ack = f"MSH|^~\\&|R|F|S|F|20261123||ACK^R01^ACK|a1|P|2.6\rMSA|{{code}}|{control}\r"
            replies = {
                "garbage": b"\x0bthis is not HL7\x1c\r",
                "unframed": b"HTTP/1.1 400 Bad Request\r\n\r\n",
                "nak": ("\x0b" + ack.format(code="AR") + "\x1c\r").encode(),
                "unknown-code": ("\x0b" + ack.format(code="ZZ") + "\x1c\r").encode(),
                "other-id": ("\x0b" + ack.replace(control, "someone-else").format(code="AA") + "\x1c\r").encode(),
                "close-mid": ("\x0b" + ack.format(code="AA"))[:20].encode(),
                "no-msa": b"\x0bMSH|^~\\&|R|F|S|F|20261123||ACK^R01^ACK|a1|P|2.6\r\x1c\r",
                "binary": b"\x0b\xff\xfe\x00\x01|||\x1c\r",
                "good": ("\x0b" + ack.format(code="AA") + "\x1c\r").encode(),
            }
            if self.mode == "silent":
                self._stop.wait(10)
                return
            conn.sendall(replies[self.mode])

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


MLLP_MODES = {"garbage": ("failed", MAX_ATTEMPTS), "unframed": ("failed", MAX_ATTEMPTS), "nak": ("failed", 1),
              "unknown-code": ("failed", MAX_ATTEMPTS), "other-id": ("failed", MAX_ATTEMPTS),
              "close-mid": ("failed", MAX_ATTEMPTS), "no-msa": ("failed", MAX_ATTEMPTS),
              "binary": ("failed", MAX_ATTEMPTS), "silent": ("failed", MAX_ATTEMPTS)}


@pytest.mark.parametrize("mode", list(MLLP_MODES))
def test_mllp_misbehaving_receiver_never_acknowledged(tmp_path: Path, mode: str) -> None:
    peer = BadMllpPeer(mode)
    try:
        box = Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=MAX_ATTEMPTS, base_s=0.0))
        ids = _queue(box, 2, sink="mllp")
        sink = MllpSink("127.0.0.1", peer.port, timeout_s=0.5)
        first = box.deliver_due(sink)
        assert set(first) == set(ids) and "acknowledged" not in first.values()  # both tried, neither acked
        for _ in range(MAX_ATTEMPTS + 1):
            box.deliver_due(sink, now=float("inf"))
        want_state, want_attempts = MLLP_MODES[mode]
        for mid in ids:
            msg = box.get(mid)
            print(f"MLLP {mode}: {msg.state}, attempts {msg.attempts}: {msg.last_error}")
            assert msg.state == want_state and msg.attempts == want_attempts and msg.last_error
    finally:
        peer.stop()


@pytest.mark.parametrize("mode", list(MLLP_MODES))
def test_web_outbox_status_true_after_misbehaving_mllp_receiver(tmp_path: Path, mode: str) -> None:
    peer = BadMllpPeer(mode)
    svc = OutboxService(tmp_path / "o.sqlite3", lambda: MllpSink("127.0.0.1", peer.port, timeout_s=0.5),
                        interval_s=0.05)
    try:
        def heal() -> None:
            peer.mode = "good"
        shown = _web_status_after(svc, _payload("exam-web"), MLLP_MODES[mode][1] == 1, heal)
        print(f"web, MLLP {mode}: {shown}, then sent")
    finally:
        svc.close()
        peer.stop()
