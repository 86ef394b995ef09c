"""An ECG imported from a vendor file (``ecg import``, the watched folder's step) is a delivered examination too: it
gets its indicators row (protocol from programme.ecg_protocol), survives a rebuild and enters the export with
consent."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.test_ecg_import_cli import CONTEC, TEST_INS_PATIENT

from asalee_devices.cli._record import with_output
from asalee_devices.cli.main import main
from asalee_devices.config import Config
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.programme import evaluation, indicators
from asalee_devices.programme.consent import ConsentRegister, register_path
from asalee_devices.programme.dashboard import dashboard_for


def test_imported_ecg_is_in_the_store_dashboard_rebuild_and_export(shared_data: Path, tmp_path: Path) -> None:
    patient: dict[str, Any] = dict(TEST_INS_PATIENT)
    (tmp_path / "patient.json").write_text(json.dumps(patient), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["ecg", "import", str(shared_data / "ecg" / CONTEC), "--out", str(out), "--patient",
                 str(tmp_path / "patient.json")]) == 0
    cfg = with_output(Config(), out)
    rows = indicators.read_rows(indicators.month_files(indicators.store_path(cfg)))
    assert len(rows) == 1 and rows[0]["kind"] == "ecg" and rows[0]["protocol"] == "risque-cv"
    assert rows[0]["captures"] == 1 and rows[0]["retakes"] == 0 and rows[0]["patient_key"]
    folders = list(indicators.examination_folders(out / "recordings"))
    assert [f.parent.name for f in folders] == [indicators.IMPORTED]
    month = rows[0]["month"]
    d = dashboard_for(cfg, month=month)
    assert d.value("practice", "cabinet", "ecg_exams") == 1
    assert d.value("practice", "cabinet", "delivery_waiting") == 0  # the folder sink acknowledged it
    counts = indicators.rebuild(out / "recordings", indicators.store_path(cfg))
    assert sum(counts.values()) == 1
    key = tmp_path / "key"
    key.write_text("c3" * 32, encoding="ascii")
    if month > date.today().strftime("%Y-%m"):
        pytest.skip("file acquired in the future")
    assert evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "e1").exams == 0
    with ConsentRegister(register_path(cfg)) as reg:
        reg.record(patient_from_mapping({k: v for k, v in patient.items() if k != "height_cm"}),
                   given_on=date.today(), recorded_by="Demo INFIRMIERE")
    assert evaluation.export_month(cfg, month=month, key_file=key, out=tmp_path / "e2").exams == 1
