"""Everything a request handler needs, held on ``app.state.web``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import HTTPConnection

from asalee_devices.web.delivery import OutboxService
from asalee_devices.web.exams import ExamStore
from asalee_devices.web.live import LiveHub
from asalee_devices.web.settings import WebSettings


@dataclass
class WebState:
    settings: WebSettings
    token: str
    outbox: OutboxService
    store: ExamStore = field(default_factory=ExamStore)
    hub: LiveHub = field(default_factory=LiveHub)
    lang: Literal["fr", "en"] = "fr"


def web(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
