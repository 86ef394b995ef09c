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
