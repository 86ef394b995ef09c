"""Readers for the ECG files devices and vendor software export, behind one registry.

``read_ecg_file(path)`` detects the format from the content (magic bytes, root element), never from the file
extension, and returns an :class:`EcgFile`. Each format module registers an :class:`EcgFormat` with
:func:`register_format`; third parties can add formats through the ``asalee_devices.ecg_formats`` entry-point group.
"""

from asalee_devices.drivers.ecg_files.base import (
    MAX_FILE_BYTES,
    DeviceStatement,
    EcgFile,
    EcgFormat,
    FormatWarning,
    PatientDemographics,
    available_formats,
    detect_format,
    read_ecg_file,
    register_format,
)

__all__ = [
    "MAX_FILE_BYTES",
    "DeviceStatement",
    "EcgFile",
    "EcgFormat",
    "FormatWarning",
    "PatientDemographics",
    "available_formats",
    "detect_format",
    "read_ecg_file",
    "register_format",
]
