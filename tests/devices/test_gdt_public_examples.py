"""GDT against public examples and independent public parsers (issue 19, see tests/fixtures/gdt/README.md).

- A 6310 with the structure of a published, practically validated device export (MEDISTAR + TOPCON CT-1P, in the
  public repository marckurze/XDT-MEDISTAR): no 8100, 9218 or 9206, CP 437 by default, repeated 6220/6205 text
  lines. Our reader parses every field; the importer refuses it (no spirometry values, no ECG file) with a clear
  reason and imports nothing.
- Attachments grouped as that project writes them for MEDISTAR (6302 document name, 6303 the extension upper-cased,
  6304 description, 6305 path): a spirometry result with a PDF *and* an XML export is a spirometry, not an ECG.
- 9206 = 3 read as Windows-1252, as the Elexis GDT plug-in does (``GDTConstants.ZEICHENSATZ_ISO8859_1_ANSI_CP_1252``
  -> ``"Cp1252"``): the bytes 0x80-0x9F of an "ANSI" file are letters (œ, ’, €), not C1 control characters.
- One record per file: a second 8000 line is refused (the independent parsers disagree on it: GNUmed's
  ``split_xdt_file`` splits there, Elexis's ``getValueIfExists`` keeps the last value of each field).
- Bad input: a half-written file that never completes, a 50 MB file: refused with a clear reason, nothing imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.devices.test_gdt_bridge import FIXTURES, PDF, Bridge, _res
from tests.hprim.test_hprim_demo import parse_hprim

from asalee_devices.drivers.gdt import decode, encode
from asalee_devices.errors import FormatError

XML = b"<?xml version='1.0' encoding='UTF-8'?><SpirometryExport vendor='test'/>\n"


def _lines(data: bytes) -> list[tuple[int, str, bytes]]:
    """LLL, FFFF and content of each line, read without the codec."""
    assert data.endswith(b"\r\n")
    return [(int(raw[:3]), raw[3:7].decode("ascii"), raw[7:]) for raw in data[:-2].split(b"\r\n")]


def _nothing_imported(b: Bridge) -> None:
    assert not b.record.exists() or not list(b.record.iterdir())
    assert b.importer.outbox.counts() == {"pending": 0, "sent": 0, "acknowledged": 0, "failed": 0}
    assert not b.importer.recordings_dir.exists() or not list(b.importer.recordings_dir.iterdir())


@pytest.fixture
def bridge(tmp_path: Path):  # type: ignore[no-untyped-def]
    b = Bridge(tmp_path)
    yield b
    b.close()


# --- the structure of a published device export (MEDISTAR + TOPCON CT-1P) ---------------------------------------

def test_a_validated_device_export_without_framing_fields_is_read_field_by_field() -> None:
    data = (FIXTURES / "medistar_ct1p_style_6310.gdt").read_bytes()
    independent = _lines(data)
    assert all(lll == len(content) + 9 for lll, _, content in independent)  # the rule holds on every line
    rec = decode(data)
    assert (rec.record_type, rec.charset, rec.version) == ("6310", "2", "02.10")  # CP 437 default; read as 2.1
    assert rec.warnings == ("no GDT version (9218): read as 2.1", "no record length (8100) in a GDT 2.1 record")
    expected = [(fid, content.decode("cp437")) for _, fid, content in independent]
    assert [(f.fid, f.content) for f in rec.fields] == expected  # every field, in order, nothing dropped
    assert [f.line for f in rec.fields] == list(range(1, len(independent) + 1))
    assert rec.get("3102") == "Zoé" and "µm" in rec.all("6205")[1]  # 0x82 and 0xE6 in IBM CP 437
    assert rec.all("6220") == ["Pachymetrie", "RA: 0.552"] and len(rec.all("6205")) == 5


def test_a_result_with_neither_spirometry_values_nor_an_ecg_file_is_refused_clearly(bridge: Bridge) -> None:
    bridge.drop("medistar_ct1p_style_6310.gdt")
    status, reason = bridge.scan()["medistar_ct1p_style_6310.gdt"]
    assert status == "failed" and "neither spirometry values nor an ECG file" in reason
    assert reason in (bridge.inbox / "failed" / "medistar_ct1p_style_6310.gdt.reason.txt").read_text("utf-8")
    _nothing_imported(bridge)


# --- attachments as MEDISTAR receives them: a PDF and an XML export beside a spirometry ---------------------------

def test_attachment_groups_are_read_as_medistar_writes_them() -> None:
    from asalee_devices.workflow.gdt_import import attachments

    rec = decode((FIXTURES / "spirometry_6310_pdf_and_xml.gdt").read_bytes())
    files = attachments(rec, Path("/exchange"))
    assert [(a.archive_number, a.file_format, a.description, a.path) for a in files] == [
        ("spiro_4711", "PDF", "Compte rendu de spirométrie", Path("/exchange/spiro_4711.pdf")),
        ("spiro_4711_export", "XML", "Export XML du logiciel", Path("/exchange/spiro_4711.xml")),
    ]


def test_a_spirometry_with_an_xml_export_beside_its_pdf_is_imported_as_a_spirometry(bridge: Bridge) -> None:
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    (bridge.inbox / "spiro_4711.xml").write_bytes(XML)
    bridge.drop("spirometry_6310_pdf_and_xml.gdt")
    status, reason = bridge.scan()["spirometry_6310_pdf_and_xml.gdt"]
    assert status == "done", reason
    (hpr,) = bridge.record.glob("*.hpr")
    res = _res(hpr)
    assert res["VEMS"][4:9] == ["2.94", "L", "2.07", "3.47", "N"]
    assert res["VEMS/CVF"][4:9] == ["88.4", "%", "70.1", "", "N"]
    assert res["Résultats calculés par"][4] == "logiciel de l'appareil (SPIR LUFU02)"  # 8402 from the GDT 2.1 table
    assert hpr.with_suffix(".pdf").read_bytes() == PDF  # the vendor's PDF, not the XML


# --- 9206 = 3 is "ANSI": Windows-1252, as Elexis reads it ---------------------------------------------------------

def _ansi(fields: list[tuple[str, bytes]]) -> bytes:
    lines = [f"{len(c) + 9:03d}{fid}".encode() + c + b"\r\n" for fid, c in [("8000", b"6310"), ("9218", b"03.00"),
                                                                               ("9206", b"3"), *fields]]
    return b"".join(lines)


def test_charset_3_bytes_0x80_0x9f_are_windows_1252_letters_not_control_characters() -> None:
    rec = decode(_ansi([("3101", b"TESTPATIENT-C\x9cUR"), ("6220", b"Courbe d\x92aspect normal \x80")]))
    assert rec.get("3101") == "TESTPATIENT-CœUR"
    assert rec.get("6220") == "Courbe d’aspect normal €"
    assert not any(0x80 <= ord(ch) < 0xA0 for f in rec.fields for ch in f.content)
    with pytest.raises(FormatError, match="line 4: byte outside the declared character set"):
        decode(_ansi([("3101", b"TEST\x81")]))  # 0x81 is not a character of Windows-1252
    assert b"0163102L\x9cTITIA\r\n" in encode("6302", [("3102", "LœTITIA")], charset="3")  # written the same way
    assert b"0153101M\xfcller\r\n" in encode("6301", [("3101", "Müller")], charset="3")  # ISO 8859-1's own range


def test_an_ansi_name_reaches_fhir_as_its_letters(tmp_path: Path) -> None:
    data = (FIXTURES / "spirometry_6310.gdt").read_bytes().replace(b"0203101TESTPATIENT", b"0253101TESTPATIENT-C\x8cUR")
    data = data.replace(b"014810000739", b"014810000744")
    b = Bridge(tmp_path, sink="folder")
    try:
        (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
        b.drop("ansi.gdt", data)
        assert b.scan()["ansi.gdt"][0] == "done"
    finally:
        b.close()
    (bundle,) = b.record.glob("*.json")
    patient = next(e["resource"] for e in json.loads(bundle.read_bytes())["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    assert patient["name"][0]["family"] == "TESTPATIENT-CŒUR"


# --- one record per file -----------------------------------------------------------------------------------------

def test_two_records_in_one_file_are_refused_naming_the_second() -> None:
    one = encode("6310", [("3000", "4711"), ("3101", "TESTPATIENT"), ("8410", "FEV1"), ("8420", "2.94")],
                 version="03.00")
    two = encode("6310", [("3000", "4712"), ("3101", "AUTRE"), ("8410", "FEV1"), ("8420", "1.10")], version="03.00")
    with pytest.raises(FormatError, match="line 8: a second record") as err:
        decode(one + two)
    assert "one record per file" in str(err.value)


def test_two_records_in_one_file_go_to_failed_and_nothing_is_imported(bridge: Bridge) -> None:
    data = (FIXTURES / "spirometry_6310_v30_cp437.gdt").read_bytes()
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop("double.gdt", data + data.replace(b"01384202.94", b"01384201.10"))
    status, reason = bridge.scan()["double.gdt"]
    assert status == "failed" and "a second record (8000)" in reason
    _nothing_imported(bridge)


# --- bad input ---------------------------------------------------------------------------------------------------

def test_a_half_written_file_that_never_completes_is_refused_and_nothing_imported(tmp_path: Path) -> None:
    b = Bridge(tmp_path, settle_s=2.0)
    try:
        (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
        data = (FIXTURES / "spirometry_6310.gdt").read_bytes()
        b.drop("spirometry_6310.gdt", data[:300])  # the vendor program stopped mid-line
        assert b.scan() == {}
        b.now += 5  # stable: it is read, and refused whole
        status, reason = b.scan()["spirometry_6310.gdt"]
        assert status == "failed" and "GDT line 23: last line not ended by CR LF: the file is incomplete" in reason, reason
        cut_at_a_line = data[: data.index(b"0128410FVC")]  # whole lines only: 8100 says the rest is missing
        b.drop("cut.gdt", cut_at_a_line)
        b.now += 5
        assert b.scan() == {}
        b.now += 5
        status, reason = b.scan()["cut.gdt"]
        assert status == "failed" and "record length (field 8100) does not match the file" in reason
        _nothing_imported(b)
    finally:
        b.close()


def test_a_50_mb_file_is_refused_whole_with_its_reason_beside_it(bridge: Bridge) -> None:
    path = bridge.inbox / "huge.gdt"
    with path.open("wb") as fh:
        fh.write((FIXTURES / "spirometry_6310.gdt").read_bytes())
        fh.truncate(50 * 1024 * 1024)
    status, reason = bridge.scan()["huge.gdt"]
    assert status == "failed" and "GDT file too large" in reason and "52428800" in reason
    assert (bridge.inbox / "failed" / "huge.gdt").stat().st_size == 50 * 1024 * 1024
    assert "GDT file too large" in (bridge.inbox / "failed" / "huge.gdt.reason.txt").read_text("utf-8")
    _nothing_imported(bridge)


def test_hprim_of_an_ansi_name_is_transliterated_not_dropped(bridge: Bridge) -> None:
    data = (FIXTURES / "spirometry_6310.gdt").read_bytes().replace(b"0203101TESTPATIENT", b"0253101TESTPATIENT-C\x8cUR")
    data = data.replace(b"014810000739", b"014810000744")
    (bridge.inbox / "spiro_4711.pdf").write_bytes(PDF)
    bridge.drop("ansi.gdt", data)
    assert bridge.scan()["ansi.gdt"][0] == "done"
    (hpr,) = bridge.record.glob("*.hpr")
    assert parse_hprim(hpr.read_bytes()).header["family"] == "TESTPATIENT-COEUR"


# --- every spirometry fixture becomes the same canonical examination, whatever the sink ---------------------------

#: the fixtures' test ids, as a reader independent of workflow/gdt_import.py maps them
_IDS = {"FEV1": "fev1", "FVC": "fvc", "FEV1%FVC": "fev1_fvc", "PEF": "pef", "FEF25-75": "fef25_75", "FEV6": "fev6",
        "FET": "fet"}


def _independent_tests(data: bytes, charset: str) -> dict[str, dict[str, float | None]]:
    tests: list[dict[str, str]] = []
    for _, fid, content in _lines(data):
        text = content.decode(charset)
        if fid == "8410":
            tests.append({"id": text})
        elif tests and fid in ("8420", "8421", "8461", "8462"):
            tests[-1][fid] = text
    out: dict[str, dict[str, float | None]] = {}
    for t in tests:
        scale = 0.01 if t.get("8421") == "%" else 1.0

        def num(fid: str, t: dict[str, str] = t, scale: float = scale) -> float | None:
            return float(t[fid].replace(",", ".")) * scale if fid in t else None

        out[_IDS[t["id"]]] = {"measured": num("8420"), "lln": num("8461"), "uln": num("8462")}
    return out


@pytest.mark.parametrize(("name", "charset"), [("spirometry_6310.gdt", "cp1252"),
                                               ("spirometry_6310_v30_cp437.gdt", "cp437"),
                                               ("spirometry_6310_pdf_and_xml.gdt", "cp1252")])
def test_each_spirometry_fixture_is_one_canonical_examination_whatever_the_sink(
        tmp_path: Path, name: str, charset: str) -> None:
    import hashlib

    data = (FIXTURES / name).read_bytes()
    expected = _independent_tests(data, charset)
    stored: dict[str, bytes] = {}
    for sink in ("hprim", "folder"):
        b = Bridge(tmp_path / sink, sink=sink)
        try:
            (b.inbox / "spiro_4711.pdf").write_bytes(PDF)
            (b.inbox / "spiro_4711.xml").write_bytes(XML)
            b.drop(name, data)
            assert b.scan()[name][0] == "done"
            (folder,) = b.importer.recordings_dir.iterdir()
            stored[sink] = (folder / "results.json").read_bytes()
            manifest = json.loads((folder / "exam.json").read_bytes())
            assert manifest["kind"] == "spirometry" and manifest["recordings"] == []
            assert manifest["computed_by"] == f"logiciel de l'appareil (SPIR {decode(data).get('8402')})"
            assert manifest["source"]["format"] == "GDT" and manifest["source"]["file"] == name
            assert manifest["source"]["sha256"] == hashlib.sha256(data).hexdigest()
            assert manifest["performed_at"].startswith("2026-12-02T10:15:00")
            assert (folder / "report.pdf").read_bytes() == PDF
        finally:
            b.close()
    assert stored["hprim"] == stored["folder"]  # one canonical result, whatever renders it
    results = json.loads(stored["hprim"])
    assert (results["kind"], results["computed_by"]) == ("spirometry", "device")
    params = {p["name"]: p for p in results["phases"]["pre"]["parameters"]}
    assert set(params) == set(expected)
    for pname, want in expected.items():
        got = params[pname]
        for key, value in want.items():
            assert got[key] == (None if value is None else pytest.approx(value, rel=1e-12)), (pname, key)
        assert got["predicted"] is got["z_score"] is got["percent_predicted"] is got["equation"] is None
    assert params["fev1_fvc"]["unit"] == "" and params["fev1"]["unit"] == params["fvc"]["unit"] == "L"
    assert "pef" not in params or params["pef"]["unit"] == "L/s"


# --- the ECG fixture: SCP-ECG attached by a Windows path, analysed by our pipeline ----------------------------------

def test_ecg_fixture_attaches_the_shared_scp_and_becomes_our_canonical_ecg_examination(
        tmp_path: Path, shared_data: Path) -> None:
    import shutil

    from asalee_devices.drivers.ecg_files import read_ecg_file
    from asalee_devices.signal.ecg.analysis import analyze_ecg
    from asalee_devices.workflow.results import canonical_json, ecg_file_results

    data = (FIXTURES / "ecg_6310_scp.gdt").read_bytes()
    rec = decode(data)
    assert [(f.fid, f.content) for f in rec.fields] == [(fid, c.decode("cp437")) for _, fid, c in _lines(data)]
    assert (rec.version, rec.charset, rec.get("8402"), rec.get("6305")) == ("03.00", "2", "EKG01",
                                                                             "C:\\EKG\\EXPORT\\Example.scp")
    b = Bridge(tmp_path)
    try:
        scp = b.inbox / "Example.scp"  # the vendor program writes it beside the GDT file
        shutil.copyfile(shared_data / "ecg" / "ecgtoolkit-example" / "Example.scp", scp)
        b.drop("ecg_6310_scp.gdt")
        status, reason = b.scan()["ecg_6310_scp.gdt"]
        assert status == "done", reason
        (folder,) = b.importer.recordings_dir.iterdir()
        manifest = json.loads((folder / "exam.json").read_bytes())
        assert manifest["kind"] == "ecg" and "computed_by" not in manifest  # computed by us, not the vendor
        assert manifest["source"] == {"format": "GDT", "gdt_version": "03.00", "file": "ecg_6310_scp.gdt",
                                      "sha256": manifest["source"]["sha256"]}
        mains_hz = float(b.importer.config.watch.mains_hz or b.importer.config.mains_hz)
        ecg = read_ecg_file(scp)
        expected = canonical_json(ecg_file_results(analyze_ecg(ecg.recording, mains_hz=mains_hz), mains_hz))
        assert (folder / "results.json").read_bytes() == expected
        (hpr,) = b.record.glob("*.hpr")
        res = _res(hpr)
        assert res["Interprétation"][4] == "tracé non interprété"
        assert hpr.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"  # no vendor PDF: our printed ECG
        assert scp.exists()  # read in place, never moved
    finally:
        b.close()


def test_a_file_referenced_as_the_pdf_report_that_is_not_a_pdf_is_refused(bridge: Bridge) -> None:
    (bridge.inbox / "spiro_4711.pdf").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")  # 6303 PDF, any file
    bridge.drop("spirometry_6310.gdt")
    status, reason = bridge.scan()["spirometry_6310.gdt"]
    assert status == "failed" and "is not a PDF" in reason and "spiro_4711.pdf" in reason
    _nothing_imported(bridge)


# --- the GDT 2.1 specification's own examples, as transcribed in albertzak/xdt (MIT) ------------------------------

def test_the_specification_6301_example_is_read_and_our_writer_lays_out_its_lines_identically() -> None:
    from asalee_devices.drivers.gdt.codec import _line

    data = (FIXTURES / "spec_example_6301.gdt").read_bytes()
    rec = decode(data)  # 8100 = 00173 is the file's size: the example is self-consistent
    assert (rec.record_type, rec.version, rec.charset, rec.warnings) == ("6301", "02.10", "2", ())
    assert rec.content_fields() == [("8315", "EKG_TYP1"), ("8316", "PRAX_EDV"), ("3000", "02345"),
                                    ("3101", "Mustermann"), ("3102", "Franz"), ("3103", "01101945"),
                                    ("3110", "1"), ("3622", "178"), ("3623", "079")]
    for (_, fid, content), raw in zip(_lines(data), data[:-2].split(b"\r\n"), strict=True):
        assert _line(fid, content) == raw + b"\r\n"  # our line writer gives the example's bytes, line by line
    ours = encode("6301", rec.content_fields(), version="02.10", charset="2")
    assert len(ours) == len(data) + len(b"01092062\r\n")  # the same record plus the 9206 line we always write
    assert decode(ours).content_fields() == rec.content_fields()


def test_the_specification_6310_example_as_transcribed_is_refused_at_its_first_lying_line(bridge: Bridge) -> None:
    data = (FIXTURES / "spec_example_6310_as_transcribed.gdt").read_bytes()
    with pytest.raises(FormatError, match=r"GDT line 3: declared line length does not match the line") as err:
        decode(data)  # "0198315PRAX_EDV": 19 declared, 17 bytes
    assert "19" in str(err.value) and "17" in str(err.value)
    bridge.drop("spec_example_6310_as_transcribed.gdt")
    status, reason = bridge.scan()["spec_example_6310_as_transcribed.gdt"]
    assert status == "failed" and "GDT line 3: declared line length does not match the line" in reason
    _nothing_imported(bridge)


def test_the_specification_6310_example_relengthed_is_read_whole_and_refused_as_no_spirometry(
        bridge: Bridge) -> None:
    data = (FIXTURES / "spec_example_6310_relengthed.gdt").read_bytes()
    transcribed = (FIXTURES / "spec_example_6310_as_transcribed.gdt").read_bytes()
    rec = decode(data)
    same = [(fid, c.decode("cp437")) for _, fid, c in _lines(transcribed)
            if fid not in ("8000", "8100", "9206", "9218")]
    assert rec.content_fields() == same  # every field of the example, contents untouched (spaces kept)
    assert rec.all("6228")[2] == "          Tagphase       Nachtphase   proz. Abfall"
    assert rec.all("8410") == ["SYSMXTG", "SYSMNTG"] and rec.all("8432") == ["23101998", "24101998"]
    assert rec.get("3632") == "079"  # the example's own field id (3623, weight, in the field table)
    bridge.drop("spec_example_6310_relengthed.gdt")
    status, reason = bridge.scan()["spec_example_6310_relengthed.gdt"]
    assert status == "failed" and "neither spirometry values nor an ECG file" in reason  # a 24 h blood pressure
    _nothing_imported(bridge)


def test_a_6301_in_the_results_folder_is_refused_as_not_a_result(bridge: Bridge) -> None:
    bridge.drop("spec_example_6301.gdt")
    status, reason = bridge.scan()["spec_example_6301.gdt"]
    assert status == "failed" and "Only GDT results (record 6310)" in reason
    _nothing_imported(bridge)
