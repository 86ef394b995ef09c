"""The main job's latencies (issue 6): end of a blow -> results on screen (target < 100 ms), ECG capture -> verdict,
ECG PDF rendering (target < 1 s), and delivering one examination (recordings + PDF + bundle + outbox + folder sink).

"End of blow -> results" is measured on the live path: the simulated USB turbine streams the blow through the real
driver and session; the clock starts when the session publishes the blow's last block and stops when the nurse's
feedback (indices, acceptability, messages, grades, stopping advice) is handed to the display callback.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from asalee_devices.config import Config
from asalee_devices.devices.session import LiveBlock
from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.fhir_out.pipeline import patient_from_mapping
from asalee_devices.reports.ecg_pdf import EcgReportContext
from asalee_devices.simulators.generators.ecg import twelve_lead_ecg
from asalee_devices.simulators.generators.spirometry import forced_expiration
from asalee_devices.workflow.acquisition import run_spirometry
from asalee_devices.workflow.delivery import deliver_ecg, deliver_spirometry
from asalee_devices.workflow.ecg_exam import EcgExamination
from asalee_devices.workflow.ecg_printout import render_ecg_report
from asalee_devices.workflow.setup import DEMO_PATIENT, ReferenceSubject, setup_from_config
from asalee_devices.workflow.spirometry_exam import BlowFeedback, SpirometryExamination

SUBJECT = ReferenceSubject(sex="female", age_years=47.7, height_cm=165.0)


def _ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:.1f} ms, max {max(xs) * 1000:.1f} ms"


def live_blow_to_results() -> list[float]:
    exam = SpirometryExamination(SUBJECT)
    last_block = [0.0]
    lat: list[float] = []

    def on_block(b: LiveBlock) -> None:
        last_block[0] = time.perf_counter()

    def on_blow(fb: BlowFeedback) -> None:
        lat.append(time.perf_counter() - last_block[0])

    run_spirometry(exam, "sim://turbine?script=hesitant_start,ok,ok,ok,ok,ok,ok,ok&speed=20", blow_s=12.0,
                   max_blows=8, on_block=on_block, on_blow=on_blow, proceed=lambda fb: True)
    return lat


def add_blow_only(fs_hz: float) -> list[float]:
    exam = SpirometryExamination(SUBJECT)
    out = []
    for k in range(8):
        rec = forced_expiration(fvc_l=3.3 + 0.01 * k, pef_l_s=6.8, fs_hz=fs_hz, seed=k)
        t0 = time.perf_counter()
        exam.add_blow(rec)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    lat = live_blow_to_results()
    print(f"end of blow -> results (live turbine simulator, 100 Hz, blows 1-{len(lat)}): {_ms(lat)} "
          f"(target < 100 ms)")
    for fs in (100.0, 1000.0):
        t = add_blow_only(fs)
        print(f"  of which analysis (add_blow, whole session re-graded, 8 blows at {fs:g} Hz): {_ms(t)}")

    ecg_times, pdf_times = [], []
    for k in range(5):
        exam = EcgExamination()
        rec = twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=k)
        t0 = time.perf_counter()
        fb = exam.add_capture(rec)
        ecg_times.append(time.perf_counter() - t0)
        assert fb.analysis is not None
        t0 = time.perf_counter()
        render_ecg_report(fb.analysis, EcgReportContext(patient_name="TEST", quality_verdict="ok"))
        pdf_times.append(time.perf_counter() - t0)
    print(f"ECG capture -> verdict (12 leads, 10 s, 500 Hz, cleaning + quality + R peaks): {_ms(ecg_times)}")
    print(f"ECG PDF render (3x4 + rhythm strip, cleaned trace): {_ms(pdf_times)} (target < 1000 ms)")

    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(Config(), sink=replace(Config().sink, folder=str(Path(tmp) / "out")),
                      outbox=str(Path(tmp) / "out" / "outbox.sqlite3"))
        setup = setup_from_config(cfg, patient_from_mapping(DEMO_PATIENT))
        dev = DeviceIdentity("Asalee Sim", "bench", "0", "1", "bench")
        spiro_t, ecg_t = [], []
        for k in range(3):
            exam = SpirometryExamination(SUBJECT)
            for j in range(3):
                exam.add_blow(forced_expiration(fvc_l=3.3 + 0.01 * j + 0.1 * k, pef_l_s=6.8, fs_hz=100.0, seed=j))
            t0 = time.perf_counter()
            r = deliver_spirometry(exam, setup, device=dev, performed_at=datetime.now(UTC))
            spiro_t.append(time.perf_counter() - t0)
            assert r.status == "sent"
            ecg = EcgExamination()
            ecg.add_capture(twelve_lead_ecg(duration_s=10.0, fs_hz=500.0, seed=10 + k))
            t0 = time.perf_counter()
            r = deliver_ecg(ecg, setup, device=dev, performed_at=datetime.now(UTC))
            ecg_t.append(time.perf_counter() - t0)
            assert r.status == "sent"
        print(f"deliver spirometry (store blows, PDF, bundle + validation, outbox, folder sink): {_ms(spiro_t)}")
        print(f"deliver ECG (store capture, PDF, bundle + validation, outbox, folder sink): {_ms(ecg_t)}")


if __name__ == "__main__":
    main()
