"""FHIR output benchmarks.

1. Build + validate (fhir.resources R4B) + serialise the transaction Bundle of a 12-lead, 10-s, 500 Hz ECG
   examination (target < 50 ms). Peer in the same run: fhir.resources parsing the same bundle JSON
   (``Bundle.model_validate_json``), the floor any fhir.resources-based builder pays for validation.
2. Outbox throughput: N spirometry examinations persisted in the SQLite outbox, then delivered as transaction
   Bundles to the loopback FHIR test server (conditional create) by one sender, and in the same run to Medplum's
   FHIR router (tests/node/fhir_server.mjs, strict transactions, the sink splitting each exam within the server's
   8-entry limit) (target >= 100 exams/s to each).
3. Busy peer: one outbox pass over 20 due messages while the server answers 500: how long the outbox thread is
   held (the sink sends once; retries are the outbox's, scheduled, never slept).

Run: PYTHONPATH=src:. /work/devvenv/bin/python bench/bench_fhir.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.fhir_test_server import FhirTestServer  # noqa: E402

from asalee_devices.drivers.identity import DeviceIdentity  # noqa: E402
from asalee_devices.fhir_out import ecg_bundle, spirometry_bundle, to_json  # noqa: E402
from asalee_devices.fhir_out.context import ExamContext, PatientContext, PerformerContext  # noqa: E402
from asalee_devices.fhir_out.outbox import Outbox, RetryPolicy  # noqa: E402
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink  # noqa: E402
from asalee_devices.signal.ecg.recording import STANDARD_LEADS, EcgRecording  # noqa: E402
from asalee_devices.signal.ecg.results import EcgAnalysis, EcgQuality, HeartRate, LeadQuality  # noqa: E402
from asalee_devices.signal.spirometry.reference import predict  # noqa: E402
from asalee_devices.signal.spirometry.session import analyse_session  # noqa: E402
from asalee_devices.simulators.generators.spirometry import forced_expiration  # noqa: E402

PATIENT = PatientContext(family="TESTPATIENT", given=("Marie",), birth_date=date(1979, 3, 14), sex="female",
                         ins="279035121518989", ins_kind="INS-NIR-TEST", identity_qualified=True,
                         birth_place_cog="51215")


def exam(exam_id: str) -> ExamContext:
    return ExamContext(exam_id=exam_id, performed_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
                       performer=PerformerContext("INFIRMIERE", "Anne", rpps="10000000001"),
                       gp=PerformerContext("MEDECIN", "Paul", rpps="10000000002"),
                       device=DeviceIdentity("Bench", "ECG12", "SN1", "1.0"), software_version="0.1.0",
                       raw_sha256="ab" * 32, test_mode=True)


def ecg_analysis() -> EcgAnalysis:
    rng = np.random.default_rng(0)
    t = np.arange(5000) / 500.0
    base = 1000.0 * np.sin(2 * np.pi * 1.2 * t) ** 15
    samples = np.rint((base + rng.normal(0, 20, (12, 5000))) / 2.5) * 2.5
    rec = EcgRecording(samples_uv=samples, fs_hz=500.0, leads=STANDARD_LEADS, resolution_uv=2.5)
    q = EcgQuality("acceptable", tuple(LeadQuality(ld, True, 2000.0, 50.0, 0.01, 10.0, 0.0) for ld in STANDARD_LEADS),
                   (), 50.0)
    r = np.arange(0.2, 10, 0.83)
    return EcgAnalysis(rec, rec, q, HeartRate(r, np.diff(r) * 1000, 72.0, leads_used=("II",)))


def bench_ecg(runs: int = 30) -> None:
    from fhir.resources.R4B.bundle import Bundle

    a = ecg_analysis()
    e = exam("bench-ecg")
    ecg_bundle(e, PATIENT, a)  # warm-up (imports, pydantic schema build)
    build: list[float] = []
    only: list[float] = []
    text = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        bundle = ecg_bundle(e, PATIENT, a)
        t1 = time.perf_counter()
        text = to_json(bundle)
        build.append((time.perf_counter() - t0) * 1000)
        only.append((t1 - t0) * 1000)
    parse: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        Bundle.model_validate_json(text)
        parse.append((time.perf_counter() - t0) * 1000)
    ours, peer = statistics.median(build), statistics.median(parse)
    print(f"ECG bundle 12 leads x 10 s x 500 Hz ({len(text) / 1024:.0f} KiB JSON): build+validate+serialise "
          f"median {ours:.1f} ms (min {min(build):.1f}, max {max(build):.1f}); target < 50 ms: "
          f"{'met' if ours < 50 else 'NOT met'} ({50 / ours:.1f}x margin)")
    print(f"  of which build + validate (the criterion): median {statistics.median(only):.1f} ms; "
          f"serialise {ours - statistics.median(only):.1f} ms")
    print(f"  peer fhir.resources model_validate_json of the same bundle: median {peer:.1f} ms; "
          f"ratio ours / parse-only = {ours / peer:.2f}")


def _deliver_all(payloads: list[bytes], sink: FhirRestSink) -> tuple[float, float, dict[str, int]]:
    """Enqueue then drain ``payloads`` through a fresh outbox; returns (enqueue s, delivery s, states)."""
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "outbox.sqlite3", policy=RetryPolicy(base_s=0.01))
        t0 = time.perf_counter()
        for i, p in enumerate(payloads):
            box.enqueue(exam_id=f"bench-{i:05d}", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                        payload=p)
        t_enqueue = time.perf_counter() - t0
        t0 = time.perf_counter()
        counts = box.drain(sink, timeout_s=600)
        t_send = time.perf_counter() - t0
        sink.close()
        box.close()
    return t_enqueue, t_send, counts


def bench_outbox(n: int = 300) -> None:
    """Same payloads, same run: the Python loopback test server (whole bundle, one transaction each) and Medplum's
    router over its in-memory repository (strict transactions: 8 conditional entries, so each exam goes in two
    transactions: reference resources, then the examination)."""
    from tests.fhir.medplum_server import MEDPLUM_STRICT_MAX_ENTRIES, MedplumServer, unavailable

    recs = [forced_expiration(fvc_l=3.5 + 0.03 * i, pef_l_s=7.0, fs_hz=100.0, seed=i) for i in range(3)]
    session = analyse_session(recs, age_years=47)
    preds = [predict(p, sex="female", age_years=47, height_cm=165) for p in ("fev1", "fvc", "fev1_fvc")]
    payloads = [to_json(spirometry_bundle(replace(exam(f"bench-{i:05d}")), PATIENT, session, preds)).encode()
                for i in range(n)]
    server = FhirTestServer().start()
    t_enqueue, t_send, counts = _deliver_all(payloads, FhirRestSink(server.base_url))
    server.stop()
    rate = n / t_send
    print(f"Outbox: {n} spirometry exams ({len(payloads[0]) / 1024:.0f} KiB bundles, "
          f"{len(payloads[0]) and payloads[0].count(b'fullUrl')} entries each): enqueue {n / t_enqueue:.0f} exams/s "
          f"(durable, synchronous=FULL); delivery to the loopback server {rate:.0f} exams/s "
          f"({t_send * 1000 / n:.1f} ms/exam incl. the server's work); states {counts}; target >= 100/s: "
          f"{'met' if rate >= 100 else 'NOT met'}")
    print(f"  server stored {server.count()} resources, {server.transactions} transactions")
    problem = unavailable()
    if problem:
        print(f"Medplum server: skipped ({problem})")
        return
    medplum = MedplumServer().start()
    try:
        sink = FhirRestSink(medplum.base_url, transaction_max_entries=MEDPLUM_STRICT_MAX_ENTRIES, timeout_s=60)
        _, t_medplum, counts = _deliver_all(payloads, sink)
        stored = medplum.counts()
    finally:
        medplum.stop()
    m_rate = n / t_medplum
    print(f"Outbox -> Medplum router (strict transactions, split in 2 transactions per exam): {m_rate:.0f} exams/s "
          f"({t_medplum * 1000 / n:.1f} ms/exam); states {counts}; target >= 100/s: "
          f"{'met' if m_rate >= 100 else 'NOT met'}; ratio Python test server / Medplum = {rate / m_rate:.2f}")
    print(f"  Medplum stored {sum(stored.values())} resources: {stored}")


def bench_busy_peer(n: int = 20) -> None:
    """One delivery pass over ``n`` due messages while the server answers 500 to everything: how long the outbox
    thread is held (an outbox thread also serves the web app's status requests). The sink as configured by
    default (``FhirRestSink(base_url)``)."""
    recs = [forced_expiration(fvc_l=3.5 + 0.03 * i, pef_l_s=7.0, fs_hz=100.0, seed=i) for i in range(3)]
    session = analyse_session(recs, age_years=47)
    preds = [predict(p, sex="female", age_years=47, height_cm=165) for p in ("fev1", "fvc", "fev1_fvc")]
    payload = to_json(spirometry_bundle(exam("bench-busy"), PATIENT, session, preds)).encode()
    server = FhirTestServer().start()
    server.always = "500"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            box = Outbox(Path(tmp) / "outbox.sqlite3")
            for i in range(n):
                box.enqueue(exam_id=f"busy-{i:03d}", kind="spirometry", sink="fhir", performed_on="2026-11-23",
                            payload=payload)
            sink = FhirRestSink(server.base_url)
            t0 = time.perf_counter()
            states = box.deliver_due(sink)
            held = time.perf_counter() - t0
            sink.close()
            box.close()
    finally:
        server.stop()
    print(f"Busy peer (HTTP 500 to everything): one pass over {n} due messages held the outbox thread "
          f"{held:.2f} s ({held * 1000 / n:.0f} ms/message), {server.requests} requests; "
          f"states {sorted(set(states.values()))}")


if __name__ == "__main__":
    bench_ecg()
    bench_outbox()
    bench_busy_peer()
