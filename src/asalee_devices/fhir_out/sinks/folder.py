"""Folder sink (the embedded default): one Bundle JSON per examination, written atomically (temporary file in the
same folder under a ``.tmp-*.partial`` name no importer takes for a bundle, fsynced, renamed, the folder fsynced),
named ``<date>_<kind>_<exam id>.json``; the PDF report beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, TransientDeliveryError
from asalee_devices.fhir_out.sinks.base import Delivery, SendResult, Sink
from asalee_devices.files import atomic_write, storage_reason

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name-safe version of an exam id (no path separators, no leading dot)."""
    out = _SAFE.sub("_", text).strip("._") or "exam"
    return out[:120]


@dataclass
class FolderSink(Sink):
    folder: Path
    key: str = "folder"

    @property
    def name(self) -> str:
        return f"folder {self.folder}"

    @classmethod
    def from_config(cls, cfg: SinkConfig) -> FolderSink:
        if not cfg.folder:
            raise ConfigError("Folder sink needs a folder", field="sink.folder", expected="a directory path")
        return cls(Path(cfg.folder))

    def paths(self, d: Delivery) -> tuple[Path, Path]:
        stem = f"{d.performed_on}_{safe_name(d.kind)}_{safe_name(d.exam_id)}"
        return self.folder / f"{stem}.json", self.folder / f"{stem}.pdf"

    def send(self, delivery: Delivery) -> SendResult:
        bundle_path, pdf_path = self.paths(delivery)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if delivery.pdf is not None:  # PDF first: a bundle present means its PDF is too
                atomic_write(pdf_path, delivery.pdf)
            existed = bundle_path.exists()
            atomic_write(bundle_path, delivery.bundle_json)
        except OSError as exc:
            raise TransientDeliveryError(f"Cannot write to the output folder: {storage_reason(exc)}",
                                         field="sink.folder", value=str(self.folder)) from None
        return SendResult(detail=str(bundle_path), existing=int(existed), created=int(not existed))
