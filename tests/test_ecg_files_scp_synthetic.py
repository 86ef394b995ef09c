"""SCP-ECG reader on synthetic records encoded by tests/scp_encoder.py: custom Huffman tables with table switching,
difference encodings, reference beats, bimodal compression, vendor deviations and strict mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.scp_encoder import Huffman, encode_scp

from asalee_devices.drivers.ecg_files import read_ecg_file
from asalee_devices.drivers.ecg_files.scp import decode
from asalee_devices.errors import FormatError

FS = 500
N = 2500


def _signal(seed: int, n: int = N, amp: int = 400) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    out = {}
    for k, name in enumerate(("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")):
        beat = np.zeros(n)
        for c in range(200, n, 400):
            beat += amp * np.exp(-0.5 * ((np.arange(n) - c) / 6.0) ** 2)
        x = beat * (1 + 0.1 * k) + 60 * np.sin(2 * np.pi * 0.3 * t + k) + rng.normal(0, 3, n)
        out[name] = np.round(x).astype(np.int64)
    return out


TABLE1 = [(1, 1, False, 0, 0b0), (2, 2, False, 1, 0b10), (3, 3, False, -1, 0b110), (4, 20, False, 0, 0b1110),
          (4, 4, True, 2, 0b1111)]
TABLE2 = [(1, 17, False, 0, 0b0), (2, 2, False, 0, 0b10), (2, 2, True, 1, 0b11)]


def _check(data: bytes, leads: dict[str, np.ndarray], avm_nv: int = 2500) -> None:
    ecg = decode(data)
    rec = ecg.recording
    for name, x in leads.items():
        np.testing.assert_array_equal(rec.lead(name), x * (avm_nv / 1000.0))


@pytest.mark.parametrize("encoding", [0, 1, 2])
def test_default_table_each_difference_encoding(encoding: int) -> None:
    leads = _signal(1)
    data = encode_scp(leads, encoding=encoding, huffman=Huffman(None))
    _check(data, leads)
    print(f"default table, difference encoding {encoding}: {len(data)} bytes, 8 x {N} samples exact")


@pytest.mark.parametrize("encoding", [0, 1, 2])
def test_custom_tables_with_switching(encoding: int) -> None:
    leads = _signal(2)
    switches = [(i, 2 if (i // 300) % 2 else 1) for i in range(0, N, 300)]
    h = Huffman([TABLE1, TABLE2], switches)
    data = encode_scp(leads, encoding=encoding, huffman=h)
    ecg = decode(data)
    _check(data, leads)
    assert ecg.device.manufacturer == "Schiller AG" and ecg.device.serial_number == "SN-0042"
    assert ecg.device.model == "AT-102"
    assert ecg.acquired_at is not None and ecg.acquired_at.isoformat() == "2024-03-14T10:20:30"
    kinds = {(f.kind, f.cutoff_hz) for f in ecg.recording.device_filters}
    assert kinds == {("highpass", 0.05), ("lowpass", 150.0), ("notch", 50.0)}
    print(f"custom tables + {len(switches)} switches, encoding {encoding}: exact")


def test_custom_single_table_without_switch() -> None:
    leads = _signal(3)
    h = Huffman([TABLE1[:4]])
    _check(encode_scp(leads, encoding=1, huffman=h), leads)


def test_no_huffman_raw_int16() -> None:
    leads = _signal(4)
    _check(encode_scp(leads, encoding=0, huffman=None), leads)


def _median_setup(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[tuple[int, int, int]]]:
    leads = _signal(seed)
    m_len, mfid = 300, 150
    median = {k: np.round(x[200 - mfid + 400: 200 - mfid + 400 + m_len]).astype(np.int64) for k, x in leads.items()}
    qrs = [(c + 1 - 60, c + 1, c + 1 + 80) for c in range(200, N - 100, 400)]
    return leads, median, qrs


def test_reference_beat_subtraction() -> None:
    leads, median, qrs = _median_setup(5)
    data = encode_scp(leads, encoding=2, huffman=Huffman(None), median=median, qrs=qrs, median_fiducial=150)
    ecg = decode(data)
    _check(data, leads)
    assert ecg.median_beats is not None
    np.testing.assert_array_equal(ecg.median_beats.lead("V3"), median["V3"] * 2.5)
    print(f"reference beats: {len(qrs)} QRS added back, rhythm exact")


def test_bimodal_compression() -> None:
    leads, median, qrs = _median_setup(6)
    protected = [(s - 20, e + 20) for s, _f, e in qrs]
    data = encode_scp(leads, encoding=1, huffman=Huffman(None), median=median, qrs=qrs, median_fiducial=150,
                      bimodal_factor=4, protected=protected)
    ecg = decode(data)
    rec = ecg.recording
    assert rec.fs_hz == FS and rec.n_samples == N
    prot = np.zeros(N, bool)
    for s, e in protected:
        prot[s - 1: e] = True
    worst_outside = 0.0
    for name, x in leads.items():
        got = rec.lead(name)
        np.testing.assert_array_equal(got[prot], x[prot] * 2.5)
        worst_outside = max(worst_outside, float(np.max(np.abs(got[~prot] - x[~prot] * 2.5))))
    print(f"bimodal x4: protected zones exact, worst error elsewhere {worst_outside:.1f} uV")
    # outside the QRS the signal is slow (0.3 Hz + noise of 3 LSB): decimation error stays within the noise
    assert worst_outside < 15 * 2.5
    assert ecg.extra["bimodal_factor"] == "4"


def test_zero_based_start_tolerated_and_refused_in_strict(tmp_path: Path) -> None:
    leads = _signal(7)
    data = encode_scp(leads, huffman=Huffman(None), zero_based=True)
    ecg = decode(data)
    assert any(w.code == "zero_based_lead_start" for w in ecg.warnings)
    _check(data, leads)
    with pytest.raises(FormatError, match="strict"):
        decode(data, strict=True)


@pytest.mark.parametrize("extra", [1, -1])
def test_byte_count_one_sample_off_is_a_deviation(extra: int) -> None:
    """Writers whose section 3 end sample is one off the data (exclusive end, or one sample more written): read with
    a deviation warning, samples in place, nothing invented; refused in strict mode. (Refused outright on main.)"""
    leads = _signal(12)
    stored = {k: np.concatenate([v, [7]]) for k, v in leads.items()} if extra < 0 else leads
    data = encode_scp(stored, huffman=None, encoding=0, end_offset=extra)
    ecg = decode(data)
    code = "byte_count_one_sample_short" if extra > 0 else "byte_count_one_sample_long"
    assert {w.code for w in ecg.warnings} >= {code}
    rec = ecg.recording
    assert rec.n_samples == N + (1 if extra > 0 else 0)
    for name, x in leads.items():
        np.testing.assert_array_equal(rec.lead(name)[:N], x * 2.5)
    if extra > 0:
        assert np.isnan(rec.samples_uv[:, N]).all()  # the declared sample that is not in the file stays empty
    with pytest.raises(FormatError, match="strict"):
        decode(data, strict=True)


def test_byte_count_two_samples_short_is_refused() -> None:
    data = encode_scp(_signal(13), huffman=None, encoding=0, end_offset=2)
    with pytest.raises(FormatError, match="fewer samples than section 3 says"):
        decode(data)


def test_bad_crc_warns_and_reads_on() -> None:
    leads = _signal(8)
    data = encode_scp(leads, huffman=Huffman(None), bad_crc=True)
    ecg = decode(data)
    assert [w.code for w in ecg.warnings] == ["crc_mismatch"]
    _check(data, leads)
    with pytest.raises(FormatError):
        decode(data, strict=True)


def test_zero_avm_in_section6_uses_section5_else_refused() -> None:
    leads, median, qrs = _median_setup(9)
    data = encode_scp(leads, huffman=Huffman(None), median=median, qrs=qrs, median_fiducial=150, avm6_override=0)
    ecg = decode(data)
    assert any(w.code == "zero_amplitude_multiplier" for w in ecg.warnings)
    _check(data, leads)
    with pytest.raises(FormatError, match="amplitude multiplier"):
        decode(encode_scp(leads, huffman=Huffman(None), avm6_override=0))


def test_lead_length_overflowing_16_bit_field() -> None:
    n = 40000  # 80 000 bytes per lead in int16: the 16-bit byte count overflows
    leads = {k: v[:n] for k, v in _signal(10, n=n).items() if k in ("I", "II")}
    data = encode_scp(leads, encoding=0, huffman=None)
    ecg = decode(data)
    assert any(w.code == "lead_length_overflow" for w in ecg.warnings)
    _check(data, leads)
    with pytest.raises(FormatError):
        decode(data, strict=True)


def test_version_1_and_3_records() -> None:
    leads = _signal(11)
    for version, label in ((13, "1.3"), (30, "3.0")):
        ecg = decode(encode_scp(leads, huffman=Huffman(None), version=version))
        assert ecg.format_version == label


def test_detected_by_content_not_extension(tmp_path: Path) -> None:
    leads = _signal(12)
    p = tmp_path / "record.xml"
    p.write_bytes(encode_scp(leads, huffman=Huffman(None)))
    assert read_ecg_file(p).format == "scp-ecg"


def test_undefined_code_is_a_format_error() -> None:
    leads = _signal(13)
    # a single table without the "1111" prefix: all-ones data is an undefined code
    data = bytearray(encode_scp(leads, encoding=1, huffman=Huffman([TABLE1[:4]])))
    data[-200:] = b"\xff" * 200
    with pytest.raises(FormatError, match="undefined code"):
        decode(bytes(data))
