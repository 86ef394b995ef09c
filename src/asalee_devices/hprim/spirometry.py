"""HPRIM body of a spirometry examination: the parameters of each phase as the canonical results hold them.

French labels as French practice software and lab reports use them (VEMS, CVF, DEP, DEM25-75); codes are this
project's mnemonics (<= 10 characters; the LOINC codes of the same parameters are in docs/hprim.md). Values are
written in the canonical units (L, L/s, s), VEMS/CVF as a percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asalee_devices.hprim.render import Body, HprimExam, Res, closing_text, common_text, num, range_flag


@dataclass(frozen=True)
class SpiroParam:
    label: str  # French label
    code: str  # HPRIM code (<= 8 characters, so the post-BD and z/% suffixes fit in 10)
    unit: str
    scale: float  # canonical value x scale = written value
    decimals: int


#: Canonical parameter name -> how it is written, in report order.
PARAMS: dict[str, SpiroParam] = {
    "fev1": SpiroParam("VEMS", "VEMS", "L", 1.0, 2),
    "fvc": SpiroParam("CVF", "CVF", "L", 1.0, 2),
    "fev1_fvc": SpiroParam("VEMS/CVF", "VEMSCVF", "%", 100.0, 1),
    "pef": SpiroParam("DEP", "DEP", "L/s", 1.0, 2),
    "fef25_75": SpiroParam("DEM25-75", "DEM2575", "L/s", 1.0, 2),
    "fev6": SpiroParam("VEMS6", "VEMS6", "L", 1.0, 2),
    "fev0_75": SpiroParam("VEMS0,75", "VEMS075", "L", 1.0, 2),  # children aged 6 or younger only
    "fet": SpiroParam("FET", "FET", "s", 1.0, 2),
}
PHASES = {"pre": ("", "", "Phase pré-bronchodilatateur"), "post": (" post-BD", "P", "Phase post-bronchodilatateur")}
EQUATIONS = {"gli-global-2022": "GLI Global 2022", "gli-2012": "GLI 2012", "ecsc-1993": "CECA 1993"}
SEX = {"female": "F", "male": "M"}


def _scaled(p: SpiroParam, value: float | None) -> str:
    return "" if value is None else num(value * p.scale, p.decimals)


def _has_fev0_75(parameters: list[Mapping[str, Any]]) -> bool:
    """The examination reports FEV0.75 (children aged 6 or younger): it is among the phase's parameters."""
    return any(prm.get("name") == "fev0_75" and prm.get("measured") is not None for prm in parameters)


def _grades(parameters: list[Mapping[str, Any]]) -> tuple[tuple[str, str, str], ...]:
    """(session key, French label, HPRIM code) of the ATS/ERS 2019 grades the phase reports."""
    grades = (("grade_fev1", "Grade VEMS", "GRADVEMS"), ("grade_fvc", "Grade CVF", "GRADCVF"))
    return grades + ((("grade_fev0_75", "Grade VEMS0,75", "GRADV075"),) if _has_fev0_75(parameters) else ())


def _phase_res(phase: str, parameters: list[Mapping[str, Any]], session: Mapping[str, Any] | None) -> list[Res]:
    suffix, code_suffix, _title = PHASES[phase]
    out: list[Res] = []
    for prm in parameters:
        p = PARAMS.get(str(prm["name"]))
        if p is None or prm.get("measured") is None:
            continue
        measured, lln, uln = float(prm["measured"]), prm.get("lln"), prm.get("uln")
        out.append(Res(p.label + suffix, p.code + code_suffix, "N", _scaled(p, measured), p.unit,
                       _scaled(p, lln), _scaled(p, uln), range_flag(measured, lln, uln)))
        if prm.get("z_score") is not None:
            out.append(Res(f"{p.label}{suffix} z-score", f"{p.code}Z{code_suffix}", "N",
                           num(float(prm["z_score"]), 2)))
        if prm.get("percent_predicted") is not None:
            out.append(Res(f"{p.label}{suffix} % prédit", f"{p.code}PP{code_suffix}", "N",
                           num(float(prm["percent_predicted"]), 0), "%"))
    if session is not None:
        for key, label, code in _grades(parameters):
            if session.get(key):
                out.append(Res(f"{label}{suffix} (ATS/ERS 2019)", code + code_suffix, "A", str(session[key])))
    return out


def _table(parameters: list[Mapping[str, Any]]) -> list[str]:
    rows = [f"  {'Paramètre':<10}{'Mesuré':>9} {'Unité':<5}{'Prédit':>8}{'LIN':>8}{'LSN':>8}{'z':>7}{'%préd':>7}"]
    for prm in parameters:
        p = PARAMS.get(str(prm["name"]))
        if p is None or prm.get("measured") is None:
            continue
        z = "" if prm.get("z_score") is None else num(float(prm["z_score"]), 2)
        pp = "" if prm.get("percent_predicted") is None else num(float(prm["percent_predicted"]), 0)
        rows.append(f"  {p.label:<10}{_scaled(p, prm['measured']):>9} {p.unit:<5}{_scaled(p, prm.get('predicted')):>8}"
                    f"{_scaled(p, prm.get('lln')):>8}{_scaled(p, prm.get('uln')):>8}{z:>7}{pp:>7}")
    return rows


def body(results: Mapping[str, Any], exam: HprimExam) -> Body:
    text = common_text(exam, "COMPTE RENDU DE SPIROMÉTRIE (mesures, sans interprétation)")
    subject = results.get("subject")
    if subject:
        eq = EQUATIONS.get(str(subject.get("equation")), str(subject.get("equation")))
        text.append(f"Valeurs de référence : {eq} (sexe {SEX.get(str(subject.get('sex')), '?')}, "
                    f"{num(float(subject['age_years']), 1)} ans, {num(float(subject['height_cm']), 0)} cm) ; "
                    "LIN/LSN = limites inférieure/supérieure de la normale")
    if results.get("computed_by") == "device":
        text.append("Valeurs mesurées et calculées par le logiciel de l'appareil (export GDT) ; LIN/LSN de ce "
                    "logiciel.")
    res: list[Res] = []
    for phase in ("pre", "post"):
        data = results.get("phases", {}).get(phase)
        if not data:
            continue
        params = list(data.get("parameters") or [])
        session = data.get("session")
        blows = f" ({data['blows']} souffles)" if data.get("blows") else ""
        text += ["", PHASES[phase][2] + blows, *_table(params)]
        if session:
            repeat = "reproductible" if session.get("repeatable") else "non reproductible"
            grades = ", ".join(f"{label[0].lower()}{label[1:]} {session.get(key) or '-'}"
                               for key, label, _code in _grades(params))
            text.append(f"  Qualité (ATS/ERS 2019) : {grades}, {repeat}")
        res += _phase_res(phase, params, session)
    bd = results.get("bronchodilator_response")
    if bd:
        text += ["", "Réponse au bronchodilatateur (variations, sans interprétation) :",
                 f"  VEMS {num(float(bd['fev1_change_l']) * 1000, 0)} mL ({num(float(bd['fev1_change_pct']), 1)} %),"
                 f" CVF {num(float(bd['fvc_change_l']) * 1000, 0)} mL ({num(float(bd['fvc_change_pct']), 1)} %)"]
        res += [Res("Variation VEMS post-BD", "DVEMS", "N", num(float(bd["fev1_change_l"]) * 1000, 0), "mL"),
                Res("Variation CVF post-BD", "DCVF", "N", num(float(bd["fvc_change_l"]) * 1000, 0), "mL")]
    res.append(Res("Résultats calculés par", "CALCPAR", "A", exam.computed_by))
    return text + closing_text(exam), res
