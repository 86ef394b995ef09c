"""Delivery sinks behind one interface (folder, FHIR REST, HL7 v2 MLLP, HPRIM), created by name from the
configuration; :class:`MockSink` for tests."""

from asalee_devices.fhir_out.sinks.base import (
    Delivery,
    RejectedDeliveryError,
    SendResult,
    Sink,
    TransientDeliveryError,
    create_sink,
    register_sink,
    sink_names,
)
from asalee_devices.fhir_out.sinks.mock import MockSink

__all__ = ["Delivery", "MockSink", "RejectedDeliveryError", "SendResult", "Sink", "TransientDeliveryError",
           "create_sink", "register_sink", "sink_names"]
