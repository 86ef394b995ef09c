"""Spirometry benchmark: one 15-s 1 kHz manoeuvre, an 8-blow session, GLI prediction for 100 000 subjects.

Peer: a naive per-row Python loop over the same LMS formula (the way calculators are often ported), for the
vectorised GLI prediction ratio. Run: PYTHONPATH=src python bench/bench_spirometry.py
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from asalee_devices.signal.spirometry.indices import manoeuvre_indices
from asalee_devices.signal.spirometry.reference import _table, predict
from asalee_devices.signal.spirometry.session import analyse_session
from asalee_devices.simulators.generators.spirometry import forced_expiration


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def naive_gli(sex: np.ndarray, age: np.ndarray, ht: np.ndarray) -> list[float]:
    doc = _table("gli-global-2022")
    grid = doc["_age"].tolist()
    out = []
    for s, a, h in zip(sex.tolist(), age.tolist(), ht.tolist(), strict=True):
        c = doc["parameters"]["fev1"][s]
        k = min(int((a - grid[0]) / 0.25), len(grid) - 2)
        f = (a - grid[k]) / 0.25
        spl = {x: doc["_spl"][f"fev1.{s}.{x}"] for x in "MSL"}
        ms = float(spl["M"][k] * (1 - f) + spl["M"][k + 1] * f)
        m = math.exp(c["a"][0] + c["a"][1] * math.log(h) + c["a"][2] * math.log(a) + ms)
        out.append(m)
    return out


def main() -> None:
    rec = forced_expiration("obstructive", fvc_l=3.0, pef_l_s=5.0, fs_hz=1000.0, inspiration=False)
    n = int(15 * 1000)
    rec15 = type(rec)(flow_l_s=np.pad(rec.flow_l_s, (0, max(0, n - rec.n_samples)))[:n], fs_hz=1000.0)
    t_one = median_ms(lambda: manoeuvre_indices(rec15), 50)
    blows = [forced_expiration("normal", fvc_l=4.5 - 0.02 * i, pef_l_s=9.0, fs_hz=1000.0, seed=i) for i in range(8)]
    t_sess = median_ms(lambda: analyse_session(blows, age_years=55), 10)
    rng = np.random.default_rng(0)
    N = 100_000
    sex = np.where(rng.random(N) < 0.5, "male", "female")
    age = rng.uniform(5, 90, N)
    ht = rng.uniform(110, 200, N)
    t_gli = median_ms(lambda: [predict(p, sex=sex, age_years=age, height_cm=ht)
                               for p in ("fev1", "fvc", "fev1_fvc")], 5)
    t_naive = median_ms(lambda: naive_gli(sex[:10_000], age[:10_000], ht[:10_000]), 3) * 10 / 1
    t_vec1 = median_ms(lambda: predict("fev1", sex=sex, age_years=age, height_cm=ht), 5)
    t_pyspiro = None
    try:
        import pandas as pd
        import pyspiro

        df = pd.DataFrame({"sex": (sex == "male").astype(int), "age": age, "height": ht})
        peer = pyspiro.BOWERMAN_2022()
        t_pyspiro = median_ms(lambda: peer.compute(df, 1, metrics=("lln", "uln")), 3)
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "subjects.csv", Path(tmp) / "predictions.csv"
        eqs = rng.choice(["gli-global-2022", "gli-2012", "ecsc-1993"], N, p=[0.8, 0.1, 0.1])
        src.write_text("sex,age,height_cm,equation\n" + "".join(
            f"{s},{a:.2f},{h:.1f},{e}\n" for s, a, h, e in zip(sex.tolist(), np.clip(age, 18, 70).tolist(),
                                                              ht.tolist(), eqs.tolist(), strict=True)))
        cmd = [sys.executable, "-m", "asalee_devices.cli.main", "spirometry", "predict", "--input", str(src),
               "--output", str(dst)]
        walls = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            walls.append((time.perf_counter() - t) * 1000.0)
        t_start = median_ms(lambda: subprocess.run([sys.executable, "-c", "import numpy, asalee_devices.cli.main"],
                                                   check=True), 3)
    print(f"one 15-s manoeuvre at 1 kHz ({rec15.n_samples} samples): {t_one:.2f} ms median (target < 5 ms)")
    print(f"8-blow session (indices + acceptability + grading, ~{blows[0].n_samples} samples each): "
          f"{t_sess:.2f} ms median")
    print(f"GLI Global, 100 000 subjects x 3 parameters: {t_gli:.1f} ms median (target < 200 ms)")
    print(f"GLI Global FEV1 100 000: vectorised {t_vec1:.1f} ms vs naive per-row loop {t_naive:.0f} ms "
          f"(extrapolated from 10 000) -> ratio {t_naive / t_vec1:.0f}x")
    if t_pyspiro is not None:
        print(f"GLI Global FEV1 predicted+LLN+ULN 100 000: ours {t_vec1:.1f} ms vs pyspiro 1.0 DataFrame compute "
              f"{t_pyspiro:.1f} ms -> ratio {t_pyspiro / t_vec1:.1f}x")
    print(f"CLI batch `spirometry predict --input` 100 000 rows (mixed equations), whole process: "
          f"{statistics.median(walls):.0f} ms median wall (of which interpreter start-up {t_start:.0f} ms; "
          f"target well under 1 s)")


if __name__ == "__main__":
    main()
