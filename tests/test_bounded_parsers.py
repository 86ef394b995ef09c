"""Bounded parsers (issue 18): XML element/depth/text budgets, WFDB regular files and header fields, spirometry CSV
failures each named. The refusals are asserted here; their time and memory are measured in
``bench/bench_hostile_inputs.py`` (no wall-clock assertion in the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asalee_devices.cli.main import main
from asalee_devices.drivers.ecg_files import _xml
from asalee_devices.drivers.ecg_files.base import read_ecg_file
from asalee_devices.errors import FormatError

ROOT = Path(__file__).resolve().parents[1]
MUSE_HEAD = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<RestingECG>'
MUSE_TAIL = b"</RestingECG>"


def test_64_mib_of_empty_elements_refused(tmp_path: Path) -> None:
    path = tmp_path / "flat.xml"
    n = (64 * 1024 * 1024 - len(MUSE_HEAD) - len(MUSE_TAIL)) // 4
    path.write_bytes(MUSE_HEAD + b"<a/>" * n + MUSE_TAIL)
    with pytest.raises(FormatError, match="too many XML elements"):
        read_ecg_file(path)


def test_two_million_nested_elements_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_bytes(MUSE_HEAD + b"<a>" * 2_000_000 + b"</a>" * 2_000_000 + MUSE_TAIL)
    with pytest.raises(FormatError, match="too many XML elements"):
        read_ecg_file(path)


def test_depth_and_text_budgets_inside_the_element_budget() -> None:
    depth = _xml.MAX_DEPTH + 1
    deep = MUSE_HEAD + b"<a>" * depth + b"</a>" * depth + MUSE_TAIL
    assert deep.count(b"<") < _xml.MAX_MARKUP
    with pytest.raises(FormatError, match="nested too deeply"):
        _xml.parse(deep, "GE MUSE XML")
    _xml.parse(MUSE_HEAD + b"<a>" * (depth - 2) + b"</a>" * (depth - 2) + MUSE_TAIL, "GE MUSE XML")  # at the limit
    long_text = MUSE_HEAD + b"<a>" + b"x" * (_xml.MAX_TEXT_CHARS + 1) + b"</a>" + MUSE_TAIL
    with pytest.raises(FormatError, match="text too long"):
        _xml.parse(long_text, "GE MUSE XML")


def test_budgets_hold_ten_times_the_largest_real_files(shared_data: Path) -> None:
    import xml.etree.ElementTree as ET

    files = sorted(p for p in (shared_data / "ecg").rglob("*") if p.suffix.lower() == ".xml")
    assert files
    for path in files:
        data = path.read_bytes()
        depth = most = 0
        for event, _el in ET.iterparse(path, events=("start", "end")):
            depth += 1 if event == "start" else -1
            most = max(most, depth)
        print(f"{path.name}: {data.count(b'<')} '<', depth {most}")
        assert data.count(b"<") * 10 <= _xml.MAX_MARKUP and most * 10 <= _xml.MAX_DEPTH
        try:
            read_ecg_file(path)  # still read (or refused for its content, as before: never by a budget)
        except FormatError as exc:
            assert not any(w in str(exc) for w in ("too many XML", "nested too deeply", "text too long")), exc


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_wfdb_fifo_dat_refused_not_hung(tmp_path: Path) -> None:
    (tmp_path / "r.hea").write_text("r 1 500 5000\nr.dat 16 200 12 0 0 0 0 I\n")
    os.mkfifo(tmp_path / "r.dat")
    code = ("from asalee_devices.drivers.ecg_files.base import read_ecg_file as r\ntry:\n r({!r})\n"
            "except Exception as e:\n print(type(e).__name__, e)").format(str(tmp_path / "r.hea"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    print(proc.stdout)
    assert proc.stdout.startswith("FormatError") and "Not a regular file" in proc.stdout


@pytest.mark.parametrize(("header", "field"), [
    ("r 1 1e 5000\nr.dat 16 200 12 0 0 0 0 I\n", "fs_hz"),
    ("r 1 500 5000\nr.dat 16 1e 12 0 0 0 0 I\n", "gain"),
    ("r 1 500 5000\nr.dat 16 200 12 --5 0 0 0 I\n", "adc_zero"),
    ("r 1 500 5000\nr.dat 16 200(1e) 12 0 0 0 0 I\n", "gain"),
    ("r 1 1e999 5000\nr.dat 16 200 12 0 0 0 0 I\n", "fs_hz"),
])
def test_wfdb_header_fields_refused_by_name(tmp_path: Path, header: str, field: str) -> None:
    (tmp_path / "r.hea").write_text(header)
    (tmp_path / "r.dat").write_bytes(b"\0" * 20000)
    with pytest.raises(FormatError) as exc:
        read_ecg_file(tmp_path / "r.hea")
    print(exc.value)
    assert exc.value.field == field


def _rows(n: int, flow: str = "0.5", step: float = 0.01) -> str:
    return "".join(f"{k * step:.4f},{flow}\n" for k in range(n))


@pytest.mark.parametrize(("text", "expected"), [
    ("time_s,flow_l_s\n0,1\n0.01,1\n0.005,1\n0.02,1\n", "Time not increasing at row 4"),
    ("time_s,flow_l_s\n0,1\n0.01,1\n0.03,1\n0.04,1\n", "Time step changes at row 4"),
    ("time,flow\n0,1\n0.01,1\n0.02,1\n", "expected time_s,flow_l_s or time_s,volume_l"),
    ("time_s,flow_l_s\n0,1,2\n0.01,1,2\n0.02,1,2\n", "Row 2 has 3 columns"),
    ("time_s,flow_l_s\n", "0 data row(s) after the header"),
    ("time_s,flow_l_s\n0,1\n0.01,abc\n0.02,1\n", "Not a number at row 3"),
    ("time_s,flow_l_s\n0,1\n0.01,nan\n0.02,1\n", "Not a finite number at row 3"),
    ("time_s,flow_l_s\n0,1\n0.01,1e308\n0.02,1\n", "outside physiological bounds at row 3"),
    ("time_s,flow_l_s\n0,1\n0.01,1000\n0.02,1\n", "|flow_l_s| <= 20 L/s"),
    ("time_s,volume_l\n0,0\n0.01,25\n0.02,1\n", "|volume_l| <= 20 L"),
    ("time_s,flow_l_s\n" + _rows(7000), "longer than 60 s"),
])
def test_spirometry_csv_failures_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                       expected: str) -> None:
    path = tmp_path / "blow.csv"
    path.write_text(text)
    code = main(["spirometry", "analyze", str(path)])
    err = capsys.readouterr().err
    print(err.strip())
    assert code == 2 and expected in err and "Non-numeric" not in err
