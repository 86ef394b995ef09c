"""The sink interface and registry: where a finished examination (its FHIR transaction Bundle, optionally the
PDF) goes. Sinks are chosen by name from the configuration (``[sink] type = "folder" | "fhir" | "mllp" | "hprim"``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, DeliveryError


@dataclass(frozen=True)
class Delivery:
    """One examination to deliver: the bundle JSON (UTF-8 bytes) exactly as persisted in the outbox."""

    message_id: int
    exam_id: str
    kind: str  # "spirometry" | "ecg"
    performed_on: str  # YYYY-MM-DD, used for file names
    bundle_json: bytes = field(repr=False)
    pdf: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SendResult:
    """The receiver accepted the delivery; ``detail`` says how (file path, HTTP status, MSA code...)."""

    detail: str
    created: int = 0  # resources created by this send
    existing: int = 0  # resources found already present (conditional create matched: not duplicated)
    locations: tuple[str, ...] = ()  # FHIR transaction: each entry's response.location, in entry order


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (network error, timeout, 408, 429, 5xx); ``retry_after_s`` when the peer said so."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class RejectedDeliveryError(DeliveryError):
    """The receiver refused the content (4xx with an OperationOutcome, HL7 NAK): needs a human, never retried."""

    def __init__(self, message: str, *, outcome: str = "", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.outcome = outcome


class Sink(Protocol):
    name: str

    def send(self, delivery: Delivery) -> SendResult: ...

    def close(self) -> None: ...


SinkFactory = Callable[[SinkConfig], Sink]
_REGISTRY: dict[str, SinkFactory] = {}


def register_sink(name: str, factory: SinkFactory) -> None:
    _REGISTRY[name] = factory


def sink_names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def create_sink(cfg: SinkConfig) -> Sink:
    """The sink named by ``cfg.type``, configured from ``cfg``."""
    _load_builtins()
    try:
        factory = _REGISTRY[cfg.type]
    except KeyError:
        raise ConfigError("Unknown sink type", field="sink.type", value=cfg.type,
                          expected=", ".join(sorted(_REGISTRY))) from None
    return factory(cfg)


def _load_builtins() -> None:
    if {"folder", "fhir", "mllp", "hprim"} <= _REGISTRY.keys():
        return
    from asalee_devices.fhir_out.sinks import fhir_rest, folder
    from asalee_devices.fhir_out.sinks import hprim as hprim_sink
    from asalee_devices.fhir_out.sinks import mllp as mllp_sink

    register_sink("folder", folder.FolderSink.from_config)
    register_sink("fhir", fhir_rest.FhirRestSink.from_config)
    register_sink("mllp", mllp_sink.MllpSink.from_config)
    register_sink("hprim", hprim_sink.HprimSink.from_config)
