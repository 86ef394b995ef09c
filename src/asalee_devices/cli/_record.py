"""``spirometry record`` and ``ecg record``: the nurse's examination from the terminal, with a live view.

The patient is read and checked before the device is touched; the recordings are kept whatever happens next; the
result says where the report and the bundle went, or that the examination waits in the outbox.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.devices.session import LiveBlock
    from asalee_devices.workflow.delivery import DeliveryResult
    from asalee_devices.workflow.ecg_exam import CaptureFeedback
    from asalee_devices.workflow.setup import ExaminationSetup
    from asalee_devices.workflow.spirometry_exam import BlowFeedback

MAX_PATIENT_FILE_BYTES = 64 * 1024

TEXT = {
    "fr": {"blow": "Essai", "capture": "Enregistrement", "ok": "acceptable", "redo": "à refaire",
           "device_lost": "Appareil perdu pendant l'examen : {reason}. Les enregistrements déjà faits sont conservés.",
           "recordings": "Enregistrements bruts", "report": "Compte rendu PDF", "bundle": "Bundle FHIR",
           "hr": "FC", "grade": "Grades FEV1/FVC", "kept": "Tracé retenu pour le médecin : enregistrement"},
    "en": {"blow": "Blow", "capture": "Capture", "ok": "acceptable", "redo": "repeat it",
           "device_lost": "Device lost during the examination: {reason}. The recordings made so far are kept.",
           "recordings": "Raw recordings", "report": "PDF report", "bundle": "FHIR bundle",
           "hr": "HR", "grade": "FEV1/FVC grades", "kept": "Trace kept for the physician: capture"},
}


def add_common(p: argparse.ArgumentParser, *, device_help: str) -> None:
    p.add_argument("--device", metavar="URL", help=device_help)
    p.add_argument("--patient", metavar="FILE",
                   help="patient JSON (family, given, birth_date YYYY-MM-DD, sex, and ins/ins_kind/"
                        "identity_qualified/birth_place_cog for a qualified INS identity, or local_id/local_system; "
                        "height_cm for spirometry); '-' reads standard input")
    p.add_argument("--demo-patient", action="store_true",
                   help="use the demonstration patient (INS test identity system; test mode only)")
    p.add_argument("--config", metavar="FILE", help="TOML file (default: $ASALEE_CONFIG or ./asalee-devices.toml)")
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder for the folder sink, the outbox and the raw recordings (overrides the "
                        "configuration)")
    p.add_argument("--lang", choices=("fr", "en"), help="language of the messages (default: configuration)")
    p.add_argument("--yes", action="store_true", help="never ask: follow the standard's advice automatically")
    p.add_argument("--protocol", metavar="CODE",
                   help="ASALEE protocol of the examination (programme.protocols, e.g. bpco-tabac, diabete-t2, "
                        "risque-cv; default: the configuration's programme.spirometry_protocol / ecg_protocol)")


def with_output(cfg: Config, out: Path | None) -> Config:
    if out is None:
        return cfg
    sink = replace(cfg.sink, folder=str(out)) if cfg.sink.type in ("folder", "hprim") else cfg.sink
    return replace(cfg, sink=sink, outbox=str(out / "outbox.sqlite3"))


def read_patient(args: argparse.Namespace) -> tuple[dict[str, Any], float | None]:
    from asalee_devices.errors import InputError, PatientDataError
    from asalee_devices.workflow.setup import DEMO_HEIGHT_CM, DEMO_PATIENT

    if args.demo_patient:
        return dict(DEMO_PATIENT), DEMO_HEIGHT_CM
    if not args.patient:
        raise InputError("No patient given", field="--patient", expected="a patient JSON file, or --demo-patient")
    if args.patient == "-":
        text = sys.stdin.read(MAX_PATIENT_FILE_BYTES + 1)
    else:
        path = Path(args.patient)
        if not path.is_file():
            raise InputError("Patient file not found", field="--patient", value=str(path))
        if path.stat().st_size > MAX_PATIENT_FILE_BYTES:
            raise InputError("Patient file too large", field="--patient", expected=f"<= {MAX_PATIENT_FILE_BYTES} B")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PatientDataError("Patient file is not valid JSON", field="--patient",
                               expected=f"a JSON object (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise PatientDataError("Patient file must hold one JSON object", field="--patient")
    height = data.pop("height_cm", None)
    try:
        return data, (None if height is None else float(height))
    except (TypeError, ValueError):
        raise PatientDataError("Height is not a number", field="height_cm", expected="centimetres") from None


def prepare(args: argparse.Namespace, *, config: Config | None = None, kind: str = "spirometry"
            ) -> tuple[ExaminationSetup, float | None]:
    """Configuration + patient (+ protocol) -> setup, all checked before any device is opened."""
    from asalee_devices.config import load_config
    from asalee_devices.fhir_out.pipeline import patient_from_mapping
    from asalee_devices.workflow.setup import setup_from_config, with_protocol

    cfg = with_output(config or load_config(args.config), args.out)
    data, height = read_patient(args)
    patient = patient_from_mapping(data)
    setup = setup_from_config(cfg, patient, lang=args.lang)
    setup = with_protocol(setup, "ecg" if kind == "ecg" else "spirometry", getattr(args, "protocol", None))
    from asalee_devices.workflow.delivery import recover_for_config

    check_storage(cfg, setup.recordings_dir)  # before the device is touched
    recover_for_config(cfg)  # temp files and examination folders a crash left incomplete
    return setup, height


def check_storage(cfg: Config, recordings_dir: Path) -> None:
    """The recordings, outbox and folder-sink locations writable with free space (StorageError, exit 2)."""
    from asalee_devices.workflow.delivery import check_storage as check

    check(cfg)  # recordings_dir is the outbox folder's recordings/ (setup_from_config)


class LiveView:
    """One status line that follows the device (rewritten in place on a terminal, silent otherwise)."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.label = label
        self._volume_l = 0.0
        self._take = -1

    def spirometry(self, block: LiveBlock) -> None:
        import numpy as np

        if block.take != self._take:
            self._take, self._volume_l = block.take, 0.0
        flow = np.nan_to_num(block.samples[0])
        self._volume_l += float(np.sum(flow)) / block.fs_hz
        if self.tty:
            t = (block.first_index + flow.size) / block.fs_hz
            self.stream.write(f"\r  {self.label} {t:5.1f} s  volume {self._volume_l:5.2f} L  "
                              f"flow {flow[-1]:6.2f} L/s ")
            self.stream.flush()

    def ecg(self, block: LiveBlock) -> None:
        if self.tty:
            t = (block.first_index + block.samples.shape[1]) / block.fs_hz
            self.stream.write(f"\r  {self.label} {t:5.1f} s ")
            self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def print_blow(fb: BlowFeedback, lang: str, out: TextIO) -> None:
    t = TEXT[lang]
    i = fb.indices
    values = (f"FEV1 {i.fev1_l:.2f} L  FVC {i.fvc_l:.2f} L  PEF {i.pef_l_s:.2f} L/s  FET {i.fet_s:.1f} s"
              if i is not None and i.fev1_l is not None else "—")
    phase = "post-BD " if fb.phase == "post" else ""
    verdict = t["ok"] if fb.acceptable else t["redo"]
    out.write(f"  {phase}{t['blow']} {fb.number}: {values}  -> {verdict}\n")
    for m in fb.messages:
        out.write(f"      {m}\n")
    s = fb.session
    if s is not None:
        out.write(f"      {t['grade']}: {s.grade_fev1}/{s.grade_fvc} — {fb.advice}\n")


def print_capture(fb: CaptureFeedback, lang: str, out: TextIO) -> None:
    t = TEXT[lang]
    hr = f"  {t['hr']} {fb.heart_rate_bpm:.0f} bpm" if fb.heart_rate_bpm is not None else ""
    out.write(f"  {t['capture']} {fb.number}: {fb.verdict_message}{hr}\n")
    for m in fb.messages:
        out.write(f"      {m}\n")


def print_delivery(result: DeliveryResult, lang: str, out: TextIO) -> None:
    t = TEXT[lang]
    out.write(f"  {result.message}\n")
    out.write(f"  {t['recordings']}: {result.recordings_dir}\n")
    if result.pdf_path is not None:
        out.write(f"  {t['report']}: {result.pdf_path}\n")
    for d in result.details:
        if d:
            target = d.split(";")[0]
            label = "HPRIM" if target.endswith(".hpr") else t["bundle"]
            out.write(f"  {label}: {target}\n")


def ask(question: str, default: bool, args: argparse.Namespace) -> bool:
    """A yes/no question on an interactive terminal; the default otherwise (or with --yes)."""
    if args.yes or not sys.stdin.isatty():
        return default
    answer = input(f"{question} [{'O/n' if default else 'o/N'}] ").strip().lower()
    return default if not answer else answer[0] in "oy"


EXIT_WAITING = 4  # delivered to the outbox, the record is unreachable: it will be sent later
EXIT_NOT_SENT = 1  # refused by the record, or nothing analysable to send (recordings kept)


def exit_code(status: str) -> int:
    """The exit status of a command that delivered an examination (``workflow.delivery`` status)."""
    return {"sent": 0, "waiting": EXIT_WAITING}.get(status, EXIT_NOT_SENT)


def _exit(result: DeliveryResult) -> int:
    return exit_code(result.status)


def add_spirometry_record(sub: Any) -> None:
    p = sub.add_parser("record", help="run a spirometry examination on a device or simulator and deliver it",
                       description="Blow by blow with the ATS/ERS 2019 stopping advice, then the PDF report and "
                                   "the FHIR bundle to the configured record (folder by default).")
    add_common(p, device_help="spirometer URL (default: the configuration's devices.spirometer), e.g. "
                              "turbine+usb://1209:7B10, contec-spiro+serial://COM3, sim://turbine")
    p.add_argument("--height-cm", type=float, help="patient height in cm (or height_cm in the patient file)")
    p.add_argument("--blow-s", type=float, default=15.0, help="longest recording per blow, s (default 15); a live blow ends at the end of forced expiration")
    p.add_argument("--max-blows", type=int, default=8, help="most blows per phase (ATS/ERS: 8)")
    p.add_argument("--post-bd", metavar="DRUG:DOSE_UG", help="add a post-bronchodilator phase, e.g. salbutamol:400")
    p.add_argument("--room-temp-c", type=float, metavar="DEGC",
                   help="room temperature, for the BTPS correction of a device that does not correct (with "
                        "--pressure-hpa)")
    p.add_argument("--pressure-hpa", type=float, metavar="HPA", help="barometric pressure in hPa (BTPS)")
    p.add_argument("--humidity-pct", type=float, metavar="PCT",
                   help="room relative humidity in %% (BTPS; default: gas saturated at room temperature)")
    p.add_argument("--mark", action="append", default=[], metavar="[PHASE:]BLOW:MARK[,MARK]",
                   help="operator-assessed mark on a blow (ATS/ERS 2019 Table 7): leak (fuite), obstructed_mouthpiece "
                        "(embout), submaximal_effort (effort); e.g. 2:fuite or post:1:effort; repeatable. On an "
                        "interactive terminal the nurse is also asked after each blow")
    p.set_defaults(handler=spirometry_record)


MARK_PROMPT = {"fr": "Observation ? (f = fuite, o = embout obstrué, e = effort sous-maximal, Entrée = aucune) ",
               "en": "Observation? (f = leak, o = obstructed mouthpiece, e = sub-maximal effort, Enter = none) "}
_MARK_KEYS = {"f": "leak", "l": "leak", "o": "obstructed_mouthpiece", "e": "submaximal_effort"}


def ambient_option(args: argparse.Namespace) -> Any:
    """The room's conditions from --room-temp-c / --pressure-hpa [/ --humidity-pct], or None; refused
    (InputError) before the device is touched when incomplete or impossible."""
    from asalee_devices.errors import InputError
    from asalee_devices.signal.spirometry.btps import AmbientConditions

    temp, hpa, rh = (getattr(args, k, None) for k in ("room_temp_c", "pressure_hpa", "humidity_pct"))
    if temp is None and hpa is None and rh is None:
        return None
    if temp is None or hpa is None:
        raise InputError("BTPS needs both the room temperature and the barometric pressure",
                         field="--room-temp-c" if temp is None else "--pressure-hpa",
                         expected="--room-temp-c DEGC --pressure-hpa HPA")
    return AmbientConditions(temp, hpa, rh, source="nurse")


def parse_mark_options(values: list[str], *, max_blows: int, post: bool) -> dict[tuple[str, int], tuple[str, ...]]:
    """``--mark`` values -> {(phase, blow number): marks}; refused (InputError) before the device is touched."""
    from asalee_devices.errors import InputError
    from asalee_devices.workflow.spirometry_exam import parse_marks

    out: dict[tuple[str, int], tuple[str, ...]] = {}
    for value in values:
        parts = value.split(":")
        phase = parts.pop(0).strip().lower() if len(parts) == 3 else "pre"
        if len(parts) != 2 or phase not in ("pre", "post") or not parts[0].strip().isdigit():
            raise InputError("Operator mark not understood", field="--mark", value=value,
                             expected="[pre|post:]BLOW:MARK[,MARK], e.g. 2:fuite")
        number = int(parts[0])
        if not 1 <= number <= max_blows or (phase == "post" and not post):
            raise InputError("Operator mark on a blow that cannot exist", field="--mark", value=value,
                             expected=f"a blow 1-{max_blows}" + ("" if post else " of the pre phase (no --post-bd)"))
        marks = tuple(m.value for m in parse_marks(parts[1].split(",")))
        out[(phase, number)] = tuple(dict.fromkeys(out.get((phase, number), ()) + marks))
    return out


def spirometry_record(args: argparse.Namespace, *, config: Config | None = None) -> int:
    from datetime import UTC, datetime

    from asalee_devices.errors import InputError
    from asalee_devices.fhir_out.context import Bronchodilator
    from asalee_devices.workflow.acquisition import run_spirometry
    from asalee_devices.workflow.delivery import deliver_spirometry
    from asalee_devices.workflow.setup import reference_subject
    from asalee_devices.workflow.spirometry_exam import SpirometryExamination

    setup, file_height = prepare(args, config=config)
    lang, out = setup.lang, sys.stdout
    height = args.height_cm if args.height_cm is not None else file_height
    if height is None:
        raise InputError("The patient's height is needed for the reference values", field="--height-cm",
                         expected="height in cm (or height_cm in the patient file)")
    drug, dose = _post_bd(args.post_bd)
    ambient = ambient_option(args)
    pending_marks = parse_mark_options(getattr(args, "mark", None) or [], max_blows=args.max_blows, post=bool(drug))
    today = datetime.now(UTC).date()
    exam = SpirometryExamination(reference_subject(setup.patient, height_cm=height, on=today,
                                                   equation=setup.config.equation), lang=lang,
                                 ambient=ambient)
    url = args.device or setup.config.devices.spirometer
    view = LiveView(out, TEXT[lang]["blow"])

    def on_blow(fb: BlowFeedback) -> None:
        view.end()
        marks = pending_marks.pop((fb.phase, fb.number), ())
        if not marks and not args.yes and sys.stdin.isatty():
            print_blow(fb, lang, out)
            answer = input(MARK_PROMPT[lang]).strip().lower()
            marks = tuple(dict.fromkeys(_MARK_KEYS[c] for c in answer if c in _MARK_KEYS))
            if not marks:
                return
        if marks:
            fb = exam.mark_blow(fb.number, marks, phase=fb.phase)
        print_blow(fb, lang, out)

    def proceed(fb: BlowFeedback) -> bool:
        return ask("Un autre essai ?" if lang == "fr" else "Another blow?", True, args)

    staging = setup.recordings_dir / "incoming"
    outcome = run_spirometry(exam, url, blow_s=args.blow_s, max_blows=args.max_blows, on_block=view.spirometry,
                             on_blow=on_blow, proceed=proceed, staging=staging)
    bd = None
    if drug and not outcome.device_error:
        out.write("  Bronchodilatateur administré : phase post-BD\n" if lang == "fr" else
                  "  Bronchodilator given: post-BD phase\n")
        exam.start_post_bronchodilator()
        bd = Bronchodilator(drug, dose, datetime.now(UTC))
        post = run_spirometry(exam, url, blow_s=args.blow_s, max_blows=args.max_blows, on_block=view.spirometry,
                              on_blow=on_blow, proceed=proceed, staging=staging)
        outcome = replace(outcome, device_error=post.device_error)
    view.end()
    if outcome.device_error:
        out.write("  " + TEXT[lang]["device_lost"].format(reason=outcome.device_error) + "\n")
    if pending_marks:  # a mark on a blow that was never recorded: nothing is delivered, the blows stay in staging
        from asalee_devices.workflow.recording_store import recording_digest, save_recording

        for ph in exam.phases:
            res = exam.phase_result(ph)
            for rec in res.recordings if res is not None else ():
                save_recording(rec, staging / f"{recording_digest(rec)}.npz")
        (phase, number), _ = next(iter(pending_marks.items()))
        raise InputError("Operator mark on a blow that was not recorded", field="--mark", value=f"{phase}:{number}",
                         expected="a recorded blow (nothing delivered; the blows are kept in the staging folder)")
    result = deliver_spirometry(exam, setup, device=outcome.require_device(),
                                performed_at=outcome.started_at or datetime.now(UTC), bronchodilator=bd)
    _clear_staging(staging, result.recordings_dir)
    print_delivery(result, lang, out)
    return _exit(result)


def _clear_staging(staging: Path, exam_dir: Path) -> None:
    """Downloaded blows are staged (so the device may delete them) until the examination folder holds them."""
    from asalee_devices.workflow.replay import load_manifest

    if not staging.is_dir():
        return
    stored = {entry["sha256"] for entry in load_manifest(exam_dir)["recordings"]}
    for path in staging.glob("*.npz"):
        if path.stem in stored:
            path.unlink()


def _post_bd(value: str | None) -> tuple[str, float]:
    from asalee_devices.errors import InputError

    if not value:
        return "", 0.0
    drug, _, dose = value.partition(":")
    try:
        return drug.strip(), float(dose)
    except ValueError:
        raise InputError("Bad post-bronchodilator value", field="--post-bd", value=value,
                         expected="DRUG:DOSE_UG, e.g. salbutamol:400") from None


def add_ecg_record(sub: Any) -> None:
    p = sub.add_parser("record", help="record a resting 12-lead ECG on a device or simulator and deliver it",
                       description="Captures of 10 s with the technical quality verdict (retake advised names the "
                                   "electrode or the noise source), then the PDF at 25 mm/s, 10 mm/mV and the FHIR "
                                   "bundle for the GP's interpretation. No interpretation is produced.")
    add_common(p, device_help="ECG device URL (default: the configuration's devices.ecg), e.g. "
                              "ecg12+serial://COM3, sim://ecg12")
    p.add_argument("--duration-s", type=float, default=10.0, help="capture length, s (default 10)")
    p.add_argument("--max-captures", type=int, default=3, help="most captures (retakes included; default 3)")
    p.add_argument("--layout", choices=("3x4", "6x2"), default="3x4", help="PDF layout (default 3x4 + rhythm strip)")
    p.add_argument("--paper-speed", type=float, choices=(25.0, 50.0), default=25.0, help="PDF mm/s (default 25)")
    p.add_argument("--gain", type=float, choices=(5.0, 10.0, 20.0), default=10.0, help="PDF mm/mV (default 10)")
    p.set_defaults(handler=ecg_record)


def ecg_record(args: argparse.Namespace, *, config: Config | None = None) -> int:
    from datetime import UTC, datetime

    from asalee_devices.workflow.acquisition import run_ecg
    from asalee_devices.workflow.delivery import deliver_ecg
    from asalee_devices.workflow.ecg_exam import EcgExamination

    setup, _ = prepare(args, config=config, kind="ecg")
    lang, out = setup.lang, sys.stdout
    exam = EcgExamination(mains_hz=float(setup.config.mains_hz), lang=lang)
    url = args.device or setup.config.devices.ecg
    view = LiveView(out, "ECG")

    def on_capture(fb: CaptureFeedback) -> None:
        view.end()
        print_capture(fb, lang, out)

    def retake(fb: CaptureFeedback) -> bool:
        return ask("Refaire l'ECG ?" if lang == "fr" else "Record again?", True, args)

    outcome = run_ecg(exam, url, duration_s=args.duration_s, max_captures=args.max_captures, on_block=view.ecg,
                      on_capture=on_capture, retake=retake)
    view.end()
    if outcome.device_error:
        out.write("  " + TEXT[lang]["device_lost"].format(reason=outcome.device_error) + "\n")
    if exam.kept is not None:
        out.write(f"  {TEXT[lang]['kept']} {exam.kept + 1}\n")
    from asalee_devices.reports.ecg_layout import EcgLayout

    layout = EcgLayout(name=args.layout, speed_mm_s=args.paper_speed, gain_mm_mv=args.gain)
    result = deliver_ecg(exam, setup, device=outcome.require_device(),
                         performed_at=outcome.started_at or datetime.now(UTC), layout=layout)
    print_delivery(result, lang, out)
    return _exit(result)
