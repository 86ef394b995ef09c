"""The canonical results document: versioned, read back checked, and refused by every renderer when newer."""

from __future__ import annotations

import hashlib
import json

import pytest
from tests.fhir import fixtures as F

from asalee_devices.canonical import SCHEMA_VERSION, CanonicalResult, load_results, schema_version
from asalee_devices.errors import FormatError, InputError
from asalee_devices.fhir_out import ecg_bundle, spirometry_bundle


def test_schema_version_is_checked() -> None:
    assert schema_version({"kind": "ecg"}) == 1  # written before the field existed (HPRIM, device results)
    assert load_results(json.dumps({"kind": "ecg", "schema_version": SCHEMA_VERSION}).encode())["kind"] == "ecg"
    with pytest.raises(FormatError, match="schema version"):
        load_results(json.dumps({"kind": "ecg", "schema_version": SCHEMA_VERSION + 1}).encode())
    with pytest.raises(FormatError):
        load_results(b"not json")
    with pytest.raises(FormatError):
        load_results(b'{"kind": "x"}')


def test_renderers_refuse_a_newer_document_and_a_missing_part() -> None:
    session, preds, _best = F.spiro_session()
    doc = F.spirometry_doc(session, preds)
    newer = {**doc, "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(FormatError):
        spirometry_bundle(F.exam(), F.patient(), newer)
    with pytest.raises(InputError, match="phase"):
        spirometry_bundle(F.exam(), F.patient(), doc, phase="post")
    from asalee_devices.hprim.render import render_hprim

    with pytest.raises(FormatError):
        render_hprim(newer, None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="kept"):
        ecg_bundle(F.exam(), F.patient(), {"schema_version": SCHEMA_VERSION, "kind": "ecg", "captures": [],
                                           "kept": None}, None)  # type: ignore[arg-type]


def test_canonical_result_holds_the_context_and_the_pdf_digest() -> None:
    session, preds, _best = F.spiro_session()
    result = CanonicalResult(F.spirometry_doc(session, preds), F.exam(), F.patient())
    assert result.kind == "spirometry"
    assert result.pdf_sha256 == hashlib.sha256(F.PDF).hexdigest()
    assert result.exam.device.serial_number == "SN123" and result.patient.ins == F.TEST_INS
    with pytest.raises(FormatError):
        CanonicalResult({"kind": "ecg", "schema_version": 0}, F.exam(), F.patient())
