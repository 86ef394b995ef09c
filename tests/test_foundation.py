"""Foundation: error hierarchy, CLI boundary, ECG recording type and lead derivation."""

from __future__ import annotations

import numpy as np
import pytest

from asalee_devices import errors
from asalee_devices.cli.main import EXIT_INPUT, main
from asalee_devices.signal.ecg import (
    EcgRecording,
    canonical_lead_name,
    einthoven_residual_uv,
    from_leads,
)
from asalee_devices.signal.spirometry import FlowRecording


def test_every_error_derives_from_asalee_error() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert issubclass(obj, errors.AsaleeError), name


def test_error_message_names_field_value_and_expectation() -> None:
    exc = errors.SignalError("Sampling rate too low", field="fs_hz", value=50, expected=">= 100 Hz")
    assert str(exc) == "Sampling rate too low (fs_hz = 50) — expected >= 100 Hz"
    assert exc.field == "fs_hz" and exc.value == 50


def test_cli_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "spirometry" in out.lower() and "ecg" in out.lower()
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "asalee-devices" in capsys.readouterr().out


def test_cli_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == EXIT_INPUT


def test_lead_names_are_canonicalised() -> None:
    assert canonical_lead_name("avr") == "aVR"
    assert canonical_lead_name("MDC_ECG_LEAD_AVF") == "aVF"
    assert canonical_lead_name(" v3 ") == "V3"
    assert canonical_lead_name("D2") == "II"
    with pytest.raises(errors.SignalError, match="Unknown ECG lead"):
        canonical_lead_name("V13")


def test_missing_limb_leads_are_derived_and_satisfy_einthoven() -> None:
    rng = np.random.default_rng(1)
    i, ii = rng.normal(size=(2, 500)) * 500
    rec = from_leads({"II": ii, "I": i, "V1": ii * 0.3}, fs_hz=500.0)
    assert rec.leads == ("I", "II", "III", "aVR", "aVL", "aVF", "V1")
    assert rec.derived_leads == {"III", "aVR", "aVL", "aVF"}
    np.testing.assert_allclose(rec.lead("aVR"), -(i + ii) / 2)
    assert einthoven_residual_uv(rec) == pytest.approx(0.0, abs=1e-9)


def test_lead_one_is_recovered_from_ii_and_iii() -> None:
    ii = np.arange(10.0)
    iii = np.ones(10)
    rec = from_leads({"II": ii, "III": iii}, fs_hz=800.0)
    np.testing.assert_array_equal(rec.lead("I"), ii - iii)
    assert "I" in rec.derived_leads and "III" not in rec.derived_leads


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"leads": {"I": [], "II": []}}, "no samples"),
        ({"leads": {"I": [1.0, 2.0], "II": [1.0]}}, "different lengths"),
        ({"leads": {"I": [1.0], "II": [1.0]}, "fs_hz": -5}, "positive"),
        ({"leads": {"Vx7": [1.0]}}, "Unknown ECG lead"),
    ],
)
def test_bad_ecg_input_is_a_clear_error(kwargs: dict[str, object], match: str) -> None:
    kwargs.setdefault("fs_hz", 500.0)
    with pytest.raises(errors.SignalError, match=match):
        from_leads(**kwargs)  # type: ignore[arg-type]


def test_recording_shape_checks() -> None:
    with pytest.raises(errors.SignalError, match="lead names"):
        EcgRecording(np.zeros((2, 10)), 500.0, ("I",))
    with pytest.raises(errors.SignalError, match="1-D"):
        FlowRecording(np.zeros((2, 10)), 500.0)
