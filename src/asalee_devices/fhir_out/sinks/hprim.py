"""HPRIM Net sink: one ``.hpr`` file per examination in a folder that the practice's secure-messaging client or the
GP software's import folder watches, with its PDF beside it under the same base name.

The outbox payload of this sink is the HPRIM text itself (ISO-8859-1), rendered from the examination's canonical
results when the examination is queued (``workflow/rendered.py``): the sink only writes it. Each file is written
atomically under a temporary name ending in ``.partial`` (``files.atomic_write``) (never ``.hpr`` or ``.pdf``, so a watcher never sees half a
file), the PDF first so that an ``.hpr`` present means its PDF is too. Sending the same examination again rewrites
the same two names: one file per examination.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, RejectedDeliveryError, TransientDeliveryError
from asalee_devices.fhir_out.sinks.base import Delivery, SendResult, Sink
from asalee_devices.fhir_out.sinks.folder import safe_name
from asalee_devices.files import atomic_write

END = b"****FINFICHIER****\r\n"


def file_stem(performed_on: str, kind: str, exam_id: str) -> str:
    """The base name of an examination's ``.hpr`` and ``.pdf`` (the PDF name is also quoted in the HPRIM text)."""
    return f"{performed_on}_{safe_name(kind)}_{safe_name(exam_id)}"


@dataclass
class HprimSink(Sink):
    folder: Path
    key: str = "hprim"

    @property
    def name(self) -> str:
        return f"HPRIM folder {self.folder}"

    @classmethod
    def from_config(cls, cfg: SinkConfig) -> HprimSink:
        if not cfg.folder:
            raise ConfigError("HPRIM sink needs a folder", field="sink.folder",
                              expected="the folder the GP software or the secure-messaging client watches")
        return cls(Path(cfg.folder))

    def paths(self, d: Delivery) -> tuple[Path, Path]:
        stem = file_stem(d.performed_on, d.kind, d.exam_id)
        return self.folder / f"{stem}.hpr", self.folder / f"{stem}.pdf"

    def send(self, delivery: Delivery) -> SendResult:
        text = delivery.bundle_json
        if not text.endswith(END) or text.lstrip()[:1] in (b"{", b"["):
            raise RejectedDeliveryError("The HPRIM sink carries only examinations rendered as HPRIM Net text",
                                        field="kind", value=delivery.kind,
                                        expected="a spirometry or ECG examination queued for sink.type = 'hprim'")
        hpr_path, pdf_path = self.paths(delivery)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if delivery.pdf is not None and not _same(pdf_path, delivery.pdf):
                atomic_write(pdf_path, delivery.pdf)
            existed = hpr_path.exists()
            if not _same(hpr_path, text):
                atomic_write(hpr_path, text)
        except OSError as exc:
            raise TransientDeliveryError(f"Cannot write to the HPRIM folder: {exc.strerror}",
                                         field="sink.folder", value=str(self.folder)) from None
        return SendResult(detail=str(hpr_path), existing=int(existed), created=int(not existed))


def _same(path: Path, data: bytes) -> bool:
    """The file already holds exactly ``data`` (a re-send then leaves it untouched, so no watcher re-imports)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False
