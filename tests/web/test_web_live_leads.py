"""Live per-lead ECG check (issue 20): during the capture, every half second, an electrode off or a flat lead is
reported per lead with the electrode inferred, fed block by block as the device session publishes them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from asalee_devices.simulators.generators.ecg import twelve_lead_ecg
from asalee_devices.web.live import LiveHub, LiveLeadCheck, limb_leads_12

STORED = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def _feed(x: np.ndarray, fs: float, block: int = 25) -> list[list[dict[str, Any]]]:
    check = LiveLeadCheck(fs)
    names, x12 = limb_leads_12(STORED, x)
    out = []
    for i in range(0, x.shape[1], block):
        r = check.add(STORED, names, x12[:, i:i + block])
        if r is not None:
            out.append(r)
    return out


def _stored(**kw: Any) -> tuple[np.ndarray, float]:
    rec = twelve_lead_ecg(duration_s=4.0, seed=3, **kw)
    return np.vstack([rec.lead(n) for n in STORED]), rec.fs_hz


def test_good_trace_every_lead_ok_twice_a_second() -> None:
    x, fs = _stored()
    reports = _feed(x, fs)
    assert len(reports) == 7  # at 1.0, 1.5, ..., 4.0 s
    assert all(lq["ok"] for r in reports for lq in r) and [lq["lead"] for lq in reports[0]][:3] == ["I", "II", "III"]


@pytest.mark.parametrize("electrode, leads", [("V3", {"V3"}), ("LA", {"I", "III", "aVR", "aVL", "aVF"})])
def test_electrode_off_named_live(electrode: str, leads: set[str]) -> None:
    x, fs = _stored(electrode_off=electrode, electrode_off_from_s=1.5)
    reports = _feed(x, fs)
    first = reports[0]
    assert all(lq["ok"] for lq in first)  # the first second was good
    last = reports[-1]
    bad = {lq["lead"] for lq in last if not lq["ok"]}
    print(f"\n{electrode} off: leads flagged {sorted(bad)}; electrodes {last[[lq['ok'] for lq in last].index(False)]}")
    assert leads <= bad and all(lq["code"] == "lead_off" for lq in last if lq["lead"] in leads)
    assert next(lq for lq in last if not lq["ok"])["electrodes"] == [electrode]


def test_missing_samples_and_flat_lead() -> None:
    x, fs = _stored()
    x[STORED.index("V5"), 200:] = np.nan
    x[STORED.index("V2")] = 3.0  # a constant, flat lead
    last = {lq["lead"]: lq for lq in _feed(x, fs)[-1]}
    assert last["V5"]["code"] == "lead_off" and last["V2"]["code"] == "flat" and last["V1"]["ok"]


def test_hub_publishes_lead_reports_of_the_take() -> None:
    from asalee_devices.devices.session import LiveBlock

    hub = LiveHub()
    sent: list[dict[str, Any]] = []
    hub.publish = lambda m: sent.append(json.loads(json.dumps(m)))  # type: ignore[method-assign]
    x, fs = _stored(electrode_off="V3")
    on_block = hub.block_subscriber("ecg", "exam-1", take_offset=1)
    for i in range(0, x.shape[1], 50):
        on_block(LiveBlock(0, i, fs, STORED, x[:, i:i + 50], 0.0, 0.0, 0.0))
    reports = [m for m in sent if m["t"] == "leads"]
    assert reports and all(m["take"] == 1 and m["exam"] == "exam-1" for m in reports)
    assert [lq["lead"] for lq in reports[0]["leads"] if not lq["ok"]] == ["V3"] and reports[0]["i"] == int(fs)
