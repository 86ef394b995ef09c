"""``asalee-devices outbox status|retry|show`` against a real outbox and the folder sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asalee_devices.cli.main import main
from asalee_devices.fhir_out.outbox import Outbox
from asalee_devices.fhir_out.sinks import Delivery, MockSink, RejectedDeliveryError, SendResult


def _refuse(delivery: Delivery) -> SendResult:
    raise RejectedDeliveryError("refused for the test", outcome="error invalid: test")


def test_outbox_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'outbox = "{tmp_path / "o.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{out}"\n')
    monkeypatch.delenv("ASALEE_CONFIG", raising=False)
    with Outbox(tmp_path / "o.sqlite3") as box:
        mid = box.enqueue(exam_id="exam-9", kind="ecg", sink="folder", performed_on="2026-11-23",
                          payload=b'{"resourceType":"Bundle"}')
        assert box.deliver_due(MockSink(_refuse, key="folder")) == {mid: "failed"}
    assert main(["outbox", "status", "--config", str(cfg), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["failed"] == 1 and status["messages"][0]["last_error"].endswith("error invalid: test")
    assert main(["outbox", "show", str(mid), "--config", str(cfg)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "failed" and shown["exam_id"] == "exam-9"
    assert main(["outbox", "retry", str(mid), "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    with capsys.disabled():
        print(text)
    assert "acknowledged" in text and (out / "2026-11-23_ecg_exam-9.json").read_bytes() == b'{"resourceType":"Bundle"}'
    assert main(["outbox", "show", str(mid), "--payload", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip() == '{"resourceType":"Bundle"}'
    assert main(["outbox", "show", "999", "--config", str(cfg)]) == 2  # clear one-line error


def test_outbox_send_sends_everything_or_says_what_waits(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """More than one batch (it stopped at 100 and exited 0); then an unreachable record: how many wait and why."""
    monkeypatch.delenv("ASALEE_CONFIG", raising=False)
    out = tmp_path / "out"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'outbox = "{tmp_path / "o.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{out}"\n')
    with Outbox(tmp_path / "o.sqlite3") as box:
        for k in range(150):
            box.enqueue(exam_id=f"exam-{k}", kind="ecg", sink="folder", performed_on="2026-11-23",
                        payload=b'{"resourceType":"Bundle"}')
    assert main(["outbox", "send", "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert text.count(" acknowledged (") == 150 and len(list(out.glob("*.json"))) == 150
    fhir = tmp_path / "f.toml"
    fhir.write_text(f'outbox = "{tmp_path / "o2.sqlite3"}"\n[sink]\ntype = "fhir"\nbase_url = "http://127.0.0.1:9/fhir"'
                    f'\nattempts = 1\ntimeout_s = 2\n')
    with Outbox(tmp_path / "o2.sqlite3") as box:
        for k in range(3):
            box.enqueue(exam_id=f"exam-{k}", kind="ecg", sink="fhir", performed_on="2026-11-23",
                        payload=b'{"resourceType":"Bundle","type":"transaction","entry":[]}')
    assert main(["outbox", "send", "--config", str(fhir)]) == 1
    text = capsys.readouterr().out
    print(text)
    assert "3 message(s) still waiting: Network error: ConnectError" in text
