"""`spirometry analyze` (ATS/ERS 2019 per blow + session) and `spirometry predict` (GLI reference values)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ORDER = 20
MAX_FILE_BYTES = 50 * 1024 * 1024
PREDICT_PARAMS = ("fev1", "fvc", "fev1_fvc", "fef25_75", "fef75", "fev0_75", "fev0_75_fvc")
INPUT_COLS = ("sex", "age", "height_cm", "ethnicity", "equation")


def register(sub: Any) -> None:
    p = sub.add_parser("spirometry", help="forced spirometry: analysis (ATS/ERS 2019) and GLI reference values")
    s = p.add_subparsers(dest="spiro_cmd", metavar="SUBCOMMAND", required=True)
    a = s.add_parser("analyze", help="analyse manoeuvre files (one blow per file) and grade the session")
    a.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="one column of flow (L/s, needs --rate) or CSV with time_s,flow_l_s / time_s,volume_l")
    a.add_argument("--rate", type=float, help="sampling rate in Hz for one-column flow files")
    a.add_argument("--json", action="store_true", help="print one JSON document")
    a.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the labels and messages")
    _patient_args(a)
    a.set_defaults(handler=_analyze)
    q = s.add_parser("predict", help="predicted, LLN and ULN for one subject or a CSV batch")
    _patient_args(q)
    q.add_argument("--input", type=Path, help="subjects CSV (sex,age,height_cm[,ethnicity][,equation])")
    q.add_argument("--output", type=Path, help="predictions CSV (with --input; default stdout)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=_predict)
    from asalee_devices.cli._record import add_spirometry_record

    add_spirometry_record(s)
    from asalee_devices.cli._calibrate import add_spirometry_calibrate

    add_spirometry_calibrate(s)


def _patient_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sex", help="male/female (M/F)")
    p.add_argument("--age", type=float, help="age in decimal years")
    p.add_argument("--height-cm", type=float, dest="height_cm", help="standing height in cm")
    p.add_argument("--equation", default="gli-global-2022", help="gli-global-2022 (default), gli-2012 or ecsc-1993")
    p.add_argument("--ethnicity", default=None, help="GLI-2012 group: caucasian, african_american, "
                   "north_east_asian, south_east_asian, other")


def _read_manoeuvre(path: Path, rate: float | None) -> Any:
    from asalee_devices.cli._flow_csv import read_flow_csv

    return read_flow_csv(path, rate)


def _reference(args: argparse.Namespace, observed: dict[str, float | None]) -> dict[str, Any] | None:
    if args.sex is None and args.age is None and args.height_cm is None:
        return None
    from asalee_devices.errors import InputError
    from asalee_devices.signal.spirometry.reference import predict

    if args.sex is None or args.age is None or args.height_cm is None:
        raise InputError("Reference values need sex, age and height", field="--sex/--age/--height-cm",
                         expected="all three")
    out: dict[str, Any] = {"equation": args.equation}
    for name, obs in observed.items():
        pr = predict(name, sex=args.sex, age_years=args.age, height_cm=args.height_cm, equation=args.equation,
                     ethnicity=args.ethnicity)
        out[name] = {"observed": obs, "predicted": float(pr.predicted[0]), "lln": float(pr.lln[0]),
                     "uln": float(pr.uln[0]),
                     "z": None if obs is None else float(pr.z_score(obs)[0]),
                     "percent_predicted": None if obs is None else float(pr.percent_predicted(obs)[0])}
    return out


def _analyze(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json
    from asalee_devices.messages.spirometry import ADVICE_MESSAGES, blow_messages
    from asalee_devices.signal.spirometry.session import analyse_session

    recs = [_read_manoeuvre(p, args.rate) for p in args.files]
    res = analyse_session(recs, age_years=args.age)
    blows = []
    for path, b in zip(args.files, res.blows, strict=True):
        i, acc = b.indices, b.acceptability
        blows.append({
            "file": path.name, "pef_l_s": i.pef_l_s, "fev0_75_l": i.fev0_75_l, "fev1_l": i.fev1_l, "fev6_l": i.fev6_l,
            "fvc_l": i.fvc_l, "fev1_fvc": i.fev1_fvc, "bev_l": i.bev_l, "time_to_pef_ms": i.time_to_pef_ms,
            "rise_time_ms": i.rise_time_ms, "fet_s": i.fet_s, "t0_s": i.t0_s,
            "hesitation_time_s": i.hesitation_time_s, "fef25_l_s": i.fef25_l_s, "fef50_l_s": i.fef50_l_s,
            "fef75_l_s": i.fef75_l_s, "fef25_75_l_s": i.fef25_75_l_s,
            "eofe_plateau": i.eofe_plateau, "eofe_fet": i.eofe_fet,
            "acceptable_fev1": acc.acceptable_fev1, "acceptable_fvc": acc.acceptable_fvc,
            "usable_fev1": acc.usable_fev1, "usable_fvc": acc.usable_fvc,
            "reasons": [r.value for r in acc.reasons], "messages": list(blow_messages(acc, args.lang)),
        })
    session = {
        "grade_fev1": res.grade_fev1, "grade_fvc": res.grade_fvc, "fev1_spread_l": res.fev1_spread_l,
        "fvc_spread_l": res.fvc_spread_l, "fev1_l": res.fev1_l, "fvc_l": res.fvc_l, "fev1_fvc": res.fev1_fvc,
        "pef_l_s": res.pef_l_s, "fef25_75_l_s": res.fef25_75_l_s, "best_test_blow": res.best_test_index,
        "stop": res.stop, "advice": res.advice_code, "advice_message": ADVICE_MESSAGES[res.advice_code][args.lang],
    }
    ref = _reference(args, {"fev1": res.fev1_l, "fvc": res.fvc_l, "fev1_fvc": res.fev1_fvc})
    doc = {"blows": blows, "session": session, "reference": ref}
    if args.json:
        print_json(doc)
        return 0
    _print_text(blows, res, session, ref, LABELS[args.lang])
    return 0


#: the text output's labels, one language per run (--lang, like the messages): French clinical vocabulary
LABELS: dict[str, dict[str, str]] = {
    "fr": {"blow": "Essai", "pef": "DEP", "fev1": "VEMS", "fvc": "CVF", "ratio": "VEMS/CVF", "bev": "VEx",
           "t_pef": "t0->DEP", "fet": "TEF", "acceptable": "acceptable", "usable": "utilisable", "rejected": "rejeté",
           "session": "Séance : grade VEMS {g1}, CVF {gv} ; VEMS retenu {fev1} L, CVF {fvc} L, VEMS/CVF {ratio} ; {advice}",
           "reference": "Valeurs de référence ({equation}) :",
           "ref_row": "    {name} : mesuré {obs} prédit {pred:.3f} LIN {lln:.3f} z {z} % prédit {pct}"},
    "en": {"blow": "Blow", "pef": "PEF", "fev1": "FEV1", "fvc": "FVC", "ratio": "FEV1/FVC", "bev": "BEV",
           "t_pef": "t0->PEF", "fet": "FET", "acceptable": "acceptable", "usable": "usable", "rejected": "rejected",
           "session": "Session: grade FEV1 {g1}, FVC {gv}; reported FEV1 {fev1} L, FVC {fvc} L, FEV1/FVC {ratio}; "
                      "{advice}",
           "reference": "Reference ({equation}):",
           "ref_row": "    {name}: observed {obs} predicted {pred:.3f} LLN {lln:.3f} z {z} %pred {pct}"},
}


def _print_text(blows: list[dict[str, Any]], res: Any, session: dict[str, Any], ref: dict[str, Any] | None,
                lab: dict[str, str]) -> None:
    def verdict(ok: bool, usable: bool) -> str:
        return lab["acceptable"] if ok else lab["usable"] if usable else lab["rejected"]

    for n, bl in enumerate(blows, 1):
        print(f"{lab['blow']} {n} ({bl['file']}): {lab['pef']} {bl['pef_l_s']:.2f} L/s  {lab['fev1']} "
              f"{_f(bl['fev1_l'])} L  {lab['fvc']} {bl['fvc_l']:.3f} L  {lab['ratio']} {_f(bl['fev1_fvc'])}  "
              f"{lab['bev']} {bl['bev_l']:.3f} L  {lab['t_pef']} {bl['time_to_pef_ms']:.0f} ms  "
              f"{lab['fet']} {bl['fet_s']:.1f} s")
        print(f"    {lab['fev1']} {verdict(bl['acceptable_fev1'], bl['usable_fev1'])}, {lab['fvc']} "
              f"{verdict(bl['acceptable_fvc'], bl['usable_fvc'])}: " + "; ".join(bl["messages"]))
    print(lab["session"].format(g1=res.grade_fev1, gv=res.grade_fvc, fev1=_f(res.fev1_l), fvc=_f(res.fvc_l),
                                ratio=_f(res.fev1_fvc), advice=session["advice_message"]))
    if ref:
        print(lab["reference"].format(equation=ref["equation"]))
        for k, name in (("fev1", lab["fev1"]), ("fvc", lab["fvc"]), ("fev1_fvc", lab["ratio"])):
            r = ref[k]
            print(lab["ref_row"].format(name=name, obs=_f(r["observed"]), pred=r["predicted"], lln=r["lln"],
                                        z=_f(r["z"], 2), pct=_f(r["percent_predicted"], 1)))


def _f(x: float | None, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _predict(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json
    from asalee_devices.errors import InputError

    if args.input is None:
        if args.sex is None or args.age is None or args.height_cm is None:
            raise InputError("predict needs --sex, --age and --height-cm (or --input CSV)",
                             field="--sex/--age/--height-cm")
        row = {"sex": args.sex, "age": str(args.age), "height_cm": str(args.height_cm),
               "ethnicity": args.ethnicity or "", "equation": args.equation}
        out = _predict_rows([row])[0]
        if args.json:
            print_json(out)
        else:
            for p in PREDICT_PARAMS:
                if out[f"{p}_predicted"] != "":
                    print(f"{p}: predicted {out[p + '_predicted']} LLN {out[p + '_lln']} ULN {out[p + '_uln']}")
            if out["error"]:
                print(f"error: {out['error']}")
        return 0 if not out["error"] else 2
    from asalee_devices.cli._predict_batch import predict_csv

    text = predict_csv(args.input, args.output)
    if text is not None:
        sys.stdout.write(text)
    return 0


def _predict_rows(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Per-row dictionaries (input columns, then the prediction columns and ``error``)."""
    from asalee_devices.cli._predict_batch import OUTPUT_COLS, predict_table

    columns = {k: [r.get(k, "") for r in rows] for k in INPUT_COLS}
    values, err = predict_table(columns, len(rows))
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        d: dict[str, Any] = dict(row)
        d.update({c: ("" if v != v else f"{v:.4f}") for c, v in zip(OUTPUT_COLS, values[i].tolist(), strict=True)})
        d["error"] = err[i]
        out.append(d)
    return out
