"""Device sessions of the pages, run in a worker thread: one blow (a live spirometer), the blows stored on the
device (a spirometer that stores them, e.g. Contec) or one ECG capture, live blocks to the WebSocket hub, the
result through the examination workflow, and a clear message when the device is absent or unplugged (the partial
recording is kept, marked interrupted). The configured URL opens its driver's registered session
(:func:`~asalee_devices.devices.session.open_session`): any registered spirometer or ECG driver runs here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asalee_devices.devices.electrocardiograph import EcgSession
from asalee_devices.devices.session import DeviceSession, SessionOptions, open_session
from asalee_devices.devices.spirometer import FlowTake, StoredFlowSession
from asalee_devices.devices.turbine import LiveFlowSession, LiveFlowTake
from asalee_devices.drivers.registry import driver_for_url
from asalee_devices.errors import AsaleeError, ConfigError
from asalee_devices.signal.ecg.recording import EcgRecording
from asalee_devices.signal.spirometry.live import end_of_forced_expiration
from asalee_devices.signal.spirometry.recording import FlowRecording
from asalee_devices.web.exams import DEVICE_ERROR, Capture, EcgExam, Lang, SpiroExam, age_years
from asalee_devices.web.journal import Journal, folder
from asalee_devices.web.live import LiveHub
from asalee_devices.web.settings import (
    ECG_CHOICES,
    SPIRO_CHOICES,
    WebSettings,
    script_step,
    scripted_url,
    simulated_patient,
)
from asalee_devices.workflow.acquisition import runner_for
from asalee_devices.workflow.recording_store import save_recording

log = logging.getLogger(__name__)

#: the web app never silently continues on a reconnected device mid-take: the nurse decides
_OPTIONS = SessionOptions(reconnects=0, connect_attempts=2, backoff_s=0.2)


def _keep(settings: WebSettings, exam_id: str, name: str, rec: FlowRecording | EcgRecording) -> str:
    """Every take is written to disk as it arrives (raw signal, no identity), so a server crash or restart before
    the examination is sent never loses a recording: ``<data dir>/in-progress/<exam id>/``. Returns the file name
    (for the examination's journal), or "" when it could not be written."""
    try:
        save_recording(rec, folder(settings.data_dir, exam_id) / f"{name}.npz")
    except OSError as exc:  # the in-memory examination continues; the nurse's session is not broken by the disk
        log.warning("could not keep take %s of examination %s on disk: %s", name, exam_id, exc.strerror)
        return ""
    return f"{name}.npz"


def _device_failed(exam: SpiroExam | EcgExam, hub: LiveHub, lang: Lang, exc: AsaleeError) -> None:
    exam.device_error = DEVICE_ERROR[lang].format(reason=exc.message)
    exam.busy = False
    hub.publish({"t": "error", "exam": exam.id, "message": exam.device_error})


BlowTake = LiveFlowTake | FlowTake
#: how a spirometer session gives blows, by session kind: one live blow, or the blows stored on the device
BlowSource = Callable[[DeviceSession[Any], WebSettings, Callable[[FlowTake], bool]], list[BlowTake]]


def _live_blow(device: DeviceSession[Any], settings: WebSettings, store: Callable[[FlowTake], bool]
               ) -> list[BlowTake]:
    assert isinstance(device, LiveFlowSession)
    return [device.record(settings.blow_s, until=end_of_forced_expiration).takes[-1]]


def _stored_blows(device: DeviceSession[Any], settings: WebSettings, store: Callable[[FlowTake], bool]
                  ) -> list[BlowTake]:
    assert isinstance(device, StoredFlowSession)
    return list(device.download(store=store).takes)


BLOW_SOURCES: dict[type[DeviceSession[Any]], BlowSource] = {LiveFlowSession: _live_blow,
                                                            StoredFlowSession: _stored_blows}


def _blow_source(device: DeviceSession[Any], driver: str) -> BlowSource:
    source = runner_for(device, BLOW_SOURCES)
    if source is None:
        raise ConfigError("This spirometer's session cannot run from the web app", field="device", value=driver,
                          expected="a session deriving from " + ", ".join(k.__name__ for k in BLOW_SOURCES))
    return source


def record_blow(exam: SpiroExam, settings: WebSettings, hub: LiveHub, choice: str | None, lang: Lang) -> None:
    """One click: one blow from a live spirometer, or every blow stored on a spirometer that stores them (each
    kept on disk before the device may delete it)."""
    index = exam.attempts
    exam.attempts += 1
    step = script_step(settings.spirometry_script, index, choice, SPIRO_CHOICES)
    p = exam.patient
    patient = simulated_patient(p.ctx.sex, age_years(p.ctx.birth_date, exam.started_at.date()), p.height_cm)
    url = scripted_url(settings.spirometer_url, step, speed=settings.spirometry_speed, index=index, patient=patient)
    kept: dict[int, str] = {}

    def store(take: FlowTake) -> bool:
        name = _keep(settings, exam.id, f"blow-{index + 1:02d}-{len(kept) + 1:02d}", take.recording)
        kept[id(take)] = name
        return bool(name)

    try:
        spec = driver_for_url(url)
        if spec.kind != "spirometer":
            raise ConfigError("The configured spirometer URL is not a spirometer's", field="device",
                              value=spec.name, expected="a spirometer driver")
        with open_session(url, _OPTIONS) as device:
            source = _blow_source(device, spec.name)
            device.subscribe(hub.block_subscriber("flow", exam.id, take_offset=index))
            hub.publish({"t": "start", "kind": "flow", "exam": exam.id, "take": index})
            takes = source(device, settings, store)
    except AsaleeError as exc:
        _device_failed(exam, hub, lang, exc)
        return
    if not takes:
        _device_failed(exam, hub, lang, ConfigError("The spirometer holds no blow", field="device",
                                                    value=spec.name, expected="blows recorded on the device"))
        return
    exam.attempts = index + len(takes)  # live blocks of take k arrived as take index + k
    for k, take in enumerate(takes):
        name = kept.get(id(take)) if id(take) in kept else _keep(
            settings, exam.id, f"blow-{index + k + 1:02d}", take.recording)
        with exam.lock:
            exam.identity = device.identity
            exam.device_error = ""
            blow = exam.add(take.recording, take.info.reason)
            if name:
                Journal(settings.data_dir).step(exam, {"take": name, "reason": take.info.reason})
            exam.busy = k < len(takes) - 1
        hub.publish({"t": "blow", "exam": exam.id, "number": blow.number, "phase": blow.phase,
                     "interrupted": take.recording.interrupted})


def record_capture(exam: EcgExam, settings: WebSettings, hub: LiveHub, choice: str | None, lang: Lang) -> None:
    index = exam.attempts
    exam.attempts += 1
    step = script_step(settings.ecg_script, index, choice, ECG_CHOICES)
    url = scripted_url(settings.ecg_url, step, speed=settings.ecg_speed, index=0)
    try:
        with open_session(url, _OPTIONS, expect=EcgSession) as device:
            device.subscribe(hub.block_subscriber("ecg", exam.id, take_offset=index))
            hub.publish({"t": "start", "kind": "ecg", "exam": exam.id, "take": index})
            acquisition = device.record(settings.capture_s)
    except AsaleeError as exc:
        _device_failed(exam, hub, lang, exc)
        return
    take = acquisition.takes[-1]
    kept = _keep(settings, exam.id, f"capture-{index + 1:02d}", take.recording)
    with exam.lock:
        exam.identity = device.identity
        exam.device_error = ""
        fb = exam.exam.add_capture(take.recording)
        exam.captures.append(Capture(fb.number, take.recording, fb, take.info.reason))
        if kept:
            Journal(settings.data_dir).step(exam, {"take": kept, "reason": take.info.reason})
        exam.busy = False
    hub.publish({"t": "capture", "exam": exam.id, "number": fb.number, "acceptable": fb.acceptable})
