"""The devices page's calibration verification recorded on the spirometer: the nurse pushes the 3-L syringe at a
low, a mid and a high flow and the strokes are measured by the device itself, through the session
``spirometry calibrate`` uses (``workflow.syringe_strokes``), in a worker thread like a blow. The page polls the
run: the stroke to push, each stroke's volume, mean flow and error as it is measured, then the verdict (+/-3 %,
three flows), logged for the spirometer like a typed verification. Nothing is logged when a stroke fails."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import AsaleeError
from asalee_devices.signal.spirometry.calibration import (
    Stroke,
    SyringeVerification,
    check_syringe,
    verify_syringe,
)
from asalee_devices.web.errors import ApiError, get_number, get_str, json_body
from asalee_devices.web.exams import DEVICE_ERROR, Lang, calibration_view
from asalee_devices.web.settings import WebSettings, is_simulator
from asalee_devices.web.state import WebState, web

log = logging.getLogger(__name__)

RunState = Literal["recording", "done", "failed"]


@dataclass
class CalibrationRun:
    """One verification being recorded on the device (held by the web state; the worker thread updates it)."""

    syringe_l: float
    syringe_serial: str
    accuracy_pct: float
    n_strokes: int
    state: RunState = "recording"
    #: the stroke the nurse is asked to push: (index, band, seconds)
    prompt: tuple[int, str, float] | None = None
    retried: list[int] = field(default_factory=list)
    measured: list[Stroke] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {"state": self.state, "strokes_expected": self.n_strokes,
                    "prompt": None if self.prompt is None else {"index": self.prompt[0], "band": self.prompt[1],
                                                                "seconds": self.prompt[2]},
                    "retried": list(self.retried),
                    "measured": [{"volume_l": round(s.volume_l, 4), "mean_flow_l_s": round(s.mean_flow_l_s, 3)}
                                 for s in self.measured],
                    "result": self.result, "error": self.error}


def verification_view(result: SyringeVerification, log_file: Path, serial: str, lang: Lang) -> dict[str, Any]:
    """The verdict as the page shows it: each stroke's volume, mean flow, flow band, error % and pass/fail."""
    return {"passed": result.passed, "missing_bands": list(result.missing_bands),
            "tolerance_pct": result.tolerance_pct, "device_serial": serial,
            "strokes": [{"volume_l": round(s.volume_l, 4), "mean_flow_l_s": round(s.mean_flow_l_s, 3),
                         "band": s.band, "error_pct": round(s.error_pct, 2), "passed": s.passed}
                        for s in result.strokes],
            "calibration": calibration_view(log_file, DeviceIdentity(serial_number=serial), lang)}


def log_verification(log_file: Path, *, serial: str, model: str, syringe_serial: str,
                     result: SyringeVerification) -> None:
    from asalee_devices.workflow.calibration_log import CalibrationLog

    with CalibrationLog(log_file) as cal_log:
        cal_log.add(device_serial=serial, device_model=model, syringe_serial=syringe_serial, verification=result,
                    performed_at=datetime.now(UTC))


def syringe_url(settings: WebSettings, syringe_l: float, device_error_pct: float | None) -> str:
    """The spirometer's URL for the verification: a simulator is put in syringe mode (its stroke volume, and the
    device error the demo asks for); a real device URL is used as configured."""
    base = settings.spirometer_url
    if not is_simulator(base):
        return base
    head, _, query = base.partition("?")
    merged = {k: v for k, v in parse_qsl(query) if k != "script"}
    merged["syringe_l"] = f"{syringe_l:g}"
    if device_error_pct is not None:
        merged["device_error_pct"] = f"{device_error_pct:g}"
    if settings.spirometry_speed != 1.0:
        merged["speed"] = f"{settings.spirometry_speed:g}"
    return f"{head}?{urlencode(merged)}"


def run_verification(run: CalibrationRun, url: str, log_file: Path, lang: Lang) -> None:
    """The worker: record the strokes on the device, judge them, log the verification (only when complete)."""
    from asalee_devices.devices.session import SessionOptions
    from asalee_devices.workflow.syringe_strokes import record_strokes

    def push(i: int, band: str, seconds: float) -> None:
        with run.lock:
            run.prompt = (i, band, seconds)

    def again(i: int) -> None:
        with run.lock:
            run.retried.append(i)

    def measured(i: int, stroke: Stroke) -> None:
        with run.lock:
            run.measured.append(stroke)

    try:
        rec = record_strokes(url, run.n_strokes, options=SessionOptions(reconnects=0, connect_attempts=2,
                                                                        backoff_s=0.2),
                             on_push=push, on_retry=again, on_stroke=measured)
        result = verify_syringe(run.syringe_l, rec.strokes, syringe_accuracy_pct=run.accuracy_pct)
        log_verification(log_file, serial=rec.device_serial, model=rec.device_model,
                         syringe_serial=run.syringe_serial, result=result)
        view = verification_view(result, log_file, rec.device_serial, lang)
    except AsaleeError as exc:
        with run.lock:
            run.state, run.prompt, run.error = "failed", None, DEVICE_ERROR[lang].format(reason=exc.message)
        log.info("calibration verification not recorded: %s", exc.message)
        return
    with run.lock:
        run.state, run.prompt, run.result = "done", None, view


def _spirometer_busy(state: WebState) -> bool:
    return any(e.busy for e in state.store.exams.values() if e.kind == "spirometry")


async def record_start(request: Request) -> Response:
    """Start recording a verification on the spirometer (202); the page polls ``GET`` for its progress."""
    state = web(request)
    body = await json_body(request)
    syringe_l = get_number(body, "syringe_l", lo=-1e6, hi=1e6) or 0.0
    accuracy = get_number(body, "syringe_accuracy_pct", lo=-1e6, hi=1e6, required=False)
    accuracy = 0.5 if accuracy is None else accuracy
    check_syringe(syringe_l, accuracy)  # InputError -> 422, the device untouched
    syringe_serial = (get_str(body, "syringe_serial", max_len=64) or "").strip()
    if not syringe_serial:
        raise ApiError(422, "invalid", "The syringe's serial number is needed", field="syringe_serial")
    n = int(get_number(body, "strokes", lo=1, hi=12, required=False) or 3)
    sim_error = get_number(body, "sim_device_error_pct", lo=-50, hi=50, required=False)
    if sim_error is not None and not is_simulator(state.settings.spirometer_url):
        raise ApiError(422, "invalid", "A simulated device error applies to the simulator only",
                       field="sim_device_error_pct")
    log_file = state.store.calibration_log
    if log_file is None:  # pragma: no cover - always set by create_app
        raise ApiError(500, "no_log", "No calibration log configured")
    current = state.calibration
    if (current is not None and current.state == "recording") or _spirometer_busy(state):
        raise ApiError(409, "busy", "The spirometer is already recording")
    run = CalibrationRun(syringe_l=float(syringe_l), syringe_serial=syringe_serial, accuracy_pct=float(accuracy),
                         n_strokes=n)
    state.calibration = run
    url = syringe_url(state.settings, float(syringe_l), sim_error)
    asyncio.get_running_loop().run_in_executor(None, run_verification, run, url, log_file, state.lang)
    return JSONResponse({"run": run.view()}, status_code=202)


async def record_status(request: Request) -> Response:
    state = web(request)
    run = state.calibration
    return JSONResponse({"run": None if run is None else run.view()})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/calibration/record", record_start, ["POST"]),
    ("/api/calibration/record", record_status, ["GET"]),
)
