"""Per-install token, session cookies and CSRF checks for a shared practice PC.

The token is created on first run in the user's data directory (``ASALEE_DATA_DIR`` overrides it). ``serve`` prints
a one-time login URL carrying it; ``/login`` swaps it for an HttpOnly cookie and redirects to a URL without it.
API calls carry the token either in the ``X-Asalee-Token`` header (scripts) or in the cookie (the browser); with
the cookie, every state-changing request must also carry the CSRF token (double submit: the ``asalee_csrf`` cookie
echoed in ``X-CSRF-Token``) and, when the browser sends one, an ``Origin`` of this server.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from asalee_devices.web.errors import ApiError

TOKEN_HEADER = "x-asalee-token"
CSRF_HEADER = "x-csrf-token"
TOKEN_COOKIE = "asalee_token"
CSRF_COOKIE = "asalee_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def user_data_dir() -> Path:
    """Where per-install state lives: ``ASALEE_DATA_DIR``, else the platform's user data directory."""
    env = os.environ.get("ASALEE_DATA_DIR")
    if env:
        return Path(env)
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "asalee-devices"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "asalee-devices"
    return Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share")) / "asalee-devices"


def load_or_create_token(data_dir: Path) -> str:
    """The install's web token (created once, 256 bits, file readable by the user only where supported)."""
    path = data_dir / "web-token"
    if path.exists():
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 32:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def authenticate(conn: HTTPConnection, token: str, *, method: str = "GET") -> str:
    """Check the token (header or cookie) and, for cookie-authenticated state changes, CSRF and Origin.
    Returns how the caller was authenticated ("header" or "cookie"); raises :class:`ApiError` (401/403)."""
    header = conn.headers.get(TOKEN_HEADER)
    if header is not None:
        if not same(header, token):
            raise ApiError(401, "bad_token", "The access token is not valid for this installation")
        return "header"
    cookie = conn.cookies.get(TOKEN_COOKIE)
    if not same(cookie, token):
        raise ApiError(401, "missing_token",
                       "Access token missing: open the login URL printed by 'asalee-devices serve'")
    check_origin(conn)
    if method not in SAFE_METHODS and not same(conn.headers.get(CSRF_HEADER), conn.cookies.get(CSRF_COOKIE)):
        raise ApiError(403, "csrf", "CSRF token missing or wrong: reload the page")
    return "cookie"


def check_origin(conn: HTTPConnection) -> None:
    """A browser-sent Origin must be this server (scheme, host and port)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return
    host = conn.headers.get("host", "")
    parts = urlsplit(origin)
    if parts.netloc != host or parts.scheme not in ("http", "https"):
        raise ApiError(403, "bad_origin", "Request from another site refused")
