"""Live end-of-blow detection: lets a live spirometer session stop recording about a second after the patient has
finished, instead of waiting for a fixed window, so the nurse sees the blow's results at once.

Same criteria as the analysis (ATS/ERS 2019 end of forced expiration, :class:`EofeRule`): once a forced blow has
started, the blow is over when the exhaled volume changed by less than 0.025 L over the last second (plus a small
margin so the analysis sees the whole plateau window), when the forced expiratory time reaches 15 s, or when the
patient breathes in again after the blow.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from asalee_devices.signal.spirometry.indices import EOFE_2019, EofeRule

MIN_PEAK_FLOW_L_S = 1.0
MIN_BLOW_VOLUME_L = 0.5
INSPIRATION_FLOW_L_S = -0.1
INSPIRATION_S = 0.3


def end_of_forced_expiration(flow_l_s: NDArray[np.float64], fs_hz: float, eofe: EofeRule = EOFE_2019, *,
                             margin_s: float = 0.25) -> bool:
    """True when the forced blow in ``flow_l_s`` (exhaled positive, from the start of the recording) is over.

    False while no forced blow has started (peak flow < 1 L/s or exhaled volume < 0.5 L): the inspiration and the
    wait before the blow never stop the recording.

    Parameters
    ----------
    flow_l_s : ndarray of float
        Flow samples so far (L/s).
    fs_hz : float
        Sampling rate (Hz).
    eofe : EofeRule, optional
        End-of-forced-expiration criteria.
    margin_s : float, optional
        Time the end criterion must have held (s).

    Returns
    -------
    bool
        True when the recording may stop.
    """
    flow = np.nan_to_num(np.asarray(flow_l_s, dtype=np.float64))
    if flow.size < 2 or not fs_hz > 0:
        return False
    ipef = int(np.argmax(flow))
    if flow[ipef] < MIN_PEAK_FLOW_L_S:
        return False
    before = np.nonzero(flow[: ipef + 1] <= 0.0)[0]
    istart = int(before[-1]) if before.size else 0
    seg = flow[istart:]
    volume = np.maximum.accumulate(np.cumsum(seg) / fs_hz)
    if volume[-1] < MIN_BLOW_VOLUME_L:
        return False
    n_in = int(round(INSPIRATION_S * fs_hz))
    after = flow[ipef:]
    if after.size >= n_in and n_in > 0 and bool(np.all(after[-n_in:] < INSPIRATION_FLOW_L_S)):
        return True
    elapsed_s = seg.size / fs_hz
    if elapsed_s >= eofe.max_fet_s + margin_s:
        return True
    window = int(round((eofe.plateau_window_s + margin_s) * fs_hz))
    if (flow.size - ipef) <= window or seg.size <= window:
        return False
    return bool(volume[-1] - volume[-1 - window] < eofe.plateau_volume_l)
