"""Syringe strokes recorded on a live spirometer for the daily calibration verification (ATS/ERS 2019: a 3-L
syringe at a low, a mid and a high flow), the same session for ``spirometry calibrate`` and the web app's devices
page: one device take per stroke (ended by still air after the stroke), a stroke pushed again once when the link
drops, the spirometer's serial number and model from its identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.devices.session import SessionOptions, open_session
from asalee_devices.devices.turbine import LiveFlowSession
from asalee_devices.errors import DeviceError, InputError
from asalee_devices.signal.spirometry.calibration import FLOW_BANDS, MOVING_FLOW_L_S, Stroke, stroke_from_flow

#: strokes one verification may record (3: one per flow band)
MAX_STROKES = 12
#: how long each stroke is pushed, s (low, mid, high flow of a 3-L syringe), for the nurse's prompt
PUSH_S = (6.0, 1.5, 0.5)
#: longest take of one stroke, s
STROKE_TAKE_S = 20.0
#: still air after the stroke that ends its take, s
STILL_S = 0.5


@dataclass(frozen=True)
class RecordedStrokes:
    strokes: tuple[Stroke, ...]
    device_serial: str
    device_model: str


def stroke_finished(flow_l_s: NDArray[np.float64], fs_hz: float) -> bool:
    """The stroke is over: the air has been still for :data:`STILL_S` after it moved."""
    moved = np.nonzero(np.abs(flow_l_s) > MOVING_FLOW_L_S)[0]
    return bool(moved.size and flow_l_s.size - 1 - int(moved[-1]) >= int(STILL_S * fs_hz))


def stroke_band(index: int) -> str:
    """The flow band the nurse is asked for at stroke ``index`` (0-based): low, mid, high, cycling."""
    return FLOW_BANDS[index % len(FLOW_BANDS)][0]


def record_strokes(url: str, n: int = 3, *, options: SessionOptions | None = None,
                   on_push: Callable[[int, str, float], None] | None = None,
                   on_retry: Callable[[int], None] | None = None,
                   on_stroke: Callable[[int, Stroke], None] | None = None) -> RecordedStrokes:
    """Record ``n`` strokes on the spirometer at ``url``; ``on_push(index, band, seconds)`` before each stroke,
    ``on_retry(index)`` when a stroke was interrupted and must be pushed again, ``on_stroke(index, stroke)`` once it
    is measured. Raises ``DeviceError`` when a stroke
    is interrupted twice or the device gives no serial number (nothing is logged then)."""
    if not 1 <= n <= MAX_STROKES:
        raise InputError("Stroke count out of range", field="strokes", value=n,
                         expected=f"1-{MAX_STROKES} (3: one per flow)")
    with open_session(url, options, expect=LiveFlowSession) as spiro:
        strokes: list[Stroke] = []
        for i in range(n):
            if on_push is not None:
                on_push(i, stroke_band(i), PUSH_S[i % len(PUSH_S)])
            take = spiro.record(STROKE_TAKE_S, until=stroke_finished).complete
            if take is None:  # the link dropped during the stroke: the nurse pushes it again, once
                if on_retry is not None:
                    on_retry(i)
                take = spiro.record(STROKE_TAKE_S, until=stroke_finished).complete
            if take is None:
                raise DeviceError("Syringe stroke not recorded completely", expected="an uninterrupted stroke")
            rec = take.recording
            strokes.append(stroke_from_flow(rec.flow_l_s, rec.fs_hz))
            if on_stroke is not None:
                on_stroke(i, strokes[-1])
    ident = spiro.identity
    if ident is None or not ident.serial_number:
        raise DeviceError("The spirometer did not identify itself", expected="a device with a serial number")
    return RecordedStrokes(tuple(strokes), ident.serial_number, f"{ident.manufacturer} {ident.model}".strip())
