"""``asalee-devices demo``: the main job end to end on the bundled simulators.

A spirometry session on the simulated USB turbine (the first blow is hesitant and the nurse is told to redo it;
three good blows reach grade A and the stopping advice), then a resting ECG on the simulated 12-lead module (an
electrode is off in the first capture, the retake is clean), both delivered to the embedded folder sink with their
PDF reports. The patient uses the INS *test* identity system. The simulators run faster than real time so the demo
takes well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asalee_devices.workflow.ecg_exam import CaptureFeedback
    from asalee_devices.workflow.spirometry_exam import BlowFeedback

ORDER = 90

SPIROMETER = "sim://turbine?script=hesitant_start,ok,ok,ok&fvc_l=3.3&pef_l_s=6.8&speed={speed}"
ECG = "sim://ecg12?electrode_off=V3&electrode_off_takes=1&heart_rate_bpm=68&seed=7&speed={speed}"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a spirometry session and an ECG on the simulators and deliver them",
                       description=__doc__)
    p.add_argument("--out", type=Path, default=Path("asalee-output"),
                   help="folder sink, outbox and raw recordings (default ./asalee-output/)")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the messages (default fr)")
    p.add_argument("--speed", type=float, default=5.0,
                   help="simulated device time per real second (default 5; 1 = real time)")
    p.set_defaults(handler=_demo, demo_patient=True, patient=None, config=None, yes=True)


def _demo(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from asalee_devices.cli._record import LiveView, prepare, print_blow, print_capture, print_delivery
    from asalee_devices.config import Config
    from asalee_devices.workflow.acquisition import run_ecg, run_spirometry
    from asalee_devices.workflow.delivery import deliver_ecg, deliver_spirometry
    from asalee_devices.workflow.ecg_exam import EcgExamination
    from asalee_devices.workflow.setup import reference_subject
    from asalee_devices.workflow.spirometry_exam import SpirometryExamination

    t0 = time.monotonic()
    out, lang = sys.stdout, args.lang
    setup, height = prepare(args, config=Config())  # embedded defaults, never a local configuration file
    assert height is not None
    fr = lang == "fr"
    p = setup.patient
    out.write(("Démonstration asalee-devices (simulateurs, identité INS de test)\n" if fr else
               "asalee-devices demo (simulators, INS test identity)\n") +
              f"  Patient: {p.family} {' '.join(p.given)}, {p.birth_date.isoformat()}, {p.sex}, {height:g} cm"
              f" — {p.ins_kind} {p.ins}\n  Sortie / output: {args.out.resolve()}\n\n")

    out.write("1. Spirométrie (turbine USB simulée)\n" if fr else "1. Spirometry (simulated USB turbine)\n")
    exam = SpirometryExamination(reference_subject(p, height_cm=height, on=datetime.now(UTC).date(),
                                                   equation=setup.config.equation), lang=lang)
    view = LiveView(out, "souffle" if fr else "blow")

    def on_blow(fb: BlowFeedback) -> None:
        view.end()
        print_blow(fb, lang, out)

    spiro = run_spirometry(exam, SPIROMETER.format(speed=args.speed), blow_s=12.0, on_block=view.spirometry,
                           on_blow=on_blow)
    res_spiro = deliver_spirometry(exam, setup, device=spiro.require_device(),
                                   performed_at=spiro.started_at or datetime.now(UTC))
    print_delivery(res_spiro, lang, out)

    out.write("\n2. ECG 12 dérivations (module simulé)\n" if fr else "\n2. 12-lead ECG (simulated module)\n")
    ecg_exam = EcgExamination(mains_hz=float(setup.config.mains_hz), lang=lang)
    ecg_view = LiveView(out, "ECG")

    def on_capture(fb: CaptureFeedback) -> None:
        ecg_view.end()
        print_capture(fb, lang, out)

    ecg = run_ecg(ecg_exam, ECG.format(speed=args.speed), on_block=ecg_view.ecg, on_capture=on_capture)
    res_ecg = deliver_ecg(ecg_exam, setup, device=ecg.require_device(),
                          performed_at=ecg.started_at or datetime.now(UTC))
    print_delivery(res_ecg, lang, out)
    out.write(f"\n{'Terminé en' if fr else 'Done in'} {time.monotonic() - t0:.1f} s. "
              + (f"Bundles FHIR et PDF dans {args.out}/" if fr else f"FHIR bundles and PDFs in {args.out}/") + "\n")
    return 0 if res_spiro.status == res_ecg.status == "sent" else 1
