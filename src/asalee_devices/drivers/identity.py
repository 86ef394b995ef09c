"""Identity of a device, as reported by the device itself or read from a file it wrote."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceIdentity:
    """Who measured: manufacturer, model, serial number, firmware. Empty strings when unknown."""

    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""
    firmware: str = ""
    #: driver or file format that produced the data, e.g. ``"contec-spiro"``, ``"scp-ecg"``
    source: str = ""

    def label(self) -> str:
        parts = [p for p in (self.manufacturer, self.model) if p]
        if self.serial_number:
            parts.append(f"s/n {self.serial_number}")
        return " ".join(parts) or "unknown device"
