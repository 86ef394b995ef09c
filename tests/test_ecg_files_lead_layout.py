"""The readers' in-place lead derivation (``_util.lead_layout`` + ``derive_limb_leads``) against the reference
``complete_lead_set``: same lead order, same derived set, bit-identical samples, for every subset of leads."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.ecg_files._util import derive_limb_leads, lead_layout
from asalee_devices.signal.ecg.recording import EXTRA_LEADS, STANDARD_LEADS, EcgRecording, complete_lead_set

_LEADS = list(STANDARD_LEADS) + ["V3R", "X", "ECG"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(present=st.sets(st.sampled_from(_LEADS), min_size=1), n=st.integers(1, 50), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1.0, 2.5, 4.88, 0.1, 1e-3]))
def test_in_place_derivation_equals_complete_lead_set(present: set[str], n: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    stored = {name: rng.integers(-32768, 32767, n).astype(np.float64) * scale for name in present}
    names_in = tuple(sorted(stored, key=_LEADS.index))
    ref = complete_lead_set(EcgRecording(np.vstack([stored[k] for k in names_in]), 500.0, names_in))
    names, derived = lead_layout(stored)
    samples = np.full((len(names), n), np.nan)
    for row, name in enumerate(names):
        if name in stored:
            samples[row] = stored[name]
    derive_limb_leads(samples, names, derived)
    assert names == ref.leads
    assert derived == ref.derived_leads
    assert samples.tobytes() == ref.samples_uv.tobytes()
    assert set(EXTRA_LEADS) >= set(names) - set(STANDARD_LEADS)
