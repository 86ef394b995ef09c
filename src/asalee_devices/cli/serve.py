"""`serve`: the practice web app (nurse's bedside pages and the GP's reading pages) on loopback."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 85


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="start the practice web app (bound to 127.0.0.1; prints the login URL)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this PC only)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    p.add_argument("--config", default=None, help="configuration file (TOML); devices, sink, outbox, language")
    p.add_argument("--data-dir", default=None,
                   help="where the per-install token lives (default: the user's data directory)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    import uvicorn

    from asalee_devices.config import load_config
    from asalee_devices.errors import InputError
    from asalee_devices.web.app import create_app
    from asalee_devices.web.security import user_data_dir
    from asalee_devices.web.settings import WebSettings

    if not 1 <= args.port <= 65535:
        raise InputError("Port out of range", field="port", value=args.port, expected="1-65535")
    config = load_config(args.config)
    data_dir = Path(args.data_dir) if args.data_dir else user_data_dir()
    app = create_app(WebSettings.from_config(config, data_dir))
    token = app.state.web.token
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"asalee-devices web app: http://{host}:{args.port}/login?token={token}", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: bound to a non-loopback address; anyone on the network holding the link can use it",
              flush=True)
    # no access log: it would write the one-time login URL (and nothing else useful) to the console
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning", ws="websockets-sansio")
    return 0
