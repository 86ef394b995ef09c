"""What a FHIR server's reply to a posted transaction (or batch) Bundle confirms.

A delivery is acknowledged only when the record says it kept every entry (FHIR R4 ``http.html#transaction``,
``bundle.html#transaction-response``): a 2xx HTTP reply whose body is a Bundle of type ``transaction-response``
(``batch-response`` for a batch) with exactly one entry per request entry, in order, each with a
``response.status`` of 201 (created) or 200 (a conditional create that matched, an update), or 304 for a
conditional request that changed nothing. Anything else is not a confirmation, whatever the HTTP status:

* an HTML page (captive portal, proxy login), an empty body, JSON that is not that Bundle, a 202 "accepted" with no
  outcome, a 3xx redirect, too few or too many entries, an entry without a readable status: a
  :class:`TransientDeliveryError` saying what came back (retried, then failed after the outbox's attempts);
* an entry refused with a 4xx status (batch, or a non-conforming transaction reply): a
  :class:`RejectedDeliveryError` carrying that entry's OperationOutcome; an entry with 408/429/5xx: transient.

Every reading here is defensive: a malformed OperationOutcome or Bundle gives a readable reason, never an
``AttributeError``/``TypeError``. Only technical facts (statuses, types, counts) go into the reasons, never the
resources' content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asalee_devices.errors import RejectedDeliveryError, TransientDeliveryError
from asalee_devices.fhir_out.sinks.base import SendResult
from asalee_devices.fhir_out.sinks.fhir_split import response_locations

RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))
MAX_REASON = 500
_STATUS = re.compile(r"\s*([1-5][0-9]{2})(?:\s|$)")


@dataclass(frozen=True)
class RequestShape:
    """What the reply must match: the request Bundle's type and, per entry, whether it was conditional."""

    bundle_type: str  # "transaction" | "batch"
    conditional: tuple[bool, ...]

    @property
    def response_type(self) -> str:
        return f"{self.bundle_type}-response"


def request_shape(bundle_json: bytes) -> RequestShape:
    """The shape of the Bundle we post (our own, already validated; a foreign one is read defensively)."""
    try:
        doc = json.loads(bundle_json)
    except ValueError:
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    btype = doc.get("type") if doc.get("type") in ("transaction", "batch") else "transaction"
    raw = doc.get("entry")
    entries: list[Any] = raw if isinstance(raw, list) else []
    flags = []
    for e in entries:
        req = e.get("request") if isinstance(e, dict) else None
        req = req if isinstance(req, dict) else {}
        url = str(req.get("url", ""))
        flags.append(bool(req.get("ifNoneExist") or req.get("ifNoneMatch") or req.get("ifMatch")
                          or req.get("ifModifiedSince") or "?" in url))
    return RequestShape(str(btype), tuple(flags))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def outcome_summary(body: Any) -> str:
    """A readable summary of an OperationOutcome (severity, code, diagnostics or details.text, where); a body of
    any other shape is summarised by its type, never raising."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return f"not an OperationOutcome ({_kind(body)})"
    issues = body.get("issue")
    parts = []
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, Mapping):
            continue
        details = issue.get("details")
        msg = _text(issue.get("diagnostics")) or (_text(details.get("text")) if isinstance(details, Mapping)
                                                   else "")
        where_list = issue.get("expression") or issue.get("location") or []
        where = ",".join(w for w in where_list if isinstance(w, str)) if isinstance(where_list, list) else ""
        parts.append(f"{_text(issue.get('severity')) or '?'} {_text(issue.get('code')) or '?'}: {msg}"
                     + (f" at {where}" if where else ""))
    return ("; ".join(parts) or "OperationOutcome without issues")[:MAX_REASON]


def _kind(body: Any) -> str:
    if isinstance(body, Mapping):
        rt = body.get("resourceType")
        return f"resourceType {rt!r}" if isinstance(rt, str) else "JSON object without resourceType"
    return f"JSON {type(body).__name__}"


def body_summary(content_type: str, body: bytes) -> str:
    """What a reply body is, in a few words (an OperationOutcome's issues when it is one)."""
    if not body.strip():
        return "empty body"
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        ctype = content_type.split(";")[0].strip() or "no content type"
        return f"not JSON ({ctype}, {len(body)} bytes)"
    if isinstance(doc, Mapping) and doc.get("resourceType") == "OperationOutcome":
        return outcome_summary(doc)
    return _kind(doc)


def entry_status(entry: Any) -> int | None:
    """The HTTP status code of a response entry (``"201 Created"`` -> 201), None when unreadable."""
    resp = entry.get("response") if isinstance(entry, Mapping) else None
    status = resp.get("status") if isinstance(resp, Mapping) else None
    m = _STATUS.match(status) if isinstance(status, str) else None
    return int(m.group(1)) if m else None


def check_reply(status_code: int, content_type: str, body: bytes, shape: RequestShape, *,
                location: str | None = None) -> SendResult:
    """The confirmed outcome of a 2xx/3xx reply to a posted Bundle, or the error saying why it is not one.
    (Other statuses are classified by the sink: retryable, or refused with :func:`body_summary`.)"""
    if 300 <= status_code < 400:
        raise TransientDeliveryError(f"FHIR server redirected the bundle (HTTP {status_code}); not followed",
                                     field="sink.base_url", value=location or "(no Location)",
                                     expected="the server's FHIR base URL")
    if not 200 <= status_code < 300:
        raise TransientDeliveryError(f"Unexpected HTTP status {status_code}", field="sink.base_url",
                                     value=status_code, expected="2xx")
    try:
        doc: Any = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, Mapping) or doc.get("resourceType") != "Bundle" \
            or doc.get("type") != shape.response_type:
        raise TransientDeliveryError(
            f"HTTP {status_code} without a {shape.response_type} Bundle: the record did not confirm it kept "
            f"the examination ({body_summary(content_type, body)})", field="reply",
            expected=f"a {shape.response_type} Bundle with one entry per request")
    entries = doc.get("entry")
    entries = entries if isinstance(entries, list) else []
    if len(entries) != len(shape.conditional):
        raise TransientDeliveryError(f"{shape.response_type} has {len(entries)} entries for "
                                     f"{len(shape.conditional)} requests", field="reply.entry",
                                     value=len(entries), expected=str(len(shape.conditional)))
    created = existing = 0
    refused: list[str] = []
    transient: list[str] = []
    for k, (entry, conditional) in enumerate(zip(entries, shape.conditional, strict=True)):
        code = entry_status(entry)
        if code == 201:
            created += 1
        elif code == 200 or (code == 304 and conditional):
            existing += 1
        elif code is not None and 400 <= code < 500 and code not in RETRYABLE:
            resp = entry.get("response", {})
            refused.append(f"entry {k + 1}: {code} {outcome_summary(resp.get('outcome'))}")
        else:
            transient.append(f"entry {k + 1}: " + ("no readable response.status" if code is None else str(code)))
    if refused:
        raise RejectedDeliveryError(f"FHIR server refused {len(refused)} of {len(entries)} entries",
                                    outcome="; ".join(refused)[:MAX_REASON], field="reply.entry",
                                    expected="201 or 200 for every entry")
    if transient:
        raise TransientDeliveryError(f"FHIR server did not confirm {len(transient)} of {len(entries)} entries: "
                                     + "; ".join(transient)[:MAX_REASON], field="reply.entry",
                                     expected="201 or 200 for every entry")
    return SendResult(detail=f"HTTP {status_code}", created=created, existing=existing,
                      locations=response_locations(doc))
