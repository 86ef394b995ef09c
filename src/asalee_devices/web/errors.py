"""JSON errors of the API (4xx with a code, a message and the offending field) and body parsing helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from asalee_devices.errors import AsaleeError

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32  # the API's bodies are flat objects (a patient, settings): 3 levels at most
BODY_TIMEOUT_S = 10.0  # the whole body, once the headers are in (a client sending 1 byte/s is cut off)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def from_asalee(exc: AsaleeError, status: int = 422) -> ApiError:
    """Same wording as the CLI (the message names the field, never patient data)."""
    return ApiError(status, type(exc).__name__, str(exc), field=exc.field)


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES, timeout_s: float | None = None) -> bytes:
    """The request body, at most ``limit`` bytes: refused from its Content-Length before reading (413), counted
    while it streams in (413 as soon as it passes the limit: never buffered whole), and within ``timeout_s``
    (408)."""
    timeout_s = BODY_TIMEOUT_S if timeout_s is None else timeout_s
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, "bad_length", "Invalid Content-Length")
        if int(declared) > limit:
            raise ApiError(413, "too_large", f"Body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too_large", f"Body larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"The body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


def json_depth(data: Any) -> int:
    """Nesting depth of parsed JSON (iterative)."""
    most = 0
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            most = max(most, depth)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))
    return most


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/408/413/415 :class:`ApiError`."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "content_type", "Send the body as application/json")
    raw = await read_body(request)
    try:
        data = json.loads(raw or b"null")
    except RecursionError:
        raise ApiError(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_body", "The body must be a JSON object")
    return data


def get_str(body: dict[str, Any], key: str, *, required: bool = True, max_len: int = 4000,
            choices: tuple[str, ...] | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"Field '{key}' is required", field=key)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(400, "bad_field", f"Field '{key}' must be a string of at most {max_len} characters",
                       field=key)
    if choices is not None and value not in choices:
        raise ApiError(400, "bad_field", f"Field '{key}' must be one of {', '.join(choices)}", field=key)
    return value


def get_number(body: dict[str, Any], key: str, *, lo: float, hi: float, required: bool = True) -> float | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"Field '{key}' is required", field=key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= float(value) <= hi:
        raise ApiError(400, "bad_field", f"Field '{key}' must be a number in {lo:g}-{hi:g}", field=key)
    return float(value)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
