"""The spirometry PDF report: content, curves and a non-blank rendering."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asalee_devices.reports.spirometry_pdf import (
    BlowCurve,
    ParameterRow,
    SpirometryReportData,
    render_spirometry_pdf,
)

pdfplumber = pytest.importorskip("pdfplumber")


def _data(lang: str = "fr") -> SpirometryReportData:
    fs = 100.0
    t = np.arange(0, 8, 1 / fs)

    def blow(pef: float) -> np.ndarray:
        return np.where(t < 0.1, pef * t / 0.1, pef * np.exp(-(t - 0.1) / 0.6))

    blows = tuple(BlowCurve(f"#{k + 1}", blow(8 + 0.3 * k), fs, acceptable=k != 1, reported=k == 2,
                            phase="post" if k == 3 else "pre", messages=("Hesitant start",) if k == 1 else ())
                  for k in range(4))
    rows = (ParameterRow("FEV1", "L", 3.21, 3.42, 2.56, -0.45, 93.9, post_measured=3.5, post_change_percent=9.0),
            ParameterRow("FVC", "L", 4.12, 4.32, 3.27, -0.30, 95.4),
            ParameterRow("FEV1/FVC", "", 0.78, 0.79, 0.67, -0.10, None))
    return SpirometryReportData(patient_name="TEST Demo", equation="GLI Global 2022", grade_fev1="A",
                                grade_fvc="B", n_acceptable=3, rows=rows, blows=blows, lang=lang)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_states_values_grades_and_equation(tmp_path: Path, lang: str) -> None:
    path = tmp_path / "s.pdf"
    path.write_bytes(render_spirometry_pdf(_data(lang)))
    with pdfplumber.open(path) as doc:
        page = doc.pages[0]
        text = page.extract_text()
        # 3 shown blows (acceptable or reported) x 2 plots
        curves = [c for c in page.curves if c["linewidth"] in (pytest.approx(0.6), pytest.approx(1.2))]
    # the grade line in the report's clinical vocabulary, numbers with the report's decimal separator (issue 20)
    fev1, fvc = ("VEMS", "CVF") if lang == "fr" else ("FEV1", "FVC")

    def num(s: str) -> str:
        return s.replace(".", ",") if lang == "fr" else s

    assert "GLI Global 2022" in text and f"{fev1} A" in text and f"{fvc} B" in text
    assert num("3.21") in text and num("2.56") in text and num("-0.45") in text and "Post-BD" in text
    assert ("aucune interprétation" in text) if lang == "fr" else ("no interpretation" in text)
    assert len(curves) == 6
    assert sum(c["linewidth"] == pytest.approx(1.2) for c in curves) == 2  # the reported blow, highlighted


def test_report_renders_to_png(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(render_spirometry_pdf(_data()))
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True, timeout=60)
    assert len(list(tmp_path.glob("p*.png"))) == 1
