"""``asalee-devices simulate DEVICE [--tcp PORT | --pty]``: run one device simulator standalone."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

ORDER = 41


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="serve a device simulator over TCP or a pty and print how to connect",
        description="Run the device side of a protocol (the same bytes as the hardware) so the real driver can "
                    "connect: over TCP (every OS; URL DRIVER+socket://HOST:PORT) or a pty (POSIX; URL "
                    "DRIVER+serial://PATH). Faults can be injected. Stops on Ctrl-C or after --duration.",
    )
    p.add_argument("device", metavar="DEVICE", help="ecg12 (alias ecg), contec-spiro (alias spirometer)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tcp", type=int, metavar="PORT", help="TCP port to listen on (0 = any free port; default)")
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal (POSIX only)")
    p.add_argument("--host", default="127.0.0.1", help="TCP address to bind (default 127.0.0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated signal and of the faults")
    p.add_argument("--speed", type=float, default=1.0, help="device clock / real time (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="simulator parameter, e.g. rate_hz=1000, heart_rate_bpm=80, electrode_off=V3, "
                        "fault=cough (repeatable)")
    p.add_argument("--corrupt", type=float, default=0.0, help="rate of corrupted bytes (e.g. 0.01)")
    p.add_argument("--drop", type=float, default=0.0, help="rate of dropped bytes")
    p.add_argument("--unplug-after", type=int, metavar="BYTES", help="hang up after this many bytes")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from asalee_devices.errors import ConfigError, InputError
    from asalee_devices.simulators.endpoints import PtySimulator, TcpSimulatorServer
    from asalee_devices.simulators.faults import FaultPlan
    from asalee_devices.simulators.registry import get_simulator

    spec = get_simulator(args.device)
    if spec.usb:
        raise InputError("This simulator is a virtual USB device, reachable in process only", field="device",
                         value=spec.name, expected=f"the URL sim://{spec.name} (no --tcp/--pty)")
    params: dict[str, str] = {"seed": str(args.seed)}
    for item in args.set:
        if "=" not in item:
            raise ConfigError("Simulator parameter must be NAME=VALUE", field="--set", value=item)
        k, v = item.split("=", 1)
        params[k.strip()] = v.strip()
    factory = spec.make(params)
    faults = FaultPlan(corrupt_rate=args.corrupt, drop_rate=args.drop, unplug_after_bytes=args.unplug_after,
                       seed=args.seed)
    server: TcpSimulatorServer | PtySimulator
    if args.pty:
        server = PtySimulator(factory, faults=faults, speed=args.speed)
        url = f"{spec.driver}+serial://{server.port}"
    else:
        server = TcpSimulatorServer(factory, host=args.host, port=args.tcp or 0, faults=faults, speed=args.speed)
        url = f"{spec.driver}+socket://{server.host}:{server.port}"
    server.start()
    print(f"{spec.description}: simulator running.", flush=True)
    print(f"connect with: {url}", flush=True)
    print("stop with Ctrl-C", flush=True)
    try:
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0
