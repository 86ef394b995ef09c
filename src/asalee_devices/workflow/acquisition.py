"""Drive a device session for an examination: blow by blow (live spirometer), a download (spirometer that stores
blows), or ECG captures with retakes. The device kind comes from the driver registry, not from an if-chain on
names: the device URL opens its driver's registered session (:func:`~asalee_devices.devices.session.open_session`)
and the session's kind (live flow, stored flow, ECG) picks the runner.

Failure handling: a device that cannot be reached before anything was recorded raises its
:class:`DeviceError` (nothing to lose); once something was recorded, a device error ends the acquisition with the
reason in ``device_error`` and every recording so far is returned (interrupted ones flagged) so the caller keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from asalee_devices.devices.electrocardiograph import EcgSession
from asalee_devices.devices.session import DeviceSession, LiveBlock, SessionOptions, open_session
from asalee_devices.devices.spirometer import FlowTake, StoredFlowSession
from asalee_devices.devices.turbine import LiveFlowSession
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.drivers.registry import driver_for_url
from asalee_devices.errors import ConfigError, DeviceError
from asalee_devices.signal.spirometry.live import end_of_forced_expiration
from asalee_devices.workflow.ecg_exam import CaptureFeedback, EcgExamination
from asalee_devices.workflow.spirometry_exam import BlowFeedback, SpirometryExamination

BlockFn = Callable[[LiveBlock], None]


@dataclass(frozen=True)
class AcquisitionOutcome:
    """What the device session gave: identity, when it started, and why it ended early (if it did)."""

    device: DeviceIdentity | None
    started_at: datetime | None
    recordings: int
    device_error: str = ""

    def require_device(self) -> DeviceIdentity:
        if self.device is None:
            raise DeviceError("The device never identified itself", expected="a device answering its handshake")
        return self.device


F = TypeVar("F", BlowFeedback, CaptureFeedback)
V = TypeVar("V")


class _LiveSession(Protocol):
    identity: DeviceIdentity | None


def _run_takes(session: _LiveSession, record: Callable[[], Any], add: Callable[[Any], F], limit: int,
               on_feedback: Callable[[F], None] | None, again: Callable[[list[F]], bool], what: str
               ) -> AcquisitionOutcome:
    """Record until ``again`` (given this recording's feedback, one per take) says stop or ``limit`` takes; every
    take (interrupted ones included) goes through ``add``. A device error before the first take is raised; later
    ones, and a recording that ended without a complete take, end the run with the reason."""
    started: datetime | None = None
    count = 0
    while count < limit:
        try:
            acq = record()
        except DeviceError as exc:
            if count == 0:
                raise
            return AcquisitionOutcome(session.identity, started, count, str(exc))
        feedback: list[F] = []
        for take in acq.takes:
            started = started or take.info.host_start_utc
            feedback.append(add(take.recording))
            count += 1
            if on_feedback is not None:
                on_feedback(feedback[-1])
        if acq.complete is None:
            reason = acq.takes[-1].info.reason if acq.takes else "no data"
            return AcquisitionOutcome(session.identity, started, count, f"device lost during the {what} ({reason})")
        if not feedback or not again(feedback):
            break
    return AcquisitionOutcome(session.identity, started, count)


def _live_spirometry(exam: SpirometryExamination, spiro: DeviceSession[Any], *, blow_s: float, max_blows: int,
                     on_block: BlockFn | None, on_blow: Callable[[BlowFeedback], None] | None,
                     proceed: Callable[[BlowFeedback], bool] | None, staging: Path | None) -> AcquisitionOutcome:
    """Live spirometer: one recording per blow, ended at the end of the forced expiration (or ``blow_s``)."""
    assert isinstance(spiro, LiveFlowSession)
    if on_block is not None:
        spiro.subscribe(on_block)

    def again(feedback: list[BlowFeedback]) -> bool:
        return not any(f.stop for f in feedback) and (proceed is None or proceed(feedback[-1]))

    return _run_takes(spiro, lambda: spiro.record(blow_s, until=end_of_forced_expiration), exam.add_blow,
                      max_blows, on_blow, again, "blow")


def _download_spirometry(exam: SpirometryExamination, spiro: DeviceSession[Any], *, blow_s: float, max_blows: int,
                         on_block: BlockFn | None, on_blow: Callable[[BlowFeedback], None] | None,
                         proceed: Callable[[BlowFeedback], bool] | None, staging: Path | None
                         ) -> AcquisitionOutcome:
    """Spirometers that store blows: download them all; the device deletes them only once each is saved."""
    from asalee_devices.workflow.recording_store import recording_digest, save_recording

    assert isinstance(spiro, StoredFlowSession)

    def store(take: FlowTake) -> bool:
        if staging is None:
            return False  # nowhere durable to keep it: leave it on the device
        save_recording(take.recording, staging / f"{recording_digest(take.recording)}.npz")
        return True

    download = spiro.download(store=store)
    started: datetime | None = None
    for take in download.takes[:max_blows]:
        started = started or take.info.host_start_utc
        feedback = exam.add_blow(take.recording)
        if on_blow is not None:
            on_blow(feedback)
    error = "; ".join(download.errors)
    return AcquisitionOutcome(spiro.identity, started, len(download.takes[:max_blows]), error)


SpirometryRunner = Callable[..., AcquisitionOutcome]
#: session kind -> how its examination runs (a driver's session derives from one of these kinds; the nearest
#: base class in its MRO picks the runner)
SPIROMETRY_RUNNERS: dict[type[DeviceSession[Any]], SpirometryRunner] = {LiveFlowSession: _live_spirometry,
                                                                         StoredFlowSession: _download_spirometry}


def runner_for(session: DeviceSession[Any], runners: Mapping[type[DeviceSession[Any]], V]) -> V | None:
    """The entry of ``runners`` for the nearest session kind in ``session``'s MRO (None when no kind fits)."""
    return next((runners[k] for k in type(session).__mro__ if k in runners), None)


def run_spirometry(exam: SpirometryExamination, url: str, *, blow_s: float = 12.0, max_blows: int = 8,
                   on_block: BlockFn | None = None, on_blow: Callable[[BlowFeedback], None] | None = None,
                   proceed: Callable[[BlowFeedback], bool] | None = None, options: SessionOptions | None = None,
                   staging: Path | None = None) -> AcquisitionOutcome:
    """Record the current phase of ``exam`` from the spirometer at ``url`` until the standard's stopping advice,
    ``max_blows``, or ``proceed(feedback)`` returning False (the nurse ends the phase)."""
    spec = driver_for_url(url)
    kinds = ", ".join(k.__name__ for k in SPIROMETRY_RUNNERS)
    if spec.kind != "spirometer":
        raise ConfigError("This device is not a spirometer this service can run", field="device", value=spec.name,
                          expected=f"a spirometer driver (session {kinds})")
    with open_session(url, options) as spiro:
        runner = runner_for(spiro, SPIROMETRY_RUNNERS)
        if runner is None:
            raise ConfigError("This device is not a spirometer this service can run", field="device",
                              value=spec.name, expected=f"a session deriving from {kinds}")
        return runner(exam, spiro, blow_s=blow_s, max_blows=max_blows, on_block=on_block, on_blow=on_blow,
                      proceed=proceed, staging=staging)


def run_ecg(exam: EcgExamination, url: str, *, duration_s: float = 10.0, max_captures: int = 3,
            on_block: BlockFn | None = None, on_capture: Callable[[CaptureFeedback], None] | None = None,
            retake: Callable[[CaptureFeedback], bool] | None = None,
            options: SessionOptions | None = None) -> AcquisitionOutcome:
    """Capture ``duration_s`` of 12-lead ECG; while the verdict advises a retake and ``retake(feedback)`` agrees
    (default: yes), capture again, up to ``max_captures``."""
    spec = driver_for_url(url)
    if spec.kind != "ecg":
        raise ConfigError("This device is not an electrocardiograph", field="device", value=spec.name,
                          expected="an ECG device URL, e.g. sim://ecg12 or ecg12+serial://COM3")

    def again(feedback: list[CaptureFeedback]) -> bool:
        return not feedback[-1].acceptable and (retake is None or retake(feedback[-1]))

    with open_session(url, options, expect=EcgSession) as ecg:
        if on_block is not None:
            ecg.subscribe(on_block)
        return _run_takes(ecg, lambda: ecg.record(duration_s), exam.add_capture, max_captures, on_capture, again,
                          "capture")
