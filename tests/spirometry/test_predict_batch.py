"""The column-wise CSV batch of `spirometry predict`: same numbers as the per-subject API, bad rows never stop it."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asalee_devices.cli._predict_batch import OUTPUT_COLS, format_fixed4, predict_csv
from asalee_devices.errors import InputError
from asalee_devices.signal.spirometry.reference import predict


def _ref_format(row: list[float]) -> str:
    out = []
    for v in row:
        if not math.isfinite(v):
            out.append(",")
        else:
            s = f"{v:.4f}"
            out.append(("0.0000" if s == "-0.0000" else s) + ",")
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 6)),
              elements=st.one_of(st.floats(-999.99994, 999.99994), st.just(np.nan))))
def test_fixed4_formatting_equals_python_format(values: np.ndarray) -> None:
    assert format_fixed4(values) == [_ref_format(r) for r in values.tolist()]


def test_large_values_fall_back_to_python_format() -> None:
    vals = np.array([[12345.678901, np.nan], [-1.5, 2.0]])
    assert format_fixed4(vals) == ["12345.6789,,", "-1.5000,2.0000,"]


def test_batch_matches_single_predictions_and_reports_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "subjects.csv"
    src.write_text(
        "id,sex,age,height_cm,ethnicity,equation\n"
        "1,M,55,175,,\n"
        "2,female,40.5,162,,gli-global-2022\n"
        "3,F,30,160,north_east_asian,gli-2012\n"
        "4,male,45,180,,ecsc-1993\n"
        "5,X,45,180,,\n"
        "6,male,120,180,,\n"
        "7,male,45,abc,,\n"
        "8,male,45,180,martian,gli-2012\n"
        '"9, quoted",male,45,180,,gli-2015\n'
    )
    dst = tmp_path / "out.csv"
    assert predict_csv(src, dst) is None
    rows = list(csv.DictReader(io.StringIO(dst.read_text())))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6", "7", "8", "9, quoted"]
    assert list(rows[0])[-len(OUTPUT_COLS) - 1:] == [*OUTPUT_COLS, "error"]
    cases = [(0, "male", 55, 175, "gli-global-2022", None), (1, "female", 40.5, 162, "gli-global-2022", None),
             (2, "female", 30, 160, "gli-2012", "north_east_asian"), (3, "male", 45, 180, "ecsc-1993", None)]
    for i, sex, age, ht, eq, eth in cases:
        assert rows[i]["error"] == ""
        for p in ("fev1", "fvc", "fev1_fvc"):
            pr = predict(p, sex=sex, age_years=age, height_cm=ht, equation=eq, ethnicity=eth)
            assert float(rows[i][f"{p}_predicted"]) == pytest.approx(float(pr.predicted[0]), abs=5e-5)
            assert float(rows[i][f"{p}_lln"]) == pytest.approx(float(pr.lln[0]), abs=5e-5)
    assert rows[0]["fef75_predicted"] == ""  # GLI Global 2022 does not cover FEF75
    assert rows[2]["fef75_predicted"] != ""  # GLI-2012 does
    assert rows[4]["error"].startswith("sex:")
    assert rows[5]["error"].startswith("age:")
    assert rows[6]["error"].startswith("height_cm:")
    assert rows[7]["error"].startswith("ethnicity:")
    assert rows[8]["error"].startswith("equation:")
    for r in rows[4:]:
        assert all(r[c] == "" for c in OUTPUT_COLS)


def test_batch_rejects_files_without_required_columns(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("sex,height\nM,170\n")
    with pytest.raises(InputError, match="required columns"):
        predict_csv(src, None)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        predict_csv(empty, None)
