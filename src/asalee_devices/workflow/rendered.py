"""Outbox payloads rendered from the stored canonical results, for sinks whose payload is not a FHIR bundle.

``workflow/delivery.py`` stores each examination's manifest (``exam.json``) and canonical results
(``results.json``) before anything is queued. For a sink registered here (``hprim``), the outbox payload is the
sink's own document rendered from those two files at queue time, once per examination (a spirometry with a post
phase is one HPRIM file holding both phases): the outbox then holds exactly the bytes the sink will write, a retry
days later needs nothing else, and the renderer never sees a signal or calls a reference equation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asalee_devices import __version__
from asalee_devices.fhir_out.outbox import Outbox, QueuedMessage
from asalee_devices.workflow.setup import ExaminationSetup

if TYPE_CHECKING:
    from asalee_devices.config import Config
    from asalee_devices.fhir_out.context import PatientContext

#: sink type -> (setup, manifest, results, kind, pdf name) -> payload bytes
PayloadRenderer = Callable[[ExaminationSetup, Mapping[str, Any], Mapping[str, Any], str], bytes]
_RENDERERS: dict[str, PayloadRenderer] = {}

MANIFEST, RESULTS = "exam.json", "results.json"


def register_payload(sink_type: str, renderer: PayloadRenderer) -> None:
    _RENDERERS[sink_type] = renderer


def renders_own_payload(sink_type: str) -> bool:
    _load_builtins()
    return sink_type in _RENDERERS


def prepare_rendered(setup: ExaminationSetup, *, kind: str, folder: Path, results: bytes,
                     pdf: bytes | None) -> QueuedMessage:
    """The configured sink's payload rendered from the examination's stored manifest (``folder/exam.json``) and
    its canonical ``results`` (the bytes written beside it once the outbox holds the message), ready for
    :meth:`Outbox.enqueue_many`."""
    _load_builtins()
    sink = setup.config.sink.type
    manifest = json.loads((folder / MANIFEST).read_bytes())
    performed_on = datetime.fromisoformat(str(manifest["performed_at"])).date().isoformat()
    payload = _RENDERERS[sink](setup, manifest, json.loads(results), kind)
    return QueuedMessage(str(manifest["exam_id"]), kind, sink, performed_on, payload, pdf)


def queue_rendered(setup: ExaminationSetup, outbox: Outbox, *, kind: str, folder: Path, pdf: bytes | None) -> int:
    """Render the configured sink's payload from the examination stored in ``folder`` (manifest and results
    already on disk) and queue it; returns the outbox message id (queuing the same examination again returns the
    same id)."""
    (mid,) = outbox.enqueue_many([prepare_rendered(setup, kind=kind, folder=folder,
                                                   results=(folder / RESULTS).read_bytes(), pdf=pdf)])
    return mid


def store_imported(recordings_dir: Path, *, kind: str, exam_id: str, performed_at: datetime, device: Any,
                   results: Mapping[str, Any], pdf: bytes | None, source: Mapping[str, Any],
                   computed_by: str | None = None) -> Path:
    """Store an examination that came from a file (no raw recordings of ours): ``exam.json`` (with ``source`` and,
    for results the device software computed, ``computed_by``), ``results.json`` (canonical), ``report.pdf``."""
    from asalee_devices.files import atomic_write
    from asalee_devices.jsonable import to_jsonable
    from asalee_devices.workflow.results import canonical_json

    folder = recordings_dir / exam_id
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": "asalee-examination", "version": 1, "kind": kind, "exam_id": exam_id,
                                "software_version": __version__, "performed_at": performed_at.isoformat(),
                                "device": device, "source": dict(source), "recordings": []}
    if computed_by:
        manifest["computed_by"] = computed_by
    atomic_write(folder / MANIFEST, json.dumps(to_jsonable(manifest), sort_keys=True, ensure_ascii=False,
                                               indent=1).encode("utf-8"))
    atomic_write(folder / RESULTS, canonical_json(results))
    if pdf is not None:
        atomic_write(folder / "report.pdf", pdf)
    return folder


def queue_imported(config: Config, outbox: Outbox, patient: PatientContext, *, kind: str, folder: Path,
                   pdf: bytes | None) -> int:
    """Queue a stored imported examination for the configured sink's own payload (nurse and GP from the
    configuration); returns the outbox message id."""
    from asalee_devices.errors import PatientDataError
    from asalee_devices.workflow.setup import _person

    nurse = _person(config.nurse, "nurse")
    if nurse is None:
        raise PatientDataError("The performing nurse is not configured", field="nurse.family_name",
                               expected="[nurse] family_name and given_name in the configuration")
    setup = ExaminationSetup(patient=patient, performer=nurse, gp=_person(config.gp, "gp"), config=config,
                             output_dir=folder.parent.parent)
    return queue_rendered(setup, outbox, kind=kind, folder=folder, pdf=pdf)


def device_label(device: Mapping[str, Any]) -> str:
    """``manufacturer model (n° serial, fw firmware)``, leaving out what is unknown."""
    name = " ".join(str(device[k]) for k in ("manufacturer", "model") if device.get(k)) or "appareil non identifié"
    details = [f"n° {device['serial_number']}" if device.get("serial_number") else "",
               f"fw {device['firmware']}" if device.get("firmware") else ""]
    details = [d for d in details if d]
    return f"{name} ({', '.join(details)})" if details else name


def hprim_payload(setup: ExaminationSetup, manifest: Mapping[str, Any], results: Mapping[str, Any],
                  kind: str) -> bytes:
    """The HPRIM Net file of a stored examination, for the configured practice, nurse and GP."""
    from asalee_devices.fhir_out.sinks.hprim import file_stem
    from asalee_devices.hprim import HprimExam, HprimHeader, HprimParty, render_hprim

    cfg, p = setup.config, setup.patient
    performed_at = datetime.fromisoformat(str(manifest["performed_at"]))
    exam_id = str(manifest["exam_id"])
    gp = setup.gp
    sender = HprimParty(cfg.sink.hprim_sender_code or cfg.practice.finess or "ASALEE",
                        f"{setup.performer.given} {setup.performer.family.upper()} - {cfg.practice.name}")
    recipient = HprimParty(cfg.sink.hprim_recipient_code or (gp.adeli if gp else ""),
                           f"Dr {gp.given} {gp.family.upper()}" if gp else "")
    header = HprimHeader(
        patient_code=p.local_id if p.local_id and len(p.local_id) <= 10 else "",
        family=p.family, given=" ".join(p.given), birth_date=p.birth_date,
        nir=p.ins_normalised if p.identity_qualified and p.ins_kind != "INS-NIA" else None,
        exam_ref=exam_id.replace("-", "")[:10], exam_date=performed_at.date(), sender=sender, recipient=recipient)
    computed = str(manifest.get("computed_by") or f"asalee-devices {manifest.get('software_version', __version__)}")
    exam = HprimExam(header=header, exam_id=exam_id, performed_at=performed_at,
                     device_label=device_label(manifest.get("device") or {}),
                     performer_label=f"{setup.performer.given} {setup.performer.family} (infirmière ASALEE)",
                     computed_by=computed, pdf_name=file_stem(performed_at.date().isoformat(), kind, exam_id) + ".pdf")
    return render_hprim(results, exam)


def _load_builtins() -> None:
    _RENDERERS.setdefault("hprim", hprim_payload)
