"""The DICOM reader's fast element walker against pydicom (the oracle): on the real files, on re-encodings of them
(explicit VR, undefined-length sequences, character sets) and on the fuzz corpus (truncation, bit flips, huge
length fields), wherever the fast path answers, pydicom gives the bit-identical samples and equal metadata, or the
same format error."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.ecg_files import EcgFile, dicom
from asalee_devices.drivers.ecg_files._dicom_walk import KNOWN_VRS, LONG_VRS
from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import EcgRecording

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
FILES = {"toolkit": "ecgtoolkit-example/Example.dcm", "mortara": "mortara-eli250-dicom/waveform_ecg.dcm"}
SETTINGS = settings(max_examples=60, deadline=timedelta(seconds=5), derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_cache: dict[str, bytes] = {}
_outcomes: Counter[str] = Counter()


def _original(key: str) -> bytes:
    if key not in _cache:
        path = DATA / FILES[key]
        if not path.exists():
            pytest.skip(f"external test data not found at {path}")
        _cache[key] = path.read_bytes()
    return _cache[key]


def _same_recording(a: EcgRecording | None, b: EcgRecording | None) -> None:
    if a is None or b is None:
        assert a is b
        return
    assert a.samples_uv.dtype == b.samples_uv.dtype and a.samples_uv.shape == b.samples_uv.shape
    assert a.samples_uv.tobytes() == b.samples_uv.tobytes()  # bit for bit, NaN gaps included
    assert (a.fs_hz, a.leads, a.resolution_uv, a.derived_leads, a.pacemaker, a.device_filters, a.gaps,
            a.interrupted) == (b.fs_hz, b.leads, b.resolution_uv, b.derived_leads, b.pacemaker, b.device_filters,
                               b.gaps, b.interrupted)
    assert (a.lead_off is None) == (b.lead_off is None)


def _same(a: EcgFile, b: EcgFile) -> None:
    _same_recording(a.recording, b.recording)
    _same_recording(a.median_beats, b.median_beats)
    assert (a.format, a.format_version, a.device, a.acquired_at, a.patient, a.device_data, a.warnings, a.extra) == (
        b.format, b.format_version, b.device, b.acquired_at, b.patient, b.device_data, b.warnings, b.extra)


def _compare(data: bytes) -> str:
    """Both paths on ``data`` in lenient and strict mode; returns what the fast path did."""
    outcome = ""
    for strict in (False, True):
        try:
            fast = dicom.decode_fast(data, strict)
        except FormatError as exc:
            with pytest.raises(FormatError) as ref:
                dicom.decode_pydicom(data, strict)
            assert ref.value.field == exc.field, (exc, ref.value)
            outcome = outcome or "same format error"
            continue
        if fast is None:
            outcome = outcome or "deferred to pydicom"
            continue
        _same(fast, dicom.decode_pydicom(data, strict))
        outcome = outcome or "same result"
    return outcome


def test_vr_tables_match_pydicom() -> None:
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

    assert {v.value for v in VR if len(v.value) == 2} == KNOWN_VRS
    assert {v.value for v in EXPLICIT_VR_LENGTH_32} == LONG_VRS


@pytest.mark.parametrize("key", list(FILES))
def test_real_files_take_the_fast_path_and_match_pydicom(key: str) -> None:
    data = _original(key)
    for strict in (False, True):
        fast = dicom.decode_fast(data, strict)
        assert fast is not None, "the real file must not need the pydicom fallback"
        _same(fast, dicom.decode_pydicom(data, strict))
        _same(fast, dicom.decode(data, strict))


def _rewrite(key: str, **changes: object) -> bytes:
    import pydicom
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    ds = pydicom.dcmread(io.BytesIO(_original(key)))
    syntax = changes.pop("syntax", None)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    if syntax is not None:
        uid = {"explicit": ExplicitVRLittleEndian, "implicit": ImplicitVRLittleEndian,
               "big": ExplicitVRBigEndian}[str(syntax)]
        ds.file_meta.TransferSyntaxUID = uid
        pydicom.dcmwrite(out, ds, implicit_vr=uid == ImplicitVRLittleEndian,
                         little_endian=uid != ExplicitVRBigEndian, force_encoding=True)
    else:
        ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(("key", "changes", "fast_expected"), [
    ("toolkit", {"syntax": "explicit"}, True),
    ("mortara", {"syntax": "implicit"}, True),
    ("toolkit", {"syntax": "big"}, False),  # big endian: pydicom reads it
    ("mortara", {"SpecificCharacterSet": "ISO_IR 100", "PatientName": "Müller^Zoé"}, True),
    ("mortara", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "Müller^Zoé"}, False),
    ("mortara", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "Martin^Paul"}, True),
    ("toolkit", {"PatientName": " Dupont ^ Jean ^^^ "}, True),
    ("toolkit", {"SoftwareVersions": ["1.0", "2.0"]}, False),  # multi-valued: pydicom's conversion
    ("mortara", {"PatientSize": "1.82", "PatientWeight": "77.5", "PatientAge": "061Y"}, True),
])
def test_reencodings_match_pydicom(key: str, changes: dict[str, object], fast_expected: bool) -> None:
    data = _rewrite(key, **changes)
    assert (dicom.decode_fast(data) is not None) == fast_expected
    assert _compare(data) in ("same result", "deferred to pydicom")


@pytest.mark.parametrize("key", list(FILES))
def test_undefined_length_sequences_match_pydicom(key: str) -> None:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(_original(key)))

    def undefined(d: pydicom.Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                elem.is_undefined_length = True
                for item in elem.value:
                    item.is_undefined_length_sequence_item = True
                    undefined(item)

    undefined(ds)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    data = out.getvalue()
    assert data.count(b"\xfe\xff\xdd\xe0") > 10  # sequence delimiters written
    assert dicom.decode_fast(data) is not None
    assert _compare(data) == "same result"


@pytest.mark.parametrize("key", list(FILES))
@SETTINGS
@given(data=st.data())
def test_fuzz_truncation_and_bit_flips(key: str, data: st.DataObject) -> None:
    buf = bytearray(_original(key))
    if data.draw(st.booleans(), label="truncate"):
        buf = buf[: data.draw(st.integers(0, len(buf)), label="cut")]
    for _ in range(data.draw(st.integers(0, 8), label="flips")):
        if buf:
            # half of the flips in the header and the sequences before the waveform data, where the structure is
            pos = data.draw(st.integers(0, min(len(buf), 6000) - 1) if data.draw(st.booleans()) else
                            st.integers(0, len(buf) - 1), label="pos")
            buf[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    _outcomes[_compare(bytes(buf))] += 1


@pytest.mark.parametrize("key", list(FILES))
@SETTINGS
@given(data=st.data())
def test_fuzz_huge_length_fields(key: str, data: st.DataObject) -> None:
    buf = bytearray(_original(key))
    for _ in range(data.draw(st.integers(1, 4), label="fields")):
        width = data.draw(st.sampled_from([2, 4]), label="width")
        limit = min(len(buf) - width, 6000) if data.draw(st.booleans()) else len(buf) - width
        pos = data.draw(st.integers(0, limit), label="pos")
        value = data.draw(st.sampled_from([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF, 0, 65536, 1, 2]), label="v")
        buf[pos: pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    _outcomes[_compare(bytes(buf))] += 1


_TEXT_BYTES = b" \x00\\^=.-+e0159AZaz\x1b\xe9\xc3\xff"


@pytest.mark.parametrize("key", list(FILES))
@SETTINGS
@given(data=st.data())
def test_fuzz_text_values(key: str, data: st.DataObject) -> None:
    """Bytes that matter to text conversions (padding, delimiters, escapes, non-ASCII) written into the values
    of the text elements (header, code items, channel scaling)."""
    original = _original(key)
    buf = bytearray(original)
    starts = [m.end() for m in re.finditer(rb"(?:LO|SH|PN|DS|CS|UI|DA|TM|AS)..", original[:8000])]
    for tag in (0x00080005, 0x00080016, 0x00080070, 0x00081090, 0x00100010, 0x00100020, 0x00101010, 0x00101020,
                0x003A001A, 0x003A0020, 0x54001006, 0x00080100, 0x00080102, 0x00080104, 0x003A0210, 0x003A0212):
        encoded = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
        starts += [m.start() + 8 for m in re.finditer(re.escape(encoded), original[:60000])]
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.sampled_from(starts), label="value") + data.draw(st.integers(0, 8), label="offset")
        if at < len(buf):
            buf[at] = data.draw(st.sampled_from(_TEXT_BYTES), label="byte")
    _outcomes[_compare(bytes(buf))] += 1


def test_zz_print_fuzz_outcomes() -> None:
    """How often the fast path answered on the fuzz corpus (printed; run with -s)."""
    print(f"\nfast path on {sum(_outcomes.values())} mutated files: {dict(_outcomes)}")
    if _outcomes:
        assert _outcomes["same result"] + _outcomes["same format error"] > 0
    assert np.isfinite(1.0)
