"""ECG files the watched folder refused for a missing identity, completed by the nurse in the web app.

Most devices do not record every field the record needs (given name, birth date...): the watched folder moves such
files to ``failed/``. This page lists them (what the file holds, what is missing) and sends one with the patient
the nurse selected on the patient page, through the same processing as the watched folder
(:class:`~asalee_devices.workflow.ecg_file_import.EcgFileImporter`, on the outbox thread). An identity that
contradicts the file's (family name, birth date) is refused unless the nurse confirms she checked it. A file sent
goes to ``done/`` and the watched folder's ledger is told. Files are named in the API by an opaque id (the start of
their content hash): vendor file names often hold the patient's name, and URLs must not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.errors import AsaleeError, PatientDataError
from asalee_devices.web.errors import ApiError, json_body
from asalee_devices.web.state import WebState, web

MAX_LISTED = 200  # the page lists at most this many refused files (oldest first)


@dataclass(frozen=True)
class RefusedFile:
    id: str
    path: Path
    sha256: str
    ecg: Any  # EcgFile
    missing: str  # the fields the record needs and the file lacks (as the refusal names them)

    def view(self) -> dict[str, Any]:
        p = self.ecg.patient
        rec = self.ecg.recording
        return {"id": self.id, "format": self.ecg.format, "device": self.ecg.device.label(),
                "acquired_at": self.ecg.acquired_at.isoformat(timespec="minutes") if self.ecg.acquired_at else None,
                "duration_s": round(float(rec.duration_s), 1), "leads": len(rec.leads), "missing": self.missing,
                "in_file": {"family": p.family_name, "given": p.given_name, "birth_date": p.birth_date,
                            "patient_id": p.patient_id}}


def _inbox(state: WebState) -> Path | None:
    folder = state.settings.config.watch.folder
    return Path(folder) if folder else None


def _refused_for_identity(path: Path, digest: str, system: str) -> RefusedFile | None:
    """``path`` as a file to complete, when it decodes and only its identity is missing (a file that does not
    decode is not one: no identity would make it an examination)."""
    from asalee_devices.drivers.ecg_files import read_ecg_file
    from asalee_devices.workflow.ecg_file_import import patient_from_file

    try:
        ecg = read_ecg_file(path)
    except (AsaleeError, OSError):
        return None
    try:
        patient_from_file(ecg, system)
    except PatientDataError as exc:
        return RefusedFile(digest[:24], path, digest, ecg, exc.field or "")
    return None


def _hashed(state: WebState) -> list[tuple[Path, str]]:
    from asalee_devices.devices.watch_folder import refused_files, sha256_file

    inbox = _inbox(state)
    if inbox is None:
        return []
    out: list[tuple[Path, str]] = []
    for path in refused_files(inbox)[:MAX_LISTED]:
        try:
            out.append((path, sha256_file(path)))
        except OSError:
            continue
    return out


def scan(state: WebState) -> list[RefusedFile]:
    """The refused files to complete (oldest first)."""
    system = state.settings.config.watch.patient_id_system
    found = (_refused_for_identity(path, digest, system) for path, digest in _hashed(state))
    return [f for f in found if f is not None]


def find(state: WebState, file_id: str) -> RefusedFile | None:
    """One file to complete by its id (only that file is decoded)."""
    system = state.settings.config.watch.patient_id_system
    match = next(((p, d) for p, d in _hashed(state) if d[:24] == file_id), None)
    return _refused_for_identity(*match, system) if match is not None else None


async def listing(request: Request) -> Response:
    state = web(request)
    files = await asyncio.to_thread(scan, state)
    return JSONResponse({"configured": _inbox(state) is not None, "files": [f.view() for f in files]})


async def import_file(request: Request) -> Response:
    from asalee_devices.devices.watch_folder import settle_refused
    from asalee_devices.workflow.ecg_file_import import EcgFileImporter, check_same_patient

    state = web(request)
    body = await json_body(request)
    confirmed = body.get("identity_checked", False)
    if not isinstance(confirmed, bool):
        raise ApiError(400, "bad_field", "Field 'identity_checked' must be true or false", field="identity_checked")
    pid = state.store.current_patient
    if pid is None:
        raise ApiError(409, "no_patient", "Select or enter the patient first")
    patient = state.store.patients[pid].ctx
    file = await asyncio.to_thread(find, state, request.path_params["file_id"])
    if file is None:
        raise ApiError(404, "no_file", "No such refused ECG file (already sent, or moved)")
    if not confirmed:
        try:
            check_same_patient(file.ecg.patient, patient)
        except PatientDataError as exc:
            raise ApiError(409, "identity_differs", "The file names another patient than the one selected: check "
                           "that it is this patient's ECG before sending it", field=exc.field) from None
    cfg = state.settings.config
    inbox = _inbox(state)
    assert inbox is not None  # scan found the file there

    def run(outbox: Any, sink: Any) -> int:
        importer = EcgFileImporter(cfg, outbox, sink, mains_hz=float(cfg.watch.mains_hz or cfg.mains_hz),
                                   patient_id_system=cfg.watch.patient_id_system)
        message_id = importer.import_file(file.ecg, file.path, patient, sha256=file.sha256)
        settle_refused(inbox, file.path, file.sha256)
        return message_id

    mid = await asyncio.wrap_future(state.outbox.call(run))
    (status,) = await asyncio.to_thread(state.outbox.statuses, [mid])
    return JSONResponse({"delivery": status.view(state.lang)})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/ecg-files", listing, ["GET"]),
    ("/api/ecg-files/{file_id:str}/import", import_file, ["POST"]),
)
