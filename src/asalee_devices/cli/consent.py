"""``asalee-devices consent record|withdraw|show --patient FILE``: the patient's express consent to the ASALEE
programme's use of their data (the national evaluation), and its withdrawal (``programme.consent``).

The patient file is the one ``spirometry record`` takes, plus ``residence_department`` (INSEE department code of
residence, e.g. ``51``) for the evaluation. Nothing of the identity is printed.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

ORDER = 70


def register(sub: Any) -> None:
    p = sub.add_parser("consent", help="record, withdraw or show a patient's consent to the programme's data use",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="consent_command", metavar="ACTION", required=True)
    for name, helptext in (("record", "record the patient's express consent"),
                           ("withdraw", "record the withdrawal of the patient's consent"),
                           ("show", "show the patient's consents (dates, scope, who recorded them)")):
        c = s.add_parser(name, help=helptext)
        c.add_argument("--patient", metavar="FILE", required=True,
                       help="patient JSON (as for spirometry record; residence_department for the evaluation)")
        c.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
        c.add_argument("--out", metavar="DIR", type=Path, help="data folder (overrides the configuration)")
        if name != "show":
            c.add_argument("--date", metavar="YYYY-MM-DD", help="date given / withdrawn (default today)")
            c.add_argument("--by", metavar="NAME",
                           help="who recorded it (default: the configured nurse)")
        c.set_defaults(handler=_run, demo_patient=False)


def _run(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json
    from asalee_devices.cli._record import read_patient, with_output
    from asalee_devices.config import load_config
    from asalee_devices.errors import InputError, PatientDataError
    from asalee_devices.fhir_out.pipeline import patient_from_mapping
    from asalee_devices.programme.consent import ConsentRegister, register_path

    cfg = with_output(load_config(args.config), args.out)
    data, _height = read_patient(args)
    department = data.pop("residence_department", "")
    if not isinstance(department, str):
        raise PatientDataError("residence_department is not text", field="residence_department",
                               expected="INSEE department code, e.g. 51")
    patient = patient_from_mapping(data)
    on = date.today()
    if getattr(args, "date", None):
        try:
            on = date.fromisoformat(args.date)
        except ValueError:
            raise InputError("Bad date", field="--date", value=args.date, expected="YYYY-MM-DD") from None
    by = getattr(args, "by", None) or f"{cfg.nurse.given_name} {cfg.nurse.family_name}".strip()
    with ConsentRegister(register_path(cfg)) as reg:
        if args.consent_command == "record":
            reg.record(patient, given_on=on, recorded_by=by, department=department)
        elif args.consent_command == "withdraw":
            reg.withdraw(patient, withdrawn_on=on, recorded_by=by)
        print_json(reg.summary(patient))
    return 0
