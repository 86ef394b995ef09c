"""HL7 v2.6 ORU^R01 over MLLP: a python-hl7 asyncio test peer with a raised stream limit receives a full 12-lead
ECG message (several hundred KB, ISO-8859-1) and ACKs it; a NAK is reported and not retried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import hl7
import hl7.mllp
import numpy as np
import pytest
from tests.fhir import fixtures as F
from tests.fhir.fixtures import ecg_bundle

from asalee_devices.config import SinkConfig
from asalee_devices.fhir_out import to_json
from asalee_devices.fhir_out.codes import ECG_LEAD_CODES
from asalee_devices.fhir_out.outbox import Outbox
from asalee_devices.fhir_out.sinks import Delivery, RejectedDeliveryError, TransientDeliveryError, create_sink
from asalee_devices.fhir_out.sinks.mllp import MllpSink


class MllpPeer:
    """An MLLP receiver in its own thread/event loop: records messages, answers ``ack_code``."""

    def __init__(self, *, limit: int = 16 * 1024 * 1024, encoding: str = "iso-8859-1", ack_code: str = "AA"
                 ) -> None:
        self.limit, self.encoding, self.ack_code = limit, encoding, ack_code
        self.received: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                msg = await reader.readmessage()
                self.received.append(str(msg))
                ack = str(msg.create_ack(self.ack_code))
                if self.ack_code != "AA":  # NAK with its text in MSA-3
                    msa = next(s for s in ack.split("\r") if s.startswith("MSA|"))
                    ack = ack.replace(msa, msa + "|PID-3 unknown patient")
                writer.writemessage(ack)
                await writer.drain()
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.server = await hl7.mllp.start_hl7_server(self._handle, "127.0.0.1", 0, limit=self.limit,
                                                          encoding=self.encoding)
            self.port = self.server.sockets[0].getsockname()[1]
            self._ready.set()

        self.loop.run_until_complete(main())
        self.loop.run_forever()

    def start(self) -> MllpPeer:
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture()
def ecg_payload(shared_data: Path) -> bytes:
    analysis = F.ecg_analysis(shared_data)
    patient = F.patient(given=("Hélène", "Zoé"))
    return to_json(ecg_bundle(F.exam(), patient, analysis, waveform="raw")).encode()


def test_notes_with_typographic_dashes_fit_latin1(ecg_payload: bytes) -> None:
    """The catalogue's messages use em dashes (``Signal plat sur V6 — vérifier...``), which ISO 8859-1 (the default
    MLLP charset) cannot carry: the NTE keeps the words with a plain hyphen instead of the whole ORU being refused
    (before: UnicodeEncodeError, so a real ECG with a quality finding could not be sent)."""
    import json

    from asalee_devices.fhir_out.hl7v2 import bundle_to_oru

    doc = json.loads(ecg_payload)
    obs = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["note"] = [{"text": "Signal plat sur V6 — vérifier le câble et l’électrode"}]
    text = bundle_to_oru(doc, control_id="1", charset="iso-8859-1")
    text.encode("iso-8859-1")
    assert "NTE|1||Signal plat sur V6 - vérifier le câble et l'électrode" in text.split("\r")
    assert "—" in bundle_to_oru(doc, control_id="1", charset="utf-8")


@pytest.fixture()
def peer() -> Iterator[MllpPeer]:
    p = MllpPeer().start()
    yield p
    p.stop()


def test_full_12_lead_ecg_oru_acked(peer: MllpPeer, ecg_payload: bytes, shared_data: Path) -> None:
    sink = create_sink(SinkConfig(type="mllp", host="127.0.0.1", port=peer.port, charset="iso-8859-1"))
    res = sink.send(Delivery(7, "exam-0001", "ecg", "2026-11-23", ecg_payload))
    assert res.detail.startswith("MSA AA 7-")
    (text,) = peer.received
    size = len(text.encode("iso-8859-1"))
    msg = hl7.parse(text)
    msh = msg.segment("MSH")
    assert str(msh(9)) == "ORU^R01^ORU_R01" and str(msh(12)) == "2.6" and str(msh(18)) == "8859/1"
    assert str(msh(21)).startswith("IHE_PCD_001")
    pid = msg.segment("PID")
    # Latin-1 accents intact on the wire; IHE PAM France: XPN-3 carries every birth given name (issue 17: the old
    # "Zoé" alone dropped the first given name from the list), PID-3 the INS assigning authority with its OID
    assert str(pid(5)) == "TESTPATIENT^Hélène^Hélène Zoé^^^^L"
    assert str(pid(3)).startswith(F.TEST_INS + "^^^ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS")
    obx = msg.segments("OBX")
    na = [o for o in obx if str(o(2)) == "NA"]
    assert len(na) == 12
    raw = F.ecg_analysis(shared_data).raw
    for o, lead in zip(na, raw.leads, strict=True):
        assert str(o(3)).split("^")[0] == str(ECG_LEAD_CODES[lead])
        values = np.array(str(o(5)).split("^"), dtype=float) * 2.5
        assert np.array_equal(values, raw.lead(lead))
    hr = next(o for o in obx if str(o(3)).startswith("147842"))
    assert str(hr(5)) == "75" and str(hr(6)).startswith("/min")
    rates = [str(o(5)) for o in obx if str(o(3)).startswith("68320")]
    assert rates == ["500"] * 12
    print(f"MLLP: ORU^R01 of {size / 1024:.0f} KiB, {len(obx)} OBX ({len(na)} NA waveform rows), ACK {res.detail}")
    assert size > 64 * 1024


def test_nak_reported_and_not_retried(ecg_payload: bytes, tmp_path: Path) -> None:
    peer = MllpPeer(ack_code="AE").start()
    try:
        box = Outbox(tmp_path / "o.sqlite3")
        mid = box.enqueue(exam_id="exam-0001", kind="ecg", sink="mllp", performed_on="2026-11-23",
                          payload=ecg_payload)
        assert box.deliver_due(MllpSink("127.0.0.1", peer.port)) == {mid: "failed"}
        msg = box.get(mid)
        print(f"NAK: state {msg.state}, reason: {msg.last_error}")
        assert "MSA AE" in msg.last_error and "unknown patient" in msg.last_error and msg.attempts == 1
        with pytest.raises(RejectedDeliveryError):
            MllpSink("127.0.0.1", peer.port).send(Delivery(1, "e", "ecg", "2026-11-23", ecg_payload))
    finally:
        peer.stop()


def test_default_64k_limit_breaks_ecg_messages(ecg_payload: bytes) -> None:
    """Why the limit is raised: a peer left at python-hl7's 64 KiB default cannot read the message."""
    peer = MllpPeer(limit=64 * 1024).start()
    try:
        with pytest.raises(TransientDeliveryError):
            MllpSink("127.0.0.1", peer.port, timeout_s=5).send(Delivery(1, "e", "ecg", "2026-11-23", ecg_payload))
        assert peer.received == []
    finally:
        peer.stop()


def test_unreachable_peer_is_transient(ecg_payload: bytes) -> None:
    with pytest.raises(TransientDeliveryError):
        MllpSink("127.0.0.1", 9, timeout_s=2).send(Delivery(1, "e", "ecg", "2026-11-23", ecg_payload))


def test_charset_that_cannot_carry_the_text_is_rejected(ecg_payload: bytes) -> None:
    with pytest.raises(RejectedDeliveryError):
        MllpSink("127.0.0.1", 9, charset="ascii").send(Delivery(1, "e", "ecg", "2026-11-23", ecg_payload))


def test_spirometry_oru_obx_lines() -> None:
    from tests.fhir.fixtures import spirometry_bundle

    from asalee_devices.fhir_out.hl7v2 import bundle_to_oru

    session, preds, _ = F.spiro_session()
    doc = to_json(spirometry_bundle(F.exam(), F.patient(), session, preds))  # type: ignore[arg-type]
    msg = hl7.parse(bundle_to_oru(doc, control_id="c1", charset="utf-8"))
    assert str(msg.segment("MSH")(18)) == "UNICODE UTF-8" and str(msg.segment("OBR")(25)) == "P"
    fev1 = next(o for o in msg.segments("OBX") if str(o(3)).startswith("152586^"))
    assert str(fev1(3)).split("^")[3:6] == ["20150-9", "FEV1", "LN"]
    assert str(fev1(6)) == "L^^UCUM" and str(fev1(7)).startswith(">") and str(fev1(8)) in ("L", "N")
    assert session.fev1_l is not None and float(str(fev1(5))) == pytest.approx(session.fev1_l, abs=0.0005)
    pred = next(o for o in msg.segments("OBX") if str(o(3)).startswith("33707018^"))  # MDC predicted FEV1
    assert str(pred(4)).startswith(str(fev1(4)).rsplit(".", 1)[0] + ".")  # same channel in OBX-4
    # OBX-18 is an EI (issue 17: serial^manufacturer^model misused its components): serial ^ namespace ^ UUID ^ UUID
    serial, namespace, uid, uid_type = str(fev1(18)).split("^")
    assert (serial, namespace, uid_type) == ("SN123", "Contec-SP80B", "UUID") and len(uid) == 36


def _oru(pdf: bytes | None = F.PDF, patient: object = None) -> str:
    from tests.fhir.fixtures import spirometry_bundle

    from asalee_devices.fhir_out.hl7v2 import bundle_to_oru

    session, preds, _ = F.spiro_session()
    doc = to_json(spirometry_bundle(F.exam(pdf=pdf), patient or F.patient(), session, preds))  # type: ignore[arg-type]
    return bundle_to_oru(doc, control_id="c1", charset="utf-8")


def test_pid_follows_ihe_pam_france() -> None:
    """PID-3 INS with ASIP-SANTE-INS-* assigning authority + OID + type INS, PID-5 birth names (type L, XPN-3 the
    whole birth given-name list), PID-11 birth place (BDL, INSEE COG in XAD-9), PID-32 identity reliability."""
    pid = hl7.parse(_oru()).segment("PID")
    assert str(pid(3)) == f"{F.TEST_INS}^^^ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS"
    assert str(pid(5)) == "TESTPATIENT^Marie^Marie Louise^^^^L"
    assert str(pid(7)) == "19790314" and str(pid(8)) == "F"
    assert str(pid(11)) == "^^^^^^BDL^^51215"
    assert str(pid(32)) == "VALI"
    local = F.patient(ins=None, identity_qualified=False, local_id="P-42", local_system="urn:oid:1.2.3.4")
    pid = hl7.parse(_oru(patient=local)).segment("PID")
    assert str(pid(3)) == "P-42^^^&1.2.3.4&ISO^PI" and str(pid(32)) == "PROV" and str(pid(11)) == ""


def test_pdf_as_ed_obx_decodes_to_the_exact_bytes() -> None:
    import base64

    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"|^~\\&\r\n%%EOF\n"  # every byte value, HL7 delimiters
    msg = hl7.parse(_oru(pdf=pdf))
    (ed,) = [o for o in msg.segments("OBX") if str(o(2)) == "ED"]
    source, kind, subtype, encoding, data = str(ed(5)).split("^")
    assert (source, kind, subtype, encoding) == ("", "AP", "PDF", "Base64")
    assert base64.b64decode(data, validate=True) == pdf
    assert str(ed(3)).startswith("18759-1^Spirometry study^LN")
    assert not [o for o in hl7.parse(_oru(pdf=None)).segments("OBX") if str(o(2)) == "ED"]


def test_oru_parsed_by_hl7apy(ecg_payload: bytes) -> None:
    """A second, independent HL7 v2 parser (hl7apy, tolerant validation) reads the spirometry and the ECG message:
    segments, PID fields and the ED OBX."""
    import base64

    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    from asalee_devices.fhir_out.hl7v2 import bundle_to_oru

    for text in (_oru(), bundle_to_oru(ecg_payload, control_id="c2")):
        m = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
        assert m.name == "ORU_R01" and m.MSH.MSH_9.to_er7() == "ORU^R01^ORU_R01"
        result = m.ORU_R01_PATIENT_RESULT
        pid = result.ORU_R01_PATIENT.PID
        assert pid.PID_3.to_er7().endswith("^^^ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS")
        assert pid.PID_32.to_er7() == "VALI"
        obx = [o.OBX for o in result.ORU_R01_ORDER_OBSERVATION.ORU_R01_OBSERVATION]
        assert len(obx) == len(hl7.parse(text).segments("OBX"))
        (ed,) = [o for o in obx if o.OBX_2.to_er7() == "ED"]
        assert base64.b64decode(ed.OBX_5.to_er7().split("^")[4]) == F.PDF


def test_message_over_the_receiver_frame_limit_is_refused_and_recorded(ecg_payload: bytes, tmp_path: Path) -> None:
    """A receiver with the common 64 KiB frame limit: the sink configured with it refuses the ~300 KiB ECG
    message before sending (no truncation, nothing sent); the outbox records why, needing a human."""
    peer = MllpPeer(limit=64 * 1024).start()
    try:
        box = Outbox(tmp_path / "o.sqlite3")
        mid = box.enqueue(exam_id="exam-0001", kind="ecg", sink="mllp", performed_on="2026-11-23",
                          payload=ecg_payload)
        sink = create_sink(SinkConfig(type="mllp", host="127.0.0.1", port=peer.port, max_message_bytes=65536))
        assert box.deliver_due(sink) == {mid: "failed"}
        msg = box.get(mid)
        print(f"64 KiB receiver: {msg.state}: {msg.last_error}")
        assert "exceeds the receiver's MLLP frame limit (65536 bytes)" in msg.last_error
        assert peer.received == [] and msg.attempts == 1
    finally:
        peer.stop()
