"""HPRIM body of a resting ECG: heart rate, technical quality, "tracé non interprété" — never an interpretation,
rhythm label or diagnosis (the GP interprets the PDF tracing in their own software)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asalee_devices.hprim.render import Body, HprimExam, Res, closing_text, common_text, num

VERDICT = {"acceptable": "acceptable", "retake": "insuffisante"}
NOT_INTERPRETED = "tracé non interprété"


def _filters(filters: list[Mapping[str, Any]]) -> str:
    parts = []
    for f in filters:
        kind = {"highpass": "passe-haut", "lowpass": "passe-bas", "notch": "réjecteur"}.get(str(f.get("kind")),
                                                                                          str(f.get("kind")))
        hz = f.get("cutoff_hz")
        parts.append(f"{kind} {num(float(hz), 2).rstrip('0').rstrip('.')} Hz" if hz is not None else kind)
    return ", ".join(parts) if parts else "aucun"


def body(results: Mapping[str, Any], exam: HprimExam) -> Body:
    text = common_text(exam, "ÉLECTROCARDIOGRAMME 12 DÉRIVATIONS DE REPOS - " + NOT_INTERPRETED)
    res: list[Res] = []
    kept = results.get("kept")
    captures = results.get("captures") or []
    capture = captures[kept] if isinstance(kept, int) and 0 <= kept < len(captures) else None
    if capture is None:
        text.append("Aucun tracé analysable.")
    else:
        heart = capture.get("heart") or {}
        rate = heart.get("heart_rate_bpm")
        verdict = str(capture.get("verdict", ""))
        if rate is not None:
            text.append(f"Fréquence cardiaque (mesure automatique) : {num(float(rate), 0)} /min")
            res.append(Res("Fréquence cardiaque", "FC", "N", num(float(rate), 0), "/min"))
        text.append(f"Qualité technique : {VERDICT.get(verdict, verdict)}")
        res.append(Res("Qualité technique", "QUALTECH", "A", VERDICT.get(verdict, verdict)))
        for finding in (capture.get("quality") or {}).get("findings") or []:
            text.append(f"  - {finding.get('message_fr') or finding.get('code')}")
        text.append(f"{len(capture.get('leads') or [])} dérivations, {num(float(capture['fs_hz']), 0)} Hz ; "
                    f"filtres : {_filters(capture.get('applied_filters') or [])}")
        for warning in capture.get("warnings") or []:
            text.append(f"  Avertissement : {warning}")
    res.append(Res("Interprétation", "INTERP", "A", NOT_INTERPRETED))
    res.append(Res("Résultats calculés par", "CALCPAR", "A", exam.computed_by))
    return text + closing_text(exam), res
