"""Delivery sinks behind one interface (folder, FHIR REST, HL7 v2 MLLP), created by name from the configuration."""

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

__all__ = ["Delivery", "RejectedDeliveryError", "SendResult", "Sink", "TransientDeliveryError", "create_sink",
           "register_sink", "sink_names"]
