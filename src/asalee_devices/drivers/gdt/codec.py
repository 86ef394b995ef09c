"""GDT (Gerätedatentransfer, QMS) 2.1 and 3.0 records: a pure codec, bytes <-> fields.

A GDT file is one record; each line is ``LLLFFFF<content>CRLF`` where ``LLL`` (3 digits) is the length of the whole
line in bytes *including* the length, the 4-digit field id and the CRLF (so content bytes + 9), in the record's
character set. The first line is field 8000 (record type); 8100 (record length in bytes, 5 digits, the whole file
including its own line) follows in GDT 2.1; 9218 is the GDT version (``02.10``, ``03.00``); 9206 the character set
(1 = 7-bit ASCII, 2 = IBM CP 437 — the default when absent —, 3 = ISO 8859-1/ANSI, read as Windows-1252). One
record per file: a second 8000 line refuses the file. Field ids and values follow the GDT 2.1 field table as
implemented by the public Elexis GDT plug-in (see docs/gdt.md).

Decoding bounds the file size and the number of lines before allocating, checks every line's declared length
against its bytes, the record length, the character set, and reports the first problem as :class:`FormatError` with
the line number. Nothing is returned from a file that has any problem (no partial record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from asalee_devices.errors import FormatError

CRLF = b"\r\n"
MAX_FILE_BYTES = 4 * 1024 * 1024  # a result record with a few hundred value lines is a few kB; files are referenced
MAX_LINES = 50_000
OVERHEAD = 9  # 3 length digits + 4 field-id digits + CR LF
MAX_CONTENT = 999 - OVERHEAD

#: Record types (Satzarten) of GDT 2.1/3.0.
RECORD_TYPES: Mapping[str, str] = {
    "6300": "Stammdaten anfordern (request patient data)",
    "6301": "Stammdaten übermitteln (patient data)",
    "6302": "Neue Untersuchung anfordern (examination request)",
    "6310": "Daten einer Untersuchung übermitteln (examination results)",
    "6311": "Daten einer Untersuchung zeigen (show examination)",
}
#: GDT version field (9218) values.
VERSIONS: Mapping[str, str] = {"02.10": "2.1", "03.00": "3.0"}
#: Character set field (9206) values -> Python codec.
#: 3 is "ISO 8859-1 (ANSI)": what Windows programs write as ANSI is Windows-1252, ISO 8859-1 with letters (€ œ ’ ...)
#: instead of C1 control characters at 0x80-0x9F; read and written as such, as the Elexis GDT plug-in does
#: (``GDTConstants.ZEICHENSATZ_ISO8859_1_ANSI_CP_1252`` -> ``Cp1252``). Its five undefined bytes are refused.
CHARSETS: Mapping[str, str] = {"1": "ascii", "2": "cp437", "3": "cp1252"}
DEFAULT_CHARSET = "2"

#: Field ids used by asalee-devices (GDT 2.1 names).
F = {
    "record_type": "8000", "record_length": "8100", "receiver_id": "8315", "sender_id": "8316",
    "charset": "9206", "version": "9218",
    "patient_id": "3000", "name_suffix": "3100", "family": "3101", "given": "3102", "birth_date": "3103",
    "title": "3104", "insurance_number": "3105", "town": "3106", "street": "3107", "sex": "3110",
    "height_cm": "3622", "weight_kg": "3623",
    "exam_date": "6200", "exam_time": "6201", "findings": "6220", "external_findings": "6221", "comment": "6227",
    "result_table": "6228", "file_archive_number": "6302", "file_format": "6303", "file_description": "6304",
    "file_reference": "6305", "device_procedure": "8402",
    "test_id": "8410", "test_name": "8411", "test_status": "8418", "value": "8420", "unit": "8421",
    "normal_text": "8460", "normal_low": "8461", "normal_high": "8462", "test_note": "8470", "result_text": "8480",
}


@dataclass(frozen=True)
class GdtField:
    fid: str
    content: str
    line: int = 0  # 1-based line number in the decoded file (0 when built in memory)


@dataclass(frozen=True)
class GdtRecord:
    record_type: str
    fields: tuple[GdtField, ...]
    version: str = "02.10"
    charset: str = DEFAULT_CHARSET
    warnings: tuple[str, ...] = field(default=())

    def get(self, fid: str) -> str | None:
        """The first value of field ``fid``, or None.

        Parameters
        ----------
        fid : str
            The 4-digit field id (e.g. ``"3000"``, patient number).

        Returns
        -------
        str or None
            The value.
        """
        return next((f.content for f in self.fields if f.fid == fid), None)

    def all(self, fid: str) -> list[str]:
        """Every value of field ``fid``, in order (a field may repeat, e.g. 6220 result lines).

        Parameters
        ----------
        fid : str
            The 4-digit field id.

        Returns
        -------
        list of str
            The values (empty when the field is absent).
        """
        return [f.content for f in self.fields if f.fid == fid]

    def content_fields(self) -> list[tuple[str, str]]:
        """The fields without the framing ones (8000, 8100, 9206, 9218), in order.

        Returns
        -------
        list of tuple of (str, str)
            (field id, value) pairs.
        """
        return [(f.fid, f.content) for f in self.fields if f.fid not in ("8000", "8100", "9206", "9218")]


def _error(message: str, line: int, expected: str, value: object = None) -> FormatError:
    return FormatError(f"GDT line {line}: {message}", field=f"line {line}", value=value, expected=expected)


def decode(data: bytes, *, max_bytes: int = MAX_FILE_BYTES) -> GdtRecord:
    """One GDT record from the bytes of a file.

    Parameters
    ----------
    data : bytes
        The file's bytes (lines ``LLLFFFF<content>`` ended by CR LF).
    max_bytes : int, optional
        Largest file accepted (bytes).

    Returns
    -------
    GdtRecord
        Record type, fields in order, version, character set and the warnings on what was tolerated.

    Raises
    ------
    FormatError
        On any problem (too large, empty, too many lines, malformed line, unknown record type), with the line
        number.
    """
    if len(data) > max_bytes:
        raise FormatError("GDT file too large", field="size", value=len(data),
                          expected=f"at most {max_bytes} bytes (attachments are referenced by 6305, not inlined)")
    if not data:
        raise FormatError("Empty GDT file", field="size", value=0, expected="a GDT record")
    if data.count(b"\n") > MAX_LINES:
        raise FormatError("Too many GDT lines", field="lines", expected=f"at most {MAX_LINES}")
    body = data[:-2] if data.endswith(CRLF) else data
    raw_lines = body.split(CRLF)
    if not data.endswith(CRLF):  # first: a file cut short (or still being written) is reported as such
        raise _error("last line not ended by CR LF: the file is incomplete", len(raw_lines),
                     "every line ended by CR LF (a complete GDT file)")
    parsed: list[tuple[str, bytes, int]] = []
    for n, raw in enumerate(raw_lines, start=1):
        if b"\r" in raw or b"\n" in raw:
            raise _error("line not ended by CR LF", n, "every line ended by CR LF (0D 0A)")
        if len(raw) < OVERHEAD - 2:
            raise _error("line too short", n, "LLLFFFF<content>: at least 7 characters", len(raw))
        head = raw[:7]
        if not head.isdigit():
            raise _error("length or field id is not digits", n, "3 length digits then a 4-digit field id",
                         head.decode("latin-1"))
        declared = int(head[:3])
        if declared != len(raw) + 2:
            raise _error("declared line length does not match the line", n,
                         f"{len(raw) + 2} (content bytes + 9, CR LF included)", declared)
        parsed.append((head[3:7].decode("ascii"), raw[7:], n))
    if parsed[0][0] != "8000":
        raise _error("a GDT record starts with field 8000 (record type)", 1, "8000", parsed[0][0])
    second = next((n for fid, _, n in parsed[1:] if fid == "8000"), None)
    if second is not None:  # never merged into the first, never split: the exporting program is misconfigured
        raise _error("a second record (8000) in the file", second, "one record per file (GDT file exchange)")
    record_type = parsed[0][1].decode("latin-1")
    if record_type not in RECORD_TYPES:
        raise _error("unknown record type", 1, ", ".join(RECORD_TYPES), record_type)
    charset = next((c.decode("latin-1") for fid, c, _ in parsed if fid == "9206"), DEFAULT_CHARSET)
    codec = CHARSETS.get(charset)
    if codec is None:
        line = next(n for fid, _, n in parsed if fid == "9206")
        raise _error("unknown character set (field 9206)", line, "1 (7-bit), 2 (IBM CP 437) or 3 (ISO 8859-1/ANSI)",
                     charset)
    fields: list[GdtField] = []
    for fid, content, n in parsed:
        try:
            text = content.decode(codec)
        except UnicodeDecodeError:
            raise _error("byte outside the declared character set", n,
                         f"text in character set {charset} ({codec}) as field 9206 declares") from None
        fields.append(GdtField(fid, text, n))
    version = next((f.content for f in fields if f.fid == "9218"), "")
    warnings: list[str] = []
    if version and version not in VERSIONS:
        line = next(f.line for f in fields if f.fid == "9218")
        raise _error("unsupported GDT version (field 9218)", line, ", ".join(VERSIONS), version)
    if not version:
        warnings.append("no GDT version (9218): read as 2.1")
        version = "02.10"
    length = next((f for f in fields if f.fid == "8100"), None)
    if length is not None:
        if not length.content.isdigit() or int(length.content) != len(data):
            raise _error("record length (field 8100) does not match the file", length.line,
                         f"{len(data)} bytes", length.content)
    elif version == "02.10":
        warnings.append("no record length (8100) in a GDT 2.1 record")
    return GdtRecord(record_type, tuple(fields), version, charset, tuple(warnings))


def _line(fid: str, content: bytes) -> bytes:
    if len(fid) != 4 or not fid.isdigit():
        raise FormatError("GDT field id must be 4 digits", field="fid", value=fid, expected="e.g. 3101")
    if len(content) > MAX_CONTENT:
        raise FormatError("GDT field content too long", field=fid, value=len(content),
                          expected=f"at most {MAX_CONTENT} bytes per line (split it over several lines)")
    if b"\r" in content or b"\n" in content:
        raise FormatError("GDT field content has a line break", field=fid, expected="one line per field")
    return f"{len(content) + OVERHEAD:03d}{fid}".encode("ascii") + content + CRLF


def encode(record_type: str, fields: Iterable[tuple[str, str]], *, version: str = "02.10",
           charset: str = DEFAULT_CHARSET, record_length: bool | None = None) -> bytes:
    """The bytes of one GDT record: 8000, then 8100 (GDT 2.1; optional in 3.0), 9218, 9206, then ``fields`` in
    order. Text that the character set cannot carry is refused (:class:`FormatError`), never replaced.

    Parameters
    ----------
    record_type : str
        The record type (field 8000, e.g. ``"6310"``: data of an examination).
    fields : iterable of tuple of (str, str)
        The content fields (id, value), in order.
    version : str, optional
        GDT version written in 9218 (``"02.10"`` or ``"03.00"``).
    charset : str, optional
        Character set code of field 9206: "1" ASCII, "2" CP437 (default), "3" ISO 8859-1.
    record_length : bool or None, optional
        Write 8100 (None: as the version requires).

    Returns
    -------
    bytes
        The record, lines ended by CR LF.

    Raises
    ------
    FormatError
        When the record type, version or character set is unknown, a framing field is given, or text cannot be
        carried by the character set.
    """
    if record_type not in RECORD_TYPES:
        raise FormatError("Unknown GDT record type", field="8000", value=record_type,
                          expected=", ".join(RECORD_TYPES))
    if version not in VERSIONS or charset not in CHARSETS:
        raise FormatError("Unknown GDT version or character set", field="9218/9206", value=(version, charset),
                          expected=f"{', '.join(VERSIONS)} / {', '.join(CHARSETS)}")
    codec = CHARSETS[charset]
    lines: list[bytes] = []
    for fid, text in [("9218", version), ("9206", charset), *fields]:
        if fid in ("8000", "8100", "9218", "9206") and len(lines) >= 2:
            raise FormatError("Framing fields are written by the codec", field=fid, expected="content fields")
        try:
            lines.append(_line(fid, text.encode(codec)))
        except UnicodeEncodeError:
            raise FormatError("Text not representable in the GDT character set", field=fid, value=charset,
                              expected=f"characters of {codec}, or character set 3 (ISO 8859-1)") from None
    body = b"".join(lines)
    head = _line("8000", record_type.encode("ascii"))
    with_length = version == "02.10" if record_length is None else record_length
    if not with_length:
        return head + body
    total = len(head) + 14 + len(body)  # 8100 line: 3 + 4 + 5 digits + CR LF = 14 bytes
    return head + _line("8100", f"{total:05d}".encode("ascii")) + body
