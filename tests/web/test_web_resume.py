"""A server restart resumes the examinations in progress from their journal (``web/journal.py``): same id, same
patient, same takes and results, same phase / kept ECG; a sent examination comes back as sent and is not sent
twice; a damaged journal or take is reported by examination id only and never stops the server."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.web.webfixtures import PATIENT, client, run_action

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _results(exam: dict[str, Any]) -> list[tuple[Any, ...]]:
    if exam["kind"] == "spirometry":
        return [(b["phase"], b["number"], b["fev1_l"], b["fvc_l"], b["acceptable"], b["interrupted"])
                for b in exam["blows"]]
    return [(c["number"], c["acceptable"], c["heart_rate_bpm"], c["verdict"]) for c in exam["captures"]]


def test_spirometry_in_progress_survives_a_restart(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT, "height_cm": 165}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "spirometry"}).json()["exam"]["id"]
        run_action(c, eid, "blow", {"sim": "hesitant_start"})
        for _ in range(3):
            run_action(c, eid, "blow", {"sim": "good"})
        assert c.post(f"/api/exams/{eid}/post-bronchodilator", json={}).status_code == 200
        before = run_action(c, eid, "blow", {"sim": "good"})
    assert [b["phase"] for b in before["blows"]] == ["pre"] * 4 + ["post"]
    # restart: a new app on the same data directory
    with client(tmp_path) as c:
        session = c.get("/api/session").json()
        assert session["patient"]["ins"] == PATIENT["ins"]
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert exam["id"] == eid and exam["phase"] == "post"
        assert _results(exam) == _results(before)
        assert exam["phases"] == before["phases"]  # grades, reference values (age on the examination's day)
        after = run_action(c, eid, "blow", {"sim": "good"})  # the examination goes on where it was
        assert len(after["blows"]) == 6
        assert len(list((tmp_path / "data" / "in-progress" / eid).glob("blow-*.npz"))) == 6  # no file overwritten
        deliveries = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        assert [d["status"] for d in deliveries] == ["sent", "sent"]


def test_ecg_kept_capture_and_sending_survive_restarts(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, eid, "capture", {"sim": "electrode_off:V3"})
        run_action(c, eid, "capture", {"sim": "good"})
        before = c.post(f"/api/exams/{eid}/keep", json={"number": 1}).json()["exam"]
    assert before["kept"] == 1
    with client(tmp_path) as c:
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert _results(exam) == _results(before) and exam["kept"] == 1 and not exam["sent"]
        assert c.get("/api/session").json()["ecg"]["id"] == eid  # what the reopened page resumes
        sent = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        assert [d["status"] for d in sent] == ["sent"]
    bundles = list((tmp_path / "out").glob("*.json"))
    assert len(bundles) == 1
    with client(tmp_path) as c:  # sent before the restart: comes back as sent, is not the current one, no resend
        exam = c.get(f"/api/exams/{eid}").json()["exam"]
        assert exam["sent"] and _results(exam) == _results(before)
        assert c.get("/api/session").json()["ecg"] is None
        again = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        assert [(d["message_id"], d["status"]) for d in again] == [(d["message_id"], "sent") for d in sent]
        assert c.post(f"/api/exams/{eid}/capture", json={"sim": "good"}).status_code == 409
    assert list((tmp_path / "out").glob("*.json")) == bundles


def test_damaged_journals_are_reported_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        good = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, good, "capture", {"sim": "good"})
        run_action(c, good, "capture", {"sim": "good"})
        broken = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
    root = tmp_path / "data" / "in-progress"
    (root / broken / "exam.json").write_bytes(b'{"version": 1, "kind": "ec')  # cut short
    (root / good / "capture-01.npz").write_bytes(b"not a recording")  # one take damaged
    shutil.copytree(root / good, root / "f00d")
    doc = json.loads((root / "f00d" / "exam.json").read_bytes())
    doc["patient_id"], doc["patient"]["ins"] = "beef", "279035121518980"  # wrong key: refused, as at the bedside
    (root / "f00d" / "exam.json").write_text(json.dumps(doc))
    (root / "cafe").mkdir()
    (root / "cafe" / "exam.json").write_text("[]")  # JSON, but not a journal
    with caplog.at_level(logging.WARNING), client(tmp_path) as c:
        exam = c.get(f"/api/exams/{good}").json()["exam"]
        assert len(exam["captures"]) == 1  # the readable take only
        assert c.get(f"/api/exams/{broken}").status_code == 404
        assert c.get("/api/exams/f00d").status_code == 404
    logged = caplog.text
    assert broken in logged and good in logged and "f00d" in logged and "cafe" in logged
    for value in (PATIENT["family"], PATIENT["ins"], "Marie", "1979"):
        assert value not in logged  # examination ids only, never the patient
    assert (root / broken / "exam.json").exists()  # left in place for a person to look at


def test_older_journals_sent_are_cleared_unsent_are_kept(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        sent = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, sent, "capture", {"sim": "good"})
        assert c.post(f"/api/exams/{sent}/send", json={}).json()["deliveries"][0]["status"] == "sent"
        unsent = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, unsent, "capture", {"sim": "good"})
    root = tmp_path / "data" / "in-progress"
    for eid in (sent, unsent):  # both from yesterday
        doc = json.loads((root / eid / "exam.json").read_bytes())
        doc["started_at"] = "2020-01-02T09:00:00+00:00"
        (root / eid / "exam.json").write_text(json.dumps(doc))
    with client(tmp_path) as c:
        assert c.get(f"/api/exams/{sent}").status_code == 404
        assert not (root / sent).exists()  # its recordings are in the store, its message in the outbox
        assert c.get(f"/api/exams/{unsent}").json()["exam"]["captures"][0]["acceptable"]
        assert c.get("/api/session").json()["ecg"]["id"] == unsent  # nothing lost: the nurse can still send it


def test_gp_interpretation_survives_a_restart_and_a_new_one_is_not_taken_for_a_repeat(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, eid, "capture", {"sim": "good"})
        assert c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
        first = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "Premier avis"}).json()["delivery"]
    with client(tmp_path) as c:
        assert c.get(f"/api/gp/ecg/{eid}").json()["interpretation"] == "Premier avis"
        second = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "Avis corrigé"}).json()["delivery"]
        assert second["message_id"] != first["message_id"]  # a new message, not the first one found again
        assert c.get(f"/api/gp/ecg/{eid}").json()["interpretation"] == "Avis corrigé"


def test_concurrent_steps_are_all_journaled(tmp_path: Path) -> None:
    # steps come from the device thread, the handlers and the outbox thread at once: none may be lost
    import threading

    from asalee_devices.web.journal import Journal, folder

    with client(tmp_path) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        exam = c.app.state.web.store.exams[eid]  # type: ignore[attr-defined]
    journal = Journal(tmp_path / "data")
    threads = [threading.Thread(target=lambda k=k: [journal.step(exam, {"note": f"{k}-{i}"}) for i in range(25)])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = json.loads((folder(tmp_path / "data", eid) / "exam.json").read_bytes())["steps"]
    assert sorted(s["note"] for s in steps) == sorted(f"{k}-{i}" for k in range(4) for i in range(25))


def test_gp_interpretation_with_an_hprim_sink_is_kept_and_says_it_was_not_transmitted(tmp_path: Path) -> None:
    # the ECG outbox payload is then HPRIM text, not a FHIR bundle: the GP page used to fail (json.loads of HPRIM)
    from asalee_devices.config import SinkConfig

    sink = SinkConfig(type="hprim", folder=str(tmp_path / "out"))
    with client(tmp_path, sink) as c:
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"]
        run_action(c, eid, "capture", {"sim": "good"})
        assert c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"][0]["status"] == "sent"
        assert c.get(f"/api/gp/ecg/{eid}").status_code == 200  # the reading view does not read the payload
        r = c.post(f"/api/gp/ecg/{eid}/interpretation", json={"text": "Avis du médecin"})
        assert r.status_code == 200, r.text
        delivery = r.json()["delivery"]
        assert delivery["status"] == "kept" and delivery["message_id"] is None
        assert "HPRIM" in delivery["text"] and "non transmise" in delivery["text"]
        sent_files = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
        assert c.get(f"/api/gp/ecg/{eid}").json()["interpretation"] == "Avis du médecin"
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == sent_files  # nothing else sent
    with client(tmp_path, sink) as c:  # the interpretation survives a restart
        assert c.get(f"/api/gp/ecg/{eid}").json()["interpretation"] == "Avis du médecin"
        items = c.get("/api/gp/worklist").json()
        assert [i["id"] for i in items["interpreted"]] == [eid]
