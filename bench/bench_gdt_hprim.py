"""HPRIM rendering and GDT import benchmarks (issue 19).

1. Rendering the HPRIM Net file of one examination from its stored canonical results (the demo's spirometry and
   ECG, run first through ``asalee-devices demo --sink hprim``; PDF excluded), target < 20 ms. Peer in the same
   run: ``canonical_json`` of the same results (the results-JSON output, the cheapest renderer there is).
2. Importing a GDT result folder of N = 1000 spirometry 6310 files (distinct patients) through the watched folder,
   the importer and the HPRIM sink (ledger, store exam.json/results.json/report.pdf, outbox, .hpr + .pdf): files/s.
   Peer in the same run: the GDT codec alone decoding the same files.

Run: PYTHONPATH=src:. .venv/bin/python bench/bench_gdt_hprim.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from asalee_devices.config import Config, SinkConfig  # noqa: E402
from asalee_devices.devices.gdt_bridge import gdt_watched_folder  # noqa: E402
from asalee_devices.drivers.gdt import decode  # noqa: E402
from asalee_devices.fhir_out.context import PatientContext, PerformerContext  # noqa: E402
from asalee_devices.workflow.gdt_import import GdtImporter  # noqa: E402
from asalee_devices.workflow.rendered import hprim_payload  # noqa: E402
from asalee_devices.workflow.results import canonical_json  # noqa: E402
from asalee_devices.workflow.setup import ExaminationSetup  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "gdt" / "spirometry_6310.gdt"


def _time(fn, repeat: int = 200) -> float:  # type: ignore[no-untyped-def]
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def bench_render(tmp: Path) -> None:
    out = tmp / "demo"
    subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "demo", "--sink", "hprim", "--out", str(out),
                    "--speed", "50"], check=True, capture_output=True, cwd=tmp,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    patient = PatientContext(family="TESTPATIENT", given=("Marie", "Louise"), birth_date=date(1979, 3, 14),
                             sex="female", ins="279035121518989", ins_kind="INS-NIR-TEST", identity_qualified=True,
        birth_place_cog="51215")
    setup = ExaminationSetup(patient=patient, performer=PerformerContext("INFIRMIERE", "Demo"),
                             gp=PerformerContext("MEDECIN", "Demo"), config=Config(), output_dir=out)
    for folder in sorted((out / "recordings").iterdir()):
        manifest = json.loads((folder / "exam.json").read_bytes())
        results = json.loads((folder / "results.json").read_bytes())
        kind = manifest["kind"]
        hprim_s = _time(lambda m=manifest, r=results, k=kind: hprim_payload(setup, m, r, k))
        json_s = _time(lambda r=results: canonical_json(r))
        print(f"render {kind:<10}: HPRIM {hprim_s * 1e3:6.3f} ms (target < 20 ms); results JSON peer "
              f"{json_s * 1e3:6.3f} ms; ratio HPRIM/JSON {hprim_s / json_s:4.1f}")


def bench_device_result(tmp: Path) -> None:
    """All outputs of one GDT spirometry from its stored canonical results: HPRIM, FHIR bundle, results JSON."""
    from asalee_devices.drivers.identity import DeviceIdentity
    from asalee_devices.fhir_out import to_json
    from asalee_devices.fhir_out.context import ExamContext
    from asalee_devices.fhir_out.device_results import device_spirometry_bundle

    inbox = tmp / "exchange"
    inbox.mkdir()
    (inbox / "spiro_4711.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (inbox / "r.gdt").write_bytes(FIXTURE.read_bytes())
    cfg = replace(Config(), sink=SinkConfig(type="hprim", folder=str(tmp / "record")),
                  outbox=str(tmp / "out" / "outbox.sqlite3"))
    importer = GdtImporter.from_config(cfg)
    folder = gdt_watched_folder(inbox, importer, settle_s=0.0)
    folder.scan_once()
    folder.close()
    importer.close()
    (exam_dir,) = importer.recordings_dir.iterdir()
    manifest = json.loads((exam_dir / "exam.json").read_bytes())
    results = json.loads((exam_dir / "results.json").read_bytes())
    patient = PatientContext(family="TESTPATIENT", given=("Zoe",), birth_date=date(1979, 3, 14), sex="female",
                             local_id="4711", local_system="urn:test:patients")
    setup = ExaminationSetup(patient=patient, performer=PerformerContext("INFIRMIERE", "Demo"),
                             gp=PerformerContext("MEDECIN", "Demo"), config=cfg, output_dir=tmp / "out")
    ctx = ExamContext(exam_id=manifest["exam_id"], performed_at=datetime.fromisoformat(manifest["performed_at"]),
                      performer=setup.performer, gp=setup.gp, device=DeviceIdentity("SPIR", "SPIRO"),
                      software_version="0.1.0", test_mode=True)
    params = results["phases"]["pre"]["parameters"]
    hprim_s = _time(lambda: hprim_payload(setup, manifest, results, "spirometry"))
    fhir_s = _time(lambda: to_json(device_spirometry_bundle(ctx, patient, params, computed_by="logiciel")), 50)
    json_s = _time(lambda: canonical_json(results))
    print(f"GDT spirometry, all outputs from canonical results: HPRIM {hprim_s * 1e3:.3f} ms + FHIR bundle "
          f"(built, validated, serialised) {fhir_s * 1e3:.2f} ms + results JSON {json_s * 1e3:.3f} ms = "
          f"{(hprim_s + fhir_s + json_s) * 1e3:.2f} ms (target < 20 ms)")


def bench_import(tmp: Path, n: int) -> None:
    inbox = tmp / "exchange"
    inbox.mkdir()
    (inbox / "spiro_4711.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    template = FIXTURE.read_bytes()
    for i in range(n):
        pid = f"{i:04d}"
        data = template.replace(b"01330004711", b"0133000" + pid.encode())
        (inbox / f"r{i:04d}.gdt").write_bytes(data)
    files = sorted(inbox.glob("*.gdt"))
    t0 = time.perf_counter()
    for p in files:
        decode(p.read_bytes())
    decode_s = time.perf_counter() - t0
    cfg = replace(Config(), sink=SinkConfig(type="hprim", folder=str(tmp / "record")),
                  outbox=str(tmp / "out" / "outbox.sqlite3"))
    importer = GdtImporter.from_config(cfg)
    folder = gdt_watched_folder(inbox, importer, settle_s=0.0)
    t0 = time.perf_counter()
    outcomes = folder.scan_once()
    import_s = time.perf_counter() - t0
    folder.close()
    importer.close()
    done = sum(o.status == "done" for o in outcomes)
    hpr = len(list((tmp / "record").glob("*.hpr")))
    print(f"import {n} GDT results: {done} done, {hpr} .hpr; {n / import_s:7.1f} files/s "
          f"({import_s * 1e3 / n:5.2f} ms/file); codec-only peer {n / decode_s:8.0f} files/s; "
          f"ratio {decode_s and import_s / decode_s:5.0f}x")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as d:
        bench_render(Path(d))
    with tempfile.TemporaryDirectory() as d:
        bench_device_result(Path(d))
    with tempfile.TemporaryDirectory() as d:
        bench_import(Path(d), n)


if __name__ == "__main__":
    main()
