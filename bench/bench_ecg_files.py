"""Per-file decode time of the ECG file readers vs ecgdatakit, in the same run.

Run: PYTHONPATH=src /work/devvenv/bin/python bench/bench_ecg_files.py [--repeat N]
Each reader decodes each file N times after one warm-up, the two readers alternating in rounds of 5 decodes (so
that both see the same machine load, each with its own data in the caches); the median time of each is reported. The ratio is ecgdatakit / asalee-devices
(higher = we are faster; target >= 5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from asalee_devices.drivers.ecg_files import read_ecg_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg"
FILES = [
    ("SCP-ECG", "ecgtoolkit-example/Example.scp"),
    ("HL7 aECG", "ecgtoolkit-example/Example.xml"),
    ("DICOM (ECG Toolkit)", "ecgtoolkit-example/Example.dcm"),
    ("DICOM (Mortara ELI 250)", "mortara-eli250-dicom/waveform_ecg.dcm"),
    ("GE MUSE XML", "ge-muse/MUSE_20200923_093504_79000_example.xml"),
    ("Philips Sierra XML 1.03", "philips-sierra/129DYPRG.XML"),
    ("Contec ECG90A", "contec-ecg90a/0000053.ECG"),
]


ROUND = 5


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_ms(fn: Callable[[], object], repeat: int, peer: Callable[[], object] | None = None,
              ) -> tuple[float, float | None]:
    """Median ms of ``fn`` and, when given, of ``peer``, timed alternately in rounds of :data:`ROUND` decodes
    (after one warm-up decode per round)."""
    ours: list[float] = []
    theirs: list[float] = []
    while len(ours) < repeat:
        fn()
        ours.extend(_once(fn) for _ in range(ROUND))
        if peer is not None:
            peer()
            theirs.extend(_once(peer) for _ in range(ROUND))
    return (statistics.median(ours) * 1000.0,
            statistics.median(theirs) * 1000.0 if theirs else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"test data not found at {DATA}", file=sys.stderr)
        return 1
    try:
        from ecgdatakit import FileParser

        peer = FileParser()
    except ImportError:
        peer = None
        print("ecgdatakit not installed (pip install -e .[bench]): peer column empty")
    print(f"{'file':<26}{'asalee ms':>10}{'ecgdatakit ms':>15}{'ratio':>8}")
    ratios = []
    for label, rel in FILES:
        path = DATA / rel
        theirs_txt, ratio_txt = "n/a", "-"
        peer_fn: Callable[[], object] | None = None
        if peer is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    peer.parse(path)
                except Exception as exc:  # the peer rejects the file
                    theirs_txt = f"fails ({type(exc).__name__})"
                else:
                    peer_fn = lambda p=path: peer.parse(p)  # type: ignore[misc]  # noqa: E731
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours, theirs = median_ms(lambda p=path: read_ecg_file(p), args.repeat, peer_fn)  # type: ignore[misc]
        if theirs is not None:
            theirs_txt = f"{theirs:.2f}"
            ratios.append(theirs / ours)
            ratio_txt = f"{theirs / ours:.1f}x"
        print(f"{label:<26}{ours:>10.2f}{theirs_txt:>15}{ratio_txt:>8}")
    if ratios:
        print(f"geometric mean ratio: {statistics.geometric_mean(ratios):.1f}x; "
              f"minimum {min(ratios):.1f}x (target >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
