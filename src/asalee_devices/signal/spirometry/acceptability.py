"""Acceptability and usability of one manoeuvre for FEV1 and FVC (ATS/ERS 2019, Table 7), with nurse messages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from asalee_devices.signal.spirometry.indices import ZERO_FLOW_L_S, ManoeuvreIndices
from asalee_devices.signal.spirometry.recording import FlowRecording


class Reason(StrEnum):
    """Machine-readable reason a criterion failed."""

    BEV_OVER_LIMIT = "bev_over_limit"
    HESITATION = "hesitation"
    COUGH_FIRST_SECOND = "cough_first_second"
    EOFE_NOT_MET = "eofe_not_met"
    EARLY_TERMINATION = "early_termination"
    INCOMPLETE_INSPIRATION = "incomplete_inspiration"
    RECORDING_INCOMPLETE = "recording_incomplete"


#: Nurse-facing messages (doc A13 vocabulary), French and English.
MESSAGES: dict[Reason, dict[str, str]] = {
    Reason.BEV_OVER_LIMIT: {"fr": "Démarrage hésitant — souffler d'un coup, le plus fort possible",
                            "en": "Hesitant start — blast out as hard as possible"},
    Reason.HESITATION: {"fr": "Ne pas hésiter au départ — souffler dès la fin de l'inspiration",
                        "en": "Don't hesitate — blow out as soon as the lungs are full"},
    Reason.COUGH_FIRST_SECOND: {"fr": "Toux pendant l'effort — refaire l'essai",
                                "en": "Cough during the blow — repeat the manoeuvre"},
    Reason.EOFE_NOT_MET: {"fr": "Expiration trop courte — continuer à souffler jusqu'au bout",
                          "en": "Expiration too short — keep blowing to the very end"},
    Reason.EARLY_TERMINATION: {"fr": "Fin abrupte — souffler plus longtemps, jusqu'au bout",
                               "en": "Abrupt end — keep blowing longer, to the very end"},
    Reason.INCOMPLETE_INSPIRATION: {"fr": "Inspiration incomplète avant l'expiration — bien remplir les poumons",
                                    "en": "Incomplete inspiration — fill the lungs fully first"},
    Reason.RECORDING_INCOMPLETE: {"fr": "Enregistrement interrompu — refaire l'essai",
                                  "en": "Recording interrupted — repeat the manoeuvre"},
}
ACCEPTABLE_MESSAGE = {"fr": "Essai acceptable", "en": "Acceptable blow"}

#: Which criteria each status requires (Table 7): reasons that void it.
_VOIDS_FEV1_ACCEPTABLE = frozenset({Reason.BEV_OVER_LIMIT, Reason.COUGH_FIRST_SECOND, Reason.INCOMPLETE_INSPIRATION,
                                    Reason.RECORDING_INCOMPLETE})
_VOIDS_FVC_ACCEPTABLE = frozenset({Reason.BEV_OVER_LIMIT, Reason.EOFE_NOT_MET, Reason.EARLY_TERMINATION,
                                   Reason.INCOMPLETE_INSPIRATION, Reason.RECORDING_INCOMPLETE})
_VOIDS_FEV1_USABLE = frozenset({Reason.BEV_OVER_LIMIT, Reason.COUGH_FIRST_SECOND, Reason.RECORDING_INCOMPLETE})
_VOIDS_FVC_USABLE = frozenset({Reason.BEV_OVER_LIMIT, Reason.RECORDING_INCOMPLETE})


@dataclass(frozen=True)
class Acceptability:
    acceptable_fev1: bool
    acceptable_fvc: bool
    usable_fev1: bool
    usable_fvc: bool
    reasons: tuple[Reason, ...]

    def messages(self, lang: str = "fr") -> tuple[str, ...]:
        if not self.reasons:
            return (ACCEPTABLE_MESSAGE[lang],)
        return tuple(MESSAGES[r][lang] for r in self.reasons)


def bev_limit_l(fvc_l: float, age_years: float | None = None) -> float:
    """2019: max(5 % FVC, 0.100 L); age <= 6: max(12.5 % FVC, 0.080 L)."""
    if age_years is not None and age_years <= 6:
        return max(0.125 * fvc_l, 0.080)
    return max(0.05 * fvc_l, 0.100)


def has_cough_first_second(rec: FlowRecording, ind: ManoeuvreIndices, window_s: float = 1.0) -> bool:
    """A dip then a rebound of flow between PEF and t0 + window: the flow rises again by > max(0.5 L/s, 10 % PEF)."""
    fs = rec.fs_hz
    i0 = int(round(ind.pef_time_s * fs))
    i1 = min(int(round((ind.t0_s + window_s) * fs)) + 1, rec.n_samples)
    seg = rec.flow_l_s[i0:i1]
    if seg.size < 3:
        return False
    rebound = seg - np.minimum.accumulate(seg)
    return bool(rebound.max() > max(0.5, 0.10 * ind.pef_l_s))


def has_abrupt_end(rec: FlowRecording, ind: ManoeuvreIndices) -> bool:
    """Expiration stops while flow is still high (> 0.5 L/s within the last 50 ms of exhaled flow)."""
    fs = rec.fs_hz
    iend = int(round(ind.end_of_expiration_s * fs))
    i0 = max(iend - max(int(0.05 * fs), 1), 0)
    last = rec.flow_l_s[i0: iend + 1]
    tail = rec.flow_l_s[iend + 1: iend + 1 + max(int(0.05 * fs), 1)]
    return bool(last.size and tail.size and last.max() > 0.5 and tail.max() < ZERO_FLOW_L_S * 4)


def assess(rec: FlowRecording, ind: ManoeuvreIndices, *, age_years: float | None = None,
           largest_earlier_fvc_l: float | None = None, max_hesitation_s: float = 2.0) -> Acceptability:
    """Classify one manoeuvre. ``largest_earlier_fvc_l`` enables the third EOFE route (repeatable/above earlier)."""
    reasons: list[Reason] = []
    if rec.interrupted or rec.gaps:
        reasons.append(Reason.RECORDING_INCOMPLETE)
    if ind.bev_l > bev_limit_l(ind.fvc_l, age_years):
        reasons.append(Reason.BEV_OVER_LIMIT)
    if ind.hesitation_time_s is not None and ind.hesitation_time_s > max_hesitation_s:
        reasons.append(Reason.HESITATION)
    window = 0.75 if age_years is not None and age_years <= 6 else 1.0
    if has_cough_first_second(rec, ind, window):
        reasons.append(Reason.COUGH_FIRST_SECOND)
    eofe_repeat = largest_earlier_fvc_l is not None and ind.fvc_l >= largest_earlier_fvc_l - 0.150
    if has_abrupt_end(rec, ind):
        reasons.append(Reason.EARLY_TERMINATION)
    elif not (ind.eofe_plateau or ind.eofe_fet or eofe_repeat):
        reasons.append(Reason.EOFE_NOT_MET)
    if ind.fivc_l is not None and ind.fivc_l - ind.fvc_l > max(0.100, 0.05 * ind.fvc_l):
        reasons.append(Reason.INCOMPLETE_INSPIRATION)
    rs = frozenset(reasons)
    return Acceptability(
        acceptable_fev1=not (rs & _VOIDS_FEV1_ACCEPTABLE), acceptable_fvc=not (rs & _VOIDS_FVC_ACCEPTABLE),
        usable_fev1=not (rs & _VOIDS_FEV1_USABLE), usable_fvc=not (rs & _VOIDS_FVC_USABLE), reasons=tuple(reasons),
    )
