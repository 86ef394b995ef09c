"""Our GLI reference values against an independent implementation, pyspiro (MIT, its own copy of the ERS tables and
its own code), on 1 500 random subjects per parameter: predicted median, LLN and ULN to 1e-6 relative."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asalee_devices.signal.spirometry.reference import ETHNICITIES, predict

pyspiro = pytest.importorskip("pyspiro", reason="pyspiro (test extra) is the independent oracle for this test")
Z = 1.645


def _lms_limits(lam: float, m: float, s: float) -> tuple[float, float]:
    return m * (1 - Z * lam * s) ** (1 / lam), m * (1 + Z * lam * s) ** (1 / lam)


def _subjects(n: int, age_max: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, n), np.round(rng.uniform(3, age_max, n), 2), np.round(rng.uniform(95, 205, n), 1),
            rng.integers(1, 6, n))


@pytest.mark.parametrize(("param", "code", "age_max"), [("fev1", 1, 95), ("fvc", 2, 95), ("fev1_fvc", 3, 95)])
def test_gli_global_2022_matches_pyspiro(param: str, code: int, age_max: float) -> None:
    ref = pyspiro.BOWERMAN_2022()
    sex, age, ht, _ = _subjects(1500, age_max, code)
    ours = predict(param, sex=np.where(sex == 1, "male", "female"), age_years=age, height_cm=ht)
    worst = 0.0
    for i in range(sex.size):
        lam, m, s = (float(x) for x in ref.lms(int(sex[i]), float(age[i]), float(ht[i]), code, 1.0))
        lln, uln = _lms_limits(lam, m, s)
        for a, b in ((ours.predicted[i], m), (ours.lln[i], lln), (ours.uln[i], uln)):
            worst = max(worst, abs(float(a) - b) / b)
    print(f"GLI Global 2022 {param}: worst relative difference vs pyspiro {worst:.2e} over {sex.size} subjects")
    assert worst < 1e-6


# The shared GLI-2012 coefficient table (our source) prints FEF25-75, female FEF75 and female FEV1/FVC coefficients
# to 4 decimals; pyspiro 1.0 ships them to 5-6 decimals (e.g. FEF25-75 male a0 -6.9189 vs -6.91893). Same splines.
# That rounding moves predicted values by at most 0.07 % (about 2 mL or 2 mL/s): we require exact agreement where the
# coefficients agree and < 0.1 % where only the printed precision differs.
@pytest.mark.parametrize(("param", "code", "age_max", "tol"),
                         [("fev1", 1, 95, 1e-6), ("fvc", 2, 95, 1e-6), ("fev1_fvc", 3, 95, 1e-3),
                          ("fef25_75", 4, 90, 1e-3), ("fef75", 5, 90, 1e-3)])
def test_gli_2012_all_groups_match_pyspiro(param: str, code: int, age_max: float, tol: float) -> None:
    ref = pyspiro.GLI_2012()
    sex, age, ht, eth = _subjects(1500, age_max, 10 + code)
    ours = predict(param, sex=np.where(sex == 1, "male", "female"), age_years=age, height_cm=ht,
                   equation="gli-2012", ethnicity=np.array(ETHNICITIES)[eth - 1])
    worst = 0.0
    for i in range(sex.size):
        lam, m, s = (float(x) for x in ref.lms(int(sex[i]), float(age[i]), float(ht[i]), int(eth[i]), code, 1.0))
        lln, uln = _lms_limits(lam, m, s)
        for a, b in ((ours.predicted[i], m), (ours.lln[i], lln), (ours.uln[i], uln)):
            worst = max(worst, abs(float(a) - b) / b)
    print(f"GLI-2012 {param}: worst relative difference vs pyspiro {worst:.2e} over {sex.size} subjects, 5 groups")
    assert worst < tol


@pytest.mark.parametrize(("param", "code"), [("fev0_75", 6), ("fev0_75_fvc", 7)])
def test_gli_2012_equation_only_fev075_matches_pyspiro(param: str, code: int) -> None:
    """FEV0.75 and FEV0.75/FVC: published as equations (no look-up tables) for Caucasian children aged 3-7 only;
    NaN (not covered) for everyone else. Coefficients printed to 4 decimals in our source, hence 1e-3."""
    ref = pyspiro.GLI_2012()
    rng = np.random.default_rng(code)
    sex, age, ht = rng.integers(0, 2, 300), np.round(rng.uniform(3, 7, 300), 2), np.round(rng.uniform(90, 135, 300), 1)
    ours = predict(param, sex=np.where(sex == 1, "male", "female"), age_years=age, height_cm=ht, equation="gli-2012")
    worst = 0.0
    for i in range(sex.size):
        lam, m, s = (float(x) for x in ref.lms(int(sex[i]), float(age[i]), float(ht[i]), 1, code, 1.0))
        lln, uln = _lms_limits(lam, m, s)
        for a, b in ((ours.predicted[i], m), (ours.lln[i], lln), (ours.uln[i], uln)):
            worst = max(worst, abs(float(a) - b) / b)
    print(f"GLI-2012 {param} (Caucasian 3-7 y): worst relative difference vs pyspiro {worst:.2e}")
    assert worst < 1e-3
    outside = predict(param, sex=["male", "female", "male"], age_years=[40.0, 5.0, 8.0], height_cm=[175.0, 110, 125],
                      equation="gli-2012", ethnicity=["caucasian", "north_east_asian", "caucasian"])
    assert np.all(np.isnan(outside.predicted))


@pytest.mark.parametrize(("param", "name"), [("fvc", "FVC"), ("fev1", "FEV1"), ("fev1_fvc", "FEV1FVC"),
                                             ("fef25", "FEF25"), ("fef50", "FEF50"), ("fef75", "FEF75"),
                                             ("fef25_75", "FEF25_75"), ("pef", "PEFR"), ("fivc", "FIVC")])
def test_ecsc_1993_predicted_matches_pyspiro(param: str, name: str) -> None:
    """ECSC 1993 predicted values for ages 25-70 (pyspiro and we differ on which male parameters use age 25 below
    25 years, which the shared source does not settle). FEV1/FVC: pyspiro in %, ours a fraction."""
    ref = pyspiro.ECCS_1993()
    code = ref.Parameters[name].value
    rng = np.random.default_rng(len(param))
    sex, age = rng.integers(0, 2, 200), np.round(rng.uniform(25, 70, 200), 1)
    ht = np.where(sex == 1, rng.uniform(156, 194, 200), rng.uniform(146, 179, 200)).round(1)
    ours = predict(param, sex=np.where(sex == 1, "male", "female"), age_years=age, height_cm=ht,
                   equation="ecsc-1993")
    scale = 100.0 if param == "fev1_fvc" else 1.0
    theirs = np.array([float(ref._regression(int(s), float(a), float(h), None, None, code).pred)
                       for s, a, h in zip(sex, age, ht, strict=True)])
    worst = float(np.max(np.abs(ours.predicted * scale - theirs)))
    print(f"ECSC 1993 {param}: worst |difference| vs pyspiro {worst:.2e}")
    assert worst < 1e-9


@pytest.mark.shared_data
def test_gli_2012_fef25_75_worked_example_gap_is_not_coefficient_precision(shared_data: Path) -> None:
    """examples.csv gives GLI-2012 FEF25-75 for a 55-year-old Caucasian man of 175 cm as 3.205 (LLN 1.660) from the GLI
    calculator; the shared table gives 3.1996 (LLN 1.6481). Is the 4-decimal printing of the table the cause? No:
    pyspiro's 5-6-decimal coefficients give 3.1999 (LLN 1.6482), i.e. precision moves the median by < 0.001 L/s of a
    0.005 L/s gap and the LLN by < 0.001 of a 0.012 gap. The calculator's male FEF25-75 (median and spread) come from
    another release of the table than the one published with Quanjer 2012 that both implementations ship, so the
    example is excluded from the 0.001 check (test_reference.test_examples_csv) and this gap is measured here."""
    import csv

    path = shared_data / "spirometry" / "reference-equations" / "examples.csv"
    (row,) = [r for r in csv.DictReader(path.open()) if r["parameter"] == "FEF25-75"]
    age, height = float(row["age_years"]), float(row["height_cm"])
    ours = predict("fef25_75", sex=row["sex"], age_years=age, height_cm=height, equation="gli-2012",
                   ethnicity=row["ethnicity"])
    lam, m, s = (float(x) for x in pyspiro.GLI_2012().lms(1, age, height, 1, 4, 1.0))
    lln = _lms_limits(lam, m, s)[0]
    precision_effect = abs(float(ours.predicted[0]) - m)
    gap = abs(float(row["predicted"]) - m)
    print(f"\nFEF25-75 example {row['predicted']} (LLN {row['lln']}); ours {float(ours.predicted[0]):.4f} "
          f"(LLN {float(ours.lln[0]):.4f}); pyspiro {m:.4f} (LLN {lln:.4f})")
    assert precision_effect < 0.001 and abs(float(ours.lln[0]) - lln) < 0.001
    assert gap > 0.004 and abs(float(row["lln"]) - lln) > 0.010  # not explained by the printed precision
