"""A sink for tests, as ``httpx.MockTransport`` is a transport for tests: every :meth:`MockSink.send` calls
``handler(delivery)``, which returns the :class:`SendResult` or raises the delivery error the test wants.

    with MockSink(lambda d: SendResult("ok")) as sink:
        outbox.deliver_due(sink)  # delivers the rows queued for "mock"

    def refuse(d: Delivery) -> SendResult:
        raise RejectedDeliveryError("refused for the test", outcome="error invalid")

    outbox.deliver_due(MockSink(refuse, key="fhir"))  # the rows queued for "fhir" fail, refused
"""

from __future__ import annotations

from collections.abc import Callable

from asalee_devices.fhir_out.sinks.base import Delivery, SendResult, Sink

Handler = Callable[[Delivery], SendResult]


class MockSink(Sink):
    """Routes the rows queued under ``key`` (default ``"mock"``) to ``handler``; ``closed`` tells whether
    :meth:`close` was called (the context manager calls it)."""

    def __init__(self, handler: Handler, *, key: str = "mock") -> None:
        self.handler = handler
        self.key = key
        self.closed = False

    def send(self, delivery: Delivery) -> SendResult:
        return self.handler(delivery)

    def close(self) -> None:
        self.closed = True


__all__ = ["Handler", "MockSink"]
