"""Drivers as python-can-style backends: sessions named lazily by the registry and opened from a URL, a third-party
driver installed through the entry-point group (a distribution in a temporary directory) running a whole ECG
examination through ``ecg record`` and the web API, URL options checked like pyserial's, and the one session loop
(context manager, idempotent close, enum statuses)."""

from __future__ import annotations

import json
import shutil
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from asalee_devices.cli.main import main
from asalee_devices.config import Config, DevicesConfig, SinkConfig
from asalee_devices.devices.electrocardiograph import EcgSession, Electrocardiograph
from asalee_devices.devices.session import (
    DeviceSession,
    SessionOptions,
    SessionState,
    TakeReason,
    TakeStatus,
    open_session,
)
from asalee_devices.devices.spirometer import Spirometer
from asalee_devices.devices.turbine import TurbineSpirometer
from asalee_devices.drivers import registry
from asalee_devices.drivers.registry import (
    DriverSpec,
    check_url,
    get_driver,
    register_driver,
    transport_factory,
)
from asalee_devices.errors import ConfigError, DeviceDisconnectedError
from asalee_devices.simulators.endpoints import TcpSimulatorServer

TOY = Path(__file__).with_name("toy_driver")
OPTS = SessionOptions(quiet_time_s=1.0, connect_attempts=1, reconnects=0)


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as a new process sees it (entry points read again on first use)."""
    monkeypatch.setattr(registry, "_LOADED_ENTRY_POINTS", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "_BROKEN", {})


@pytest.fixture
def toy_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> Iterator[Path]:
    """The toy driver installed as a distribution would be: its package and a ``.dist-info`` with METADATA and
    entry_points.txt in a directory on ``sys.path`` (what ``pip install`` leaves in site-packages)."""
    site = tmp_path / "site"
    shutil.copytree(TOY / "toyecg", site / "toyecg")
    info = site / "toyecg-0.1.dist-info"
    info.mkdir()
    project = tomllib.loads((TOY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
                                   encoding="utf-8")
    groups = project["entry-points"]  # the documented file 4, as pip would write it into entry_points.txt
    (info / "entry_points.txt").write_text("".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
                                                   for g, eps in groups.items()), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m == "toyecg" or m.startswith("toyecg.")]:
        del sys.modules[name]


@pytest.fixture
def toy_device(toy_installed: Path) -> Iterator[str]:
    from tests.devices.toy_driver.simulator import ToyEcgModel

    with TcpSimulatorServer(ToyEcgModel, speed=5.0) as srv:
        yield f"toyecg+{srv.url}"


def test_the_entry_point_driver_is_listed_and_its_session_loaded_lazily(toy_installed: Path) -> None:
    spec = get_driver("toyecg")
    assert spec.kind == "ecg" and spec.session == "toyecg.session:ToyEcg"
    assert "toyecg.session" not in sys.modules  # listing the driver imported only its spec
    check_url("toyecg+socket://127.0.0.1:5555", "ecg")
    assert "toyecg.session" in sys.modules


def test_toy_session_records_through_open_session(toy_device: str) -> None:
    with open_session(toy_device, OPTS) as ecg:
        assert type(ecg).__name__ == "ToyEcg" and isinstance(ecg, EcgSession)
        acq = ecg.record(1.0)
    take = acq.complete
    assert take is not None and take.info.status is TakeStatus.DONE and take.info.reason is TakeReason.NONE
    assert take.recording.n_samples == 500 and len(take.recording.leads) == 12
    assert take.identity.serial_number == "TOY-0001" and take.identity.source == "toyecg"
    assert ecg.history[-1] is SessionState.DONE and ecg.closed


def test_ecg_record_runs_a_whole_examination_on_the_entry_point_driver(toy_device: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["ecg", "record", "--demo-patient", "--device", toy_device, "--duration", "10", "--out", str(out),
                 "--yes"])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    bundles = sorted(out.glob("*_ecg_*.json"))
    assert len(bundles) == 1 and bundles[0].with_suffix(".pdf").exists()
    doc = json.loads(bundles[0].read_text(encoding="utf-8"))
    devices = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Device"]
    assert devices and any("TOY-0001" in json.dumps(d) for d in devices)


def test_the_web_api_runs_an_ecg_examination_on_the_entry_point_driver(toy_device: str, tmp_path: Path) -> None:
    from starlette.testclient import TestClient
    from tests.web.webfixtures import PATIENT, run_action

    from asalee_devices.web.app import create_app
    from asalee_devices.web.settings import WebSettings

    config = replace(Config(), sink=SinkConfig(type="folder", folder=str(tmp_path / "out")),
                     outbox=str(tmp_path / "outbox.sqlite3"), devices=DevicesConfig(ecg=toy_device))
    settings = WebSettings.from_config(config, tmp_path / "data", capture_s=10.0)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8765") as c:
        c.headers["X-Asalee-Token"] = c.app.state.web.token  # type: ignore[attr-defined]
        assert c.post("/api/patient", json={"patient": PATIENT}).status_code == 201
        eid = str(c.post("/api/exams", json={"kind": "ecg"}).json()["exam"]["id"])
        exam = run_action(c, eid, "capture")
        assert not exam.get("device_error"), exam.get("device_error")
        assert len(exam["captures"]) == 1 and exam["captures"][0]["acceptable"]
        deliveries = c.post(f"/api/exams/{eid}/send", json={}).json()["deliveries"]
        deadline = time.monotonic() + 30
        while not list((tmp_path / "out").glob("*_ecg_*.json")):
            assert time.monotonic() < deadline, deliveries
            time.sleep(0.1)
    bundle = next((tmp_path / "out").glob("*_ecg_*.json"))
    assert "TOY-0001" in bundle.read_text(encoding="utf-8")


def test_a_driver_whose_session_cannot_be_imported_is_a_config_error_naming_it(fresh_registry: None) -> None:
    register_driver(DriverSpec("ghost-ecg", "ecg", "not installed", ("socket",), session="ghost_pkg.nope:Ghost"))
    with pytest.raises(ConfigError, match="ghost-ecg") as err:
        open_session("ghost-ecg+socket://127.0.0.1:1")
    assert "ghost_pkg.nope" in str(err.value)
    with pytest.raises(ConfigError, match="ghost-ecg"):
        check_url("ghost-ecg+socket://127.0.0.1:1", "ecg")  # config check says so before anything runs
    assert main(["ecg", "record", "--demo-patient", "--device", "ghost-ecg+socket://127.0.0.1:1", "--yes"]) == 2


def test_a_broken_entry_point_named_in_a_url_says_it_failed_to_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    fresh_registry: None) -> None:
    info = tmp_path / "brokenplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[asalee_devices.drivers]\nbrokenplug = brokenplug_missing:SPEC\n",
                                           encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "brokenplug" not in registry.drivers()
    with pytest.raises(ConfigError, match="brokenplug driver's entry point failed to load"):
        transport_factory("brokenplug+socket://127.0.0.1:1")


def test_another_driver_on_the_ecg12_session_is_accepted(fresh_registry: None) -> None:
    """An ECG12 module sold under another name registers the same session class (DRIVER = "ecg12" refused it)."""
    register_driver(replace(get_driver("ecg12"), name="ecg12-oem", description="OEM ECG12 module"))
    take = Electrocardiograph.from_url("ecg12-oem+asaleesim://ecg12?speed=10", options=OPTS).record(0.5).complete
    assert take is not None and take.recording.n_samples == 250


@pytest.mark.parametrize("url, session", [("sim://ecg12", TurbineSpirometer), ("sim://turbine", Electrocardiograph),
                                          ("sim://contec-spiro", TurbineSpirometer),
                                          ("turbine+usb://1209:7b10", Spirometer)])
def test_a_url_of_another_driver_is_refused_when_read(url: str, session: type[DeviceSession[object]]) -> None:
    with pytest.raises(ConfigError, match="another driver") as err:
        session.from_url(url)
    print(f"\n{session.__name__}.from_url({url!r}): {err.value}")
    if url.startswith("sim://"):
        assert f"{url} simulates the" in str(err.value)


@pytest.mark.parametrize("url, option, accepted", [
    ("ecg12+socket://127.0.0.1:5555?badu=9600", "badu", "baud"),
    ("ecg12+serial:///dev/ttyUSB0?baud=921600&vdi=0x1209", "vdi", "baud, vid, pid, serial"),
    ("turbine+usb://1209:7b10?serail=ABC", "serail", "serial"),
    ("ecg12+asaleesim://ecg12?sped=10", "sped", "rate_hz"),
])
def test_unknown_url_options_are_refused_with_the_accepted_ones(url: str, option: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as err:
        transport_factory(url)
    assert err.value.field == option and accepted in str(err.value.expected), err.value
    with pytest.raises(ConfigError):
        check_url(url)


def test_sessions_are_context_managers_with_an_idempotent_close() -> None:
    with Electrocardiograph.from_url("sim://ecg12?speed=10", options=OPTS) as ecg:
        first = ecg.record(0.3)
        second = ecg.record(0.3)  # a session serves several records until closed
    assert first.complete is not None and second.complete is not None
    ecg.close()
    ecg.close()
    assert ecg.closed
    with pytest.raises(DeviceDisconnectedError, match="closed"):
        ecg.record(0.3)


def test_a_take_cut_short_is_interrupted_with_an_enum_reason() -> None:
    acq = Electrocardiograph.from_url("sim://ecg12?speed=10&unplug_after=3000", options=OPTS).record(1.0)
    (take,) = acq.takes
    assert take.info.status is TakeStatus.INTERRUPTED and take.info.reason is TakeReason.UNPLUGGED
    assert take.info.reason == "unplugged" and f"{take.info.reason}" == "unplugged"  # the words callers printed


def test_reconnect_waits_follow_the_shared_backoff_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Device connection retries use asalee_devices.backoff (the outbox's policy): full jitter in
    [0, min(cap, base * 2**(n-1))], from the session's seeded random source."""
    import random
    import socket

    from asalee_devices.backoff import Backoff
    from asalee_devices.devices import session as session_module
    from asalee_devices.errors import DeviceNotFoundError

    slept: list[float] = []
    monkeypatch.setattr(session_module.time, "sleep", slept.append)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = SessionOptions(connect_attempts=4, backoff_s=0.5, backoff_max_s=1.5, seed=7)
    with pytest.raises(DeviceNotFoundError):
        Electrocardiograph.from_url(f"ecg12+socket://127.0.0.1:{port}", options=opts).record(0.5)
    policy, rng = Backoff(base_s=0.5, cap_s=1.5, max_attempts=4), random.Random(7)
    assert slept == [policy.delay_s(n, rng) for n in (1, 2, 3)]
    assert all(0 <= d <= w for d, w in zip(slept, (0.5, 1.0, 1.5), strict=True))
    with pytest.raises(Exception, match="backoff cap"):
        SessionOptions(backoff_s=2.0, backoff_max_s=1.0)
