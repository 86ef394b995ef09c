"""Every output of one examination rendered from its canonical result, PDF excluded (issue 19).

The demo's spirometry and ECG are recorded first (``asalee-devices demo``, folder sink); then, from each stored
examination (``results.json`` read back, the context of the demo, the best blow's curve / the kept ECG trace as
plain arrays built once outside the timing), the median over N runs of each renderer:

- results JSON (``canonical_json`` of the document: what is stored and what the replay compares);
- FHIR bundle (``spirometry_bundle`` per phase / ``ecg_bundle``: built, validated by fhir.resources R4B, serialised);
- HL7 v2 ORU^R01 (``bundle_to_oru`` of that bundle's JSON);
- HPRIM Net (``hprim_payload``: header, text, RES lines, Latin-1);
- GDT out (the 6302 examination request for the vendor program, ``drivers.gdt.encode``: the one GDT record we
  write for an examination; results come back from the vendor as 6310).

Target: the sum < 20 ms per examination. Peers in the same run: ``json.loads`` of the stored ``results.json``, and
the FHIR bundle split in parts: our mapping alone (the same renderer with ``_build.finish`` replaced by a plain
``json.dumps`` of the assembled bundle), fhir.resources R4B's validation alone (``Bundle.model_validate_json`` of that
JSON, what ``finish`` adds), our serialisation of the validated model (``to_json``: ``fhir_out._dump.dump_json``) and,
for comparison, fhir.resources' own ``model_dump_json`` of the same model (the same bytes; what ``to_json`` called
before).

Run: PYTHONPATH=src:. .venv/bin/python bench/bench_canonical.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from fhir.resources.R4B.bundle import Bundle  # noqa: E402

from asalee_devices.canonical import CanonicalResult, load_results, phase  # noqa: E402
from asalee_devices.config import Config  # noqa: E402
from asalee_devices.devices.gdt_bridge import GdtPatient, GdtProgram, request_fields  # noqa: E402
from asalee_devices.drivers.gdt import encode  # noqa: E402
from asalee_devices.drivers.identity import DeviceIdentity  # noqa: E402
from asalee_devices.fhir_out import ecg_bundle, spirometry_bundle, to_json  # noqa: E402
from asalee_devices.fhir_out.context import ExamContext, PatientContext, PerformerContext  # noqa: E402
from asalee_devices.fhir_out.hl7v2 import bundle_to_oru  # noqa: E402
from asalee_devices.workflow.ecg_exam import EcgExamination  # noqa: E402
from asalee_devices.workflow.rendered import hprim_payload  # noqa: E402
from asalee_devices.workflow.replay import rebuild  # noqa: E402
from asalee_devices.workflow.results import canonical_json, ecg_trace, flow_curve  # noqa: E402
from asalee_devices.workflow.setup import ExaminationSetup  # noqa: E402

PATIENT = PatientContext(family="TESTPATIENT", given=("Marie", "Louise"), birth_date=date(1979, 3, 14),
                         sex="female", ins="279035121518989", ins_kind="INS-NIR-TEST", identity_qualified=True,
                         birth_place_cog="51215")
NURSE, GP = PerformerContext("INFIRMIERE", "Demo", rpps="10000000001"), PerformerContext("MEDECIN", "Demo")
PDF = b"%PDF-1.4\n% bench\n%%EOF\n"


def _median(fn: Callable[[], Any], n: int) -> float:
    fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _outputs(folder: Path) -> tuple[str, dict[str, Callable[[], Any]]]:
    manifest = json.loads((folder / "exam.json").read_bytes())
    data = (folder / "results.json").read_bytes()
    doc = load_results(data)
    kind = manifest["kind"]
    device = DeviceIdentity(**manifest["device"])
    ctx = ExamContext(exam_id=manifest["exam_id"], performed_at=datetime.fromisoformat(manifest["performed_at"]),
                      performer=NURSE, gp=GP, device=device, software_version="0.1.0", pdf=PDF, test_mode=True)
    setup = ExaminationSetup(patient=PATIENT, performer=NURSE, gp=GP, config=Config(), output_dir=folder.parent)
    _doc, exam = rebuild(folder)  # the arrays a bundle samples, built once (not timed)
    if isinstance(exam, EcgExamination):
        analysis = exam.kept_analysis
        assert analysis is not None
        result = CanonicalResult(doc, ctx, PATIENT, trace=ecg_trace(analysis.cleaned))

        def build() -> list[Any]:
            assert result.trace is not None
            return [ecg_bundle(result.exam, result.patient, result.results, result.trace)]
    else:
        curves = {}
        for name in exam.phases:
            ph = exam.phase_result(name)
            assert ph is not None and ph.session is not None and phase(doc, name) is not None
            curves[name] = flow_curve(ph.recordings[ph.analysed[ph.session.best_test_index or 0]])
        result = CanonicalResult(doc, ctx, PATIENT, curve=curves["pre"], post_curve=curves.get("post"))

        def build() -> list[Any]:
            return [spirometry_bundle(result.exam, result.patient, result.results, phase=name,
                                      curve=result.curve if name == "pre" else result.post_curve)
                    for name in exam.phases]

    def fhir() -> list[str]:
        return [to_json(b) for b in build()]

    bundles = fhir()
    models = [Bundle.model_validate_json(b) for b in bundles]
    assert [m.model_dump_json(exclude_none=True) for m in models] == bundles  # to_json: the same bytes
    program = GdtProgram(receiver_id="SPIR", procedure="SPIRO" if kind == "spirometry" else "EKG")
    gdt_patient = GdtPatient("4711", PATIENT.family, PATIENT.given[0], PATIENT.birth_date, sex=PATIENT.sex)
    return kind, {
        "results JSON": lambda: canonical_json(result.results),
        "FHIR bundle": fhir,
        "HL7 v2": lambda: [bundle_to_oru(b, control_id="c1") for b in bundles],
        "HPRIM": lambda: hprim_payload(setup, manifest, result.results, kind),
        "GDT out": lambda: encode("6302", request_fields(gdt_patient, program), version=program.version,
                                  charset=program.charset),
        "peer json.loads": lambda: json.loads(data),
        "peer FHIR validation": lambda: [Bundle.model_validate_json(b) for b in bundles],
        "peer FHIR mapping": lambda: _mapping_only(build),
        "peer to_json": lambda: [to_json(m) for m in models],
        "peer model_dump_json": lambda: [m.model_dump_json(exclude_none=True) for m in models],
    }


def _mapping_only(build: Callable[[], list[Any]]) -> list[str]:
    """The bundles' JSON as our mapping assembles it, without fhir.resources (validation and serialisation)."""
    from asalee_devices.fhir_out import _build

    real = _build.finish
    _build.finish = lambda b: b.bundle()  # type: ignore[assignment,return-value]
    try:
        return [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in build()]
    finally:
        _build.finish = real


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "demo"
        subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", "demo", "--out", str(out), "--speed", "50"],
                       check=True, capture_output=True, cwd=d, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        for folder in sorted((out / "recordings").iterdir()):
            kind, outputs = _outputs(folder)
            times = {name: _median(fn, n) for name, fn in outputs.items()}
            peer = times.pop("peer json.loads")
            validation = times.pop("peer FHIR validation")
            mapping = times.pop("peer FHIR mapping")
            dump = times.pop("peer to_json")
            model_dump = times.pop("peer model_dump_json")
            total = sum(times.values())
            parts = ", ".join(f"{name} {t * 1e3:.2f}" for name, t in times.items())
            ours = total - times["FHIR bundle"] + mapping
            print(f"{kind:<10}: all outputs {total * 1e3:6.2f} ms (target < 20 ms) = {parts} ms; FHIR bundle ~ "
                  f"our mapping {mapping * 1e3:.2f} ms + fhir.resources validation {validation * 1e3:.2f} ms + "
                  f"to_json {dump * 1e3:.2f} ms (fhir.resources' model_dump_json: {model_dump * 1e3:.2f} ms); "
                  f"all outputs with our mapping only {ours * 1e3:.2f} ms; peer json.loads {peer * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
