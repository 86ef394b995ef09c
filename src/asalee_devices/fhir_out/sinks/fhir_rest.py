"""FHIR REST sink: POST the transaction Bundle to the server base with httpx.

TLS verified by default; bearer token or SMART Backend Services. Network errors, timeouts, 408, 429 and 5xx are
retried with exponential backoff and full jitter (``Retry-After`` honoured) up to ``attempts`` tries, then reported
as :class:`TransientDeliveryError` for the outbox to reschedule; any other 4xx is a
:class:`RejectedDeliveryError` carrying the server's OperationOutcome, never retried.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError
from asalee_devices.fhir_out.sinks import fhir_split
from asalee_devices.fhir_out.sinks.base import (
    Delivery,
    RejectedDeliveryError,
    SendResult,
    TransientDeliveryError,
)
from asalee_devices.fhir_out.sinks.smart import SmartBackendAuth, require_tls

RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))
FHIR_JSON = "application/fhir+json"


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def outcome_text(resp: httpx.Response) -> str:
    """Readable summary of an OperationOutcome body (or the raw text start when it is not one)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500]
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return json.dumps(body)[:500]
    parts = []
    for issue in body.get("issue", []):
        msg = issue.get("diagnostics") or issue.get("details", {}).get("text") or ""
        where = ",".join(issue.get("expression", []) or issue.get("location", []))
        parts.append(f"{issue.get('severity', '?')} {issue.get('code', '?')}: {msg}" + (f" at {where}" if where
                                                                                        else ""))
    return "; ".join(parts) or "OperationOutcome without issues"


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform(0, min(cap, base x 2^attempt))."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** attempt)))


@dataclass
class FhirRestSink:
    base_url: str
    token: str = field(default="", repr=False)
    auth: SmartBackendAuth | None = None
    verify_tls: bool = True
    timeout_s: float = 30.0
    attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_inline_wait_s: float = 30.0  # longer Retry-After: give back to the outbox scheduler
    transaction_max_entries: int = 0  # server cap on a conditional transaction; 0 = none (see fhir_split)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    name: str = "fhir"
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
                   timeout_s=float(cfg.timeout_s), attempts=cfg.attempts,
                   transaction_max_entries=cfg.transaction_max_entries)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(verify=self.verify_tls, timeout=self.timeout_s,
                                        headers={"Accept": FHIR_JSON, "User-Agent": "asalee-devices"})
        return self._client

    def _headers(self, refresh: bool) -> dict[str, str]:
        h = {"Content-Type": FHIR_JSON + "; charset=utf-8"}
        if self.auth is not None:
            h["Authorization"] = "Bearer " + self.auth.token(self.client, force=refresh)
        elif self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def send(self, delivery: Delivery) -> SendResult:
        if self.transaction_max_entries and fhir_split.needs_split(json.loads(delivery.bundle_json),
                                                                   self.transaction_max_entries):
            return fhir_split.deliver(delivery, self.transaction_max_entries, self.send, lambda path: (
                fhir_split.resource_exists(self.client, self.base_url, self._headers(False), path)))
        refreshed = False  # one token refresh per 401 per send
        refresh_now = False
        last: TransientDeliveryError | None = None
        attempt = 0
        while attempt < self.attempts:
            wait: float | None = None
            try:
                resp = self.client.post(self.base_url, content=delivery.bundle_json,
                                        headers=self._headers(refresh=refresh_now))
                refresh_now = False
            except httpx.TransportError as exc:  # refused, reset, dropped, timeouts
                last = TransientDeliveryError(f"Network error: {type(exc).__name__}", field="sink.base_url")
            else:
                if 200 <= resp.status_code < 300:
                    return self._result(resp)
                if resp.status_code == 401 and self.auth is not None and not refreshed:
                    refreshed = refresh_now = True  # a new token for the next try only; not an attempt
                    continue
                if resp.status_code not in RETRYABLE:
                    raise RejectedDeliveryError(
                        f"FHIR server refused the bundle (HTTP {resp.status_code})", outcome=outcome_text(resp),
                        field="bundle", value=resp.status_code, expected="2xx")
                wait = retry_after_s(resp.headers.get("Retry-After"))
                last = TransientDeliveryError(f"FHIR server busy or failing (HTTP {resp.status_code})",
                                              retry_after_s=wait, field="sink.base_url", value=resp.status_code)
            attempt += 1
            if attempt >= self.attempts:
                break
            delay = wait if wait is not None else backoff_s(attempt - 1, self.backoff_base_s, self.backoff_cap_s,
                                                            self.rng)
            if delay > self.max_inline_wait_s:
                break
            self.sleep(delay)
        assert last is not None
        raise last

    @staticmethod
    def _result(resp: httpx.Response) -> SendResult:
        created = existing = 0
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        locations = fhir_split.response_locations(body)
        if isinstance(body, dict):
            for e in body.get("entry", []):
                status = str(e.get("response", {}).get("status", ""))
                if status.startswith("201"):
                    created += 1
                elif status.startswith("200"):
                    existing += 1
        return SendResult(detail=f"HTTP {resp.status_code}", created=created, existing=existing,
                          locations=locations)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
