"""GLI reference values (LMS method), vectorised: predicted, LLN, ULN, z-score, % predicted.

Tables are the project's package data (``asalee_devices/data/reference_equations``), converted from the published
GLI lookup tables by ``scripts/convert_reference_tables.py``. Spline columns are interpolated linearly between
quarter-years; the exact age is used in the ln(age) terms. Out-of-range inputs raise ReferenceDomainError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from asalee_devices.errors import ReferenceDomainError

EQUATIONS = ("gli-global-2022", "gli-2012", "ecsc-1993")
DEFAULT_EQUATION = "gli-global-2022"
#: GLI-2012 groups, in the order of the ethnic coefficients a3..a6 / p2..p5 (Caucasian is the baseline).
ETHNICITIES = ("caucasian", "african_american", "north_east_asian", "south_east_asian", "other")
#: z of the lower limit of normal as GLI defines it and its calculator computes it: LLN = M (1 - 1.645 L S)^(1/L).
Z_95 = 1.645
HEIGHT_RANGE_CM = (80.0, 250.0)


@dataclass(frozen=True, eq=False)
class Prediction:
    """Arrays (one value per subject); NaN where the parameter is not defined for that subject."""

    parameter: str
    predicted: NDArray[np.float64]
    lln: NDArray[np.float64]
    uln: NDArray[np.float64]
    l_value: NDArray[np.float64]
    s_value: NDArray[np.float64]
    rsd: NDArray[np.float64] | None = None  # linear equations (ECSC): z = (obs - predicted) / rsd

    def z_score(self, observed: ArrayLike) -> NDArray[np.float64]:
        """The z-score of observed values (LMS: Box-Cox with L, M, S; linear equations: residual over RSD).

        Parameters
        ----------
        observed : array_like
            Observed values, in the parameter's unit (L, L/s or ratio), broadcast with the subjects.

        Returns
        -------
        ndarray of float
            The z-scores (NaN where the parameter is not defined).
        """
        obs = np.asarray(observed, dtype=np.float64)
        if self.rsd is not None:
            return np.asarray((obs - self.predicted) / self.rsd, dtype=np.float64)
        lam = self.l_value
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(lam == 0, np.log(obs / self.predicted) / self.s_value,
                         ((obs / self.predicted) ** lam - 1.0) / (lam * self.s_value))
        return np.asarray(z, dtype=np.float64)

    def percent_predicted(self, observed: ArrayLike) -> NDArray[np.float64]:
        """Observed values as a percentage of the predicted ones.

        Parameters
        ----------
        observed : array_like
            Observed values, in the parameter's unit.

        Returns
        -------
        ndarray of float
            100 x observed / predicted (%).
        """
        return np.asarray(100.0 * np.asarray(observed, dtype=np.float64) / self.predicted, dtype=np.float64)


@cache
def _table(equation: str) -> dict[str, Any]:
    if equation not in EQUATIONS:
        raise ReferenceDomainError("Unknown reference equation", field="equation", value=equation,
                                   expected=", ".join(EQUATIONS))
    text = resources.files("asalee_devices.data.reference_equations").joinpath(f"{equation}.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    if "splines" not in doc:
        return doc
    doc["_age"] = np.asarray(doc["splines"]["age"], dtype=np.float64)
    steps = np.diff(doc["_age"])
    doc["_age_step"] = float(steps[0]) if np.allclose(steps, steps[0], rtol=0, atol=1e-9) else None
    doc["_spl"] = {k: np.asarray([np.nan if v is None else v for v in col], dtype=np.float64)
                   for k, col in doc["splines"].items() if k != "age"}
    return doc


@cache
def _lms_coefficients(equation: str, parameter: str) -> dict[str, NDArray[np.float64]]:
    """Coefficients of one LMS parameter stacked by sex (row 0 male, row 1 female) so that predictions gather them
    per subject: a (2, 3) and p, q (2, 2) base terms, eth_a / eth_p (2, 5) ethnic terms (Caucasian = 0), and the
    three splines flattened to (2 * n_ages,)."""
    doc = _table(equation)
    out: dict[str, list[Any]] = {"a": [], "p": [], "q": [], "eth_a": [], "eth_p": [], "spl_M": [], "spl_S": [],
                                 "spl_L": []}
    for sex_name in ("male", "female"):
        c = doc["parameters"][parameter][sex_name]
        a, p, q = (np.asarray(c[k], dtype=np.float64) for k in ("a", "p", "q"))
        out["a"].append(a[:3])
        out["p"].append(p[:2])
        out["q"].append(np.pad(q[:2], (0, max(0, 2 - q[:2].size))))
        out["eth_a"].append(np.concatenate(([0.0], np.pad(a[3:7], (0, max(0, 4 - a[3:7].size))))))
        out["eth_p"].append(np.concatenate(([0.0], np.pad(p[2:6], (0, max(0, 4 - p[2:6].size))))))
        for k in ("M", "S", "L"):
            out["spl_" + k].append(doc["_spl"][f"{parameter}.{sex_name}.{k}"])
    result = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
    for k in ("spl_M", "spl_S", "spl_L"):
        result[k] = result[k].ravel()
    return result


def parameters(equation: str) -> tuple[str, ...]:
    """The parameters an equation predicts (those with their coefficients or splines).

    Parameters
    ----------
    equation : str
        Reference equation name (a key of ``EQUATIONS``, e.g. ``"gli-global-2022"``).

    Returns
    -------
    tuple of str
        Parameter names (``"FEV1"``, ``"FVC"``...).
    """
    doc = _table(equation)
    if "splines" not in doc:
        return tuple(doc["parameters"])
    return tuple(p for p in doc["parameters"] if f"{p}.male.M" in doc["_spl"] or p in _EQUATION_ONLY)


def _sex_mask(sex: ArrayLike) -> NDArray[np.bool_]:
    s = np.asarray(sex, dtype=str)
    male = np.isin(s, ("male", "m", "M", "Male", "MALE"))
    female = np.isin(s, ("female", "f", "F", "Female", "FEMALE"))
    if not np.all(male | female):
        raise ReferenceDomainError("Unknown sex", field="sex", expected="male/female (M/F)")
    return np.asarray(male)


def predict(parameter: str, *, sex: ArrayLike, age_years: ArrayLike, height_cm: ArrayLike,
            equation: str = DEFAULT_EQUATION, ethnicity: ArrayLike | None = None) -> Prediction:
    """Reference values of one parameter for one or many subjects (broadcast arrays).

    Parameters
    ----------
    parameter : str
        Parameter name (see :func:`parameters`).
    sex : array_like
        ``"male"`` or ``"female"`` per subject.
    age_years : array_like
        Age in decimal years.
    height_cm : array_like
        Standing height (cm).
    equation : str, optional
        Reference equation name (GLI Global 2022 by default).
    ethnicity : array_like or None, optional
        GLI-2012 ethnic group per subject (Caucasian by default).

    Returns
    -------
    Prediction
        Predicted value, LLN, ULN (the parameter's unit) and the L, S values per subject.

    Raises
    ------
    ReferenceDomainError
        When the equation is unknown, the parameter not covered, an age or height outside the equation's range, or
        the ethnic group unknown.
    """
    doc = _table(equation)
    if parameter not in parameters(equation):
        raise ReferenceDomainError("Parameter not covered by this equation", field="parameter", value=parameter,
                                   expected=", ".join(parameters(equation)))
    male = np.atleast_1d(_sex_mask(sex))
    age = np.atleast_1d(np.asarray(age_years, dtype=np.float64))
    ht = np.atleast_1d(np.asarray(height_cm, dtype=np.float64))
    male, age, ht = np.broadcast_arrays(male, age, ht)
    if "splines" not in doc:
        return _predict_linear(doc, parameter, male, age, ht)
    grid = doc["_age"]
    if not np.all((age >= grid[0]) & (age <= grid[-1])):
        raise ReferenceDomainError("Age outside the equation's range", field="age_years",
                                   expected=f"{grid[0]:g}-{grid[-1]:g} years")
    if not np.all((ht >= HEIGHT_RANGE_CM[0]) & (ht <= HEIGHT_RANGE_CM[1])):
        raise ReferenceDomainError("Height outside the plausible range", field="height_cm",
                                   expected=f"{HEIGHT_RANGE_CM[0]:g}-{HEIGHT_RANGE_CM[1]:g} cm")
    group = np.zeros(age.shape, dtype=np.intp)
    if parameter in _EQUATION_ONLY and f"{parameter}.male.M" not in doc["_spl"]:
        return _predict_equation_only(doc, parameter, male, age, ht, ethnicity)
    if equation == "gli-2012":
        eth = np.broadcast_to(np.char.lower(np.asarray("caucasian" if ethnicity is None else ethnicity, dtype=str)),
                              age.shape)
        known = np.isin(eth, ETHNICITIES)
        if not np.all(known):
            raise ReferenceDomainError("Unknown ethnicity for GLI-2012", field="ethnicity",
                                       expected=", ".join(ETHNICITIES))
        group = np.searchsorted(np.array(ETHNICITIES), eth, sorter=np.argsort(ETHNICITIES))
        group = np.argsort(ETHNICITIES)[group]
    ln_a, ln_h = np.log(age), np.log(ht)
    coef = _lms_coefficients(equation, parameter)
    si = (~male).astype(np.intp)  # 0 = male, 1 = female: every coefficient is gathered, no per-sex masking
    # Linear interpolation of the splines at the exact age, bracket computed once for M, S and L.
    step = doc["_age_step"]
    if step is not None:
        idx = np.minimum(((age - grid[0]) * (1.0 / step)).astype(np.intp), grid.size - 2)
    else:
        idx = np.clip(np.searchsorted(grid, age, side="right") - 1, 0, grid.size - 2)
    frac = (age - grid[idx]) / (grid[idx + 1] - grid[idx])
    flat = si * grid.size + idx
    spl = {}
    for k in ("M", "S", "L"):
        table = coef["spl_" + k]
        lo = table[flat]
        spl[k] = lo + (table[flat + 1] - lo) * frac
    a, p, q = coef["a"][si], coef["p"][si], coef["q"][si]
    eth_a = coef["eth_a"][si, group]
    eth_p = coef["eth_p"][si, group]
    m = np.exp(a[:, 0] + a[:, 1] * ln_h + a[:, 2] * ln_a + eth_a + spl["M"])
    s = np.exp(p[:, 0] + p[:, 1] * ln_a + eth_p + spl["S"])
    lam = q[:, 0] + q[:, 1] * ln_a + spl["L"]
    with np.errstate(invalid="ignore", divide="ignore"):
        zls = Z_95 * lam * s
        lln = m * np.exp(np.log1p(-zls) / lam)
        uln = m * np.exp(np.log1p(zls) / lam)
        if np.any(lam == 0):
            lln = np.where(lam == 0, m * np.exp(-Z_95 * s), lln)
            uln = np.where(lam == 0, m * np.exp(Z_95 * s), uln)
    return Prediction(parameter=parameter, predicted=m, lln=lln, uln=uln, l_value=lam, s_value=s)


#: GLI-2012 parameters published as equations without look-up tables, for Caucasian children aged 3-7 years only
#: (the ERS look-up workbook): M = exp(a0 + a1 ln(height) + a2 x), S = exp(p0 + p1 x), L = q0, where x is the age
#: itself for FEV0.75 and ln(age) for FEV0.75/FVC.
_EQUATION_ONLY = {"fev0_75": False, "fev0_75_fvc": True}
EQUATION_ONLY_AGE_RANGE = (3.0, 7.0)


def _predict_equation_only(doc: dict[str, Any], parameter: str, male: NDArray[np.bool_], age: NDArray[np.float64],
                           ht: NDArray[np.float64], ethnicity: ArrayLike | None) -> Prediction:
    eth = np.broadcast_to(np.char.lower(np.asarray("caucasian" if ethnicity is None else ethnicity, dtype=str)),
                          age.shape)
    covered = (eth == "caucasian") & (age >= EQUATION_ONLY_AGE_RANGE[0]) & (age <= EQUATION_ONLY_AGE_RANGE[1])
    x = np.log(age) if _EQUATION_ONLY[parameter] else age
    coef = [doc["parameters"][parameter][s] for s in ("male", "female")]
    si = (~male).astype(np.intp)
    a = np.asarray([c["a"][:3] for c in coef], dtype=np.float64)[si]
    p = np.asarray([c["p"][:2] for c in coef], dtype=np.float64)[si]
    lam = np.asarray([c["q"][0] for c in coef], dtype=np.float64)[si]
    m = np.where(covered, np.exp(a[:, 0] + a[:, 1] * np.log(ht) + a[:, 2] * x), np.nan)
    s = np.exp(p[:, 0] + p[:, 1] * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        lln = m * np.exp(np.log1p(-Z_95 * lam * s) / lam)
        uln = m * np.exp(np.log1p(Z_95 * lam * s) / lam)
    return Prediction(parameter=parameter, predicted=m, lln=lln, uln=uln, l_value=lam, s_value=s)


def _predict_linear(doc: dict[str, Any], parameter: str, male: NDArray[np.bool_], age: NDArray[np.float64],
                    ht: NDArray[np.float64]) -> Prediction:
    """ECSC 1993: predicted = a0 + a_h * height_cm + a_age * max(age, 25); LLN/ULN = predicted -/+ 1.645 RSD.

    The flows (FEF25, FEF50, FEF75, FEF25-75, PEF) and FIVC come without a residual SD in our source: predicted only,
    LLN/ULN/z-score NaN (never invented)."""
    lo, hi = doc["age_range_years"]
    if not np.all((age >= lo) & (age <= hi)):
        raise ReferenceDomainError("Age outside the equation's range", field="age_years", expected=f"{lo}-{hi} years")
    if not np.all((ht >= HEIGHT_RANGE_CM[0]) & (ht <= HEIGHT_RANGE_CM[1])):
        raise ReferenceDomainError("Height outside the plausible range", field="height_cm",
                                   expected=f"{HEIGHT_RANGE_CM[0]:g}-{HEIGHT_RANGE_CM[1]:g} cm")
    a_eff = np.maximum(age, float(doc["age_floor_years"]))
    pred = np.empty(age.shape)
    rsd = np.empty(age.shape)
    for sex_name, mask in (("male", male), ("female", ~male)):
        c = doc["parameters"][parameter][sex_name]
        pred[mask] = c["a0"] + c["a_height_cm"] * ht[mask] + c["a_age"] * a_eff[mask]
        rsd[mask] = np.nan if c["rsd"] is None else c["rsd"]
    nan = np.full(age.shape, np.nan)
    return Prediction(parameter=parameter, predicted=pred, lln=pred - Z_95 * rsd, uln=pred + Z_95 * rsd,
                      l_value=nan, s_value=nan, rsd=rsd)
