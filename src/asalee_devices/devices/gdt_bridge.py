"""GDT bridge with a vendor spirometry or ECG program (MIR winspiroPRO, Schiller, Edan ... all speak GDT).

*Inbound*: the program writes its results (record 6310) into an exchange folder. The bridge is the watched folder
of :mod:`asalee_devices.devices.watch_folder` with a GDT reader: a file is read once its size and time have stayed
the same for ``settle_s`` (a half-written file is never read), its size is checked before it is read, it is decoded
whole (:func:`asalee_devices.drivers.gdt.decode`: any bad line refuses the whole file), then handed to the import
step (:class:`asalee_devices.workflow.gdt_import.GdtImporter`); the ledger keyed by content hash makes it
once-only, refusals go to ``failed/`` with a ``.reason.txt``.

*Outbound*: when the nurse starts an examination for a patient, :func:`write_request` writes record 6302 (new
examination request, or 6301 patient data) into the program's folder, so she never retypes the identity. The file
is named as GDT 2.1 prescribes for file exchange: the receiver's GDT id then the sender's, with the configured
extension (``SPIRASAL.GDT``), written atomically (``files.atomic_write``: temporary ``.partial`` name in the same folder, then renamed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from asalee_devices.drivers.gdt import GdtRecord, decode, encode
from asalee_devices.drivers.gdt.codec import MAX_FILE_BYTES
from asalee_devices.errors import FormatError
from asalee_devices.files import atomic_write

GDT_SEX = {"male": "1", "female": "2"}


def read_gdt_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> GdtRecord:
    """Decode one GDT file; its size is checked before anything is read."""
    size = path.stat().st_size
    if size > max_bytes:
        raise FormatError("GDT file too large", field="size", value=size,
                          expected=f"at most {max_bytes} bytes (attachments are referenced by 6305, not inlined)")
    return decode(path.read_bytes(), max_bytes=max_bytes)


@dataclass(frozen=True)
class GdtProgram:
    """One vendor program's GDT settings (its id, ours, version, character set, file extension, 8402)."""

    receiver_id: str
    sender_id: str = "ASAL"
    version: str = "02.10"
    charset: str = "3"
    file_extension: str = "GDT"
    procedure: str = ""

    def file_name(self, folder: Path | None = None) -> str:
        """Receiver id + sender id, then ``.GDT`` (fixed name) or, with ``file_extension = "counter"``, the first
        free ``.000``-``.999`` in ``folder`` (as Elexis's GDTOutputHandler does for "hochzählend")."""
        stem = f"{self.receiver_id}{self.sender_id}"
        if self.file_extension.lower() != "counter":
            return f"{stem}.{self.file_extension}"
        for n in range(1000):
            name = f"{stem}.{n:03d}"
            if folder is None or not (folder / name).exists():
                return name
        raise FormatError("No free GDT counter file name", field="gdt.file_extension", value=stem,
                          expected="the vendor program to consume its request files (000-999 all present)")


@dataclass(frozen=True)
class GdtPatient:
    """What a request carries about the patient (GDT 2.1: 3000, 3101, 3102, 3103, 3110, 3622, 3623)."""

    patient_id: str
    family: str
    given: str
    birth_date: date
    sex: str = "unknown"
    height_cm: float | None = None
    weight_kg: float | None = None


def request_fields(patient: GdtPatient, program: GdtProgram) -> list[tuple[str, str]]:
    fields = [("8315", program.receiver_id), ("8316", program.sender_id), ("3000", patient.patient_id),
              ("3101", patient.family), ("3102", patient.given), ("3103", patient.birth_date.strftime("%d%m%Y"))]
    if patient.sex in GDT_SEX:
        fields.append(("3110", GDT_SEX[patient.sex]))
    if patient.height_cm is not None:
        fields.append(("3622", f"{patient.height_cm:.0f}"))
    if patient.weight_kg is not None:
        fields.append(("3623", f"{patient.weight_kg:.0f}"))
    if program.procedure:
        fields.append(("8402", program.procedure))
    return fields


def write_request(folder: Path, patient: GdtPatient, program: GdtProgram, *, record_type: str = "6302") -> Path:
    """Write a 6302 (examination request) or 6301 (patient data) file for the vendor program; returns its path."""
    if record_type not in ("6301", "6302"):
        raise FormatError("Outbound GDT records are 6301 or 6302", field="record_type", value=record_type,
                          expected="6301 (patient data) or 6302 (examination request)")
    data = encode(record_type, request_fields(patient, program), version=program.version, charset=program.charset)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / program.file_name(folder)
    atomic_write(path, data)
    return path


def gdt_watched_folder(inbox: Path, process: Callable[[GdtRecord, Path], None], **kw: Any) -> Any:
    """The watched folder of the GDT results: GDT reader, the same ledger, done/ and failed/ handling."""
    from asalee_devices.devices.watch_folder import WatchedFolder

    return WatchedFolder(inbox, process, reader=read_gdt_file, accept=is_gdt_name, **kw)


def is_gdt_name(name: str) -> bool:
    """GDT file names: ``*.gdt`` (fixed name) or a 3-digit counter extension (``*.001``); attachments the program
    writes beside them (PDF, SCP-ECG...) are left where they are."""
    suffix = Path(name).suffix.lower()
    return suffix == ".gdt" or (len(suffix) == 4 and suffix[1:].isdigit())
