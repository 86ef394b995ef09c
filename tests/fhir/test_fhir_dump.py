"""``to_json`` writes a bundle with our walk of the validated model (``fhir_out._dump.dump_json``) instead of
fhir.resources' ``model_dump_json``: the bytes must be the same, on every kind of bundle the service emits and on
the primitive values whose JSON form is fhir_core's / pydantic's own choice (decimals, instants with an offset or
microseconds, partial dates, leap seconds, base64, extensions of primitives and their positional nulls, comments)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from tests.fhir import fixtures as F
from tests.fhir.bundle_kinds import KINDS, all_bundles

from asalee_devices.fhir_out import _dump, to_json
from asalee_devices.fhir_out.device_results import device_spirometry_bundle


def _same(model: Any) -> None:
    _dump._tree(model)  # our walk, not its fallback to model_dump_json
    assert _dump.dump_json(model) == model.model_dump_json(exclude_none=True)
    assert _dump.dump_json(model, indent=2) == model.model_dump_json(exclude_none=True, indent=2)


def test_every_bundle_kind_dumps_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    bundles = all_bundles(shared_data, tmp_path)
    assert tuple(bundles) == KINDS
    for kind, doc in bundles.items():
        model = Bundle.model_validate(doc)
        _dump._tree(model)
        assert _dump.dump_json(model) == model.model_dump_json(exclude_none=True), kind
        assert json.loads(_dump.dump_json(model)) == doc, kind


def test_device_software_bundle_dumps_byte_for_byte() -> None:
    params = [{"name": "fev1", "measured": 2.875, "lln": 2.31, "uln": 3.9},
              {"name": "fvc", "measured": 3.6, "lln": None, "uln": None},
              {"name": "fev1_fvc", "measured": 0.79861, "lln": 0.7, "uln": None},
              {"name": "pef", "measured": 7.0}]
    bundle = device_spirometry_bundle(replace(F.exam(), exam_id="exam-gdt"), F.patient(), params,
                                      computed_by="logiciel MIR winspiroPRO")
    _same(bundle)
    assert to_json(bundle) == bundle.model_dump_json(exclude_none=True)


def _observation(**value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **value}


EDGES: dict[str, dict[str, Any]] = {
    "decimals": _observation(component=[
        {"code": {"text": str(v)}, "valueQuantity": {"value": v, "unit": "L"}}
        for v in (100.0, 100, 0, -0.0, 0.1, 2.875, 1e-05, 0.00012, 1.5e16, 1e15, 123456789.123, -3.25e-7)]),
    "instants and dates": _observation(
        effectiveDateTime="2026-11", issued="2026-11-23T09:45:00.123456+02:00",
        note=[{"text": "a", "time": "2026-11-23"}, {"text": "b", "time": "2016-12-31T23:59:60Z"},
              {"text": "c", "time": "2026-11-23T09:45:00.1-05:30"}, {"text": "d", "time": "2026"},
              {"text": "e", "time": "2026-11-23T00:00:00Z"}]),
    "time, integer, boolean": _observation(valueTime="09:30:15", component=[
        {"code": {"text": "i"}, "valueInteger": -7}, {"code": {"text": "b"}, "valueBoolean": False},
        {"code": {"text": "s"}, "valueString": "é \u00a0\t\"quoted\" \\ / \u2028 \U0001f600"}]),
    "base64 and extensions": {
        "resourceType": "Patient",
        "extension": [{"url": "http://x.org/u", "valueUuid": "urn:uuid:6f3c0f52-8c55-4f0e-9b1e-2a1c5b7d9e10"}],
        "_birthDate": {"extension": [{"url": "http://x.org/a", "valueCode": "UNK"}]},
        "name": [{"given": ["Marie", None], "_given": [None, {"extension": [
            {"url": "http://x.org/b", "valueString": "Louise"}]}]}],
        "photo": [{"contentType": "image/png", "data": "iVBORw0KGgo=", "size": 8}],
        "fhir_comments": ["a comment"]},
    "sampled data": _observation(valueSampledData={
        "origin": {"value": 0}, "period": 2.0, "factor": 4.88, "dimensions": 1,
        "lowerLimit": -32768, "upperLimit": 32767, "data": "1 -2 E 3 L U 0"}),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_primitive_values_dump_as_fhir_resources_dumps_them(name: str) -> None:
    doc = EDGES[name]
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "timestamp":
                                    "2026-11-23T09:45:00.5Z", "entry": [{"fullUrl": "urn:uuid:1", "resource": doc}]})
    _same(bundle)
    _same(bundle.entry[0].resource)
    _same(get_fhir_model_class(doc["resourceType"]).model_validate(doc))  # kept as is (a bundle entry drops comments)


def test_a_complex_value_that_is_not_a_model_is_left_to_model_dump_json() -> None:
    model = Observation.model_validate(_observation(valueQuantity={"value": 1.5, "unit": "L"}))
    model.__dict__["valueQuantity"] = {"value": 1.5, "unit": "L"}  # what no validated model holds
    with pytest.warns(UserWarning):  # pydantic's serialiser meets a dict where it expects a Quantity
        expected = model.model_dump_json(exclude_none=True)
    with pytest.warns(UserWarning):
        assert _dump.dump_json(model) == expected


def test_integer_texts_are_what_str_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table of ``integer_texts`` grows, moves and gives up (too wide a spread) without changing a text."""
    import numpy as np

    from asalee_devices.fhir_out import _build as B

    monkeypatch.setattr(B, "_TEXTS", (0, np.array(["0"], dtype=object)))
    rng = np.random.default_rng(19)
    cases = [np.zeros(0, dtype=np.int64), np.array([7]), np.array([-1, 0, 1, -1]),
             rng.integers(-3000, 3000, 5000), rng.integers(-40000, 20000, 5000),  # grows, then past the span
             rng.integers(10**6, 10**6 + 2000, 100),  # far from what the table held: a new table
             np.array([-(2**62), 2**62, 0]), rng.integers(-20, 20, 1000),
             np.array([5, 5 + B._TEXTS_MAX_SPAN - 2])]  # just within the span, not once rounded
    for ints in cases:
        assert B.integer_texts(ints) == [str(i) for i in ints.tolist()]
        assert len(B._TEXTS[1]) <= B._TEXTS_MAX_SPAN


def test_lead_data_as_before_with_invalid_samples() -> None:
    import numpy as np

    from asalee_devices.fhir_out.ecg import lead_data

    row = np.array([0.0, 4.88, -9.76, np.nan, 1e4, -1e4, 2.44, np.inf])
    off = np.array([False, False, True, False, False, False, False, False])
    ints = np.rint(np.where(~np.isfinite(row) | off, 0.0, row) / 4.88).astype(np.int64).tolist()
    expected = " ".join("E" if (not np.isfinite(v) or o) else str(i) for v, o, i in zip(row, off, ints, strict=True))
    assert lead_data(row, off, 4.88) == expected == "0 1 E E 2049 -2049 0 E"
    assert lead_data(np.zeros(0), None, 1.0) == ""
