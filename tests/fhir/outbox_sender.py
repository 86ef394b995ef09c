"""Sender process for the crash test: deliver everything due in the outbox to a FHIR server, then exit.

Usage: python outbox_sender.py OUTBOX_PATH BASE_URL
"""

from __future__ import annotations

import sys

from asalee_devices.fhir_out.outbox import Outbox, RetryPolicy
from asalee_devices.fhir_out.sinks.fhir_rest import FhirRestSink

if __name__ == "__main__":
    box = Outbox(sys.argv[1], policy=RetryPolicy(base_s=0.05))
    sink = FhirRestSink(sys.argv[2], timeout_s=60)
    print("sending", flush=True)
    counts = box.drain(sink, timeout_s=60)
    print("done", counts, flush=True)
