"""GDT bridge (issue 19): results from a vendor program's exchange folder become examinations marked as computed by
the device software and reach the record as HPRIM; an ECG attachment goes through our own ECG pipeline; malformed,
half-written, oversized and lying files are refused with a clear reason and nothing half-imported; requests for
the vendor program are written under the names GDT prescribes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from tests.hprim.test_hprim_demo import parse_hprim

from asalee_devices.config import Config, SinkConfig
from asalee_devices.devices.gdt_bridge import GdtPatient, GdtProgram, gdt_watched_folder, write_request
from asalee_devices.drivers.gdt import decode
from asalee_devices.workflow.gdt_import import GdtImporter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gdt"
PDF = b"%PDF-1.4\n% vendor report\n%%EOF\n"


def _line(fid: str, content: str) -> bytes:
    b = content.encode("latin-1")
    return f"{len(b) + 9:03d}{fid}".encode() + b + b"\r\n"


def _config(tmp: Path, sink: str) -> Config:
    return replace(Config(), sink=SinkConfig(type=sink, folder=str(tmp / "record")),
                   outbox=str(tmp / "out" / "outbox.sqlite3"))


class Bridge:
    def __init__(self, tmp: Path, sink: str = "hprim", settle_s: float = 0.0) -> None:
        self.inbox = tmp / "exchange"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.record = tmp / "record"
        self.now = 0.0
        self.importer = GdtImporter.from_config(_config(tmp, sink))
        self.folder = gdt_watched_folder(self.inbox, self.importer, settle_s=settle_s, clock=lambda: self.now)

    def drop(self, name: str, data: bytes | None = None) -> Path:
        path = self.inbox / name
        path.write_bytes(data if data is not None else (FIXTURES / name).read_bytes())
        return path

    def scan(self) -> dict[str, tuple[str, str]]:
        return {o.name: (o.status, o.reason) for o in self.folder.scan_once()}

    def close(self) -> None:
        self.folder.close()
        self.importer.close()


@pytest.fixture
def bridge(tmp_path: Path):  # type: ignore[no-untyped-def]
    b = Bridge(tmp_path)
    yield b
    b.close()


def _res(path: Path) -> dict[str, list[str]]:
    return {r[1]: r for r in parse_hprim(path.read_bytes()).res}


@pytest.mark.parametrize("name", ["spirometry_6310.gdt", "spirometry_6310_v30_cp437.gdt"])
def test_spirometry_result_arrives_in_hprim_computed_by_the_device_software(bridge: Bridge, name: str) -> None:
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop(name)
    assert bridge.scan()[name][0] == "done"
    (hpr,) = bridge.record.glob("*.hpr")
    parsed = parse_hprim(hpr.read_bytes())
    assert parsed.header["family"] == "TESTPATIENT" and parsed.header["given"] == "Zoé"
    assert parsed.header["code"] == "4711" and parsed.header["nir"] == ""  # a local number, never an INS
    res = _res(hpr)
    # values exactly as the vendor program wrote them (decimal comma read), its limits as LIN/LSN, no recomputation
    assert res["VEMS"][4:9] == ["2.94", "L", "2.07", "3.47", "N"]
    assert res["CVF"][4:9] == ["3.33", "L", "2.56", "4.29", "N"]
    assert res["VEMS/CVF"][4:9] == ["88.4", "%", "70.1", "", "N"]
    assert res["DEP"][4:6] == ["6.86", "L/s"] and res["FET"][4] == "3.50"
    assert "VEMS z-score" not in res  # the device gave no z-score; none is invented
    assert res["Résultats calculés par"][4] == "logiciel de l'appareil (SPIR SPIRO)"
    assert hpr.with_suffix(".pdf").read_bytes() == PDF
    assert "logiciel de l'appareil" in " ".join(parsed.text)
    assert "Appareil : SPIR SPIRO" in parsed.text  # no empty serial / firmware placeholders
    assert (bridge.inbox / "done" / name).exists()


def test_the_same_result_twice_is_one_examination(bridge: Bridge) -> None:
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop("spirometry_6310.gdt")
    bridge.scan()
    bridge.drop("spirometry_6310.gdt")
    assert bridge.scan()["spirometry_6310.gdt"][0] == "duplicate"
    assert len(list(bridge.record.glob("*.hpr"))) == 1


def test_ecg_result_with_scp_attachment_goes_through_our_pipeline(tmp_path: Path, shared_data: Path) -> None:
    scp = shared_data / "ecg" / "ecgtoolkit-example" / "Example.scp"
    data = b"".join([_line("8000", "6310"), _line("8315", "ASAL"), _line("8316", "EKG1"), _line("9218", "03.00"),
                     _line("9206", "3"), _line("3000", "4711"), _line("3101", "TESTPATIENT"), _line("3102", "Zoé"),
                     _line("3103", "14031979"), _line("3110", "2"), _line("6200", "02122026"),
                     _line("6201", "103000"), _line("8402", "EKG"), _line("6302", "000002"), _line("6303", "SCP"),
                     _line("6304", "ECG 12 dérivations"), _line("6305", str(scp))])
    for sink in ("hprim", "folder"):
        b = Bridge(tmp_path / sink, sink=sink)
        try:
            b.drop("ecg.gdt", data)
            assert b.scan()["ecg.gdt"][0] == "done", b.folder.ledger.counts()
        finally:
            b.close()
    (hpr,) = (tmp_path / "hprim" / "record").glob("*.hpr")
    res = _res(hpr)
    assert res["Interprétation"][4] == "tracé non interprété"
    assert res["Fréquence cardiaque"][5] == "/min" and res["Résultats calculés par"][4].startswith("asalee-devices")
    assert hpr.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    (bundle,) = (tmp_path / "folder" / "record").glob("*.json")
    doc = json.loads(bundle.read_bytes())
    patients = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patients[0]["name"][0]["family"] == "TESTPATIENT"
    assert scp.exists()  # referenced in place, read, never moved


@pytest.mark.parametrize(("name", "reason"), [
    ("bad_line_length_6310.gdt", "GDT line 8: declared line length does not match the line"),
    ("wrong_charset_6310.gdt", "unknown character set (field 9206)"),
    ("missing_patient_6310.gdt", "lacks patient details the record needs (family, birth_date)"),
])
def test_malformed_results_go_to_failed_with_a_clear_reason_and_nothing_is_imported(
        bridge: Bridge, name: str, reason: str) -> None:
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop(name)
    status, why = bridge.scan()[name]
    assert status == "failed" and reason in why
    assert reason in (bridge.inbox / "failed" / (name + ".reason.txt")).read_text(encoding="utf-8")
    assert not list(bridge.record.glob("*")) if bridge.record.exists() else True
    assert bridge.importer.outbox.counts() == {"pending": 0, "sent": 0, "acknowledged": 0, "failed": 0}
    assert not (bridge.importer.recordings_dir).exists() or not list(bridge.importer.recordings_dir.iterdir())


def test_a_half_written_file_is_read_only_once_complete(tmp_path: Path) -> None:
    b = Bridge(tmp_path, settle_s=2.0)
    try:
        (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
        data = (FIXTURES / "spirometry_6310.gdt").read_bytes()
        b.drop("spirometry_6310.gdt", data[:300])
        assert b.scan() == {}
        b.now += 5
        b.drop("spirometry_6310.gdt", data)  # the program finished writing: size changed, the clock restarts
        assert b.scan() == {}
        b.now += 5
        assert b.scan()["spirometry_6310.gdt"][0] == "done"
    finally:
        b.close()


def test_a_50_mb_file_is_refused_before_it_is_read(bridge: Bridge) -> None:
    path = bridge.inbox / "huge.gdt"
    with path.open("wb") as fh:
        fh.write((FIXTURES / "spirometry_6310.gdt").read_bytes())
        fh.truncate(50 * 1024 * 1024)
    status, reason = bridge.scan()["huge.gdt"]
    assert status == "failed" and "GDT file too large" in reason
    assert bridge.importer.outbox.counts()["pending"] == 0


def test_request_for_the_vendor_program_is_named_receiver_then_sender(tmp_path: Path) -> None:
    program = GdtProgram(receiver_id="SPIR", sender_id="ASAL", version="02.10", charset="3", procedure="SPIRO")
    patient = GdtPatient("4711", "TESTPATIENT", "Zoé", date(1979, 3, 14), "female", 165.0)
    path = write_request(tmp_path, patient, program)
    assert path.name == "SPIRASAL.GDT" and not list(tmp_path.glob("*.part"))
    raw = path.read_bytes()
    assert raw.startswith(b"01380006302\r\n014810") and b"0123102Zo\xe9\r\n" in raw
    rec = decode(raw)
    assert (rec.get("3000"), rec.get("3103"), rec.get("3110"), rec.get("8402")) == ("4711", "14031979", "2", "SPIRO")


def test_counter_file_names_take_the_first_free_number(tmp_path: Path) -> None:
    program = GdtProgram(receiver_id="EKG1", sender_id="ASAL", file_extension="counter")
    patient = GdtPatient("4711", "TESTPATIENT", "Zoe", date(1979, 3, 14))
    names = [write_request(tmp_path, patient, program, record_type="6301").name for _ in range(3)]
    assert names == ["EKG1ASAL.000", "EKG1ASAL.001", "EKG1ASAL.002"]
    assert decode((tmp_path / names[0]).read_bytes()).record_type == "6301"


def test_config_check_validates_the_gdt_section(tmp_path: Path) -> None:
    from asalee_devices.config import GdtConfig, validate

    assert validate(Config()) == []
    bad = GdtConfig(sender_id="TOO-LONG-ID", version="04.00", charset="9", file_extension="gdtx",
                    folder=str(tmp_path), out_folder=str(tmp_path))
    problems = " ".join(validate(replace(Config(), gdt=bad)))
    for key in ("gdt.sender_id", "gdt.version", "gdt.charset", "gdt.file_extension", "are the same"):
        assert key in problems


def test_gdt_request_command_writes_the_demo_patient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asalee_devices.cli.main import main

    rc = main(["gdt", "request", "--demo-patient", "--patient-id", "4711", "--out", str(tmp_path)])
    assert rc == 0 and "SPIRASAL.GDT" in capsys.readouterr().out
    rec = decode((tmp_path / "SPIRASAL.GDT").read_bytes())
    assert (rec.record_type, rec.get("3101"), rec.get("3103"), rec.get("3622")) == ("6302", "TESTPATIENT",
                                                                                    "14031979", "165")


def test_a_device_computed_examination_is_not_replayed_as_if_recorded(bridge: Bridge) -> None:
    from asalee_devices.errors import FormatError
    from asalee_devices.workflow.replay import replay

    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop("spirometry_6310.gdt")
    bridge.scan()
    (folder,) = bridge.importer.recordings_dir.iterdir()
    manifest = json.loads((folder / "exam.json").read_bytes())
    assert manifest["computed_by"].startswith("logiciel de l'appareil") and manifest["source"]["format"] == "GDT"
    with pytest.raises(FormatError, match="no raw recordings to replay"):
        replay(folder)


def test_spirometry_result_arrives_in_fhir_computed_by_the_device_software(tmp_path: Path) -> None:
    from asalee_devices.fhir_out.hl7v2 import bundle_to_oru

    b = Bridge(tmp_path, sink="folder")
    try:
        (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
        b.drop("spirometry_6310.gdt")
        assert b.scan()["spirometry_6310.gdt"][0] == "done"
    finally:
        b.close()
    (bundle_path,) = b.record.glob("*.json")
    doc = json.loads(bundle_path.read_bytes())
    res = [e["resource"] for e in doc["entry"]]
    obs = {o["code"]["text"]: o for o in res if o["resourceType"] == "Observation"}
    fev1 = obs["FEV1"]
    assert fev1["valueQuantity"]["value"] == 2.94 and fev1["valueQuantity"]["unit"] == "L"
    assert fev1["referenceRange"][0]["low"]["value"] == 2.07 and fev1["referenceRange"][0]["high"]["value"] == 3.47
    assert fev1["interpretation"][0]["coding"][0]["code"] == "N"
    assert "logiciel de l'appareil (SPIR SPIRO)" in fev1["method"]["text"]
    assert obs["FEV1/FVC"]["valueQuantity"]["value"] == 88.4 and "component" not in fev1  # no z-score invented
    report = next(r for r in res if r["resourceType"] == "DiagnosticReport")
    assert report["status"] == "preliminary" and report["presentedForm"][0]["contentType"] == "application/pdf"
    patient = next(r for r in res if r["resourceType"] == "Patient")
    assert patient["name"][0]["family"] == "TESTPATIENT"
    oru = bundle_to_oru(bundle_path.read_bytes(), control_id="1")
    assert "2.94" in oru and "TESTPATIENT" in oru


def test_device_computed_bundle_passes_the_independent_fhir_validators(tmp_path: Path) -> None:
    from tests.fhir.test_fhir_node_validators import _node, _run

    node = _node()
    b = Bridge(tmp_path, sink="folder")
    try:
        (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
        b.drop("spirometry_6310.gdt")
        assert b.scan()["spirometry_6310.gdt"][0] == "done"
    finally:
        b.close()
    (bundle_path,) = b.record.glob("*.json")
    code, results = _run(node, [bundle_path])
    assert code == 0 and not results[0]["fhirjs"] and not results[0]["medplum"], results
