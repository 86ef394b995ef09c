"""Electrode off, each in turn: the electrode is named from the pattern of the leads it enters (I = LA - RA,
II = LL - RA, III = LL - LA, the augmented and precordial leads through Wilson's terminal, RL the reference of
all), and every lead it enters is badged with it."""

from __future__ import annotations

import numpy as np
import pytest
from tests.ecg.synth import synthetic_ecg

from asalee_devices.messages.ecg import quality_messages
from asalee_devices.signal.ecg.analysis import analyze_ecg
from asalee_devices.signal.ecg.recording import STANDARD_LEADS, from_leads

USES = {"I": {"RA", "LA"}, "II": {"RA", "LL"}, "III": {"LA", "LL"}, "aVR": {"RA", "LA", "LL"},
        "aVL": {"RA", "LA", "LL"}, "aVF": {"RA", "LA", "LL"},
        **{f"V{k}": {f"V{k}", "RA", "LA", "LL"} for k in range(1, 7)}}
NAMES = {"RA": "bras droit (RA)", "LA": "bras gauche (LA)", "LL": "jambe gauche (LL)",
         "RL": "jambe droite, référence (RL)", **{f"V{k}": f"V{k}" for k in range(1, 7)}}


def _entered_by(electrode: str) -> list[str]:
    return [n for n in STANDARD_LEADS if electrode == "RL" or electrode in USES[n]]


@pytest.mark.parametrize("fs", [500.0, 1000.0])
@pytest.mark.parametrize("electrode", list(NAMES))
def test_each_electrode_off_is_named(electrode: str, fs: float) -> None:
    base = synthetic_ecg(fs, seed=3, noise_uv=5.0)
    off_leads = _entered_by(electrode)
    leads = {n: base.lead(n).copy() for n in STANDARD_LEADS}  # the cart stores all 12 leads
    for n in off_leads:
        leads[n][:] = np.nan  # the cart flags every lead the electrode enters
    rec = from_leads(leads, fs)
    q = analyze_ecg(rec).quality
    badged = {f.lead: f.electrodes for f in q.findings if f.code == "lead_off"}
    print(f"\n{electrode} off: " + " | ".join(quality_messages(q, "fr")))
    assert set(badged) == set(off_leads)
    assert all(e == (electrode,) for e in badged.values())
    msgs = quality_messages(q, "fr")
    assert len(msgs) == 1 and msgs[0].startswith(f"Électrode {NAMES[electrode]} déconnectée")
    assert q.verdict == "retake"


def test_precordial_electrodes_off_on_an_8_lead_cart() -> None:
    base = synthetic_ecg(500.0, seed=4)
    leads = {n: base.lead(n).copy() for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")}
    for n in ("V2", "V5"):
        leads[n][:] = np.nan
    q = analyze_ecg(from_leads(leads, 500.0)).quality
    assert {f.lead: f.electrodes for f in q.findings} == {"V2": ("V2",), "V5": ("V5",)}
    assert quality_messages(q, "fr")[0].startswith("Électrodes V2, V5 déconnectées")


@pytest.mark.parametrize("electrode, stored_off", [("LA", ["I"]), ("LL", ["II"]), ("RA", ["I", "II"])])
def test_limb_electrodes_on_an_8_lead_cart(electrode: str, stored_off: list[str]) -> None:
    """III and the augmented leads derived by us: the pattern on I and II alone names LA, LL, RA."""
    base = synthetic_ecg(500.0, seed=5)
    leads = {n: base.lead(n).copy() for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")}
    for n in stored_off:
        leads[n][:] = np.nan
    q = analyze_ecg(from_leads(leads, 500.0)).quality
    assert {f.electrodes for f in q.findings if f.code == "lead_off"} == {(electrode,)}
    assert NAMES[electrode] in quality_messages(q, "fr")[0]
