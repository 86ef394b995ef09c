"""The sink seam, shaped like httpx's transports: an ABC with ``send`` and ``close``, a context manager, a
``MockSink(handler)`` for tests; the outbox routes rows by the sink's stable key (a test double is not
"folder"); delivery errors are part of ``asalee_devices.errors``; the outbox schema upgrade keeps every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from asalee_devices import errors
from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, DeliveryError
from asalee_devices.fhir_out.outbox import MIGRATIONS, SCHEMA_VERSION, Outbox, RetryPolicy
from asalee_devices.fhir_out.sinks import (
    Delivery,
    MockSink,
    RejectedDeliveryError,
    SendResult,
    Sink,
    TransientDeliveryError,
    create_sink,
    register_sink,
)
from asalee_devices.fhir_out.sinks import base as sinks_base
from asalee_devices.fhir_out.sinks.folder import FolderSink
from asalee_devices.sqlite_schema import schema_version

ROOT = Path(__file__).resolve().parents[2]


def _ok(d: Delivery) -> SendResult:
    return SendResult(f"got {d.exam_id}", created=1)


def test_sink_is_an_abc_needing_send() -> None:
    class NoSend(Sink):
        key = "x"

    with pytest.raises(TypeError, match="abstract"):
        NoSend()  # type: ignore[abstract]

    class Minimal(Sink):
        key = "minimal"

        def send(self, delivery: Delivery) -> SendResult:
            return SendResult("ok")

    m = Minimal()
    m.close()  # close() is a no-op by default, as BaseTransport.close
    assert m.name == "minimal"  # the display name defaults to the key


def test_context_manager_closes_even_on_error() -> None:
    with MockSink(_ok) as sink:
        assert not sink.closed
    assert sink.closed
    failing = MockSink(_ok)
    with pytest.raises(RuntimeError), failing:
        raise RuntimeError("boom")
    assert failing.closed


def test_builtin_sinks_close_on_exit(tmp_path: Path) -> None:
    from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink

    with create_sink(SinkConfig(type="fhir", base_url="https://fhir.example.org/fhir", token="t")) as rest:
        assert isinstance(rest, FhirRestSink)
        rest.client  # opens the connection pool  # noqa: B018
        assert rest._client is not None
    assert rest._client is None
    with create_sink(SinkConfig(type="folder", folder=str(tmp_path))) as folder:
        assert folder.key == "folder" and str(tmp_path) in folder.name


def test_mock_sink_routes_its_own_key_only(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(d: Delivery) -> SendResult:
        seen.append(d.exam_id)
        return SendResult("ok")

    with Outbox(tmp_path / "o.sqlite3") as box:
        mine = box.enqueue(exam_id="exam-1", kind="ecg", sink="mock", performed_on="2026-11-23", payload=b"{}")
        theirs = box.enqueue(exam_id="exam-2", kind="ecg", sink="folder", performed_on="2026-11-23", payload=b"{}")
        with MockSink(handler) as sink:
            assert box.deliver_due(sink) == {mine: "acknowledged"}
        assert seen == ["exam-1"] and box.get(theirs).state == "pending"  # the folder's row was not touched
        assert box.drain(MockSink(handler), timeout_s=1)["pending"] == 1  # drain waits for its own key only


def test_mock_sink_errors_drive_the_outbox(tmp_path: Path) -> None:
    def busy(d: Delivery) -> SendResult:
        raise TransientDeliveryError("busy", retry_after_s=5.0)

    def refuse(d: Delivery) -> SendResult:
        raise RejectedDeliveryError("refused", outcome="error invalid")

    with Outbox(tmp_path / "o.sqlite3", policy=RetryPolicy(max_attempts=2, base_s=0.0, cap_s=0.0)) as box:
        a = box.enqueue(exam_id="a", kind="ecg", sink="t", performed_on="2026-11-23", payload=b"{}")
        assert box.deliver_due(MockSink(busy, key="t")) == {a: "pending"}
        assert box.get(a).next_attempt_at > box.get(a).updated_at + 4  # the peer's Retry-After, not the backoff
        assert box.deliver_due(MockSink(busy, key="t"), now=float("inf")) == {a: "failed"}
        assert "gave up after 2 attempts" in box.get(a).last_error
        b = box.enqueue(exam_id="b", kind="ecg", sink="t", performed_on="2026-11-23", payload=b"{}")
        assert box.deliver_due(MockSink(refuse, key="t")) == {b: "failed"}
        assert box.get(b).attempts == 1 and box.get(b).last_error == "refused: error invalid"


def test_delivery_errors_live_in_errors() -> None:
    assert sinks_base.TransientDeliveryError is errors.TransientDeliveryError
    assert sinks_base.RejectedDeliveryError is errors.RejectedDeliveryError
    exc = TransientDeliveryError("Network error", retry_after_s=3.0, field="sink.base_url", value="x")
    assert isinstance(exc, DeliveryError) and exc.retry_after_s == 3.0 and exc.field == "sink.base_url"
    assert str(exc) == "Network error (sink.base_url = 'x')"
    rej = RejectedDeliveryError("Refused", outcome="why", expected="2xx")
    assert rej.outcome == "why" and str(rej) == "Refused — expected 2xx"
    source = (ROOT / "src/asalee_devices/fhir_out/sinks/base.py").read_text()
    assert "type: ignore" not in source


def test_registered_sink_must_carry_its_type_as_key(tmp_path: Path) -> None:
    register_sink("test-archive", lambda cfg: MockSink(_ok, key="test-archive"))
    register_sink("test-liar", lambda cfg: FolderSink(tmp_path))  # key "folder" under another type
    try:
        assert create_sink(SinkConfig(type="test-archive")).key == "test-archive"
        with pytest.raises(ConfigError, match="another key"):
            create_sink(SinkConfig(type="test-liar"))
    finally:
        del sinks_base._REGISTRY["test-archive"], sinks_base._REGISTRY["test-liar"]


# -- the outbox written by the previous version (schema 1) --------------------------------------------------
_ROWS = [  # exam, kind, sink, state, attempts, next_attempt_at, last_error, detail, pdf
    ("exam-1", "ecg", "folder", "pending", 0, 0.0, "", "", b"%PDF-1"),
    ("exam-2", "spirometry", "folder", "sent", 1, 0.0, "", "", None),
    ("exam-3", "spirometry", "fhir", "pending", 2, 5.0, "Network error: ConnectError", "", None),
    ("exam-4", "ecg", "fhir", "failed", 1, 0.0, "FHIR server refused the bundle (HTTP 400)", "", None),
    ("exam-5", "ecg", "fhir", "acknowledged", 1, 0.0, "", "201; created 9, already present 0", b"%PDF-2"),
    ("exam-3", "spirometry", "mllp", "pending", 0, 0.0, "", "", None),
]


def _version_1_store(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    for exam, kind, sink, state, attempts, next_at, err, detail, pdf in _ROWS:
        db.execute("INSERT INTO messages (exam_id, kind, sink, performed_on, payload, pdf, state, attempts, "
                   "next_attempt_at, last_error, detail, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (exam, kind, sink, "2026-11-30", f'{{"exam":"{exam}"}}'.encode(), pdf, state, attempts, next_at,
                    err, detail, 1.0, 2.0))
    rows = db.execute("SELECT * FROM messages ORDER BY id").fetchall()
    db.close()
    return rows


def test_version_1_outbox_upgraded_nothing_lost_rows_routed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    before = _version_1_store(path)
    with Outbox(path) as box:
        after = box._db.execute("SELECT * FROM messages ORDER BY id").fetchall()
        assert after == before  # every column of every row, byte for byte
        assert schema_version(box._db) == SCHEMA_VERSION == 2
        indexes = {r[1] for r in box._db.execute("PRAGMA index_list(messages)")}
        assert {"messages_due", "messages_route"} <= indexes
        plan = " ".join(str(r[3]) for r in box._db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE sink = ? AND state IN ('pending', 'sent') "
            "AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?", ("fhir", 1e18, 0, 100)))
        assert "messages_route" in plan
        seen: list[tuple[str, bytes | None]] = []

        def record(d: Delivery) -> SendResult:
            seen.append((d.exam_id, d.pdf))
            return SendResult("ok")

        # each key gets exactly its own due rows: fhir's pending one (the failed and acknowledged ones stay)
        assert box.deliver_all(MockSink(record, key="fhir")) == {3: "acknowledged"}
        assert seen == [("exam-3", None)]
        with FolderSink(tmp_path / "out") as folder:  # the folder's pending and crash-left 'sent' rows
            assert box.deliver_due(folder) == {1: "acknowledged", 2: "acknowledged"}
        assert (tmp_path / "out" / "2026-11-30_ecg_exam-1.pdf").read_bytes() == b"%PDF-1"
        assert box.get(6).state == "pending" and box.get(4).state == "failed" and box.get(5).state == "acknowledged"
        assert box.get(2).attempts == 2 and box.get(3).attempts == 3  # attempts carried over
    with Outbox(path) as box:  # opening again changes nothing
        assert schema_version(box._db) == 2 and sum(box.counts().values()) == len(_ROWS)


def test_message_state_is_a_code_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    from asalee_devices.errors import FormatError
    from asalee_devices.fhir_out.outbox import STATES

    with Outbox(tmp_path / "o.sqlite3") as box:
        mid = box.enqueue(exam_id="a", kind="ecg", sink="mock", performed_on="2026-11-23", payload=b"{}")
        assert box.get(mid).state == "pending" and box.get(mid).state in STATES
        box._db.execute("UPDATE messages SET state = 'lost' WHERE id = ?", (mid,))  # a store edited by hand
        with pytest.raises(FormatError, match="Unknown message state"):
            box.get(mid)
