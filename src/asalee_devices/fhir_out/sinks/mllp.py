"""HL7 v2 sink: the examination as an ORU^R01 (IHE PCD-01 style) over MLLP with python-hl7's asyncio streams.

The stream limit is raised explicitly (16 MiB; the library's 64 KiB default breaks ECG waveform messages) and the
blocking ``hl7.client.MLLPClient`` is not used (single ``send``/``recv(4096)``, no timeout). The ACK must echo
our control id: ``AA``/``CA`` acknowledges; ``AE``/``AR``/``CE``/``CR`` is a NAK (rejected, with MSA-3/ERR text);
anything else — no ACK within the timeout, a network error, the connection closed mid-frame, a frame that is not
an HL7 ACK, an unknown MSA-1 code, an ACK for another control id — is transient: never acknowledged, and no
exception other than a :class:`DeliveryError` leaves :meth:`MllpSink.send`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from asalee_devices.config import SinkConfig
from asalee_devices.errors import ConfigError, RejectedDeliveryError, TransientDeliveryError
from asalee_devices.fhir_out.hl7v2 import bundle_to_oru
from asalee_devices.fhir_out.sinks.base import Delivery, SendResult, Sink

STREAM_LIMIT = 16 * 1024 * 1024
ACCEPT = frozenset({"AA", "CA"})
REFUSE = frozenset({"AE", "AR", "CE", "CR"})


def check_frame_size(text: str, charset: str, max_message_bytes: int) -> None:
    """Refuse (never truncate) a message larger than the receiver's frame limit: the MLLP frame is the encoded
    message plus 3 framing bytes. A refusal needs a human (raise the receiver's limit, or send it another way)."""
    if max_message_bytes <= 0:
        return
    size = len(text.encode(charset)) + 3
    if size > max_message_bytes:
        raise RejectedDeliveryError(
            f"The HL7 message ({size} bytes framed) exceeds the receiver's MLLP frame limit ({max_message_bytes} "
            "bytes); nothing was sent", field="sink.max_message_bytes", value=max_message_bytes,
            expected=f"a receiver limit of at least {size} bytes (or a receiver without this limit)")


@dataclass
class MllpSink(Sink):
    host: str
    port: int
    charset: str = "iso-8859-1"
    timeout_s: float = 30.0
    receiving_application: str = ""
    receiving_facility: str = ""
    limit: int = STREAM_LIMIT
    max_message_bytes: int = 0  # the receiver's MLLP frame limit (0 = none known); larger messages are refused
    key: str = "mllp"

    @property
    def name(self) -> str:
        return f"MLLP {self.host}:{self.port}"

    @classmethod
    def from_config(cls, cfg: SinkConfig) -> MllpSink:
        if not cfg.host:
            raise ConfigError("MLLP sink needs the receiver host", field="sink.host")
        try:
            "é".encode(cfg.charset)
        except LookupError:
            raise ConfigError("Unknown character set", field="sink.charset", value=cfg.charset) from None
        return cls(cfg.host, cfg.port, cfg.charset, float(cfg.timeout_s), max_message_bytes=cfg.max_message_bytes)

    def message(self, delivery: Delivery) -> tuple[str, str]:
        control_id = f"{delivery.message_id}-{uuid.uuid4().hex[:12]}"
        return control_id, bundle_to_oru(delivery.bundle_json, control_id=control_id, charset=self.charset,
                                         receiving_application=self.receiving_application,
                                         receiving_facility=self.receiving_facility)

    def send(self, delivery: Delivery) -> SendResult:
        control_id, text = self.message(delivery)
        try:
            text.encode(self.charset)
        except UnicodeEncodeError:
            raise RejectedDeliveryError("The message has characters the receiver's character set cannot carry",
                                        field="sink.charset", value=self.charset,
                                        expected="utf-8, or data representable in the charset") from None
        check_frame_size(text, self.charset, self.max_message_bytes)
        try:
            ack = asyncio.run(asyncio.wait_for(self._exchange(text), self.timeout_s))
        except Exception as exc:  # timeout, network, closed mid-frame, bad framing, undecodable: all transient
            raise TransientDeliveryError(f"MLLP exchange failed: {type(exc).__name__}", field="sink.host",
                                         value=f"{self.host}:{self.port}") from None
        return self._check_ack(ack, control_id)

    async def _exchange(self, text: str) -> str:
        import hl7.mllp

        reader, writer = await hl7.mllp.open_hl7_connection(self.host, self.port, limit=self.limit,
                                                            encoding=self.charset)
        try:
            writer.writemessage(text)
            await writer.drain()
            block: bytes = await reader.readblock()  # parsed by _check_ack, where a non-HL7 frame is handled
            return block.decode(self.charset, "replace")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    @staticmethod
    def _check_ack(ack_text: str, control_id: str) -> SendResult:
        import hl7

        try:
            ack = hl7.parse(ack_text)
            if str(ack.segment("MSH")(9)).split("^")[0] not in ("ACK", ""):
                raise ValueError("not an acknowledgement")
            msa = ack.segment("MSA")
            code = str(msa(1)).strip()
            echoed = str(msa(2)).strip()
        except Exception:  # any frame that is not an HL7 ACK (hl7.ParseException, KeyError, IndexError...)
            raise TransientDeliveryError("Unreadable acknowledgement from the HL7 receiver", field="MSA",
                                         expected="an ACK with MSA-1 and MSA-2") from None
        if echoed != control_id:
            raise TransientDeliveryError("Acknowledgement for another message", field="MSA-2", value=echoed,
                                         expected=control_id)
        if code in ACCEPT:
            return SendResult(detail=f"MSA {code} {control_id}")
        if code not in REFUSE:
            raise TransientDeliveryError("Unknown acknowledgement code from the HL7 receiver", field="MSA-1",
                                         value=code[:10], expected="AA or CA (AE, AR, CE, CR: refused)")
        reasons = []
        try:
            text = str(ack.segment("MSA")(3))
            if text:
                reasons.append(text)
        except Exception:  # MSA-3 absent or unreadable
            pass
        try:
            for err in ack.segments("ERR"):
                reasons.append(str(err))
        except Exception:  # no ERR segment
            pass
        raise RejectedDeliveryError(f"HL7 receiver refused the message (MSA {code})",
                                    outcome="; ".join(reasons)[:500], field="MSA-1", value=code, expected="AA")
