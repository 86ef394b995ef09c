"""``asalee-devices config check``: validate the configuration and show it with secrets masked."""

from __future__ import annotations

import argparse
import json
import sys

ORDER = 80


def _check(args: argparse.Namespace) -> int:
    from asalee_devices.config import check_config

    cfg, problems = check_config(args.config)
    if problems:
        print(f"Invalid configuration ({cfg.source}): {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    smart = ""
    if cfg.sink.type == "fhir" and cfg.sink.client_id:  # load and test-sign the key now, not at the first send
        from asalee_devices.fhir_out.sinks.smart import SmartBackendAuth

        auth = SmartBackendAuth.from_files(cfg.sink.client_id, cfg.sink.token_url, cfg.sink.private_key,
                                           cfg.sink.scope, kid=cfg.sink.kid, fhir_base_url=cfg.sink.base_url,
                                           scope_syntax=cfg.sink.scope_syntax)
        smart = f"SMART key OK: {auth.check()}; scope {auth.scope}"
    print(f"Configuration OK ({cfg.source})")
    if smart:
        print(smart)
    if cfg.test_mode:
        print("Test/demo mode: professionals without an RPPS and a practice without FINESS/SIRET are sent with "
              "visibly-demo identifiers (DEMO-NURSE, DEMO-GP, DEMO-PRACTICE); test INS systems are accepted. "
              "Outside test mode (test_mode = false) RPPS and FINESS or SIRET are required.")
    print(json.dumps(cfg.redacted(), ensure_ascii=False, indent=2))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="check the configuration (TOML file + ASALEE_* environment variables)")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="validate the configuration and print it with secrets masked")
    c.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    c.set_defaults(handler=_check)
