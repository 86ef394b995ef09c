"""The preview is what is sent (issue 20): the report the nurse reviews (``GET /api/exams/{id}/report.pdf``
before sending) is rendered once by the delivery's own functions, kept, and those very bytes are delivered —
compared here with the PDF the folder sink wrote, the one attached to the bundle (presentedForm) and the one the
outbox holds, for a spirometry and an ECG examination."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from starlette.testclient import TestClient
from tests.web.webfixtures import PATIENT, TEST_INS, client, run_action

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        return "\n".join(p.extract_text() or "" for p in doc.pages)


def _identity_printed(text: str) -> bool:
    """The INS line (however the report groups the digits), the firmware and the birth date dd/mm/yyyy."""
    return "INS" in text and TEST_INS in text.replace(" ", "") and "fw " in text and "14/03/1979" in text


def _preview(c: TestClient, eid: str) -> bytes:
    r = c.get(f"/api/exams/{eid}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    return r.content


def _sent(c: TestClient, tmp_path: Path, eid: str, kind: str) -> list[bytes]:
    """Every copy of the delivered report: the folder sink's PDF, the bundle's attachment, the outbox's copy."""
    (d, *_) = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
    assert d["status"] == "sent", d
    (bundle_path,) = sorted((tmp_path / "out").glob(f"*_{kind}_*.json"))
    doc: dict[str, Any] = json.loads(bundle_path.read_text())
    (report,) = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"]
    attached = base64.b64decode(report["presentedForm"][0]["data"])
    outbox = c.app.state.web.outbox.call(  # type: ignore[attr-defined]
        lambda box, _s: box.pdf(d["message_id"])).result()
    return [bundle_path.with_suffix(".pdf").read_bytes(), attached, outbox, _preview(c, eid)]


def test_spirometry_preview_bytes_are_the_sent_bytes(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        assert c.get(f"/api/exams/{eid}/report.pdf").status_code == 409  # nothing to report yet
        run_action(c, eid, "blow", {"sim": "good"})
        first = _preview(c, eid)
        for _ in range(2):
            run_action(c, eid, "blow", {"sim": "good"})
        preview = _preview(c, eid)
        assert preview != first  # a new blow: rendered again
        assert _preview(c, eid) is not None and _preview(c, eid) == preview
        text = _text(preview)
        print(f"\nspirometry preview: {len(preview)} bytes; INS line, firmware, BTPS note on it")
        assert _identity_printed(text) and "BTPS" in text
        copies = _sent(c, tmp_path, eid, "spirometry")
        assert [len(p) for p in copies] == [len(preview)] * 4
        assert all(p == preview for p in copies)


def test_ecg_preview_bytes_are_the_sent_bytes(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        assert c.get(f"/api/exams/{eid}/report.pdf").status_code == 409
        exam = run_action(c, eid, "capture", {"sim": "good"})
        assert exam["captures"][0]["acceptable"]
        preview = _preview(c, eid)
        text = _text(preview)
        print(f"\nECG preview: {len(preview)} bytes")
        assert _identity_printed(text)
        copies = _sent(c, tmp_path, eid, "ecg")
        assert all(p == preview for p in copies)


def test_a_report_never_previewed_is_rendered_by_the_same_path(tmp_path: Path) -> None:
    """Sent without a preview, then shown: the delivered file (what the page shows after sending)."""
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, eid, "capture", {"sim": "good"})
        sink_pdf, attached, outbox, shown = _sent(c, tmp_path, eid, "ecg")
        assert sink_pdf == attached == outbox == shown
        assert _identity_printed(_text(shown))
