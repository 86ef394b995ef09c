"""`asalee-devices demo --sink hprim` (issue 19): one .hpr + .pdf per examination, each file read back by a reading
of HPRIM Net written here from the public parsers cited in docs/hprim.md (MedShakeEHR msHprim, FreeHealth
hprimparser) — not the writer's code — and every value compared with the canonical results stored beside the
examination."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Parsed:
    header: dict[str, str]
    text: list[str]
    res: list[list[str]]


def parse_hprim(data: bytes) -> Parsed:
    """An independent reading: Latin-1, CRLF lines; 12 header lines (MedShake getHprimHeaderData: code 0..10,
    line 6 = postcode 0..5 + town, lines 11/12 = code 0..10 + name); text up to ****LAB****; RES lines split on '|'
    (MedShake parseSourceHprim indexes); ****FIN**** then ****FINFICHIER**** and nothing after (FreeHealth
    HprimRawContent::isValid)."""
    text = data.decode("iso-8859-1")
    assert "\n" not in text.replace("\r\n", ""), "bare LF"
    assert "\r" not in text.replace("\r\n", ""), "bare CR"
    assert text.endswith("\r\n")
    lines = text[:-2].split("\r\n")
    h = lines[:12]
    header = {"code": h[0], "family": h[1], "given": h[2], "address1": h[3], "address2": h[4],
              "postcode": h[5][:5], "town": h[5][5:].strip(), "birth": h[6], "nir": h[7], "ref": h[8],
              "date": h[9], "sender_code": h[10][:10].strip(), "sender": h[10][10:].strip(),
              "recipient_code": h[11][:10].strip(), "recipient": h[11][10:].strip()}
    lab = lines.index("****LAB****")
    fin = lines.index("****FIN****")
    assert lines[fin + 1:] == ["****FINFICHIER****"]
    res = [ln.split("|") for ln in lines[lab + 1:fin] if ln.startswith("RES|")]
    assert all(ln.startswith(("RES|", "TEX")) for ln in lines[lab + 1:fin])
    return Parsed(header, lines[12:lab], res)


#: label in the file -> (canonical parameter name, factor from canonical to written unit, written unit)
SPIRO = {"VEMS": ("fev1", 1.0, "L"), "CVF": ("fvc", 1.0, "L"), "VEMS/CVF": ("fev1_fvc", 100.0, "%"),
         "DEP": ("pef", 1.0, "L/s"), "DEM25-75": ("fef25_75", 1.0, "L/s"), "VEMS6": ("fev6", 1.0, "L"),
         "FET": ("fet", 1.0, "s")}


def _close(written: str, expected: float) -> None:
    """The written number equals the canonical one to the precision it is written with."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    assert abs(float(written) - expected) <= 0.5 * 10.0 ** -decimals + 1e-9, (written, expected)


def _check_spirometry(parsed: Parsed, results: dict) -> int:
    by_label = {r[1]: r for r in parsed.res}
    checked = 0
    for phase, suffix in (("pre", ""), ("post", " post-BD")):
        data = results["phases"].get(phase)
        if not data:
            continue
        params = {p["name"]: p for p in data["parameters"]}
        for label, (name, factor, unit) in SPIRO.items():
            p = params.get(name)
            if p is None or p["measured"] is None:  # e.g. FEV6 of an expiration shorter than 6 s: not reported
                assert label + suffix not in by_label
                continue
            r = by_label[label + suffix]
            assert len(r) >= 10 and r[3] == "N" and r[5] == unit and r[9] == "F"
            _close(r[4], p["measured"] * factor)
            if p["lln"] is None:
                assert r[6] == r[7] == r[8] == ""
            else:
                _close(r[6], p["lln"] * factor)
                _close(r[7], p["uln"] * factor)
                expect = "L" if p["measured"] < p["lln"] else ("H" if p["measured"] > p["uln"] else "N")
                assert r[8] == expect
            if p["z_score"] is not None:
                _close(by_label[f"{label}{suffix} z-score"][4], p["z_score"])
                _close(by_label[f"{label}{suffix} % prédit"][4], p["percent_predicted"])
            checked += 1
        session = data["session"]
        assert by_label[f"Grade VEMS{suffix} (ATS/ERS 2019)"][4] == session["grade_fev1"]
        assert by_label[f"Grade CVF{suffix} (ATS/ERS 2019)"][4] == session["grade_fvc"]
    return checked


def _check_ecg(parsed: Parsed, results: dict) -> int:
    by_label = {r[1]: r for r in parsed.res}
    capture = results["captures"][results["kept"]]
    rate = by_label["Fréquence cardiaque"]
    assert rate[5] == "/min" and rate[8] == ""  # no normal range, no flag: nothing that reads as a diagnosis
    _close(rate[4], capture["heart"]["heart_rate_bpm"])
    assert by_label["Qualité technique"][4] == {"acceptable": "acceptable", "retake": "insuffisante"}[
        capture["verdict"]]
    assert by_label["Interprétation"][4] == "tracé non interprété"
    return 3


@pytest.fixture(scope="module")
def hprim_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hprim") / "out"
    for _ in range(2):  # the same examinations twice: still one file each
        proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "demo", "--sink", "hprim", "--out",
                               str(out), "--speed", "50"], capture_output=True, text=True, timeout=180,
                              cwd=out.parent, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return out


def test_demo_hprim_one_pair_per_examination_and_no_temp_files(hprim_demo: Path) -> None:
    names = sorted(p.name for p in hprim_demo.iterdir() if p.is_file())
    hpr = [n for n in names if n.endswith(".hpr")]
    assert {n.split("_")[1] for n in hpr} == {"spirometry", "ecg"} and len(hpr) == 2
    for n in hpr:
        assert n[:-4] + ".pdf" in names
        assert (hprim_demo / (n[:-4] + ".pdf")).read_bytes()[:5] == b"%PDF-"
    assert [n for n in names if n.startswith(".") or n.endswith(".partial")] == []
    assert not list(hprim_demo.glob("*.json"))  # no FHIR bundle went to the HPRIM folder


def test_every_hprim_value_equals_the_canonical_results(hprim_demo: Path) -> None:
    counted = reported = 0
    for path in sorted(hprim_demo.glob("*.hpr")):
        data = path.read_bytes()
        assert max(data) <= 0xFF  # trivially Latin-1 bytes; the decode below is the real check
        parsed = parse_hprim(data)
        exam_id = path.stem.split("_", 2)[2]
        results = json.loads((hprim_demo / "recordings" / exam_id / "results.json").read_bytes())
        h = parsed.header
        assert h["family"] == "TESTPATIENT" and h["given"] == "Marie Louise"
        assert date(*map(int, reversed(h["birth"].split("/")))) == date(1979, 3, 14)
        assert h["nir"].replace(" ", "") == "279035121518989" and len(h["nir"]) == 16
        assert h["ref"] == exam_id.replace("-", "")[:10]
        assert len(h["date"]) == 10 and h["date"][2] == h["date"][5] == "/"
        assert len(parsed.text) > 5 and f"{path.stem}.pdf" in " ".join(parsed.text).replace("\n", "")
        assert not any(word in " ".join(parsed.text).lower() for word in ("sinusal", "normal ecg", "bpco"))
        counted += (_check_spirometry if results["kind"] == "spirometry" else _check_ecg)(parsed, results)
        reported += 3 if results["kind"] == "ecg" else sum(
            1 for phase in results["phases"].values() for p in phase["parameters"]
            if p["name"] in {name for name, _f, _u in SPIRO.values()} and p["measured"] is not None)
    assert counted == reported >= 6 + 3  # VEMS6 only when the expiration lasted 6 s (ATS/ERS 2019)


def test_header_fields_and_lines_within_their_lengths(hprim_demo: Path) -> None:
    limits = [10, 50, 50, 30, 30, 36, 10, 16, 10, 10, 61, 61]
    for path in hprim_demo.glob("*.hpr"):
        lines = path.read_bytes().decode("iso-8859-1").split("\r\n")
        for i, (line, limit) in enumerate(zip(lines[:12], limits, strict=True)):
            assert len(line) <= limit, (i + 1, len(line))
        lab = lines.index("****LAB****")
        assert all(len(line) <= 80 for line in lines[12:lab])
        assert all(len(line) <= 200 for line in lines[lab:])


def _demo(out: Path, sink: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASALEE_") or k == "ASALEE_SHARED_DATA"}
    return subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "demo", "--sink", sink, "--out", str(out),
                           "--speed", "50"], capture_output=True, text=True, timeout=180, cwd=out.parent,
                          env={**clean, **env, "PYTHONPATH": str(ROOT / "src")})


def test_demo_through_the_configured_fhir_endpoint(tmp_path: Path) -> None:
    from tests.fhir_test_server import FhirTestServer

    server = FhirTestServer().start()
    try:
        proc = _demo(tmp_path / "out", "fhir", {"ASALEE_SINK_BASE_URL": server.base_url})
        assert proc.returncode == 0, proc.stderr + proc.stdout
        assert server.count("DiagnosticReport") == 2  # the spirometry and the ECG
    finally:
        server.stop()
    assert not list((tmp_path / "out").glob("*.hpr"))


def test_demo_through_mllp_without_an_endpoint_says_what_to_configure(tmp_path: Path) -> None:
    proc = _demo(tmp_path / "out", "mllp", {})
    assert proc.returncode == 2 and "sink.host is empty" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing recorded before the sink is known to be usable


def test_demo_through_the_configured_mllp_endpoint(tmp_path: Path) -> None:
    from tests.fhir.test_fhir_mllp import MllpPeer

    peer = MllpPeer().start()
    try:
        proc = _demo(tmp_path / "out", "mllp", {"ASALEE_SINK_HOST": "127.0.0.1", "ASALEE_SINK_PORT": str(peer.port)})
        assert proc.returncode == 0, proc.stderr + proc.stdout
    finally:
        peer.stop()
    assert len(peer.received) == 2 and all(m.startswith("MSH|") and "ORU^R01" in m for m in peer.received)
