"""Against a FHIR server we did not write: Medplum's router (@medplum/fhir-router, the open-source server's request
handling) over its in-memory repository, strict transactions on (tests/node/fhir_server.mjs). Every bundle kind is
delivered through the outbox and the FHIR sink configured with the server's limit, read back equal with its
references resolved, and a resend from a fresh outbox leaves the server's resource counts unchanged.

Skipped with a reason when Node or the npm packages are missing (``make node-deps``); a failure in CI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fhir.bundle_kinds import KINDS, all_bundles
from tests.fhir.medplum_server import MEDPLUM_STRICT_MAX_ENTRIES, MedplumServer, unavailable

from asalee_devices.fhir_out.outbox import Outbox
from asalee_devices.fhir_out.sinks import Delivery, SendResult, TransientDeliveryError, fhir_split
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink


@pytest.fixture(scope="module")
def medplum() -> Iterator[MedplumServer]:
    problem = unavailable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (required in CI)")
        pytest.skip(problem)
    srv = MedplumServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def bundles(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return all_bundles(shared_data, tmp_path_factory.mktemp("kinds"))


def _sink(medplum: MedplumServer) -> FhirRestSink:
    return FhirRestSink(medplum.base_url, timeout_s=60,
                        transaction_max_entries=MEDPLUM_STRICT_MAX_ENTRIES)


def _deliver(medplum: MedplumServer, box_path: Path, kinds: dict[str, dict[str, Any]]) -> list[str]:
    """Queue each bundle in a fresh outbox and deliver; returns the outbox records' details."""
    with Outbox(box_path) as box:
        for kind, doc in kinds.items():
            box.enqueue(exam_id=kind, kind=kind, sink="fhir", performed_on="2026-11-23",
                        payload=json.dumps(doc).encode())
        sink = _sink(medplum)
        try:
            for kind in kinds:  # one at a time, in order (the interpretation after its ECG)
                out = box.deliver_due(sink, limit=1)
                assert list(out.values()) == ["acknowledged"], (kind, box.messages())
        finally:
            sink.close()
        return [m.detail for m in box.messages()]


def _strip(res: dict[str, Any]) -> dict[str, Any]:
    """A resource without the server's bookkeeping (id, meta versions) and without reference values."""
    out = json.loads(json.dumps(res))
    out.pop("id", None)
    meta = out.pop("meta", {})
    for key in ("profile", "tag"):
        if key in meta:
            out.setdefault("meta", {})[key] = meta[key]

    def refs(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                if k == "reference":
                    node[k] = "*"
                else:
                    refs(node[k])
        elif isinstance(node, list):
            for x in node:
                refs(x)

    refs(out)
    return dict(out)


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "reference" and isinstance(v, str)] + [
            r for k, v in node.items() if k != "reference" for r in _references(v)]
    if isinstance(node, list):
        return [r for x in node for r in _references(x)]
    return []


def _read_back(medplum: MedplumServer, doc: dict[str, Any]) -> int:
    """Every entry of ``doc`` is on the server, equal, and its references point at the resources the bundle
    meant; returns the number of references checked."""
    where: dict[str, str] = {}  # fullUrl -> Type/server id
    stored: dict[str, dict[str, Any]] = {}
    for e in doc["entry"]:
        res, req = e["resource"], e["request"]
        rtype = res["resourceType"]
        if rtype in fhir_split.SHARED_TYPES:
            found = medplum.get(f"{rtype}?{req['ifNoneExist']}")
            assert len(found.get("entry", [])) == 1, (rtype, req["ifNoneExist"])
            server = found["entry"][0]["resource"]
        else:
            server = medplum.get(f"{rtype}/{e['fullUrl'].removeprefix('urn:uuid:')}")
        where[e["fullUrl"]] = f"{rtype}/{server['id']}"
        stored[e["fullUrl"]] = server
        assert _strip(server) == _strip(res), rtype
    n = 0
    for e in doc["entry"]:
        sent, server = _references(e["resource"]), _references(stored[e["fullUrl"]])
        assert len(sent) == len(server)
        for want, got in zip(sent, server, strict=True):
            assert got == where[want], (e["resource"]["resourceType"], want, got)
            medplum.get(got)  # resolves
            n += 1
    return n


def test_medplum_refuses_the_whole_bundle_in_one_strict_transaction(medplum: MedplumServer,
                                                                    bundles: dict[str, dict[str, Any]]) -> None:
    """Why the sink splits: the server's own limit (an atomic transaction with conditional creates: 8 entries)."""
    doc = bundles["spirometry-pre"]
    r = httpx.post(medplum.base_url, json=doc, headers={"Content-Type": "application/fhir+json"}, timeout=60)
    print(f"\nwhole bundle ({len(doc['entry'])} entries) in one transaction: HTTP {r.status_code} {r.text[:160]}")
    assert r.status_code == 400 and "too many entries" in r.text


def test_every_bundle_kind_delivered_read_back_and_resent_idempotently(
        medplum: MedplumServer, bundles: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    medplum.reset()
    assert tuple(bundles) == KINDS
    refs = 0
    details: list[str] = []
    for kind, doc in bundles.items():
        details += _deliver(medplum, tmp_path / f"outbox-{kind}.sqlite3", {kind: doc})
        refs += _read_back(medplum, doc)
    first = medplum.counts()
    assert first["DiagnosticReport"] == 5  # spirometry pre, post, child, ECG (updated by the interpretation), watched
    (report,) = [r["resource"] for r in medplum.get("DiagnosticReport?status=final")["entry"]]
    assert report["conclusion"] == "Texte du médecin (test)."
    for d in details:
        assert d.startswith("split in ") and "reference resources 1: " in d and "examination: " in d, d
    # a resend of everything from a fresh outbox (a lost outbox, a reinstalled PC): nothing added, nothing reverted
    again = _deliver(medplum, tmp_path / "fresh-outbox.sqlite3", bundles)
    assert medplum.counts() == first
    (report,) = [r["resource"] for r in medplum.get("DiagnosticReport?status=final")["entry"]]
    assert report["conclusion"] == "Texte du médecin (test)."  # the ECG's resend left the interpreted report
    assert any("left out, already on the server: DiagnosticReport/" in d for d in again)
    print(f"\n{len(bundles)} bundle kinds delivered to Medplum (strict transactions), read back equal, "
          f"{refs} references resolved; counts {first}; resend: unchanged\noutbox record: {details[0]}")


def test_a_failed_examination_step_is_not_reported_delivered() -> None:
    """The reference step succeeded, the examination's transaction failed: the send fails (the outbox retries all
    steps; the conditional creates then match), it is never acknowledged."""
    doc = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
         "resource": {"resourceType": "Patient" if i == 0 else "Observation", "identifier": [{"system": "s",
                                                                                               "value": str(i)}]},
         "request": {"method": "POST", "url": "Patient" if i == 0 else "Observation",
                     "ifNoneExist": f"identifier=s|{i}"}} for i in range(4)]}
    calls: list[str] = []

    def send(d: Delivery) -> SendResult:
        kinds = {e["resource"]["resourceType"] for e in json.loads(d.bundle_json)["entry"]}
        calls.append(",".join(sorted(kinds)))
        if "Observation" in kinds:
            raise TransientDeliveryError("FHIR server busy or failing (HTTP 503)")
        return SendResult("HTTP 200", created=1, locations=("Patient/p0",))

    with pytest.raises(TransientDeliveryError):
        fhir_split.deliver(Delivery(1, "e", "spirometry", "2026-11-23", json.dumps(doc).encode()), 2, send,
                           lambda path: False)
    assert calls == ["Patient", "Observation"]
    steps = fhir_split.plan(doc, 2)
    assert [len(s.bundle["entry"]) for s in steps] == [1, 3]
    assert all(e["request"]["method"] == "PUT" and "ifNoneExist" not in e["request"]
               for e in steps[-1].bundle["entry"])
    assert not fhir_split.needs_split(doc, 4) and fhir_split.needs_split(doc, 3)
