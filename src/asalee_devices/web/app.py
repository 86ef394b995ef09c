"""The ASGI app: pages and static files, the one-time login, the API routes, the WebSocket, and the error handlers
(every API error is a JSON 4xx with a code, a message and the field, like the CLI's messages)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from asalee_devices.errors import AsaleeError, StorageError
from asalee_devices.web import api, calibration, dashboard, gp, refused
from asalee_devices.web.delivery import OutboxService
from asalee_devices.web.errors import ApiError, error_response, from_asalee
from asalee_devices.web.journal import resume
from asalee_devices.web.live import CLOSE
from asalee_devices.web.security import (
    CSRF_COOKIE,
    TOKEN_COOKIE,
    authenticate,
    check_origin,
    load_or_create_token,
    same,
)
from asalee_devices.web.settings import WebSettings
from asalee_devices.web.state import WebState, web
from asalee_devices.workflow.calibration_log import log_path

log = logging.getLogger(__name__)
STATIC = resources.files("asalee_devices.web") / "static"
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'self'; object-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
Handler = Callable[[Request], Awaitable[Response]]


def _static(name: str) -> Path:
    return Path(str(STATIC / name))


async def index(request: Request) -> Response:
    resp = FileResponse(_static("index.html"), media_type="text/html; charset=utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ("app.js", "style.css", "ecg.js", "spiro.js", "i18n.js", "gp.js", "dashboard.js"):
        return error_response(404, "not_found", "No such file")
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(_static(name), media_type=f"{kind}; charset=utf-8")


async def login(request: Request) -> Response:
    """``/login?token=...``: swap the printed token for cookies, then go to a URL that no longer carries it."""
    state = web(request)
    if not same(request.query_params.get("token"), state.token):
        return error_response(401, "bad_token", "This login link is not valid for this installation")
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(TOKEN_COOKIE, state.token, httponly=True, samesite="strict", path="/")
    resp.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=False, samesite="strict", path="/")
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def guarded(fn: Handler) -> Handler:
    """Token (+ CSRF for state changes) first; ApiError / AsaleeError become JSON 4xx."""
    async def wrapper(request: Request) -> Response:
        try:
            authenticate(request, web(request).token, method=request.method)
            return await fn(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field)
        except AsaleeError as exc:  # a full or read-only disk: 507 Insufficient Storage, naming the folder
            e = from_asalee(exc, 507 if isinstance(exc, StorageError) else 422)
            return error_response(e.status, e.code, e.message, e.field)
    return wrapper


async def websocket(ws: WebSocket) -> None:
    state = web(ws)
    try:
        authenticate(ws, state.token)
        check_origin(ws)
    except ApiError as exc:
        await ws.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
        return
    await ws.accept()
    queue = state.hub.add()

    async def pump() -> None:
        while True:
            text = await queue.get()
            if text == CLOSE:
                await ws.close(code=1013, reason="client too slow")
                return
            await ws.send_text(text)

    async def watch(scope: anyio.CancelScope) -> None:
        # the page sends nothing, but its disconnection - or the server's shutdown closing it (SIGTERM) - arrives
        # here: without listening, the handler would wait on its queue forever and hold the shutdown
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
        scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, tg.cancel_scope)
            await pump()
            tg.cancel_scope.cancel()
    except* (WebSocketDisconnect, RuntimeError):  # the page went away while a message was being sent
        pass
    finally:
        state.hub.remove(queue)


async def security_headers(request: Request, call_next: Handler) -> Response:
    resp = await call_next(request)
    resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = [Route("/", index), Route("/static/{name}", static_file), Route("/login", login),
                            WebSocketRoute("/ws", websocket)]
    for path, fn, methods in (*api.ROUTES, *calibration.ROUTES, *gp.ROUTES, *refused.ROUTES, *dashboard.ROUTES):
        out.append(Route(path, guarded(fn), methods=methods))
    return out


def create_app(settings: WebSettings, *, outbox: OutboxService | None = None) -> Starlette:
    """The app for ``settings`` (the token is created in ``settings.data_dir`` on first run)."""
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    from asalee_devices.fhir_out.sinks.base import create_sink

    token = load_or_create_token(settings.data_dir)
    box = outbox or OutboxService(Path(settings.config.outbox), lambda: create_sink(settings.config.sink))
    box.recover(settings.config, settings.data_dir)  # on the outbox thread, before any delivery
    state = WebState(settings=settings, token=token, outbox=box,
                     lang="en" if settings.config.lang == "en" else "fr")
    state.store.calibration_log = log_path(Path(settings.config.outbox))
    resumed = resume(state.store, settings.data_dir)  # the examinations journaled before a restart
    if resumed:
        log.info("%d examination(s) resumed from their journal", len(resumed))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.hub.bind(asyncio.get_running_loop())
        yield
        await asyncio.to_thread(box.close)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(404, "not_found", "No such page or endpoint")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(405, "method_not_allowed", "Method not allowed here")

    handlers: dict[Any, Any] = {404: not_found, 405: not_allowed}
    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers=handlers,
                    middleware=[Middleware(BaseHTTPMiddleware, dispatch=security_headers)])
    app.state.web = state
    return app


def json_ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)
