"""Geometry of the printed 12-lead ECG: paper speed, gain, lead arrangement and page placement, in millimetres.

Pure computation (no PDF): the renderer and the tests share these numbers. The standard French layout is 3x4 + a
10-s lead II rhythm strip at 25 mm/s and 10 mm/mV, each column a consecutive 2.5-s window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asalee_devices.errors import InputError

#: PDF user-space points per millimetre (1 pt = 1/72 inch).
PT_PER_MM = 72.0 / 25.4

A4_LANDSCAPE_MM = (297.0, 210.0)

#: Height of the grid (4 rows of 37.5 mm: 3 lead rows + the rhythm strip), leaving 40 mm above it for the header.
GRID_H_MM = 150.0

LayoutName = Literal["3x4", "6x2"]

_ARRANGEMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    # rows of leads; each column shows a consecutive time window
    "3x4": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
    "6x2": (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")),
}


@dataclass(frozen=True)
class EcgLayout:
    """How to print: arrangement, paper speed (mm/s), gain (mm/mV), rhythm-strip lead."""

    name: LayoutName = "3x4"
    speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    rhythm_lead: str | None = "II"

    def __post_init__(self) -> None:
        if self.name not in _ARRANGEMENTS:
            raise InputError("Unknown ECG print layout", field="layout", value=self.name,
                             expected="3x4 or 6x2")
        if self.speed_mm_s not in (25.0, 50.0):
            raise InputError("Unsupported paper speed", field="speed_mm_s", value=self.speed_mm_s,
                             expected="25 or 50 mm/s")
        if self.gain_mm_mv not in (5.0, 10.0, 20.0):
            raise InputError("Unsupported gain", field="gain_mm_mv", value=self.gain_mm_mv,
                             expected="5, 10 or 20 mm/mV")

    @property
    def arrangement(self) -> tuple[tuple[str, ...], ...]:
        return _ARRANGEMENTS[self.name]

    @property
    def shown_duration_s(self) -> float:
        """Seconds shown across one row: 10 s at 25 mm/s, 5 s at 50 mm/s."""
        return 250.0 / self.speed_mm_s

    @property
    def calibration_width_s(self) -> float:
        return 0.2


@dataclass(frozen=True)
class Segment:
    """One lead drawn over a time window at a place on the page (mm from the bottom-left corner)."""

    lead: str
    t_start_s: float
    t_stop_s: float
    x_mm: float
    baseline_y_mm: float


@dataclass(frozen=True)
class PagePlan:
    """Where everything goes on the page, in millimetres from the bottom-left corner."""

    grid_x_mm: float
    grid_y_mm: float
    grid_w_mm: float
    grid_h_mm: float
    calibration_x_mm: float
    trace_x_mm: float
    row_baselines_mm: tuple[float, ...]
    segments: tuple[Segment, ...]
    layout: EcgLayout


def plan_page(layout: EcgLayout, available_leads: tuple[str, ...]) -> PagePlan:
    """Place rows, columns, the calibration pulses and the rhythm strip on an A4 landscape page."""
    page_w, _page_h = A4_LANDSCAPE_MM
    cal_area_mm = 5.0 + layout.calibration_width_s * layout.speed_mm_s  # 10 mm at 25 mm/s
    trace_w_mm = layout.shown_duration_s * layout.speed_mm_s  # 250 mm
    grid_w = cal_area_mm + trace_w_mm
    grid_w = 5.0 * round(grid_w / 5.0 + 0.49)  # whole 5-mm squares
    grid_x = round((page_w - grid_w) / 2.0, 1)
    grid_y = 12.0
    grid_h = GRID_H_MM
    rows = [list(r) for r in layout.arrangement]
    has_rhythm = layout.rhythm_lead is not None and layout.rhythm_lead in available_leads
    n_rows = len(rows) + (1 if has_rhythm else 0)
    pitch = grid_h / n_rows
    baselines = tuple(grid_y + grid_h - pitch * (k + 0.55) for k in range(n_rows))
    trace_x = grid_x + cal_area_mm
    segments: list[Segment] = []
    for r, row in enumerate(rows):
        n_cols = len(row)
        win = layout.shown_duration_s / n_cols
        for c, lead in enumerate(row):
            if lead not in available_leads:
                continue
            segments.append(Segment(lead, c * win, (c + 1) * win, trace_x + c * win * layout.speed_mm_s,
                                    baselines[r]))
    if has_rhythm:
        assert layout.rhythm_lead is not None
        segments.append(Segment(layout.rhythm_lead, 0.0, layout.shown_duration_s, trace_x, baselines[-1]))
    return PagePlan(grid_x, grid_y, grid_w, grid_h, grid_x + 2.0, trace_x, baselines, tuple(segments), layout)
