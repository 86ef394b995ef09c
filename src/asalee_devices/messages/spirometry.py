"""Spirometry feedback for the nurse: one sentence per Table 7 reason code (standards note A13 vocabulary)."""

from __future__ import annotations

from typing import Literal

from asalee_devices.signal.spirometry.acceptability import Acceptability, OperatorMark, Reason
from asalee_devices.signal.spirometry.session import Advice

Lang = Literal["fr", "en"]

#: Per-reason messages, French and English.
MESSAGES: dict[Reason, dict[str, str]] = {
    Reason.BEV_OVER_LIMIT: {"fr": "Démarrage hésitant — souffler d'un coup, le plus fort possible",
                            "en": "Hesitant start — blast out as hard as possible"},
    Reason.FAULTY_ZERO_FLOW: {"fr": "Zéro du débit faussé — refaire le zéro de l'appareil (embout immobile), "
                                    "puis refaire l'essai",
                              "en": "Faulty zero-flow setting — re-zero the device (sensor kept still), then repeat"},
    Reason.COUGH_FIRST_SECOND: {"fr": "Toux pendant l'effort — refaire l'essai",
                                "en": "Cough during the blow — repeat the manoeuvre"},
    Reason.COUGH_FIRST_0_75S: {"fr": "Toux pendant l'effort — refaire l'essai",
                               "en": "Cough during the blow — repeat the manoeuvre"},
    Reason.GLOTTIC_CLOSURE_FIRST_SECOND: {"fr": "Souffle bloqué dès le début — souffler d'un trait, sans s'arrêter",
                                          "en": "Blow stopped at the start — blow out in one go, without stopping"},
    Reason.GLOTTIC_CLOSURE_FIRST_0_75S: {"fr": "Souffle bloqué dès le début — souffler d'un trait, sans s'arrêter",
                                         "en": "Blow stopped at the start — blow out in one go, without stopping"},
    Reason.EOFE_NOT_MET: {"fr": "Expiration trop courte — continuer à souffler jusqu'au bout",
                          "en": "Expiration too short — keep blowing to the very end"},
    Reason.EARLY_TERMINATION: {"fr": "Fin abrupte — souffler plus longtemps, jusqu'au bout",
                               "en": "Abrupt end — keep blowing longer, to the very end"},
    Reason.OBSTRUCTED_MOUTHPIECE: {"fr": "Embout obstrué (noté par l'infirmière) — dégager l'embout, refaire l'essai",
                                   "en": "Obstructed mouthpiece (noted by the nurse) — clear it, repeat the blow"},
    Reason.LEAK: {"fr": "Fuite (notée par l'infirmière) — lèvres bien serrées autour de l'embout, refaire l'essai",
                  "en": "Leak (noted by the nurse) — lips sealed round the mouthpiece, repeat the blow"},
    Reason.SUBMAXIMAL_EFFORT: {"fr": "Effort sous-maximal (noté par l'infirmière) — souffler le plus fort possible",
                               "en": "Sub-maximal effort (noted by the nurse) — blow as hard as possible"},
    Reason.INCOMPLETE_INSPIRATION: {"fr": "Inspiration incomplète avant l'expiration — bien remplir les poumons",
                                    "en": "Incomplete inspiration — fill the lungs fully first"},
    Reason.RECORDING_INCOMPLETE: {"fr": "Enregistrement interrompu — refaire l'essai",
                                  "en": "Recording interrupted — repeat the manoeuvre"},
    Reason.HESITATION: {"fr": "Conseil : souffler dès la fin de l'inspiration, sans attendre",
                        "en": "Advice: blow out as soon as the lungs are full, without waiting"},
}
ACCEPTABLE_MESSAGE = {"fr": "Essai acceptable", "en": "Acceptable blow"}
#: Shown when a blow is not acceptable but its FEV1 or FVC can still be used (grade U) if nothing better comes.
USABLE_MESSAGE = {"fr": "Essai non acceptable mais utilisable", "en": "Blow not acceptable but usable"}

#: What the session needs next, by advice code (:class:`~asalee_devices.signal.spirometry.session.Advice`).
ADVICE_MESSAGES: dict[Advice, dict[Lang, str]] = {
    Advice.ENOUGH_ACCEPTABLE_REPEATABLE: {"fr": "Séance terminée — essais acceptables et reproductibles",
                                          "en": "Session complete — acceptable and repeatable blows"},
    Advice.MAX_MANOEUVRES_REACHED: {"fr": "8 essais atteints — arrêter la séance",
                                    "en": "8 blows reached — stop the session"},
    Advice.NOT_REPEATABLE_ONE_MORE: {"fr": "Essais non reproductibles — encore un essai",
                                     "en": "Blows not repeatable — one more attempt"},
    Advice.NEED_MORE_ACCEPTABLE: {"fr": "Encore un essai — 3 essais acceptables sont nécessaires",
                                  "en": "One more attempt — 3 acceptable blows are needed"},
}

#: Labels of the nurse's operator marks (buttons, report, FHIR notes).
MARK_LABELS: dict[OperatorMark, dict[str, str]] = {
    OperatorMark.LEAK: {"fr": "fuite", "en": "leak"},
    OperatorMark.OBSTRUCTED_MOUTHPIECE: {"fr": "embout obstrué", "en": "obstructed mouthpiece"},
    OperatorMark.SUBMAXIMAL_EFFORT: {"fr": "effort sous-maximal", "en": "sub-maximal effort"},
}


def blow_messages(acc: Acceptability, lang: Lang = "fr") -> tuple[str, ...]:
    """What the nurse reads after a blow: the failed criteria, or "acceptable" (followed by advice-only remarks,
    which never contradict the verdict)."""
    failing = [r for r in acc.reasons if r is not Reason.HESITATION]
    advice = [MESSAGES[r][lang] for r in acc.reasons if r is Reason.HESITATION]
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
    try:
        return MESSAGES[Reason(code)][lang]
    except ValueError:
        return None


def mark_labels(marks: tuple[OperatorMark, ...], lang: Lang = "fr") -> tuple[str, ...]:
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
GP_REASONS: dict[Reason, dict[Lang, str]] = {
    Reason.BEV_OVER_LIMIT: {"fr": "BEV au-dessus de la limite (départ hésitant)",
                            "en": "BEV over the limit (hesitant start)"},
    Reason.FAULTY_ZERO_FLOW: {"fr": "Zéro du débit faussé", "en": "Faulty zero-flow setting"},
    Reason.COUGH_FIRST_SECOND: {"fr": "Toux dans la 1re seconde", "en": "Cough in the first second"},
    Reason.COUGH_FIRST_0_75S: {"fr": "Toux dans les 0,75 premières s", "en": "Cough in the first 0.75 s"},
    Reason.GLOTTIC_CLOSURE_FIRST_SECOND: {"fr": "Fermeture glottique dans la 1re seconde",
                                          "en": "Glottic closure in the first second"},
    Reason.GLOTTIC_CLOSURE_FIRST_0_75S: {"fr": "Fermeture glottique dans les 0,75 premières s",
                                         "en": "Glottic closure in the first 0.75 s"},
    Reason.EOFE_NOT_MET: {"fr": "Fin d'expiration forcée non atteinte", "en": "End of forced expiration not reached"},
    Reason.EARLY_TERMINATION: {"fr": "Arrêt prématuré de l'expiration", "en": "Early termination of expiration"},
    Reason.OBSTRUCTED_MOUTHPIECE: {"fr": "Embout obstrué (noté par l'infirmière)",
                                   "en": "Obstructed mouthpiece (noted by the nurse)"},
    Reason.LEAK: {"fr": "Fuite (notée par l'infirmière)", "en": "Leak (noted by the nurse)"},
    Reason.SUBMAXIMAL_EFFORT: {"fr": "Effort sous-maximal (noté par l'infirmière)",
                               "en": "Sub-maximal effort (noted by the nurse)"},
    Reason.INCOMPLETE_INSPIRATION: {"fr": "Inspiration incomplète (CVIF - CVF au-dessus de la limite)",
                                    "en": "Incomplete inspiration (FIVC - FVC over the limit)"},
    Reason.RECORDING_INCOMPLETE: {"fr": "Enregistrement incomplet", "en": "Incomplete recording"},
    Reason.HESITATION: {"fr": "Temps d'hésitation > 2 s (remarque)", "en": "Hesitation time > 2 s (remark)"},
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


def gp_reasons(acc: Acceptability, lang: Lang = "fr") -> tuple[str, ...]:
    """Why a blow is not acceptable (or the advice-only remarks), in the GP's vocabulary, without duplicates."""
    return tuple(dict.fromkeys(GP_REASONS[r][lang] for r in acc.reasons))
