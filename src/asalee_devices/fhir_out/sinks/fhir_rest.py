"""FHIR REST sink: POST the transaction Bundle to the server base with httpx.

TLS verified by default; bearer token or SMART Backend Services. :meth:`FhirRestSink.send` makes **one** POST (and,
with SMART, one more after a 401 with a fresh token, as an ``httpx.Auth`` flow would): it never sleeps and never
retries; retries are the outbox's (its backoff policy, the attempt limit, the peer's ``Retry-After``). Network
errors, timeouts, 408, 429 and 5xx are a :class:`TransientDeliveryError` (carrying the ``Retry-After`` delay when
the server gave one); any other 4xx is a :class:`RejectedDeliveryError` carrying the server's OperationOutcome. A
2xx is a delivery only when its body confirms every entry (:mod:`.fhir_reply`); redirects are not followed
(transient, Location logged). ``Retry-After`` is capped (``retry_after_cap_s``, default 1 h); a value that is
neither delta-seconds nor an HTTP-date is ignored. The reply body is read up to ``MAX_REPLY_BYTES``.

``transport`` is handed to the ``httpx.Client``, so tests answer with ``httpx.MockTransport(handler)``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from dataclasses import dataclass, field

import httpx

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, RejectedDeliveryError, TransientDeliveryError
from asalee_devices.fhir_out.sinks import fhir_split
from asalee_devices.fhir_out.sinks.base import Delivery, SendResult, Sink
from asalee_devices.fhir_out.sinks.fhir_reply import RETRYABLE, body_summary, check_reply, request_shape
from asalee_devices.fhir_out.sinks.smart import SmartBackendAuth, require_tls

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_AFTER_CAP_S = 3600.0
MAX_REPLY_BYTES = 32 * 1024 * 1024
_DELTA = re.compile(r"[0-9]{1,12}")


def retry_after_s(value: str | None, now: float | None = None, *, cap_s: float = RETRY_AFTER_CAP_S
                  ) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 10.2.3: delta-seconds or HTTP-date), at most
    ``cap_s``; None when absent or neither form (``"²"``, ``"-5"``, ``"soon"``)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA.fullmatch(value):
        return min(float(value), cap_s)
    try:
        when = email.utils.parsedate_to_datetime(value)
        wait = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return min(max(0.0, wait), cap_s)


class _Reply:
    """A reply read whole (up to a bound): status, the headers we use, the body."""

    def __init__(self, status_code: int, headers: httpx.Headers, body: bytes) -> None:
        self.status_code = status_code
        self.content_type = headers.get("Content-Type", "")
        self.retry_after = headers.get("Retry-After")
        self.location = headers.get("Location")
        self.body = body


def _read(resp: httpx.Response, limit: int, deadline: float) -> bytes:
    """The body, at most ``limit`` bytes and before ``deadline`` (monotonic): a peer trickling bytes under the
    per-read timeout cannot hold the sender."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if time.monotonic() > deadline:
            raise TransientDeliveryError("FHIR server reply too slow", field="sink.timeout_s",
                                         expected="the whole reply within the timeout")
        if size > limit:
            raise TransientDeliveryError("FHIR server reply too large", field="reply", value=f"> {limit} bytes",
                                         expected="a transaction-response Bundle")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class FhirRestSink(Sink):
    base_url: str
    token: str = field(default="", repr=False)
    auth: SmartBackendAuth | None = None
    verify_tls: bool = True
    timeout_s: float = 30.0
    retry_after_cap_s: float = RETRY_AFTER_CAP_S
    transaction_max_entries: int = 0  # server cap on a conditional transaction; 0 = none (see fhir_split)
    transport: httpx.BaseTransport | None = field(default=None, repr=False)  # None: httpx's HTTP transport
    key: str = "fhir"
    _client: httpx.Client | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, cfg: SinkConfig) -> FhirRestSink:
        if not cfg.base_url.startswith(("http://", "https://")):
            raise ConfigError("FHIR sink needs the server base URL", field="sink.base_url",
                              expected="https://...")
        auth = (SmartBackendAuth.from_files(cfg.client_id, cfg.token_url, cfg.private_key, cfg.scope, kid=cfg.kid,
                                            fhir_base_url=cfg.base_url, scope_syntax=cfg.scope_syntax)
                if cfg.client_id else None)
        if auth is not None:
            require_tls(cfg.base_url, "sink.base_url")
        return cls(cfg.base_url.rstrip("/"), token=cfg.token, auth=auth, verify_tls=cfg.verify_tls,
                   timeout_s=float(cfg.timeout_s), retry_after_cap_s=float(cfg.retry_after_cap_s),
                   transaction_max_entries=cfg.transaction_max_entries)

    @property
    def name(self) -> str:
        return f"FHIR server {self.base_url}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(verify=self.verify_tls, timeout=self.timeout_s, transport=self.transport,
                                        headers={"Accept": FHIR_JSON, "User-Agent": "asalee-devices"})
        return self._client

    def _headers(self, refresh: bool) -> dict[str, str]:
        h = {"Content-Type": FHIR_JSON + "; charset=utf-8"}
        if self.auth is not None:
            h["Authorization"] = "Bearer " + self.auth.token(self.client, force=refresh)
        elif self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def _post(self, delivery: Delivery, refresh: bool) -> _Reply:
        with self.client.stream("POST", self.base_url, content=delivery.bundle_json,
                                headers=self._headers(refresh=refresh)) as resp:
            body = _read(resp, MAX_REPLY_BYTES, time.monotonic() + 2 * self.timeout_s)
            return _Reply(resp.status_code, resp.headers, body)

    def _exchange(self, delivery: Delivery) -> _Reply:
        """One POST; with SMART, a 401 gets one new token and the same POST again (not a retry: the first was
        not authorised)."""
        try:
            reply = self._post(delivery, refresh=False)
            if reply.status_code == 401 and self.auth is not None:
                reply = self._post(delivery, refresh=True)
        except httpx.TransportError as exc:  # refused, reset, dropped, timeouts, closed mid-body
            raise TransientDeliveryError(f"Network error: {type(exc).__name__}", field="sink.base_url") from None
        except httpx.HTTPError as exc:  # undecodable body, invalid URL...
            raise TransientDeliveryError(f"Unreadable reply from the FHIR server: {type(exc).__name__}",
                                         field="sink.base_url") from None
        return reply

    def send(self, delivery: Delivery) -> SendResult:
        if self.transaction_max_entries and fhir_split.needs_split(json.loads(delivery.bundle_json),
                                                                   self.transaction_max_entries):
            return fhir_split.deliver(delivery, self.transaction_max_entries, self.send, lambda path: (
                fhir_split.resource_exists(self.client, self.base_url, self._headers(False), path)))
        shape = request_shape(delivery.bundle_json)
        reply = self._exchange(delivery)
        code = reply.status_code
        if code < 400:
            if 300 <= code < 400:
                log.warning("FHIR server redirected the bundle (HTTP %s) to %s; not followed", code,
                            reply.location or "(no Location)")
            return check_reply(code, reply.content_type, reply.body, shape, location=reply.location)
        if code not in RETRYABLE:
            raise RejectedDeliveryError(f"FHIR server refused the bundle (HTTP {code})",
                                        outcome=body_summary(reply.content_type, reply.body), field="bundle",
                                        value=code, expected="2xx")
        raise TransientDeliveryError(f"FHIR server busy or failing (HTTP {code})",
                                     retry_after_s=retry_after_s(reply.retry_after, cap_s=self.retry_after_cap_s),
                                     field="sink.base_url", value=code)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
