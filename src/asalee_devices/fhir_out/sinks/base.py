"""The sink interface and registry: where a finished examination (its FHIR transaction Bundle, optionally the
PDF) goes. Sinks are chosen by name from the configuration (``[sink] type = "folder" | "fhir" | "mllp" | "hprim"``)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, RejectedDeliveryError, TransientDeliveryError

__all__ = ["Delivery", "RejectedDeliveryError", "SendResult", "Sink", "SinkFactory", "TransientDeliveryError",
           "create_sink", "register_sink", "sink_names"]


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


class Sink(abc.ABC):
    """Where the outbox hands a delivery, shaped like an httpx transport (``httpx.BaseTransport``): one method that
    does one exchange (:meth:`send`, as ``handle_request``), :meth:`close` to release what it holds (a no-op by
    default), and a context manager that closes it (``with create_sink(cfg) as sink: ...``).

    ``send`` tries **once**: it returns a :class:`SendResult` when the receiver confirmed, raises
    :class:`TransientDeliveryError` when a later try may work, :class:`RejectedDeliveryError` when the receiver
    refused the content. Retries, backoff and the attempt limit are the outbox's (:mod:`asalee_devices.backoff`).

    ``key`` is the stable name the outbox routes its rows by (a row queued for ``"fhir"`` is sent by the sink
    whose key is ``"fhir"``): for the built-in sinks, their registry name (``[sink] type``). ``name`` is for
    people (logs, the CLI); by default the key.
    """

    key: str

    @property
    def name(self) -> str:
        return self.key

    @abc.abstractmethod
    def send(self, delivery: Delivery) -> SendResult:
        """Deliver ``delivery`` once; raise a :class:`~asalee_devices.errors.DeliveryError` when not confirmed."""

    def close(self) -> None:
        """Release connections or files the sink holds; idempotent."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


SinkFactory = Callable[[SinkConfig], Sink]
_REGISTRY: dict[str, SinkFactory] = {}


def register_sink(name: str, factory: SinkFactory) -> None:
    """Make ``[sink] type = name`` create its sink with ``factory``; the sink's ``key`` must be ``name``."""
    _REGISTRY[name] = factory


def sink_names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def create_sink(cfg: SinkConfig) -> Sink:
    """The sink named by ``cfg.type``, configured from ``cfg`` (its ``key`` is ``cfg.type``); use it as a context
    manager so it is closed."""
    _load_builtins()
    try:
        factory = _REGISTRY[cfg.type]
    except KeyError:
        raise ConfigError("Unknown sink type", field="sink.type", value=cfg.type,
                          expected=", ".join(sorted(_REGISTRY))) from None
    sink = factory(cfg)
    if sink.key != cfg.type:  # rows are queued under the configured type and routed by the key
        sink.close()
        raise ConfigError("Sink factory returned a sink with another key", field="sink.type", value=cfg.type,
                          expected=f"a sink whose key is {cfg.type!r} (got {sink.key!r})")
    return sink


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
