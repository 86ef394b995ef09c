"""Sending from the web app: the delivery status comes from the outbox — sent, waiting (record unreachable, retried
later, nothing lost) or failed with the receiver's reason; pre/post bronchodilator examinations give two bundles."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.fhir_test_server import FhirTestServer
from tests.web.webfixtures import PATIENT, client, free_port, run_action

from asalee_devices.config import SinkConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _ecg_exam(c: TestClient) -> str:
    assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
    eid = str(c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"])
    exam = run_action(c, eid, "capture", {"sim": "good"})
    assert exam["captures"][0]["acceptable"]
    return eid


@pytest.fixture
def fhir() -> Iterator[FhirTestServer]:
    srv = FhirTestServer().start()
    yield srv
    srv.stop()


def test_waiting_when_the_record_is_unreachable_then_sent(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet
    with client(tmp_path, SinkConfig(type="fhir", base_url=f"http://127.0.0.1:{port}", attempts=1)) as c:
        eid = _ecg_exam(c)
        d = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]
        print(f"\nrecord unreachable: {d['status']} — {d['text']} — {d['reason']}")
        assert d["status"] == "waiting" and d["reason"] and "attente" in d["text"]
        srv = FhirTestServer(port=port).start()  # the record comes back: the outbox delivers on its own
        try:
            c.app.state.web.outbox.call(  # type: ignore[attr-defined]
                lambda box, _s: box.retry(d["message_id"])).result()
            deadline = time.monotonic() + 15
            while (s := c.get(f"/api/exams/{eid}/delivery").json()["deliveries"][0])["status"] != "sent":
                assert time.monotonic() < deadline, s
                time.sleep(0.2)
            assert srv.count("DiagnosticReport") == 1
        finally:
            srv.stop()


def test_failed_with_the_receivers_reason(tmp_path: Path, fhir: FhirTestServer) -> None:
    with client(tmp_path, SinkConfig(type="fhir", base_url=fhir.base_url, attempts=1)) as c:
        eid = _ecg_exam(c)
        fhir.inject("400")
        d = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]
        print(f"\nrejected: {d['status']} — {d['reason']}")
        assert d["status"] == "failed" and "required binding" in d["reason"]
        hist = c.get("/api/history").json()["history"][0]["deliveries"][0]
        assert hist["status"] == "failed"
        # sending twice does not queue a second copy
        again = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        assert len(again) == 1 and again[0]["message_id"] == d["message_id"]


def test_pre_post_bronchodilator_gives_two_bundles(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        for _ in range(3):
            exam = run_action(c, eid, "blow", {"sim": "good"})
        assert exam["grade_fev1"] == "A" and exam["complete"]
        assert c.post(f"/api/exams/{eid}/post-bronchodilator", json={}).json()["exam"]["phase"] == "post"
        for _ in range(3):
            exam = run_action(c, eid, "blow", {"sim": "good"})
        assert [b["phase"] for b in exam["blows"]] == ["pre"] * 3 + ["post"] * 3
        assert exam["bronchodilator"] is not None
        fev1 = {p["phase"]: p["fev1_l"] for p in exam["phases"]}
        print(f"\npre/post FEV1: {fev1}, response {exam['bronchodilator']}")
        deliveries = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        assert [d["kind"] for d in deliveries] == ["spirometry", "spirometry-post"]
        assert all(d["status"] == "sent" for d in deliveries)
        files = sorted((tmp_path / "out").glob("*.json"))
        assert len(files) == 2
        docs = [json.loads(f.read_text()) for f in files]
        report_ids = {e["resource"]["identifier"][0]["value"] for d in docs for e in d["entry"]
                      if e["resource"]["resourceType"] == "DiagnosticReport"}
        assert len(report_ids) == 2


def test_every_take_is_on_disk_as_soon_as_it_is_recorded(tmp_path: Path) -> None:
    """A server restart before sending never loses a recording: each take is kept under in-progress/."""
    from asalee_devices.workflow.recording_store import load_recording

    with client(tmp_path) as c:
        eid = _ecg_exam(c)
    (kept,) = (tmp_path / "data" / "in-progress" / eid).glob("capture-*.npz")
    rec = load_recording(kept)
    assert rec.samples_uv.shape[0] >= 8 and rec.samples_uv.shape[1] > 1000
