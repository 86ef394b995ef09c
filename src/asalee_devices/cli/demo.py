"""``asalee-devices demo``: the main job end to end on the bundled simulators.

A spirometry session on the simulated USB turbine (the first blow is hesitant and the nurse is told to redo it;
three good blows reach grade A and the stopping advice), then a resting ECG on the simulated 12-lead module (an
electrode is off in the first capture, the retake is clean), both delivered with their PDF reports to the embedded
folder sink, or to the sink named by ``--sink`` (``hprim``: one ``.hpr`` + ``.pdf`` per examination in ``--out``;
``fhir`` / ``mllp``: the endpoint of the configuration file and ``ASALEE_SINK_*`` variables). The patient uses the INS *test* identity system. The simulators run faster than real time so the demo
takes well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

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
    p.add_argument("--sink", choices=("folder", "hprim", "fhir", "mllp"), default="folder",
                   help="where the examinations go (default folder; hprim: .hpr + .pdf in --out; fhir, mllp: the "
                        "configured endpoint)")
    p.set_defaults(handler=_demo, demo_patient=True, patient=None, config=None, yes=True)


def _demo(args: argparse.Namespace) -> int:
    from asalee_devices.cli._record import ecg_record, spirometry_record
    from asalee_devices.workflow.setup import DEMO_HEIGHT_CM, DEMO_PATIENT

    t0 = time.monotonic()
    out, fr = sys.stdout, args.lang == "fr"
    p = DEMO_PATIENT
    out.write(("Démonstration asalee-devices (simulateurs, identité INS de test)\n" if fr else
               "asalee-devices demo (simulators, INS test identity)\n") +
              f"  Patient: {p['family']} {' '.join(p['given'])}, {p['birth_date']}, {p['sex']}, {DEMO_HEIGHT_CM:g} cm"
              f" — {p['ins_kind']} {p['ins']}\n  Sortie / output: {args.out.resolve()}\n\n")
    common = dict(vars(args), height_cm=None, max_blows=8, blow_s=15.0, post_bd=None, duration_s=10.0,
                  max_captures=3, layout="3x4", paper_speed=25.0, gain=10.0)
    config = _demo_config(args.sink, args.out)
    if config is None:
        return 2
    _demo_consent(config, args.out)
    out.write("1. Spirométrie (turbine USB simulée)\n" if fr else "1. Spirometry (simulated USB turbine)\n")
    spiro = spirometry_record(argparse.Namespace(**common, device=SPIROMETER.format(speed=args.speed)),
                              config=config)
    out.write("\n2. ECG 12 dérivations (module simulé)\n" if fr else "\n2. 12-lead ECG (simulated module)\n")
    ecg = ecg_record(argparse.Namespace(**common, device=ECG.format(speed=args.speed)), config=config)
    what = {"folder": ("Bundles FHIR et PDF dans", "FHIR bundles and PDFs in"),
            "hprim": ("Fichiers HPRIM (.hpr) et PDF dans", "HPRIM files (.hpr) and PDFs in")}.get(
        args.sink, (f"Envoyé par le connecteur {args.sink} ; enregistrements dans",
                    f"Sent through the {args.sink} sink; recordings in"))
    out.write(f"\n{'Terminé en' if fr else 'Done in'} {time.monotonic() - t0:.1f} s. {what[0 if fr else 1]} "
              f"{args.out}/\n")
    return 0 if spiro == ecg == 0 else 1


def _demo_config(sink_type: str, out: Path) -> Any:
    """The embedded defaults (never a local configuration file) with the chosen sink: a folder-like sink writes
    into ``out``; a network sink takes its endpoint from the configuration (file and ``ASALEE_SINK_*``)."""
    from dataclasses import replace

    from asalee_devices.config import Config, SinkConfig, load_config, validate
    from asalee_devices.errors import ConfigError

    if sink_type in ("folder", "hprim"):
        return Config(sink=SinkConfig(type=sink_type, folder=str(out)))
    try:
        configured = load_config().sink
    except ConfigError as exc:
        sys.stderr.write(f"asalee-devices demo: {exc}\n")
        return None
    config = Config(sink=replace(configured, type=sink_type))
    problems = validate(config)
    if problems:
        sys.stderr.write("asalee-devices demo --sink " + sink_type + ": " + "; ".join(problems) + "\n")
        return None
    return config


def _demo_consent(config: Any, out: Path) -> None:
    """The demonstration patient consents to the programme's data use (test identity), so the demo month exports
    one patient (``asalee-devices evaluation export``)."""
    from datetime import date

    from asalee_devices.cli._record import with_output
    from asalee_devices.fhir_out.pipeline import patient_from_mapping
    from asalee_devices.programme.consent import ConsentRegister, register_path
    from asalee_devices.workflow.setup import DEMO_PATIENT

    cfg = with_output(config, out)
    patient = patient_from_mapping(DEMO_PATIENT)
    with ConsentRegister(register_path(cfg)) as reg:
        if not any(c.active for c in reg.consents(patient)):
            reg.record(patient, given_on=date.today(), department="51",
                       recorded_by=f"{cfg.nurse.given_name} {cfg.nurse.family_name}")
