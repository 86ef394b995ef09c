"""Rendering the 12-lead ECG PDF (3x4 + rhythm strip, 10 s, 500 Hz): target under 1 s."""

from __future__ import annotations

import statistics
import time

import numpy as np

from asalee_devices.reports.ecg_pdf import EcgReportContext, render_ecg_pdf
from asalee_devices.signal.ecg import from_leads
from asalee_devices.workflow.ecg_printout import printout_from_recording


def main() -> None:
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    rng = np.random.default_rng(0)
    beat = 900 * np.exp(-(((t % 0.85) - 0.3) ** 2) / (2 * 0.012**2))
    leads = {n: beat * (0.5 + k / 8) + rng.normal(0, 15, t.size)
             for k, n in enumerate(["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"])}
    rec = printout_from_recording(from_leads(leads, fs))
    ctx = EcgReportContext(patient_name="TEST", quality_verdict="acceptable", heart_rate_bpm=70)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        pdf = render_ecg_pdf(rec, ctx)
        times.append(time.perf_counter() - t0)
    print(f"ECG PDF render (12 leads, 10 s, 500 Hz): median {statistics.median(times) * 1000:.0f} ms "
          f"(target < 1000 ms), {len(pdf) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
