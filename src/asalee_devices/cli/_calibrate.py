"""``spirometry calibrate``: the daily calibration verification with a 3-L syringe (ATS/ERS 2019), logged per
device; the examination's report and bundle show the last verification, and warn when there is none today."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.signal.spirometry.calibration import Stroke

TEXT = {
    "fr": {"stroke": "Coup de seringue {n} ({band}) : {vol:.3f} L à {flow:.1f} L/s — écart {err:+.1f} % — {ok}",
           "ok": "conforme", "bad": "HORS TOLÉRANCE", "pass": "Vérification de l'étalonnage CONFORME (±{tol:g} %)",
           "fail": "Vérification de l'étalonnage NON CONFORME (±{tol:g} %) : ne pas examiner avant correction",
           "missing": "débits non vérifiés : {bands}", "push": "Poussez la seringue ({band}, environ {s:.1f} s)",
           "logged": "Enregistrée dans le journal d'étalonnage : {path}",
           "again": "Coup interrompu : recommencez ce coup de seringue"},
    "en": {"stroke": "Syringe stroke {n} ({band}): {vol:.3f} L at {flow:.1f} L/s — error {err:+.1f} % — {ok}",
           "ok": "within tolerance", "bad": "OUT OF TOLERANCE", "pass": "Calibration verification PASSED (±{tol:g} %)",
           "fail": "Calibration verification FAILED (±{tol:g} %): do not examine until corrected",
           "missing": "flows not verified: {bands}", "push": "Push the syringe ({band}, about {s:.1f} s)",
           "logged": "Logged in the calibration log: {path}",
           "again": "Stroke interrupted: push this stroke again"},
}
BANDS = {"fr": {"low": "débit faible", "mid": "débit moyen", "high": "débit élevé", "out_of_range": "hors plage"},
         "en": {"low": "low flow", "mid": "mid flow", "high": "high flow", "out_of_range": "out of range"}}


def add_spirometry_calibrate(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="3-L syringe calibration verification at three flows, logged per device",
                       description="ATS/ERS 2019: the volume read for each syringe stroke within ±3 %% of the "
                                   "syringe's, at a low, a mid and a high flow. Either record the strokes on the "
                                   "device (--device) or enter the volumes the device displayed (--measured-l).")
    p.add_argument("--device", metavar="URL", help="spirometer URL (default: the configuration's), e.g. sim://turbine")
    p.add_argument("--syringe-l", type=float, default=3.0, help="syringe volume, L (1-3; default 3.0)")
    p.add_argument("--syringe-serial", required=True, help="the syringe's serial number")
    p.add_argument("--syringe-accuracy-pct", type=float, default=0.5,
                   help="the syringe's accuracy from its certificate, %% (default 0.5 = 15 mL of 3 L)")
    p.add_argument("--measured-l", metavar="V1,V2,V3", help="volumes the device displayed, L (manual entry)")
    p.add_argument("--flows-l-s", metavar="F1,F2,F3", help="mean flow of each stroke, L/s (with --measured-l)")
    p.add_argument("--device-serial", help="the spirometer's serial number (with --measured-l)")
    p.add_argument("--device-model", default="", help="the spirometer's model (with --measured-l)")
    p.add_argument("--strokes", type=int, default=3, help="strokes recorded on the device (default 3)")
    p.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder (its outbox, hence its calibration log)")
    p.add_argument("--lang", choices=("fr", "en"), help="language of the messages (default: configuration)")
    p.set_defaults(handler=spirometry_calibrate)


def _numbers(value: str, field: str) -> list[float]:
    from asalee_devices.errors import InputError

    try:
        out = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InputError("Not a list of numbers", field=field, value=value, expected="e.g. 2.98,3.01,3.02") from None
    if not 1 <= len(out) <= 12:
        raise InputError("Wrong number of values", field=field, value=value, expected="1-12 values")
    return out


def _record_strokes(url: str, n: int, lang: str) -> tuple[list[Stroke], str, str]:
    """Record ``n`` syringe strokes on a live spirometer (``workflow.syringe_strokes``, the web page's session too),
    prompting the nurse; returns them with the device's serial and model."""
    from asalee_devices.workflow.syringe_strokes import record_strokes

    def push(i: int, band: str, seconds: float) -> None:
        print("  " + TEXT[lang]["push"].format(band=BANDS[lang][band], s=seconds), flush=True)

    def again(i: int) -> None:
        print("  " + TEXT[lang]["again"], flush=True)

    rec = record_strokes(url, n, on_push=push, on_retry=again)
    return list(rec.strokes), rec.device_serial, rec.device_model


def spirometry_calibrate(args: argparse.Namespace, *, config: Config | None = None) -> int:
    from asalee_devices.cli._record import with_output
    from asalee_devices.config import load_config
    from asalee_devices.errors import InputError
    from asalee_devices.signal.spirometry.calibration import Stroke, check_syringe, verify_syringe
    from asalee_devices.workflow.calibration_log import CalibrationLog, log_path

    cfg = with_output(config or load_config(args.config), args.out)
    lang = args.lang or cfg.lang
    t = TEXT[lang]
    check_syringe(args.syringe_l, args.syringe_accuracy_pct)  # before the device is touched
    if not args.syringe_serial.strip():
        raise InputError("The syringe's serial number is needed", field="--syringe-serial",
                         expected="the serial number on the syringe")
    if args.measured_l is not None:
        volumes = _numbers(args.measured_l, "--measured-l")
        flows = _numbers(args.flows_l_s or "", "--flows-l-s") if args.flows_l_s else []
        if len(flows) != len(volumes):
            raise InputError("One mean flow per measured volume is needed", field="--flows-l-s",
                             value=args.flows_l_s, expected=f"{len(volumes)} flows, L/s")
        if not args.device_serial:
            raise InputError("The spirometer's serial number is needed", field="--device-serial",
                             expected="the serial number of the verified spirometer")
        strokes = [Stroke(v, f) for v, f in zip(volumes, flows, strict=True)]
        serial, model = args.device_serial, args.device_model
    else:
        url = args.device or cfg.devices.spirometer
        strokes, serial, model = _record_strokes(url, args.strokes, lang)
    result = verify_syringe(args.syringe_l, strokes, syringe_accuracy_pct=args.syringe_accuracy_pct)
    for n, s in enumerate(result.strokes, 1):
        print("  " + t["stroke"].format(n=n, band=BANDS[lang][s.band], vol=s.volume_l, flow=s.mean_flow_l_s,
                                        err=s.error_pct, ok=t["ok"] if s.passed else t["bad"]))
    path = log_path(Path(cfg.outbox))
    with CalibrationLog(path) as log:
        log.add(device_serial=serial, device_model=model, syringe_serial=args.syringe_serial.strip(),
                verification=result, performed_at=datetime.now(UTC))
    print("  " + (t["pass"] if result.passed else t["fail"]).format(tol=result.tolerance_pct))
    if result.missing_bands:
        print("  " + t["missing"].format(bands=", ".join(BANDS[lang][b] for b in result.missing_bands)))
    print("  " + t["logged"].format(path=path))
    sys.stdout.flush()
    return 0 if result.passed else 1
