"""JSON errors of the API (4xx with a code, a message and the offending field) and body parsing helpers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from asalee_devices.errors import AsaleeError

MAX_BODY_BYTES = 64 * 1024


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


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413/415 :class:`ApiError`."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "content_type", "Send the body as application/json")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"Body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON") from None
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
