"""Delivering an examination within a FHIR server's transaction limits.

Servers cap what one transaction may do: Medplum (``@medplum/fhir-router`` 5.x, strict transactions) refuses an
atomic transaction with conditional operations (``ifNoneExist``, conditional update) of more than 8 entries. When
the configured limit (``sink.transaction_max_entries``) is lower than an examination bundle that needs conditional
operations, the bundle is delivered in steps, each a transaction within the limit:

1. **reference resources** (Patient, Practitioner, Organization, PractitionerRole, Device — the ones shared
   between examinations and matched by their natural identifier) by conditional create (``ifNoneExist``), in
   chunks of at most the limit, dependencies first (Organization and Practitioner before PractitionerRole);
   references to a resource of an earlier chunk become its ``Type/id`` on the server (from the response's
   locations: servers keep conditional references of updated resources unresolved, Medplum among them);
2. **the examination** — every other entry — in one transaction without conditional operations: each resource is
   written by ``PUT Type/<id>`` with its name-based id (the UUID of its ``urn:uuid`` full URL), so a resend writes
   the same resources again (idempotent, nothing duplicated) and the examination is stored atomically; the shared
   resources are referenced by their ``Type/id`` from the first step. The report and its Task were sent create-only (``ifNoneExist``): when
   the report already exists on the server (a resend after the GP's interpretation finalised it) they are left
   out, so a resend never reverts an interpreted report.

The examination is reported delivered only when its transaction succeeded; if it fails after the reference step,
the send fails and the retry redoes every step (the conditional creates then match). What was done is returned as
the send's detail (stored in the outbox record).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from asalee_devices.errors import TransientDeliveryError
from asalee_devices.fhir_out.sinks.base import Delivery, SendResult

Json = dict[str, Any]
#: resource types shared between examinations, matched by their natural identifier (delivered first)
SHARED_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Patient", "Device")
#: resources a later update changes (the GP's interpretation): sent create-only, never rewritten by a resend
MUTABLE_TYPES = ("DiagnosticReport", "Task")
_ORDER = {t: i for i, t in enumerate(SHARED_TYPES)}


def _conditional(request: Json) -> bool:
    method = request.get("method")
    url = str(request.get("url", ""))
    return bool(request.get("ifNoneExist")) or (method in ("PUT", "DELETE", "PATCH") and "?" in url)


def needs_split(doc: Json, max_entries: int) -> bool:
    """True when ``doc`` is a transaction with conditional operations and more entries than ``max_entries``."""
    entries = doc.get("entry", [])
    return (max_entries > 0 and doc.get("type") == "transaction" and len(entries) > max_entries
            and any(_conditional(e.get("request", {})) for e in entries))


@dataclass(frozen=True)
class Step:
    name: str
    bundle: Json


def _walk_refs(node: Any, fix: Callable[[str], str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                node[k] = fix(v)
            else:
                _walk_refs(v, fix)
    elif isinstance(node, list):
        for item in node:
            _walk_refs(item, fix)


def create_only_paths(doc: Json) -> list[str]:
    """``Type/<id>`` of the entries the examination step would write that were create-only (report, Task)."""
    return [f"{e['resource']['resourceType']}/{e['fullUrl'].removeprefix('urn:uuid:')}" for e in doc["entry"]
            if e["resource"]["resourceType"] in MUTABLE_TYPES and e.get("request", {}).get("method") == "POST"
            and e["request"].get("ifNoneExist")]


def plan(doc: Json, max_entries: int, existing: frozenset[str] = frozenset()) -> list[Step]:
    """The steps delivering ``doc`` within ``max_entries`` per conditional transaction (see the module doc);
    ``existing`` are the create-only paths (:func:`create_only_paths`) already on the server (left out)."""
    entries = [json.loads(json.dumps(e)) for e in doc["entry"]]
    shared = [e for e in entries if e["resource"]["resourceType"] in SHARED_TYPES
              and e.get("request", {}).get("method") == "POST" and e["request"].get("ifNoneExist")]
    shared.sort(key=lambda e: _ORDER[e["resource"]["resourceType"]])
    shared_urls = {e["fullUrl"] for e in shared}
    steps: list[Step] = []
    chunk: list[Json] = []

    def flush() -> None:
        if chunk:
            steps.append(Step(f"reference resources {len(steps) + 1}",
                              {"resourceType": "Bundle", "type": "transaction", "entry": list(chunk)}))
            chunk.clear()

    for e in shared:
        if len(chunk) >= max_entries:
            flush()
        chunk.append(e)
    flush()
    create_only = create_only_paths(doc)
    # the report is checked; its Task goes with it (both were created together, create-only)
    skip = set(create_only) if set(existing) & {p for p in create_only if p.startswith("DiagnosticReport/")} else set()
    exam = [e for e in entries if e["fullUrl"] not in shared_urls and
            f"{e['resource']['resourceType']}/{e['fullUrl'].removeprefix('urn:uuid:')}" not in skip]
    ids = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['fullUrl'].removeprefix('urn:uuid:')}"
           for e in exam}
    for e in exam:
        rtype = e["resource"]["resourceType"]
        rid = e["fullUrl"].removeprefix("urn:uuid:")
        e["resource"]["id"] = rid
        e["request"] = {"method": "PUT", "url": f"{rtype}/{rid}"}
    _walk_refs(exam, lambda r: ids.get(r) or r)  # references to shared resources: resolved at delivery
    bundle = {k: v for k, v in doc.items() if k != "entry"}
    bundle["entry"] = exam
    steps.append(Step("examination" + (f" (left out, already on the server: {', '.join(sorted(skip))})"
                                       if skip else ""), bundle))
    return steps


def deliver(delivery: Delivery, max_entries: int, send: Callable[[Delivery], SendResult],
            exists: Callable[[str], bool]) -> SendResult:
    """Deliver ``delivery`` step by step with ``send`` (one transaction each; ``exists(path)`` says whether a
    resource is on the server); the examination counts as delivered only when its own transaction, the last step,
    succeeded."""
    doc = json.loads(delivery.bundle_json)
    present = frozenset(p for p in create_only_paths(doc) if p.startswith("DiagnosticReport/") and exists(p))
    steps = plan(doc, max_entries, present)
    created = existing = 0
    parts: list[str] = []
    resolved: dict[str, str] = {}  # full URL of a shared resource -> its Type/id on the server
    for step in steps:
        here = {e["fullUrl"] for e in step.bundle["entry"]}

        def resolve(ref: str, here: set[str] = here) -> str:
            return ref if ref in here else resolved.get(ref, ref)

        _walk_refs(step.bundle["entry"], resolve)
        body = json.dumps(step.bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        result = send(replace(delivery, bundle_json=body))
        if step is not steps[-1]:
            if len(result.locations) != len(step.bundle["entry"]):
                raise TransientDeliveryError("FHIR server answered a transaction without the resources' locations",
                                             field="response.location", expected="one location per entry")
            resolved.update({e["fullUrl"]: loc for e, loc in zip(step.bundle["entry"], result.locations,
                                                                  strict=True)})
        created += result.created
        existing += result.existing
        parts.append(f"{step.name}: {len(step.bundle['entry'])} entries, {result.detail}")
    return SendResult(detail=f"split in {len(steps)} transactions (server limit {max_entries} conditional "
                             f"entries): " + "; ".join(parts), created=created, existing=existing)


def response_locations(body: object) -> tuple[str, ...]:
    """``Type/id`` of each entry of a transaction-response (``response.location`` without ``_history``, absolute
    URLs cut to their last two segments); empty when the body is not a transaction-response with locations."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        return ()
    out: list[str] = []
    for e in body["entry"]:
        loc = str((e.get("response") or {}).get("location") or "") if isinstance(e, dict) else ""
        parts = loc.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) < 2 or not parts[-1]:
            return ()
        out.append(f"{parts[-2]}/{parts[-1]}")
    return tuple(out)


def resource_exists(client: httpx.Client, base_url: str, headers: dict[str, str], path: str) -> bool:
    """GET ``base_url/path``: True on 200, False on 404/410; anything else is a transient error."""
    try:
        resp = client.get(f"{base_url}/{path}", headers=headers)
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"Network error: {type(exc).__name__}", field="sink.base_url") from None
    if resp.status_code == 200:
        return True
    if resp.status_code in (404, 410):
        return False
    raise TransientDeliveryError(f"FHIR server did not answer a read (HTTP {resp.status_code})",
                                 field="sink.base_url", value=resp.status_code)
