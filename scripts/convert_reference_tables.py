"""Convert the published GLI lookup tables (as packaged by the MIT-licensed pyspiro project) to our package data.

Usage: python scripts/convert_reference_tables.py [SOURCE_DIR]   (default ../shared/data/spirometry/reference-equations)
Writes src/asalee_devices/data/reference_equations/<equation>.json: coefficients per parameter and sex, and the
spline columns addressed by name (L/M/S), on the 0.25-year age grid.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "asalee_devices" / "data" / "reference_equations"
PARAMS = {"FEV1": "fev1", "FVC": "fvc", "FEV1FVC": "fev1_fvc", "FEF25_75": "fef25_75", "FEF75": "fef75",
          "FEV075": "fev0_75", "FEV075FVC": "fev0_75_fvc"}
#: ECSC parameter names (the shared table uses the ATS naming: FEF25 = flow after 25 % of the FVC is exhaled).
ECSC_PARAMS = {**PARAMS, "FEF25": "fef25", "FEF50": "fef50", "PEFR": "pef", "FIVC": "fivc"}
SEXES = {"males": "male", "females": "female"}


def _num(x: str) -> float:
    return float(x) if x.strip() else 0.0


def convert(src: Path, folder: str, name: str) -> None:
    with (src / folder / "coefficients.csv").open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    var_col = header.index("var")
    coef = {r[var_col]: r for r in rows[1:]}
    params: dict[str, dict[str, dict[str, list[float]]]] = {}
    for j, col in enumerate(header):
        if "_" not in col or col == "var":
            continue
        pname, sex = col.rsplit("_", 1)
        if pname not in PARAMS or sex not in SEXES:
            continue
        get = {v: _num(coef[v][j]) for v in coef}
        params.setdefault(PARAMS[pname], {})[SEXES[sex]] = {
            "a": [get.get(f"a{i}", 0.0) for i in range(7)],
            "p": [get.get(f"p{i}", 0.0) for i in range(6)],
            "q": [get.get(f"q{i}", 0.0) for i in range(2)],
        }
    with (src / folder / "splines.csv").open(newline="") as fh:
        srows = list(csv.reader(fh, delimiter=";"))
    sh = srows[0]
    splines: dict[str, list[float | None]] = {"age": [float(r[0]) for r in srows[1:]]}  # type: ignore[dict-item]
    for j, col in enumerate(sh[1:], start=1):
        pname, sex, kind = col.split("_")[0:-2], col.split("_")[-2], col.split("_")[-1]
        key = "_".join(pname)
        if key in PARAMS and sex in SEXES:
            splines[f"{PARAMS[key]}.{SEXES[sex]}.{kind[0]}"] = [float(r[j]) if r[j].strip() and r[j] != "NA" else None for r in srows[1:]]  # type: ignore[misc]
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"equation": name, "parameters": params, "splines": splines}
    (OUT / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")


#: ECSC 1993 residual SDs (Quanjer 1993): FVC/FEV1 in L; FEV1/FVC in % points (converted to a fraction).
ECSC_RSD = {("fvc", "male"): 0.61, ("fev1", "male"): 0.51, ("fvc", "female"): 0.43, ("fev1", "female"): 0.38,
            ("fev1_fvc", "male"): 7.17, ("fev1_fvc", "female"): 6.51}


def convert_ecsc(src: Path) -> None:
    with (src / "eccs1993" / "coefficients.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    params: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        p = ECSC_PARAMS.get(r["parameter"])
        if p is None:
            continue
        scale = 0.01 if p == "fev1_fvc" else 1.0  # FEV1/FVC as a fraction, like GLI
        rsd = ECSC_RSD.get((p, r["sex"]))  # not in the source for the flows: predicted only, no LLN/ULN/z
        params.setdefault(p, {})[r["sex"]] = {
            "a0": float(r["a0"]) * scale, "a_height_cm": float(r["a_ht"]) * scale,
            "a_age": float(r["a_age"]) * scale, "rsd": None if rsd is None else rsd * scale}
    doc = {"equation": "ecsc-1993", "age_range_years": [18, 70], "age_floor_years": 25, "parameters": params}
    (OUT / "ecsc-1993.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data" / "spirometry" / "reference-equations"
    convert(src, "gli-global-2022", "gli-global-2022")
    convert(src, "gli2012", "gli-2012")
    convert_ecsc(src)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
