"""``asalee-devices outbox status|retry|show ID``: inspect and re-drive the delivery outbox."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.fhir_out.outbox import Outbox, OutboxMessage

ORDER = 70


def _open(args: argparse.Namespace) -> tuple[Config, Outbox]:
    from asalee_devices.config import load_config
    from asalee_devices.fhir_out.outbox import Outbox

    cfg = load_config(args.config)
    return cfg, Outbox(args.outbox or cfg.outbox)


def _row(m: OutboxMessage) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(m)


def _status(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json

    _cfg, box = _open(args)
    counts = box.counts()
    shown = [m for state in ("failed", "pending", "sent") for m in box.messages(state, limit=args.limit)]
    if args.json:
        print_json({"outbox": str(box.path), "counts": counts, "messages": [_row(m) for m in shown]})
        return 0
    print(f"Outbox {box.path}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for m in shown:
        line = f"  #{m.id} {m.state:<8} {m.kind:<10} exam {m.exam_id} -> {m.sink} (attempts {m.attempts})"
        print(line + (f": {m.last_error}" if m.last_error else ""))
    return 0


def _retry(args: argparse.Namespace) -> int:
    from asalee_devices.fhir_out.sinks import create_sink

    cfg, box = _open(args)
    if args.id is None and not args.all:
        print("outbox retry: give a message ID or --all", file=sys.stderr)
        return 2
    n = box.retry(None if args.all else args.id)
    print(f"{n} message(s) put back to pending")
    if args.no_send:
        return 0
    sink = create_sink(cfg.sink)
    try:
        outcome = box.deliver_due(sink)
    finally:
        sink.close()
    for mid, state in outcome.items():
        msg = box.get(mid)
        print(f"  #{mid} {state}" + (f": {msg.last_error}" if state != "acknowledged" else f" ({msg.detail})"))
    return 0 if all(s == "acknowledged" for s in outcome.values()) else 1


def _send(args: argparse.Namespace) -> int:
    """Send every waiting message now, without waiting for its backoff delay."""
    from asalee_devices.fhir_out.sinks import create_sink

    cfg, box = _open(args)
    sink = create_sink(cfg.sink)
    try:
        outcome = box.deliver_due(sink, now=float("inf"))
    finally:
        sink.close()
    if not outcome:
        print("nothing waiting in the outbox")
    for mid, state in outcome.items():
        msg = box.get(mid)
        print(f"  #{mid} {state}" + (f": {msg.last_error}" if state != "acknowledged" else f" ({msg.detail})"))
    return 0 if all(s == "acknowledged" for s in outcome.values()) else 1


def _show(args: argparse.Namespace) -> int:
    from asalee_devices.cli._common import print_json

    _cfg, box = _open(args)
    msg = box.get(args.id)
    if args.payload:
        charset = "iso-8859-1" if msg.sink == "hprim" else "utf-8"  # an HPRIM payload is Latin-1 text
        sys.stdout.write(box.payload(args.id).decode(charset) + "\n")
        return 0
    print_json(_row(msg))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("outbox", help="inspect and retry the delivery outbox (bundles waiting for the record)")
    osub = p.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    common.add_argument("--outbox", metavar="PATH", help="outbox database (default: the configuration's outbox)")
    s = osub.add_parser("status", parents=[common], help="counts by state and the messages not yet acknowledged")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--limit", type=int, default=50, help="messages listed per state (default 50)")
    s.set_defaults(handler=_status)
    r = osub.add_parser("retry", parents=[common], help="put failed messages back to pending and send them now")
    r.add_argument("id", nargs="?", type=int, help="message id (see status)")
    r.add_argument("--all", action="store_true", help="every failed message")
    r.add_argument("--no-send", action="store_true", help="only re-queue, do not send now")
    r.set_defaults(handler=_retry)
    se = osub.add_parser("send", parents=[common], help="send every waiting message now (ignores the backoff delay)")
    se.set_defaults(handler=_send)
    sh = osub.add_parser("show", parents=[common], help="one message's state, attempts and last error")
    sh.add_argument("id", type=int)
    sh.add_argument("--payload", action="store_true", help="print the bundle JSON instead (contains patient data)")
    sh.set_defaults(handler=_show)
