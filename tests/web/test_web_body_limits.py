"""Request bodies on a real uvicorn server (issue 18): refused from the Content-Length before reading, counted
while streaming (never buffered whole), and cut off when they trickle in."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.web.webfixtures import RunningServer, make_config

import asalee_devices.web.errors as web_errors


def _server(serve: Callable[..., RunningServer], tmp_path: Path) -> tuple[socket.socket, RunningServer]:
    srv = serve(make_config(tmp_path), tmp_path / "data")
    host, port = srv.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock, srv


def _head(srv: RunningServer, extra: str) -> bytes:
    host = srv.base_url.removeprefix("http://")
    return (f"POST /api/patient/validate HTTP/1.1\r\nHost: {host}\r\nX-Asalee-Token: {srv.token}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def _status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")),
                  0)
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return int(data.split(b" ", 2)[1]), head + b"\r\n\r\n" + body


def test_huge_content_length_refused_before_reading(serve: Callable[..., RunningServer], tmp_path: Path) -> None:
    sock, srv = _server(serve, tmp_path)
    with sock:
        sock.sendall(_head(srv, f"Content-Length: {400 * 1024 * 1024}\r\n") + b'{"patient": ')
        status, data = _status(sock)  # answered while 400 MiB are still "to come": nothing was buffered
    print(data.split(b"\r\n")[0])
    assert status == 413 and b"too_large" in data


def test_chunked_body_counted_while_streaming(serve: Callable[..., RunningServer], tmp_path: Path) -> None:
    sock, srv = _server(serve, tmp_path)
    with sock:
        sock.sendall(_head(srv, "Transfer-Encoding: chunked\r\n"))
        chunk = b"x" * 16384
        try:
            for _ in range(8):  # 128 KiB announced by no header, past the 64 KiB limit
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:  # the server answered and closed while we were still sending
            pass
        status, data = _status(sock)
    assert status == 413 and b"too_large" in data


def test_trickling_body_cut_off(serve: Callable[..., RunningServer], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_errors, "BODY_TIMEOUT_S", 1.0)
    sock, srv = _server(serve, tmp_path)
    with sock:
        sock.sendall(_head(srv, "Content-Length: 100\r\n") + b'{"pa')  # and nothing more
        status, data = _status(sock)
    assert status == 408 and b"body_timeout" in data
