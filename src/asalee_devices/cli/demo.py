"""Provisional `demo`: analyse a deterministic example spirometry session (until the end-to-end demo lands)."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 90


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="analyse a bundled example spirometry session and print the report")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the nurse messages")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from asalee_devices.signal.spirometry.acceptability import ACCEPTABLE_MESSAGE
    from asalee_devices.signal.spirometry.reference import predict
    from asalee_devices.signal.spirometry.session import ADVICE_MESSAGES, analyse_session
    from asalee_devices.simulators.generators.spirometry import forced_expiration

    recs = [
        forced_expiration("obstructive", fvc_l=3.20, pef_l_s=5.0, fault="hesitant_start", seed=1),
        forced_expiration("obstructive", fvc_l=3.25, pef_l_s=5.2, seed=2),
        forced_expiration("obstructive", fvc_l=3.18, pef_l_s=5.1, seed=3),
        forced_expiration("obstructive", fvc_l=3.22, pef_l_s=5.0, seed=4),
    ]
    sex, age, height = "male", 62.0, 172.0
    res = analyse_session(recs, age_years=age)
    print(f"Demo patient: {sex}, {age:g} y, {height:g} cm (synthetic session, GLI Global 2022)")
    for n, b in enumerate(res.blows, 1):
        i, acc = b.indices, b.acceptability
        msgs = "; ".join(acc.messages(args.lang)) if acc.reasons else ACCEPTABLE_MESSAGE[args.lang]
        print(f"  Blow {n}: FEV1 {i.fev1_l or 0:.3f} L  FVC {i.fvc_l:.3f} L  PEF {i.pef_l_s:.2f} L/s"
              f"  BEV {i.bev_l:.3f} L  FET {i.fet_s:.1f} s  -> {msgs}")
    print(f"Grades: FEV1 {res.grade_fev1}, FVC {res.grade_fvc}. {ADVICE_MESSAGES[res.advice_code][args.lang]}")
    for name, obs in (("fev1", res.fev1_l), ("fvc", res.fvc_l), ("fev1_fvc", res.fev1_fvc)):
        if obs is None:
            continue
        pr = predict(name, sex=sex, age_years=age, height_cm=height)
        print(f"  {name}: {obs:.3f}  predicted {pr.predicted[0]:.3f}  LLN {pr.lln[0]:.3f}"
              f"  z {pr.z_score(obs)[0]:+.2f}  {pr.percent_predicted(obs)[0]:.0f} % pred")
    return 0
