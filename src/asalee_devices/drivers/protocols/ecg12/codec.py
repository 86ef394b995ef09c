"""ECG12 wire format (ours; documented byte by byte in docs/protocols.md).

Every frame, both directions: ``A5 5A | type (1) | length (1) | payload (length) | CRC-16 (2, big-endian)`` with
CRC-16/CCITT-FALSE over type, length and payload. Data frame (type 0x01) payload, 29 bytes: sequence (u16 BE),
ADS1298 status word (24 bits: ``1100`` + LOFF_STATP[7:0] + LOFF_STATN[7:0] + GPIO[7:4]), then 8 channels
(I, II, V1..V6) as 24-bit two's complement big-endian counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from asalee_devices.drivers.protocols.framing import CodecCounters, crc16_ccitt

SYNC = b"\xa5\x5a"
HEADER_LEN = 4
CRC_LEN = 2

# host -> device
CMD_IDENTIFY = 0x81
CMD_START = 0x82
CMD_STOP = 0x83
CMD_SET_RATE = 0x84
# device -> host
T_DATA = 0x01
T_IDENTITY = 0x90
T_ACK = 0x91

DATA_PAYLOAD_LEN = 29
#: frame types of the protocol with their fixed payload length (None: variable)
KNOWN_TYPES: dict[int, int | None] = {
    T_DATA: DATA_PAYLOAD_LEN, T_ACK: 2, T_IDENTITY: None,
    CMD_IDENTIFY: 0, CMD_START: 0, CMD_STOP: 0, CMD_SET_RATE: 2,
}
DATA_FRAME_LEN = HEADER_LEN + DATA_PAYLOAD_LEN + CRC_LEN
CHANNELS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
#: P-input electrode of each channel (LOFF_STATP bit k); N inputs: RA for I and II (LOFF_STATN bits 0, 1), WCT else
P_ELECTRODES: tuple[str, ...] = ("LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
STATUS_MARK = 0xC  # top nibble of the status word
RATES_HZ = (500, 1000)
PROTOCOL_VERSION = 1

ACK_OK = 0
ACK_BAD_PARAMETER = 1
ACK_UNKNOWN_COMMAND = 2


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    """One frame: sync, type, length, payload, CRC-16/CCITT-FALSE (big-endian) over type, length and payload.

    Parameters
    ----------
    frame_type : int
        The frame type (0-0xFF: ``CMD_*`` host -> device, ``T_*`` device -> host).
    payload : bytes, optional
        At most 255 bytes.

    Returns
    -------
    bytes
        The frame as sent.

    Raises
    ------
    ValueError
        When the type or the payload length is out of range.
    """
    if not 0 <= frame_type <= 0xFF or len(payload) > 0xFF:
        raise ValueError("frame type or payload length out of range")
    body = bytes((frame_type, len(payload))) + payload
    return SYNC + body + crc16_ccitt(body).to_bytes(2, "big")


def status_word(loff_statp: int, loff_statn: int, gpio: int = 0) -> int:
    """The 24-bit ADS1298 status word: ``1100`` + LOFF_STATP[7:0] + LOFF_STATN[7:0] + GPIO[7:4].

    Parameters
    ----------
    loff_statp : int
        Lead-off bits of the positive (P) electrodes, one per channel.
    loff_statn : int
        Lead-off bits of the negative (N) electrodes (bits 0 / 1: RA for I / II).
    gpio : int, optional
        GPIO nibble.

    Returns
    -------
    int
        The status word.
    """
    return (STATUS_MARK << 20) | ((loff_statp & 0xFF) << 12) | ((loff_statn & 0xFF) << 4) | (gpio & 0xF)


def encode_data(seq: int, status: int, counts: NDArray[np.int64] | list[int]) -> bytes:
    """One data frame (the simulator's side): sequence, status word, 8 channels of 24-bit counts.

    Parameters
    ----------
    seq : int
        Frame sequence number (16 bits, wraps).
    status : int
        The status word (:func:`status_word`).
    counts : ndarray of int or list of int
        The 8 channels' ADC counts (I, II, V1-V6), 24-bit two's complement.

    Returns
    -------
    bytes
        The frame.
    """
    payload = bytearray((seq & 0xFFFF).to_bytes(2, "big"))
    payload += (status & 0xFFFFFF).to_bytes(3, "big")
    for c in counts:
        payload += (int(c) & 0xFFFFFF).to_bytes(3, "big")
    return encode_frame(T_DATA, bytes(payload))


@dataclass(frozen=True)
class Frame:
    frame_type: int
    payload: bytes


@dataclass(frozen=True)
class DataBatch:
    """Data frames decoded in one ``feed``: arrays with one row per frame."""

    seq: NDArray[np.int64]
    status: NDArray[np.int64]
    counts: NDArray[np.int64]  # (n_frames, 8) signed ADC counts

    @property
    def n(self) -> int:
        return int(self.seq.size)


def concat(batches: list[DataBatch]) -> DataBatch:
    """One batch of the data frames of several batches, in order.

    Parameters
    ----------
    batches : list of DataBatch
        At least one batch.

    Returns
    -------
    DataBatch
        Their rows concatenated (the batch itself when there is one).
    """
    if len(batches) == 1:
        return batches[0]
    return DataBatch(np.concatenate([b.seq for b in batches]), np.concatenate([b.status for b in batches]),
                     np.concatenate([b.counts for b in batches]))


def decode_data_payloads(payloads: bytes, n: int) -> DataBatch:
    """Vectorised decode of ``n`` concatenated 29-byte data payloads.

    Parameters
    ----------
    payloads : bytes
        ``n`` data payloads back to back (29 bytes each).
    n : int
        Number of payloads.

    Returns
    -------
    DataBatch
        Sequence numbers, status words and signed counts (n x 8).
    """
    a = np.frombuffer(payloads, dtype=np.uint8, count=n * DATA_PAYLOAD_LEN).reshape(n, DATA_PAYLOAD_LEN)
    head = a[:, :5].astype(np.int64)
    seq = (head[:, 0] << 8) | head[:, 1]
    status = (head[:, 2] << 16) | (head[:, 3] << 8) | head[:, 4]
    c = a[:, 5:].reshape(n, 8, 3).astype(np.int32)
    raw = (c[:, :, 0] << 16) | (c[:, :, 1] << 8) | c[:, :, 2]
    counts = ((raw ^ 0x800000) - 0x800000).astype(np.int64)  # 24-bit two's complement
    return DataBatch(seq, status, counts)


class Ecg12Decoder:
    """Incremental framer: ``feed(bytes)`` returns control frames and a batch of data frames; never blocks.

    On a bad CRC it advances one byte and searches the next sync. Data frames whose status word lacks the
    ``1100`` mark (with a good CRC) are protocol errors, dropped and counted.
    """

    def __init__(self, max_buffer: int = 1 << 16) -> None:
        self._buf = bytearray()
        self.counters = CodecCounters()
        self._max = max_buffer

    def feed(self, data: bytes) -> tuple[list[Frame], DataBatch]:
        """Parse the bytes received so far; an incomplete frame waits for the next call.

        Parameters
        ----------
        data : bytes
            Bytes from the transport (any length, any split).

        Returns
        -------
        frames : list of Frame
            The control frames (identity, ACK...), in order.
        data : DataBatch
            The data frames, one row each.
        """
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        payloads = bytearray()
        n_data = 0
        pos = 0
        size = len(buf)
        c = self.counters
        while True:
            k = buf.find(SYNC, pos)
            if k < 0:
                keep = 1 if size and buf[-1] == SYNC[0] else 0
                c.bytes_discarded += size - pos - keep
                pos = size - keep
                break
            if k > pos:
                c.bytes_discarded += k - pos
                pos = k
            if size - pos < HEADER_LEN:
                break
            ln = buf[pos + 3]
            expected = KNOWN_TYPES.get(buf[pos + 2])
            if expected is not None and ln != expected:
                # a known type with an impossible length is not a frame start: do not wait for its "payload"
                # (an unknown type is checked by its CRC, so a device speaking another dialect is reported)
                c.resyncs += 1
                c.bytes_discarded += 1
                pos += 1
                continue
            end = pos + HEADER_LEN + ln + CRC_LEN
            if end > size:
                break
            if crc16_ccitt(memoryview(buf)[pos + 2:end - 2]) != int.from_bytes(buf[end - 2:end], "big"):
                c.crc_errors += 1
                c.resyncs += 1
                c.bytes_discarded += 1
                pos += 1
                continue
            ftype = buf[pos + 2]
            if ftype == T_DATA:
                if buf[pos + 6] >> 4 != STATUS_MARK:
                    c.protocol_errors += 1
                else:
                    payloads += buf[pos + HEADER_LEN:end - 2]
                    n_data += 1
                    c.frames_ok += 1
            else:
                frames.append(Frame(ftype, bytes(buf[pos + HEADER_LEN:end - 2])))
                c.frames_ok += 1
            pos = end
        del buf[:pos]
        if len(buf) > self._max:  # a corrupted length can never exceed 255; this only guards misuse
            c.bytes_discarded += len(buf)
            buf.clear()
        return frames, decode_data_payloads(bytes(payloads), n_data)


@dataclass(frozen=True)
class Identity:
    protocol_version: int
    rate_hz: int
    resolution_pv: int  # picovolts per LSB
    n_channels: int
    manufacturer: str
    model: str
    serial_number: str
    firmware: str


def encode_identity(ident: Identity) -> bytes:
    """The identity frame (the simulator's side): version, rate, resolution, channel count, then four
    length-prefixed ASCII strings.

    Parameters
    ----------
    ident : Identity
        Protocol version, rate (Hz), resolution (pV per LSB), channels, manufacturer, model, serial, firmware.

    Returns
    -------
    bytes
        The ``T_IDENTITY`` frame.
    """
    p = bytearray((ident.protocol_version,))
    p += ident.rate_hz.to_bytes(2, "big") + ident.resolution_pv.to_bytes(4, "big") + bytes((ident.n_channels,))
    for s in (ident.manufacturer, ident.model, ident.serial_number, ident.firmware):
        b = s.encode("ascii")
        p += bytes((len(b),)) + b
    return encode_frame(T_IDENTITY, bytes(p))


class IdentityFieldError(ValueError):
    """An identity payload field is malformed; ``field`` names it."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(field)
        self.field, self.value, self.expected = field, value, expected


def decode_identity(payload: bytes) -> Identity:
    """Parse and validate an identity payload; raises :class:`IdentityFieldError` naming the bad field.

    Parameters
    ----------
    payload : bytes
        The payload of a ``T_IDENTITY`` frame.

    Returns
    -------
    Identity
        The device's identity (rate in Hz, resolution in pV per LSB).

    Raises
    ------
    IdentityFieldError
        When a field is truncated, of an unsupported version, rate, resolution or channel count, or not printable
        ASCII.
    """
    if len(payload) < 8:
        raise IdentityFieldError("identity length", len(payload), ">= 8 bytes")
    version = payload[0]
    rate = int.from_bytes(payload[1:3], "big")
    res = int.from_bytes(payload[3:7], "big")
    nch = payload[7]
    if version != PROTOCOL_VERSION:
        raise IdentityFieldError("protocol version", version, str(PROTOCOL_VERSION))
    if rate not in RATES_HZ:
        raise IdentityFieldError("sampling rate", rate, " or ".join(map(str, RATES_HZ)) + " Hz")
    if not 1_000 <= res <= 10_000_000:
        raise IdentityFieldError("resolution", res, "1 000-10 000 000 pV/LSB (0.001-10 µV)")
    if nch != len(CHANNELS):
        raise IdentityFieldError("channel count", nch, str(len(CHANNELS)))
    strings: list[str] = []
    pos = 8
    for name in ("manufacturer", "model", "serial number", "firmware"):
        if pos >= len(payload):
            raise IdentityFieldError(name, None, "a length-prefixed ASCII string")
        ln = payload[pos]
        raw = payload[pos + 1:pos + 1 + ln]
        if len(raw) != ln or not all(0x20 <= b < 0x7F for b in raw):
            raise IdentityFieldError(name, raw.hex(), "printable ASCII")
        strings.append(raw.decode("ascii"))
        pos += 1 + ln
    return Identity(version, rate, res, nch, *strings)


def loff_mask(status: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Per-channel lead-off flags (n_frames, 8) from status words: channel k is off when its P electrode is
    off, and I / II also when RA (LOFF_STATN bits 0 / 1) is off.

    Parameters
    ----------
    status : ndarray of int
        Status words, one per frame.

    Returns
    -------
    ndarray of bool
        (n_frames, 8) True where the channel's electrode is off.
    """
    if status.size and bool((status == _NOMINAL_STATUS).all()):
        return np.zeros((status.size, 8), dtype=bool)
    statp = (status >> 12) & 0xFF
    statn = (status >> 4) & 0xFF
    bits = np.arange(8)
    mask = ((statp[:, None] >> bits[None, :]) & 1).astype(bool)
    mask[:, :2] |= ((statn[:, None] >> bits[None, :2]) & 1).astype(bool)
    return mask


_NOMINAL_STATUS = STATUS_MARK << 20


def status_from_mask(mask_row: NDArray[np.bool_]) -> int:
    """Status word for one sample's per-channel lead-off flags (I and II both off -> RA off).

    Parameters
    ----------
    mask_row : ndarray of bool
        The 8 channels' lead-off flags of one sample.

    Returns
    -------
    int
        The status word (:func:`status_word`).
    """
    ra = bool(mask_row[0] and mask_row[1])
    statp = 0
    for k in range(8):
        if mask_row[k] and not (k < 2 and ra):
            statp |= 1 << k
    statn = 0b11 if ra else 0
    return status_word(statp, statn)
