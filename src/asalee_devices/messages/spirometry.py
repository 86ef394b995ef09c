"""Spirometry feedback for the nurse: one sentence per Table 7 reason code (standards note A13 vocabulary).

Imports nothing from ``signal/`` (issue 19: the dashboard and its PDF, which are renderers, look reasons up here):
every table is keyed by the code *string* — the value of
:class:`~asalee_devices.signal.spirometry.acceptability.Reason`,
:class:`~asalee_devices.signal.spirometry.acceptability.OperatorMark` or
:class:`~asalee_devices.signal.spirometry.session.Advice` — and since a ``StrEnum`` member hashes and compares equal
to its value, looking a word up by the enum member or by the string stored in results gives the same word.
``tests/test_signal_codes_only.py`` checks that every member of those enums has its French and English words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

Lang = Literal["fr", "en"]

#: The advice-only reason code (``Reason.HESITATION``): a remark that voids nothing, shown after the verdict.
HESITATION = "hesitation"


class Judged(Protocol):
    """What the words of a blow need from its acceptability
    (:class:`~asalee_devices.signal.spirometry.acceptability.Acceptability`): its reason codes."""

    @property
    def reasons(self) -> Sequence[str]: ...

#: Per-reason messages, French and English.
MESSAGES: dict[str, dict[str, str]] = {
    "bev_over_limit": {"fr": "Démarrage hésitant — souffler d'un coup, le plus fort possible",
                       "en": "Hesitant start — blast out as hard as possible"},
    "faulty_zero_flow": {"fr": "Zéro du débit faussé — refaire le zéro de l'appareil (embout immobile), "
                                "puis refaire l'essai",
                         "en": "Faulty zero-flow setting — re-zero the device (sensor kept still), then repeat"},
    "cough_first_second": {"fr": "Toux pendant l'effort — refaire l'essai",
                           "en": "Cough during the blow — repeat the manoeuvre"},
    "cough_first_0_75s": {"fr": "Toux pendant l'effort — refaire l'essai",
                          "en": "Cough during the blow — repeat the manoeuvre"},
    "glottic_closure_first_second": {"fr": "Souffle bloqué dès le début — souffler d'un trait, sans s'arrêter",
                                     "en": "Blow stopped at the start — blow out in one go, without stopping"},
    "glottic_closure_first_0_75s": {"fr": "Souffle bloqué dès le début — souffler d'un trait, sans s'arrêter",
                                    "en": "Blow stopped at the start — blow out in one go, without stopping"},
    "eofe_not_met": {"fr": "Expiration trop courte — continuer à souffler jusqu'au bout",
                     "en": "Expiration too short — keep blowing to the very end"},
    "early_termination": {"fr": "Fin abrupte — souffler plus longtemps, jusqu'au bout",
                          "en": "Abrupt end — keep blowing longer, to the very end"},
    "obstructed_mouthpiece": {"fr": "Embout obstrué (noté par l'infirmière) — dégager l'embout, refaire l'essai",
                              "en": "Obstructed mouthpiece (noted by the nurse) — clear it, repeat the blow"},
    "leak": {"fr": "Fuite (notée par l'infirmière) — lèvres bien serrées autour de l'embout, refaire l'essai",
                  "en": "Leak (noted by the nurse) — lips sealed round the mouthpiece, repeat the blow"},
    "submaximal_effort": {"fr": "Effort sous-maximal (noté par l'infirmière) — souffler le plus fort possible",
                          "en": "Sub-maximal effort (noted by the nurse) — blow as hard as possible"},
    "incomplete_inspiration": {"fr": "Inspiration incomplète avant l'expiration — bien remplir les poumons",
                               "en": "Incomplete inspiration — fill the lungs fully first"},
    "recording_incomplete": {"fr": "Enregistrement interrompu — refaire l'essai",
                             "en": "Recording interrupted — repeat the manoeuvre"},
    "hesitation": {"fr": "Conseil : souffler dès la fin de l'inspiration, sans attendre",
                   "en": "Advice: blow out as soon as the lungs are full, without waiting"},
}
ACCEPTABLE_MESSAGE = {"fr": "Essai acceptable", "en": "Acceptable blow"}
#: Shown when a blow is not acceptable but its FEV1 or FVC can still be used (grade U) if nothing better comes.
USABLE_MESSAGE = {"fr": "Essai non acceptable mais utilisable", "en": "Blow not acceptable but usable"}

#: What the session needs next, by advice code (:class:`~asalee_devices.signal.spirometry.session.Advice`).
ADVICE_MESSAGES: dict[str, dict[Lang, str]] = {
    "enough_acceptable_repeatable": {"fr": "Séance terminée — essais acceptables et reproductibles",
                                     "en": "Session complete — acceptable and repeatable blows"},
    "max_manoeuvres_reached": {"fr": "8 essais atteints — arrêter la séance",
                               "en": "8 blows reached — stop the session"},
    "not_repeatable_one_more": {"fr": "Essais non reproductibles — encore un essai",
                                "en": "Blows not repeatable — one more attempt"},
    "need_more_acceptable": {"fr": "Encore un essai — 3 essais acceptables sont nécessaires",
                             "en": "One more attempt — 3 acceptable blows are needed"},
}

#: Labels of the nurse's operator marks (buttons, report, FHIR notes).
MARK_LABELS: dict[str, dict[str, str]] = {
    "leak": {"fr": "fuite", "en": "leak"},
    "obstructed_mouthpiece": {"fr": "embout obstrué", "en": "obstructed mouthpiece"},
    "submaximal_effort": {"fr": "effort sous-maximal", "en": "sub-maximal effort"},
}


def blow_messages(acc: Judged, lang: Lang = "fr") -> tuple[str, ...]:
    """What the nurse reads after a blow: the failed criteria, or "acceptable" (followed by advice-only remarks,
    which never contradict the verdict)."""
    failing = [r for r in acc.reasons if r != HESITATION]
    advice = [MESSAGES[r][lang] for r in acc.reasons if r == HESITATION]
    if not failing:
        return (ACCEPTABLE_MESSAGE[lang], *advice)
    return (*dict.fromkeys(MESSAGES[r][lang] for r in failing), *advice)


def reason_message(code: str, lang: Lang = "fr") -> str | None:
    """The nurse's message of one reason given by its code string (as stored in results and indicator tables).

    Parameters
    ----------
    code : str
        A :class:`~asalee_devices.signal.spirometry.acceptability.Reason` value, e.g. ``"bev_over_limit"``.
    lang : {"fr", "en"}, optional
        Language of the message (French by default).

    Returns
    -------
    str or None
        The message, None for a code that is not a reason.
    """
    words = MESSAGES.get(code)
    return words[lang] if words is not None else None


def mark_labels(marks: Sequence[str], lang: Lang = "fr") -> tuple[str, ...]:
    return tuple(MARK_LABELS[m][lang] for m in marks)


# -- the GP's report (PDF): clinical vocabulary, by code --------------------------------------------------------------

#: Reported parameters as a pulmonary-function laboratory names them, by parameter code (French clinical
#: abbreviations; the English report keeps the ATS/ERS ones).
PARAMETER_LABELS: dict[str, dict[Lang, str]] = {
    "fev1": {"fr": "VEMS", "en": "FEV1"},
    "fvc": {"fr": "CVF", "en": "FVC"},
    "fev1_fvc": {"fr": "VEMS/CVF", "en": "FEV1/FVC"},
    "pef": {"fr": "DEP", "en": "PEF"},
    "fef25_75": {"fr": "DEM 25-75", "en": "FEF25-75"},
    "fev6": {"fr": "VEMS6", "en": "FEV6"},
    "fev0_75": {"fr": "VEMS0,75", "en": "FEV0.75"},
    "fet": {"fr": "TEF", "en": "FET"},
}

#: Why a blow does not count, in the GP's (technical) vocabulary: no coaching, who noticed an operator-assessed fault.
GP_REASONS: dict[str, dict[Lang, str]] = {
    "bev_over_limit": {"fr": "BEV au-dessus de la limite (départ hésitant)",
                       "en": "BEV over the limit (hesitant start)"},
    "faulty_zero_flow": {"fr": "Zéro du débit faussé", "en": "Faulty zero-flow setting"},
    "cough_first_second": {"fr": "Toux dans la 1re seconde", "en": "Cough in the first second"},
    "cough_first_0_75s": {"fr": "Toux dans les 0,75 premières s", "en": "Cough in the first 0.75 s"},
    "glottic_closure_first_second": {"fr": "Fermeture glottique dans la 1re seconde",
                                     "en": "Glottic closure in the first second"},
    "glottic_closure_first_0_75s": {"fr": "Fermeture glottique dans les 0,75 premières s",
                                    "en": "Glottic closure in the first 0.75 s"},
    "eofe_not_met": {"fr": "Fin d'expiration forcée non atteinte", "en": "End of forced expiration not reached"},
    "early_termination": {"fr": "Arrêt prématuré de l'expiration", "en": "Early termination of expiration"},
    "obstructed_mouthpiece": {"fr": "Embout obstrué (noté par l'infirmière)",
                              "en": "Obstructed mouthpiece (noted by the nurse)"},
    "leak": {"fr": "Fuite (notée par l'infirmière)", "en": "Leak (noted by the nurse)"},
    "submaximal_effort": {"fr": "Effort sous-maximal (noté par l'infirmière)",
                          "en": "Sub-maximal effort (noted by the nurse)"},
    "incomplete_inspiration": {"fr": "Inspiration incomplète (CVIF - CVF au-dessus de la limite)",
                               "en": "Incomplete inspiration (FIVC - FVC over the limit)"},
    "recording_incomplete": {"fr": "Enregistrement incomplet", "en": "Incomplete recording"},
    "hesitation": {"fr": "Temps d'hésitation > 2 s (remarque)", "en": "Hesitation time > 2 s (remark)"},
}
#: A recording that could not be analysed, on the GP's report.
GP_NOT_ANALYSABLE: dict[Lang, str] = {"fr": "{label} : non analysable, exclu de la séance ({reason})",
                                      "en": "{label}: could not be analysed, left out of the session ({reason})"}
#: The label of a blow on the report ("Essai 3", "Post-BD 2").
BLOW_LABEL: dict[Lang, dict[str, str]] = {"fr": {"pre": "Essai {n}", "post": "Post-BD {n}"},
                                          "en": {"pre": "Blow {n}", "post": "Post-BD {n}"}}
SEX_WORDS: dict[str, dict[Lang, str]] = {"female": {"fr": "femme", "en": "female"},
                                         "male": {"fr": "homme", "en": "male"}}

#: What the BTPS state of the recordings means, in plain words, by BTPS source (``FlowRecording.btps.source``).
BTPS_EXPLANATIONS: dict[str, dict[Lang, str]] = {
    "none": {"fr": "volumes et débits tels que mesurés à la température de la pièce, sans conversion aux conditions "
                   "du corps (37 °C, air saturé de vapeur d'eau) : ils peuvent être sous-estimés de quelques % "
                   "(jusqu'à environ 10 % dans une pièce à 20-25 °C).",
             "en": "volumes and flows as measured at room temperature, not converted to body conditions (37 °C, air "
                   "saturated with water vapour): they may read a few % low (up to about 10 % in a 20-25 °C room)."},
    "device": {"fr": "volumes et débits convertis par le spiromètre aux conditions du corps (37 °C, air saturé de "
                     "vapeur d'eau).",
               "en": "volumes and flows converted by the spirometer to body conditions (37 °C, air saturated with "
                     "water vapour)."},
    "ambient": {"fr": "volumes et débits convertis aux conditions du corps (37 °C, air saturé de vapeur d'eau) par ce "
                      "facteur, calculé à partir des conditions de la pièce.",
                "en": "volumes and flows converted to body conditions (37 °C, air saturated with water vapour) by "
                      "this factor, computed from the room's conditions."},
}


def btps_explanation(sources: set[str], lang: Lang = "fr") -> str:
    """The plain-words meaning of the recordings' BTPS state ("" when the blows mix sources)."""
    return BTPS_EXPLANATIONS[next(iter(sources))][lang] if len(sources) == 1 and sources <= set(
        BTPS_EXPLANATIONS) else ""


def gp_reasons(acc: Judged, lang: Lang = "fr") -> tuple[str, ...]:
    """Why a blow is not acceptable (or the advice-only remarks), in the GP's vocabulary, without duplicates."""
    return tuple(dict.fromkeys(GP_REASONS[r][lang] for r in acc.reasons))
