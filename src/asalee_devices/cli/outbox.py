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
    with create_sink(cfg.sink) as sink:
        outcome = box.deliver_all(sink)
    return _report(box, outcome, sink.key, all_of_sink=args.all)


def _report(box: Outbox, outcome: dict[int, str], sink: str, *, all_of_sink: bool = True) -> int:
    """Each message tried, then what still waits and why; 0 only when nothing waits for ``sink`` (with
    ``all_of_sink`` false: when every message tried was acknowledged)."""
    import time

    for mid, state in outcome.items():
        msg = box.get(mid)
        print(f"  #{mid} {state}" + (f": {msg.last_error}" if state != "acknowledged" else f" ({msg.detail})"))
    left = box.waiting(sink)
    if not outcome and not left:
        print("nothing waiting in the outbox")
    for state, reason, n, next_at in left:
        when = "" if state == "failed" else \
            f"; next attempt in {max(0.0, next_at - time.time()):.0f} s" if next_at > time.time() else ""
        what = "refused or given up (outbox retry)" if state == "failed" else "still waiting"
        print(f"{n} message(s) {what}: {reason or 'not tried yet'}{when}")
    if not all_of_sink:
        return 0 if all(s == "acknowledged" for s in outcome.values()) else 1
    return 0 if not left else 1


def _recover(cfg: Config, box: Outbox) -> None:
    """The start-up recovery pass (temp files, examination folders a crash left incomplete), said when it did
    anything."""
    from dataclasses import replace

    from asalee_devices.workflow.delivery import recover_for_config

    r = recover_for_config(replace(cfg, outbox=str(box.path)))
    if r.temp_files_removed:
        print(f"{r.temp_files_removed} temporary file(s) left by an interrupted run removed")
    if r.completed:
        print(f"{len(r.completed)} examination folder(s) completed after an interruption")
    if r.unqueued:
        print(f"{len(r.unqueued)} examination folder(s) hold recordings that were never analysed and queued "
              f"(interrupted): record the examination again or replay it: " + ", ".join(r.unqueued))


def _send(args: argparse.Namespace) -> int:
    """Send every waiting message now, without waiting for its backoff delay."""
    from asalee_devices.fhir_out.sinks import create_sink

    cfg, box = _open(args)
    _recover(cfg, box)
    with create_sink(cfg.sink) as sink:
        outcome = box.deliver_all(sink)
    return _report(box, outcome, sink.key)


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
