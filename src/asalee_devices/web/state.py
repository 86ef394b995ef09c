"""Everything a request handler needs, held on ``app.state.web``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from starlette.requests import HTTPConnection

from asalee_devices.web.delivery import OutboxService
from asalee_devices.web.exams import ExamStore
from asalee_devices.web.live import LiveHub
from asalee_devices.web.settings import WebSettings

if TYPE_CHECKING:
    from asalee_devices.web.calibration import CalibrationRun


@dataclass
class WebState:
    settings: WebSettings
    token: str
    outbox: OutboxService
    store: ExamStore = field(default_factory=ExamStore)
    hub: LiveHub = field(default_factory=LiveHub)
    lang: Literal["fr", "en"] = "fr"
    #: the last calibration verification recorded on the spirometer from the devices page (None: none yet)
    calibration: CalibrationRun | None = None


def web(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
