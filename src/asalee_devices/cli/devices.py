"""``asalee-devices devices``: discovery of serial ports and USB devices matching a registered driver, plus the
bundled simulators."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 40


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "devices",
        help="list serial ports, USB devices of known drivers and the bundled simulators, with their URLs",
        description="Discovery: serial ports (with the driver whose VID/PID matches, if any), USB devices whose "
                    "VID/PID a registered driver declares, and the simulators (sim:// URLs). Drivers from the "
                    "entry-point group asalee_devices.drivers are included.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run_devices)


def discover() -> dict[str, Any]:
    from asalee_devices.drivers.registry import drivers
    from asalee_devices.simulators.registry import SIMULATORS

    specs = drivers()
    by_id = {ids: spec.name for spec in specs.values() for ids in spec.usb_ids}
    serial_ports: list[dict[str, Any]] = []
    try:
        from serial.tools import list_ports

        for port in list_ports.comports():
            drv = by_id.get((port.vid, port.pid)) if port.vid is not None else None
            entry = {"device": port.device, "description": port.description, "vid": port.vid, "pid": port.pid,
                     "serial_number": port.serial_number, "driver": drv}
            if drv and "serial" in specs[drv].transports:
                query = f"?vid=0x{port.vid:04x}&pid=0x{port.pid:04x}" + (
                    f"&serial={port.serial_number}" if port.serial_number else "")
                entry["url"] = f"{drv}+serial://{port.device}{query}"
            serial_ports.append(entry)
    except Exception as exc:  # discovery never fails because one source does
        serial_ports.append({"error": f"serial ports not listed ({type(exc).__name__})"})
    usb_devices: list[dict[str, Any]] = []
    usb_note = ""
    try:
        import usb.core

        for dev in usb.core.find(find_all=True) or ():
            drv = by_id.get((dev.idVendor, dev.idProduct))
            if drv is None or "usb" not in specs[drv].transports:
                continue
            usb_devices.append({"vid": dev.idVendor, "pid": dev.idProduct, "bus": dev.bus, "address": dev.address,
                                "driver": drv, "url": f"{drv}+usb://{dev.idVendor:04x}:{dev.idProduct:04x}"})
    except Exception as exc:  # NoBackendError (no libusb), access rights...
        usb_note = f"USB devices not listed ({type(exc).__name__}: install libusb / check access rights)"
    sims = [{"name": s.name, "driver": s.driver, "description": s.description, "url": f"sim://{s.name}",
             "parameters": list(s.params)} for s in SIMULATORS.values()]
    return {"drivers": [{"name": s.name, "kind": s.kind, "description": s.description,
                         "transports": list(s.transports),
                         "usb_ids": [f"{v:04x}:{p:04x}" for v, p in s.usb_ids]} for s in specs.values()],
            "serial_ports": serial_ports, "usb_devices": usb_devices, "usb_note": usb_note, "simulators": sims}


def run_devices(args: argparse.Namespace) -> int:
    found = discover()
    if args.json:
        from asalee_devices.cli._common import print_json

        print_json(found)
        return 0
    print("Drivers:")
    for d in found["drivers"]:
        ids = f" [USB {', '.join(d['usb_ids'])}]" if d["usb_ids"] else ""
        print(f"  {d['name']:<14} {d['kind']:<11} {d['description']}{ids}")
    print("Serial ports:")
    if not found["serial_ports"]:
        print("  (none)")
    for p in found["serial_ports"]:
        if "error" in p:
            print(f"  {p['error']}")
            continue
        print(f"  {p['device']:<16} {p['description']}" + (f"  -> {p['url']}" if p.get("url") else ""))
    print("USB devices of known drivers:")
    if found["usb_note"]:
        print(f"  {found['usb_note']}")
    elif not found["usb_devices"]:
        print("  (none)")
    for u in found["usb_devices"]:
        print(f"  bus {u['bus']} address {u['address']}  -> {u['url']}")
    print("Simulators (in process; 'asalee-devices simulate NAME --tcp PORT' to serve one):")
    for s in found["simulators"]:
        print(f"  {s['url']:<20} {s['description']}")
    return 0
