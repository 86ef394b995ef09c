"""The project's exception hierarchy.

Every error the package raises on bad input, bad files, unreachable devices or failed delivery derives from
:class:`AsaleeError`. Messages say what was wrong, which value, and what was expected, in words a nurse or an
integrator can act on. Messages never contain patient data (names, INS/NIR, birth dates, measured values of a
named patient).
"""

from __future__ import annotations

from typing import Any


class AsaleeError(Exception):
    """Root of every error raised by asalee-devices.

    ``field``, ``value`` and ``expected`` are optional structured details (also folded into the message) so a
    user interface can point at the offending input.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        parts = [message]
        if field is not None and value is not None:
            parts.append(f"({field} = {value!r})")
        elif field is not None:
            parts.append(f"({field})")
        if expected:
            parts.append(f"— expected {expected}")
        super().__init__(" ".join(parts))
        self.message = message


class InputError(AsaleeError, ValueError):
    """A value given by the user or the caller is invalid (wrong type, out of range, inconsistent)."""


class SignalError(InputError):
    """A signal (flow, volume, ECG samples) cannot be analysed: empty, NaN, bad sampling rate, no blow..."""


class ReferenceDomainError(InputError):
    """Age, height, sex or ethnicity outside what a reference equation covers (never extrapolated)."""


class PatientDataError(InputError):
    """Patient or practitioner identity data is invalid (INS/NIR key, missing mandatory fields...)."""


class ConfigError(InputError):
    """The configuration file or environment is invalid."""


class FormatError(AsaleeError, ValueError):
    """A file or byte stream does not follow its format (truncated, bad length field, unknown layout...)."""


class DeviceError(AsaleeError):
    """A device could not be reached or misbehaved."""


class DeviceNotFoundError(DeviceError):
    """No device answers at the given address."""


class DeviceDisconnectedError(DeviceError):
    """The device went away during a session (unplugged, link lost)."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """The device stayed silent longer than allowed."""


class ProtocolError(DeviceError):
    """The device sent bytes that violate its protocol (wrong type byte, bad checksum, impossible value)."""


class DeliveryError(AsaleeError):
    """A result could not be delivered to the practice record (sink unreachable, rejected...)."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (network error, timeout, 408, 429, 5xx); ``retry_after_s`` when the peer said so.
    The outbox reschedules the message with its backoff policy (or the peer's delay)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, field: str | None = None,
                 value: Any = None, expected: str | None = None) -> None:
        super().__init__(message, field=field, value=value, expected=expected)
        self.retry_after_s = retry_after_s


class RejectedDeliveryError(DeliveryError):
    """The receiver refused the content (4xx with an OperationOutcome, HL7 NAK): needs a human, never retried;
    ``outcome`` is the receiver's reason (OperationOutcome summary, MSA-3/ERR text)."""

    def __init__(self, message: str, *, outcome: str = "", field: str | None = None, value: Any = None,
                 expected: str | None = None) -> None:
        super().__init__(message, field=field, value=value, expected=expected)
        self.outcome = outcome


class StorageError(AsaleeError):
    """A folder cannot be written (disk full, read-only, permission denied). ``folder`` names it, ``kept`` says
    what is safe; ``exit_code`` is the CLI's: 2 when nothing was taken or kept, 4 when the examination is safe in
    the outbox (it will be sent) but a file beside it could not be written."""

    def __init__(self, message: str, *, folder: str, kept: str, exit_code: int = 2, **kw: Any) -> None:
        super().__init__(f"{message} — {kept}", field=kw.pop("field", "folder"), value=kw.pop("value", folder),
                         **kw)
        self.folder = folder
        self.kept = kept
        self.exit_code = exit_code


class ValidationError(AsaleeError):
    """A produced resource or message failed validation."""
