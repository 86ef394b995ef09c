"""Hostile inputs refused within bounded time and memory (issue 18): each case in a fresh process (peak RSS from
``resource.getrusage``), wall time of the refusal; the same process reading the real MUSE example is the peer.

Cases: a 64 MiB GE MUSE document of ``<a/>`` elements, 2 M nested elements, a WFDB record whose ``.dat`` is a FIFO
(must not hang), and spirometry CSVs of 3 M rows (under the file limit) and 10^7 rows. Run: ``python bench/bench_hostile_inputs.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ASALEE_SHARED_DATA", ROOT.parent / "shared" / "data"))

CHILD = r"""
import json, resource, sys, time
from asalee_devices.errors import AsaleeError
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
try:
    if kind == "ecg":
        from asalee_devices.drivers.ecg_files.base import read_ecg_file
        read_ecg_file(path)
    else:
        from asalee_devices.cli._flow_csv import read_flow_csv
        read_flow_csv(__import__("pathlib").Path(path), None)
    outcome = "read"
except AsaleeError as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
dt = time.perf_counter() - t0
try:  # this process's own peak (ru_maxrss on Linux keeps the forking parent's across exec)
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    rss_mb = int(hwm.split()[1]) / 1024
except OSError:
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"outcome": outcome, "s": dt, "rss_mb": rss_mb}))
"""


def run(kind: str, path: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if proc.returncode != 0:
        return {"outcome": f"exit {proc.returncode}: {proc.stderr.strip()[-200:]}", "s": float("nan"),
                "rss_mb": float("nan")}
    return dict(json.loads(proc.stdout))


def _flow_csv(path: Path, rows: int, fs_hz: int, batch: int = 100_000) -> Path:
    with path.open("w") as fh:
        fh.write("time_s,flow_l_s\n")
        for i in range(0, rows, batch):
            fh.write("".join(f"{(i + k) / fs_hz:.4f},0.1\n" for k in range(batch)))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        head, tail = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<RestingECG>', b"</RestingECG>"
        flat = t / "flat.xml"
        n = (64 * 1024 * 1024 - len(head) - len(tail)) // 4
        flat.write_bytes(head + b"<a/>" * n + tail)
        deep = t / "deep.xml"
        deep.write_bytes(head + b"<a>" * 2_000_000 + b"</a>" * 2_000_000 + tail)
        cases = [("ecg", "64 MiB MUSE of <a/> (16.8 M elements)", flat), ("ecg", "2 M nested elements", deep)]
        if hasattr(os, "mkfifo"):
            (t / "r.hea").write_text("r 1 500 5000\nr.dat 16 200 12 0 0 0 0 I\n")
            os.mkfifo(t / "r.dat")
            cases.append(("ecg", "WFDB record whose .dat is a FIFO", t / "r.hea"))
        for rows, fs_hz in ((3_000_000, 10_000), (10_000_000, 1_000)):
            csv = _flow_csv(t / f"rows-{rows}.csv", rows, fs_hz)
            cases.append(("csv", f"spirometry CSV, {rows:.0e} rows at {fs_hz} Hz ({csv.stat().st_size >> 20} MiB)",
                          csv))
        muse = SHARED / "ecg" / "ge-muse" / "MUSE_20200923_093504_79000_example.xml"
        if muse.is_file():
            cases.insert(0, ("ecg", "peer: the real MUSE example (read)", muse))
        print(f"{'case':<44} {'outcome':<60} {'time':>8} {'peak RSS':>9}")
        for kind, label, path in cases:
            r = run(kind, path)
            print(f"{label:<44} {str(r['outcome'])[:60]:<60} {float(r['s']):7.2f}s {float(r['rss_mb']):7.0f}MB")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
