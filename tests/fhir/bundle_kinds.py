"""Every kind of bundle the service emits, built from the shared test inputs, for the conformance tests that must
hold on all of them (FR Core rules, the Medplum server): spirometry pre- and post-bronchodilator (with a
MedicationAdministration), a child's spirometry (FEV0.75, aged 5), resting ECG, the GP's interpretation update of that ECG, and an ECG imported from a
watched folder (a real GE MUSE export through ``workflow.ecg_file_import`` into the folder sink)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.fhir import fixtures as F
from tests.fhir.fixtures import ecg_bundle, spirometry_bundle

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out import Bronchodilator, to_json
from asalee_devices.fhir_out.context import PerformerContext
from asalee_devices.fhir_out.interpretation import interpretation_bundle

MUSE_NAME = "ge-muse/MUSE_20200923_093504_79000_example.xml"
WATCH_PATIENT_SYSTEM = "urn:oid:1.2.250.1.999.1.1"
KINDS = ("spirometry-pre", "spirometry-post", "spirometry-child", "ecg", "ecg-interpretation", "ecg-watched-folder")


def _doc(bundle: Any) -> dict[str, Any]:
    return dict(json.loads(to_json(bundle)))


def watched_folder_bundle(shared_data: Path, tmp: Path) -> dict[str, Any]:
    """The bundle of a real MUSE export dropped in a watched folder, as the folder sink wrote it."""
    from asalee_devices.config import load_config
    from asalee_devices.devices.watch_folder import WatchedFolder
    from asalee_devices.workflow.ecg_file_import import EcgFileImporter

    inbox, record = tmp / "inbox", tmp / "record"
    inbox.mkdir(parents=True)
    cfg_file = tmp / "asalee.toml"
    cfg_file.write_text(f"""
outbox = "{(tmp / 'outbox.sqlite3').as_posix()}"
[sink]
type = "folder"
folder = "{record.as_posix()}"
[practice]
name = "Cabinet de test"
finess = "{F.TEST_FINESS}"
siret = "{F.TEST_SIRET}"
[nurse]
family_name = "INFIRMIERE"
given_name = "Anne"
rpps = "10000000001"
[watch]
folder = "{inbox.as_posix()}"
settle_s = 0
patient_id_system = "{WATCH_PATIENT_SYSTEM}"
""", encoding="utf-8")
    cfg = load_config(cfg_file, env={})
    importer = EcgFileImporter.from_config(cfg)
    watched = WatchedFolder(inbox, importer, settle_s=0)
    try:
        shutil.copy(shared_data / "ecg" / MUSE_NAME, inbox / "export.xml")
        out = watched.scan_once()
        assert [o.status for o in out] == ["done"], out
    finally:
        watched.close()
        importer.close()
    (path,) = sorted(record.glob("*.json"))
    return dict(json.loads(path.read_text(encoding="utf-8")))


def all_bundles(shared_data: Path, tmp: Path) -> dict[str, dict[str, Any]]:
    """kind -> bundle JSON, one of each kind in :data:`KINDS`."""
    session, preds, best = F.spiro_session()
    child, child_preds, child_best = F.child_spiro_session()
    exam = F.exam()
    ecg_exam = F.exam("exam-ecg", device=DeviceIdentity("Contec", "ECG90A", "SN-ECG-1", "2.0", "scp-ecg"))
    ecg = _doc(ecg_bundle(ecg_exam, F.patient(), F.ecg_analysis(shared_data)))
    gp = exam.gp or PerformerContext("MEDECIN", "Paul", rpps="10000000002")
    return {
        "spirometry-pre": _doc(spirometry_bundle(replace(exam, exam_id="exam-spiro-pre"), F.patient(), session,
                                                 preds, pre_post="pre", best_curve=best)),  # type: ignore[arg-type]
        "spirometry-post": _doc(spirometry_bundle(
            replace(exam, exam_id="exam-spiro-post"), F.patient(), session, preds, pre_post="post",  # type: ignore[arg-type]
            best_curve=best, bronchodilator=Bronchodilator("salbutamol", 400.0, exam.performed_at,  # type: ignore[arg-type]
                                                           atc_code="R03AC02"))),
        "spirometry-child": _doc(spirometry_bundle(replace(exam, exam_id="exam-spiro-child"), F.child_patient(),
                                                   child, child_preds, equation="gli-2012",  # type: ignore[arg-type]
                                                   best_curve=child_best, fev0_75=True)),  # type: ignore[arg-type]
        "ecg": ecg,
        "ecg-interpretation": _doc(interpretation_bundle(ecg_exam, ecg, gp=gp,
                                                         conclusion="Texte du médecin (test).")),
        "ecg-watched-folder": watched_folder_bundle(shared_data, tmp / "watched"),
    }
