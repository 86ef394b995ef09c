"""ECG file readers on the real device files of ../shared/data/ecg (facts from its README)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.drivers.ecg_files import EcgFile, detect_format, read_ecg_file
from asalee_devices.signal.ecg.recording import STANDARD_LEADS, einthoven_residual_uv

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def ecg_dir(shared_data: Path) -> Path:
    return shared_data / "ecg"


def _derived_residual_uv(rec: EcgFile) -> float:
    r = einthoven_residual_uv(rec.recording)
    assert r is not None
    return r


def test_same_ecg_in_three_encodings_is_bit_identical(ecg_dir: Path) -> None:
    d = ecg_dir / "ecgtoolkit-example"
    scp, aecg, dcm = (read_ecg_file(d / n) for n in ("Example.scp", "Example.xml", "Example.dcm"))
    assert (scp.format, aecg.format, dcm.format) == ("scp-ecg", "hl7-aecg", "dicom-ecg")
    for e in (scp, aecg, dcm):
        assert e.recording.leads == STANDARD_LEADS
        assert e.recording.samples_uv.shape == (12, 5000)
        assert e.recording.fs_hz == 500.0
        assert e.recording.resolution_uv == 2.5
    a, b, c = (e.recording.samples_uv for e in (scp, aecg, dcm))
    assert a.tobytes() == b.tobytes() == c.tobytes()
    # the data are not trivially zero: real ECG amplitudes in µV
    assert 500 < float(np.max(np.abs(a))) < 5000
    # the DICOM padding value 0 must not turn real zero samples into gaps
    n_zero = int(np.sum(c == 0.0))
    assert n_zero > 1000 and not np.isnan(c).any() and dcm.recording.gaps == ()
    assert any(w.code == "padding_value_zero" for w in dcm.warnings)
    # SCP CRCs of this file are correct: no warning at all
    assert scp.warnings == ()
    assert scp.format_version == "2.0"
    # the same acquisition time and subject in all three
    assert scp.acquired_at == aecg.acquired_at == dcm.acquired_at
    assert scp.patient.patient_id == aecg.patient.patient_id == dcm.patient.patient_id == "SBJ-123"
    # the device measurements agree across the three encodings (device-provided, not ours)
    def meas(e: EcgFile, names: tuple[str, ...]) -> list[float | None]:
        got = {s.code: s.value for s in e.device_data if s.kind == "measurement"}
        return [got.get(n) for n in names]

    assert meas(scp, ("pr_interval", "qrs_duration", "qt_interval")) == [148.0, 120.0, 420.0]
    assert meas(aecg, ("MDC_ECG_TIME_PD_PR", "MDC_ECG_TIME_PD_QRS", "MDC_ECG_TIME_PD_QT")) == [148.0, 120.0, 420.0]
    assert meas(dcm, ("PR Interval", "QRS Duration", "QT Interval")) == [148.0, 120.0, 420.0]
    # median beats are present in all three
    assert all(e.median_beats is not None for e in (scp, aecg, dcm))
    print(f"\n3 encodings: 12 x 5000 identical bit for bit; {n_zero} real zero samples kept in the DICOM")


def test_mortara_eli250_dicom(ecg_dir: Path) -> None:
    e = read_ecg_file(ecg_dir / "mortara-eli250-dicom" / "waveform_ecg.dcm")
    rec = e.recording
    assert rec.leads == STANDARD_LEADS and rec.samples_uv.shape == (12, 10000)
    assert rec.fs_hz == 1000.0 and rec.resolution_uv == 1.25
    assert e.median_beats is not None and e.median_beats.samples_uv.shape == (12, 1200)
    filters = {(f.kind, f.cutoff_hz) for f in rec.device_filters}
    assert filters == {("highpass", 0.05), ("lowpass", 300.0)}  # no notch (0 = none)
    assert all(f.applied_by == "device" for f in rec.device_filters)
    assert e.device.manufacturer.startswith("Mortara")
    assert any(s.kind == "statement" for s in e.device_data)
    res = _derived_residual_uv(e)
    print(f"\nMortara: 12 x 10000 @ 1000 Hz, 1.25 uV; stored limb leads Einthoven residual {res} uV")
    assert res <= 1.25 / 2


def test_ge_muse(ecg_dir: Path) -> None:
    e = read_ecg_file(ecg_dir / "ge-muse" / "MUSE_20200923_093504_79000_example.xml")
    rec = e.recording
    assert e.format == "ge-muse-xml"
    assert rec.leads == STANDARD_LEADS and rec.n_samples == 5000 and rec.fs_hz == 500.0
    assert rec.resolution_uv == 4.88
    assert rec.derived_leads == frozenset({"III", "aVR", "aVL", "aVF"})
    res = _derived_residual_uv(e)
    print(f"\nGE MUSE: 8 stored + 4 derived, Einthoven residual {res:.3g} uV (half LSB = 2.44)")
    assert res <= 4.88 / 2
    assert {(f.kind, f.cutoff_hz) for f in rec.device_filters} == {("highpass", 0.16), ("lowpass", 150.0)}
    assert e.device.model == "MAC55"
    rate = [s for s in e.device_data if s.code == "VentricularRate"]
    assert rate and rate[0].value == 56.0
    assert e.median_beats is not None and e.median_beats.n_samples == 600
    assert e.warnings == ()  # every lead CRC-32 matches


def test_philips_sierra_103(ecg_dir: Path) -> None:
    e = read_ecg_file(ecg_dir / "philips-sierra" / "129DYPRG.XML")
    rec = e.recording
    assert e.format == "philips-sierra-xml" and e.format_version == "1.03"
    assert rec.leads == STANDARD_LEADS and rec.samples_uv.shape == (12, 5500)
    assert rec.fs_hz == 500.0 and rec.resolution_uv == 5.0
    assert {(f.kind, f.cutoff_hz) for f in rec.device_filters} == {("highpass", 0.05), ("lowpass", 150.0)}
    assert "notch 60" in e.extra["display_bandwidth"]  # display setting, not applied to the stored data
    # stored limb leads (rebuilt from the XLI residuals, not derived by us) agree with Einthoven within 2 LSB outside
    # the final 1 mV calibration pulse (the device quantises each limb lead itself)
    s = rec.samples_uv[:, :5350]
    i, ii, iii = s[0], s[1], s[2]
    worst = float(np.max(np.abs(iii - (ii - i))))
    print(f"\nPhilips 1.03: 12 x 5500, III - (II - I) within {worst} uV")
    assert worst <= 10.0


@pytest.mark.parametrize("name", ["129DYPRG.XML", "ad4d3d80-d165_1-04_orig.xml"])
def test_philips_matches_ecgdatakit(ecg_dir: Path, name: str) -> None:
    fp = pytest.importorskip("ecgdatakit").FileParser()
    path = ecg_dir / "philips-sierra" / name
    ref = fp.parse(path)
    ours = read_ecg_file(path).recording
    for lead in ref.leads:
        mv = np.asarray(lead.samples, dtype=np.float64)
        np.testing.assert_allclose(ours.lead(lead.label), mv * 1000.0, atol=1e-9)


SIERRA_104 = "ad4d3d80-d165_1-04_orig.xml"


def test_philips_sierra_104(ecg_dir: Path) -> None:
    """PageWriter Touch 1.04 (UTF-16): resolution, filters and lead count sit in 1.04's elements and attributes."""
    e = read_ecg_file(ecg_dir / "philips-sierra" / SIERRA_104)
    rec = e.recording
    assert e.format == "philips-sierra-xml" and e.format_version == "1.04"
    assert rec.leads == STANDARD_LEADS and rec.samples_uv.shape == (12, 5500)
    assert rec.fs_hz == 500.0 and rec.resolution_uv == 5.0
    assert {(f.kind, f.cutoff_hz) for f in rec.device_filters} == {("highpass", 0.05), ("lowpass", 150.0)}
    assert rec.pacemaker is None  # pacestatus "Unknown"
    assert e.device.model == "PageWriter Touch"
    assert e.patient.birth_date == "1976-01-01" and e.patient.sex == "female"  # 1.04: under age/
    rates = {s.code: s.value for s in e.device_data if s.kind == "measurement"}
    assert rates["heartrate"] == 41.0 and rates["rrint"] == 1463.0
    # the stored limb leads (XLI residuals rebuilt) agree with Einthoven within one LSB before the cart's
    # calibration signal (which starts at 10.6 s)
    s = rec.samples_uv[:, :5300]
    worst = float(np.max(np.abs(s[2] - (s[1] - s[0]))))
    print(f"\nPhilips 1.04: 12 x 5500, III - (II - I) within {worst} uV")
    assert worst <= 5.0


@pytest.mark.parametrize("version", ["1.04.01", "1.04.02"])
def test_philips_sierra_104_later_versions(ecg_dir: Path, tmp_path: Path, version: str) -> None:
    text = (ecg_dir / "philips-sierra" / SIERRA_104).read_bytes().decode("utf-16")
    p = tmp_path / "later.xml"
    p.write_bytes(b"\xff\xfe" + text.replace("<documentversion>1.04<", f"<documentversion>{version}<")
                  .encode("utf-16-le"))
    e = read_ecg_file(p)
    assert e.format_version == version and e.recording.samples_uv.shape == (12, 5500)


def test_philips_104_waveform_attributes_describe_the_data(ecg_dir: Path, tmp_path: Path) -> None:
    """Schema 1.04.01: parsedwaveforms' attributes describe the stored samples when a later system changed them;
    without them, dataacquisition/signalcharacteristics does."""
    text = (ecg_dir / "philips-sierra" / SIERRA_104).read_bytes().decode("utf-16")
    ref = read_ecg_file(ecg_dir / "philips-sierra" / SIERRA_104).recording
    p = tmp_path / "a.xml"
    p.write_bytes(b"\xff\xfe" + text.replace(' resolution="5" ', ' resolution="2.5" ', 1)
                  .replace(' lowpass="150" ', ' lowpass="100" ', 1).encode("utf-16-le"))
    rec = read_ecg_file(p).recording
    np.testing.assert_allclose(rec.samples_uv, ref.samples_uv / 2)
    assert ("lowpass", 100.0) in {(f.kind, f.cutoff_hz) for f in rec.device_filters}
    p.write_bytes(b"\xff\xfe" + text.replace(' resolution="5" ', " ", 1).replace("<resolution>5<",
                                                                                    "<resolution>10<")
                  .encode("utf-16-le"))
    np.testing.assert_allclose(read_ecg_file(p).recording.samples_uv, ref.samples_uv * 2)


@pytest.mark.parametrize("name, seconds, off", [("0000037.ECG", 10.5, {"V1", "V2", "V3", "V4", "V5", "V6"}),
                                                ("0000053.ECG", 37.2, set())])
def test_contec(ecg_dir: Path, name: str, seconds: float, off: set[str]) -> None:
    e = read_ecg_file(ecg_dir / "contec-ecg90a" / name)
    rec = e.recording
    assert e.format == "contec-ecg90a"
    assert rec.fs_hz == 800.0 and rec.resolution_uv == 5.0 and rec.leads == STANDARD_LEADS
    assert rec.derived_leads == frozenset({"I", "aVR", "aVL", "aVF"})
    assert abs(rec.duration_s - seconds) < 0.1
    assert rec.lead_off is not None
    fully_off = {n for n, row in zip(rec.leads, rec.lead_off, strict=True) if row.all()}
    assert fully_off == off
    for n in off:
        assert np.isnan(rec.lead(n)).all()
    res = _derived_residual_uv(e)
    print(f"\nContec {name}: {rec.n_samples} samples @ 800 Hz ({rec.duration_s:.2f} s), Einthoven residual {res}")
    assert res <= 2.5
    assert e.acquired_at is not None


def test_detection_ignores_extension(ecg_dir: Path, tmp_path: Path) -> None:
    expected = {
        "ecgtoolkit-example/Example.scp": "scp-ecg", "ecgtoolkit-example/Example.xml": "hl7-aecg",
        "ecgtoolkit-example/Example.dcm": "dicom-ecg", "ge-muse/MUSE_20200923_093504_79000_example.xml": "ge-muse-xml",
        "philips-sierra/129DYPRG.XML": "philips-sierra-xml", "contec-ecg90a/0000053.ECG": "contec-ecg90a",
    }
    for k, (rel, fmt) in enumerate(expected.items()):
        p = tmp_path / f"file{k}.dat"
        shutil.copy(ecg_dir / rel, p)
        assert detect_format(p).name == fmt


def test_philips_utf16_document(ecg_dir: Path, tmp_path: Path) -> None:
    text = (ecg_dir / "philips-sierra" / "129DYPRG.XML").read_bytes().decode("utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').replace("<documentversion>1.03",
                                                                        "<documentversion>1.04")
    p = tmp_path / "sierra104.xml"
    p.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    e = read_ecg_file(p)
    assert e.format_version == "1.04" and e.recording.samples_uv.shape == (12, 5500)


def test_cli_ecg_read_json_and_samples(ecg_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    src = ecg_dir / "ge-muse" / "MUSE_20200923_093504_79000_example.xml"
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "ecg", "read", str(src), "--json",
                           "--samples-out", str(out)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    info = json.loads(proc.stdout)
    for key in ("format", "sampling_rate_hz", "leads", "n_samples", "device", "warnings"):
        assert key in info
    assert info["leads"] == list(STANDARD_LEADS) and info["n_samples"] == 5000
    rows = out.read_text().splitlines()
    assert rows[0].split(",") == list(STANDARD_LEADS) and len(rows) == 5001
    back = np.loadtxt(out, delimiter=",", skiprows=1).T
    assert np.array_equal(back, read_ecg_file(src).recording.samples_uv)


def test_cli_strict_refuses_and_reports_one_line(tmp_path: Path) -> None:
    p = tmp_path / "x.ecg"
    p.write_bytes(b"not an ecg at all" * 10)
    proc = subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "ecg", "read", str(p)],
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Unrecognised" in proc.stderr
