"""The ECG file result type and the format registry."""

from __future__ import annotations

import importlib
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path

from asalee_devices.drivers.identity import DeviceIdentity
from asalee_devices.errors import FormatError
from asalee_devices.signal.ecg.recording import EcgRecording

#: Files larger than this are refused before reading (a resting ECG export is far smaller).
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FormatWarning:
    """A tolerated deviation from the format (kept in the result, shown to integrators).

    ``code`` is machine-readable (e.g. ``"crc_mismatch"``, ``"zero_based_lead_start"``)."""

    code: str
    message: str


@dataclass(frozen=True)
class PatientDemographics:
    """Patient data present in the file. Never logged."""

    patient_id: str = ""
    family_name: str = ""
    given_name: str = ""
    birth_date: str = ""  # ISO 8601 date when known
    sex: str = ""  # "male" | "female" | "" (unknown)
    age_years: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None


@dataclass(frozen=True)
class DeviceStatement:
    """A measurement or statement the device wrote (kept as device-provided data, never presented as ours).

    ``kind`` is ``"measurement"`` (value + unit, e.g. a device-measured QRS duration) or ``"statement"`` (text)."""

    kind: str
    code: str
    text: str = ""
    value: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class EcgFile:
    """What a reader decoded from one ECG file."""

    format: str
    recording: EcgRecording
    device: DeviceIdentity = DeviceIdentity()
    acquired_at: datetime | None = None
    patient: PatientDemographics = PatientDemographics()
    device_data: tuple[DeviceStatement, ...] = ()
    warnings: tuple[FormatWarning, ...] = ()
    #: representative (median) beats when the file has them
    median_beats: EcgRecording | None = None
    format_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def device_heart_rate_bpm(self) -> float | None:
        """The heart rate the device stored (its own measurement, /min), or 60000 / its mean RR (ms); None when
        the file carries neither. The first code of :data:`DEVICE_RATE_CODES` present wins."""
        values = {(s.code, s.unit): s.value for s in self.device_data
                  if s.kind == "measurement" and s.value is not None and s.value > 0}
        for code, unit in DEVICE_RATE_CODES:
            v = values.get((code, unit))
            if v is not None:
                return v if unit == "/min" else 60000.0 / v
        return None


#: Where each reader puts the device's own heart rate (code, unit), in order of preference: the final (possibly
#: edited) rate first, the mean RR interval last.
DEVICE_RATE_CODES: tuple[tuple[str, str], ...] = (
    ("heartrate", "/min"),  # Philips Sierra 1.04 interpretation/globalmeasurements
    ("meanventrate", "/min"),  # Philips Sierra 1.03 / 1.04 crossleadmeasurements
    ("VentricularRate", "/min"),  # GE MUSE RestingECGMeasurements
    ("ventricular_rate", "/min"),  # SCP-ECG section 7
    ("rrint", "ms"),  # Philips Sierra 1.04
    ("RR Interval", "ms"),  # DICOM waveform annotation (Mortara)
    ("rr_interval", "ms"),  # SCP-ECG section 7
)


@dataclass(frozen=True)
class EcgFormat:
    """A registered file format.

    ``sniff(head)`` gets the first bytes of the file (up to 64 KiB) and says whether it is this format;
    ``read(path, strict)`` decodes it (``strict=True`` refuses every tolerated deviation). A single-file format
    may also give ``decode(data, strict)`` (the same from the file's bytes): :func:`read_ecg_file` then reads the
    file once, for detection and decoding."""

    name: str
    description: str
    sniff: Callable[[bytes, Path], bool]
    read: Callable[[Path, bool], EcgFile]
    decode: Callable[[bytes, bool], EcgFile] | None = None


_REGISTRY: dict[str, EcgFormat] = {}
#: Modules that register the built-in formats (imported lazily on first use).
_BUILTIN_MODULES: list[str] = [
    "asalee_devices.drivers.ecg_files.scp",
    "asalee_devices.drivers.ecg_files.aecg",
    "asalee_devices.drivers.ecg_files.dicom",
    "asalee_devices.drivers.ecg_files.muse",
    "asalee_devices.drivers.ecg_files.philips",
    "asalee_devices.drivers.ecg_files.contec",
    "asalee_devices.drivers.ecg_files.wfdb",
]
_loaded = False


def register_format(fmt: EcgFormat) -> EcgFormat:
    """Add a format to the registry (last registration of a name wins).

    Parameters
    ----------
    fmt : EcgFormat
        Name, sniffer and reader (``read(path, strict)``, optionally ``decode(bytes, strict)``).

    Returns
    -------
    EcgFormat
        ``fmt`` (usable as a decorator's result).
    """
    _REGISTRY[fmt.name] = fmt
    return fmt


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)
    for ep in entry_points(group="asalee_devices.ecg_formats"):
        try:
            obj = ep.load()
        except Exception:  # a broken third-party plug-in must not break the built-in formats
            continue
        if isinstance(obj, EcgFormat):
            register_format(obj)


def available_formats() -> list[EcgFormat]:
    """The registered ECG file formats (the built-in readers loaded first).

    Returns
    -------
    list of EcgFormat
        In registration order.
    """
    _load()
    return list(_REGISTRY.values())


def _checked_size(path: Path) -> int:
    try:
        st = path.stat()
    except OSError as exc:
        raise FormatError("Cannot open the ECG file", field="path", value=str(path)) from exc
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block the read
        raise FormatError("Not a regular file", field="path", value=str(path), expected="a regular file")
    size = st.st_size
    if size > MAX_FILE_BYTES:
        raise FormatError("ECG file too large", field="size_bytes", value=size,
                          expected=f"at most {MAX_FILE_BYTES} bytes")
    if size == 0:
        raise FormatError("ECG file is empty", field="path", value=str(path))
    return size


def _head(path: Path) -> bytes:
    _checked_size(path)
    with path.open("rb") as fh:
        return fh.read(65536)


def _record_path(p: Path) -> Path:
    """A WFDB record is named without extension: use its header when the bare path does not exist."""
    if not p.exists() and Path(str(p) + ".hea").is_file():
        return Path(str(p) + ".hea")
    return p


def detect_format(path: str | Path) -> EcgFormat:
    """The registered format whose sniffer recognises the file content.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    EcgFormat
        The first format whose sniffer accepts the file's first bytes.

    Raises
    ------
    FormatError
        When the file cannot be opened, is not a regular file, is empty or too large, or no format recognises it.
    """
    p = _record_path(Path(path))
    head = _head(p)
    for fmt in available_formats():
        if fmt.sniff(head, p):
            return fmt
    names = ", ".join(f.name for f in available_formats()) or "none registered"
    raise FormatError("Unrecognised ECG file format", field="path", value=p.name, expected=f"one of: {names}")


def read_ecg_file(path: str | Path, *, strict: bool = False) -> EcgFile:
    """Detect the format of ``path`` from its content and decode it (the file is read once when its format
    decodes from bytes).

    Parameters
    ----------
    path : str or Path
        The file.
    strict : bool, optional
        Refuse the deviations from the format the readers otherwise tolerate (and report as warnings).

    Returns
    -------
    EcgFile
        The recording (µV, Hz), device, acquisition time, patient demographics, device statements and warnings.

    Raises
    ------
    FormatError
        When the file cannot be read, no format recognises it, or it is malformed.
    """
    p = _record_path(Path(path))
    size = _checked_size(p)
    try:
        with p.open("rb") as fh:
            data = fh.read(size + 1)  # a file still growing is read on, up to the limit (+1 to see it)
            if len(data) > size:
                data += fh.read(MAX_FILE_BYTES + 1 - len(data))
    except OSError as exc:
        raise FormatError("Cannot read the ECG file", field="path", value=p.name) from exc
    head = data[:65536]
    for fmt in available_formats():
        if fmt.sniff(head, p):
            if fmt.decode is not None and len(data) <= MAX_FILE_BYTES:
                return fmt.decode(data, strict)
            return fmt.read(p, strict)
    names = ", ".join(f.name for f in available_formats()) or "none registered"
    raise FormatError("Unrecognised ECG file format", field="path", value=p.name, expected=f"one of: {names}")
