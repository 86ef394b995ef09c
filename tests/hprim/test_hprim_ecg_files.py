"""ECG files from vendor software (``asalee-devices watch`` / ``ecg import``) reach an HPRIM sink too: the analysis is
stored as canonical results beside the examination and the HPRIM file is rendered from them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from tests.hprim.test_hprim_demo import parse_hprim

from asalee_devices.config import Config, SinkConfig
from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.fhir_out.context import PatientContext
from asalee_devices.workflow.ecg_file_import import EcgFileImporter


def test_an_ecg_file_imported_to_the_hprim_sink(tmp_path: Path, shared_data: Path) -> None:
    scp = shared_data / "ecg" / "ecgtoolkit-example" / "Example.scp"
    cfg = replace(Config(), sink=SinkConfig(type="hprim", folder=str(tmp_path / "record")),
                  outbox=str(tmp_path / "out" / "outbox.sqlite3"))
    patient = PatientContext(family="TESTPATIENT", given=("Zoé",), birth_date=date(1979, 3, 14), sex="female",
                             local_id="4711", local_system="urn:test:patients")
    importer = EcgFileImporter.from_config(cfg)
    try:
        importer.import_file(read_ecg_file(scp), scp, patient)
        importer.import_file(read_ecg_file(scp), scp, patient)  # the same file again: the same examination
        assert importer.outbox.counts()["acknowledged"] == 1
    finally:
        importer.close()
    (hpr,) = (tmp_path / "record").glob("*.hpr")
    (folder,) = (tmp_path / "out" / "recordings").iterdir()
    results = json.loads((folder / "results.json").read_bytes())
    res = {r[1]: r for r in parse_hprim(hpr.read_bytes()).res}
    rate = results["captures"][0]["heart"]["heart_rate_bpm"]
    assert abs(float(res["Fréquence cardiaque"][4]) - rate) <= 0.5
    assert res["Interprétation"][4] == "tracé non interprété"
    assert hpr.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
