"""Configuration loading, validation and secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from asalee_devices.cli.main import main
from asalee_devices.config import load_config
from asalee_devices.errors import ConfigError


def test_defaults_are_simulators_and_a_local_folder() -> None:
    cfg = load_config(env={})
    assert cfg.devices.spirometer.startswith("sim://") and cfg.devices.ecg.startswith("sim://")
    assert cfg.sink.type == "folder" and cfg.sink.folder == "asalee-output"
    assert cfg.mains_hz == 50 and cfg.lang == "fr"


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('lang = "en"\n[sink]\ntype = "fhir"\nbase_url = "https://fhir.example.org"\n', encoding="utf-8")
    cfg = load_config(f, env={"ASALEE_SINK_BASE_URL": "https://other.example.org", "ASALEE_FHIR_TOKEN": "s3cret"})
    assert cfg.lang == "en"
    assert cfg.sink.base_url == "https://other.example.org"
    assert cfg.sink.token == "s3cret"
    assert cfg.redacted()["sink"]["token"] == "***"


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[sink]\ntype = "ftp"\n', "sink.type"),
        ("mains_hz = 55\n", "mains_hz"),
        ('[sink]\ntype = "fhir"\nbase_url = "http://remote.example.org"\n', "use https"),
        ('[nurse]\nrpps = "123"\n', "nurse.rpps"),
        ('[devices]\necg = "COM3"\n', "devices.ecg"),
        ('colour = "red"\n', "Unknown configuration key"),
        ("mains_hz = \n", "not valid TOML"),
        ('[sink]\ntype = "mllp"\nhost = "h"\ncharset = "klingon"\n', "charset"),
    ],
)
def test_mistakes_are_reported_clearly(tmp_path: Path, toml: str, message: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(f, env={})


def test_config_check_never_prints_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[sink]\ntype = "fhir"\nbase_url = "https://fhir.example.org"\ntoken = "tok-VERY-SECRET"\n',
                 encoding="utf-8")
    monkeypatch.delenv("ASALEE_CONFIG", raising=False)
    assert main(["config", "check", "--config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "Configuration OK" in out and "VERY-SECRET" not in out and "***" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("mains_hz = 70\n", encoding="utf-8")
    assert main(["config", "check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mains_hz = 70" in err and "Traceback" not in err
