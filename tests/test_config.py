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


def test_config_check_lists_every_problem_and_checks_device_urls(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # issue 20: it stopped at the first unknown section and let a misspelled transport pass
    f = tmp_path / "c.toml"
    f.write_text('[bogus]\nx = 1\n[devices]\necg = "ecg12+serail://COM4"\nspirometer = "sim://turbine?profile=x"\n'
                 '[sink]\ntype = "foldr"\ntimeout_s = "abc"\n[other]\ny = 2\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("  - ")]
    assert len(lines) == 6, err
    for expected in ("(bogus)", "(other)", "sink.timeout_s", "sink.type = 'foldr'",
                     "devices.ecg = 'ecg12+serail://COM4'", "devices.spirometer"):
        assert any(expected in ln for ln in lines), (expected, err)
    serail = next(ln for ln in lines if "serail" in ln)
    assert "expected asaleesim, loop, rfc2217, serial, socket" in serail  # the accepted transports
    with pytest.raises(ConfigError, match="serail"):
        load_config(f, env={})


@pytest.mark.parametrize("url, message", [
    ("ecg12+socket://127.0.0.1:5555", None), ("sim://ecg12?patient_seed=2", None),
    ("turbine+usb://1209:7b10", "not for a ecg device"), ("ekg12+serial://COM4", "Unknown device driver"),
    ("sim://ecg12?bogus=1", "Unknown simulator parameter"), ("sim://nothing", "Unknown simulator"),
])
def test_device_urls_are_checked_against_the_registries(url: str, message: str | None) -> None:
    from asalee_devices.drivers.registry import check_url

    if message is None:
        check_url(url, "ecg")
    else:
        with pytest.raises(ConfigError, match=message):
            check_url(url, "ecg")


def test_a_tcp_url_that_fails_names_the_tcp_transport() -> None:
    import socket

    from asalee_devices.drivers.transports.serial_port import SerialTransport
    from asalee_devices.errors import DeviceNotFoundError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceNotFoundError) as err:
        SerialTransport(f"socket://127.0.0.1:{port}").open()
    assert "TCP" in str(err.value) and "serial port" not in str(err.value)
