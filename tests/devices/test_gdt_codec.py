"""GDT 2.1 / 3.0 codec: every record type round-trips in both versions and all three character sets; every framing
error is a FormatError naming its line; the line layout is checked byte by byte against the rule of the
specification (LLL = content bytes + 9), independently of the writer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.gdt import decode, encode
from asalee_devices.drivers.gdt.codec import CHARSETS, MAX_CONTENT, RECORD_TYPES, VERSIONS
from asalee_devices.errors import FormatError

FIELDS = {
    "6300": [("8315", "SPIRO01"), ("8316", "PRAXIS01"), ("3000", "4711")],
    "6301": [("8315", "SPIRO01"), ("8316", "PRAXIS01"), ("3000", "4711"), ("3101", "Müller"), ("3102", "Zoé"),
             ("3103", "14031979"), ("3110", "2"), ("3622", "165"), ("3623", "62")],
    "6302": [("8315", "ECG01"), ("8316", "PRAXIS01"), ("3000", "4711"), ("3101", "Müller"), ("3102", "Zoé"),
             ("3103", "14031979"), ("3110", "2"), ("8402", "EKG01")],
    "6310": [("8315", "PRAXIS01"), ("8316", "SPIRO01"), ("3000", "4711"), ("3101", "Müller"), ("3102", "Zoé"),
             ("3103", "14031979"), ("6200", "02122026"), ("6201", "101500"), ("8402", "LUFU01"),
             ("8410", "FEV1"), ("8411", "VEMS"), ("8420", "2.94"), ("8421", "L"), ("8410", "FVC"),
             ("8420", "3.33"), ("8421", "L"), ("6220", "Courbe acceptable"), ("6227", "commentaire"),
             ("6302", "000001"), ("6303", "PDF"), ("6304", "Compte rendu"), ("6305", "C:\\GDT\\r1.pdf")],
    "6311": [("8315", "SPIRO01"), ("8316", "PRAXIS01"), ("3000", "4711"), ("6200", "02122026")],
}


def _independent_lines(data: bytes) -> list[tuple[int, str, bytes]]:
    """Split by CR LF and read LLL/FFFF with no help from the codec."""
    assert data.endswith(b"\r\n")
    out = []
    for raw in data[:-2].split(b"\r\n"):
        out.append((int(raw[:3]), raw[3:7].decode(), raw[7:]))
        assert int(raw[:3]) == len(raw) + 2  # content + 9
    return out


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("charset", sorted(CHARSETS))
def test_every_record_type_round_trips(record_type: str, version: str, charset: str) -> None:
    fields = FIELDS[record_type]
    if charset == "1":  # 7-bit: ASCII content only
        fields = [(f, v.replace("ü", "ue").replace("é", "e")) for f, v in fields]
    data = encode(record_type, fields, version=version, charset=charset)
    lines = _independent_lines(data)
    assert lines[0][1:] == ("8000", record_type.encode())
    if version == "02.10":
        assert lines[1][1] == "8100" and int(lines[1][2]) == len(data)
    rec = decode(data)
    assert (rec.record_type, rec.version, rec.charset) == (record_type, version, charset)
    assert rec.content_fields() == fields
    assert decode(encode(record_type, rec.content_fields(), version=version, charset=charset)) == rec


def test_cp437_and_latin1_bytes_are_the_declared_ones() -> None:
    cp437 = encode("6301", [("3101", "Müller")], charset="2")
    latin1 = encode("6301", [("3101", "Müller")], charset="3")
    assert b"0153101M\x81ller\r\n" in cp437  # ü is 0x81 in IBM CP 437
    assert b"0153101M\xfcller\r\n" in latin1  # and 0xFC in ISO 8859-1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["3000", "3101", "6220", "6227", "8410", "8420", "8421"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255,
                                                         blacklist_characters="\x7f"), max_size=80)),
                max_size=40))
def test_any_latin1_content_round_trips(fields: list[tuple[str, str]]) -> None:
    fields = [(f, v) for f, v in fields if all(not 0x80 <= ord(c) < 0xA0 for c in v)]
    rec = decode(encode("6310", fields, charset="3"))
    assert rec.content_fields() == fields


def _fix_length(data: bytes) -> bytes:
    """Recompute 8100 after tampering (so the test isolates the defect it introduces)."""
    lines = data[:-2].split(b"\r\n")
    return b"\r\n".join(ln if ln[3:7] != b"8100" else b"0148100" + f"{len(data):05d}".encode() for ln in lines) \
        + b"\r\n"


def test_a_line_length_lying_about_its_content_is_refused_with_its_line() -> None:
    data = encode("6310", [("3000", "4711"), ("3101", "Dupont")])
    lying = data.replace(b"0153101Dupont", b"0173101Dupont")
    with pytest.raises(FormatError, match="line 6: declared line length") as err:
        decode(lying)
    assert "15" in str(err.value)


def test_wrong_character_set_is_refused() -> None:
    with pytest.raises(FormatError, match="unknown character set"):
        decode(_fix_length(encode("6310", [("3000", "1")]).replace(b"01092062", b"01092069")))
    seven_bit = encode("6310", [("3101", "Muller")], charset="1").replace(b"Muller", b"M\xfcller")
    with pytest.raises(FormatError, match="outside the declared character set"):
        decode(seven_bit)


def test_framing_errors_are_clear() -> None:
    good = encode("6310", [("3000", "4711")])
    cases = {
        good.replace(b"\r\n", b"\n"): "CR LF",
        good[:-2]: "last line not ended",
        good.replace(b"01380006310", b"01380006399"): "unknown record type",
        b"0153000471100\r\n": "starts with field 8000",
        good.replace(b"0148100", b"014810X"): "not digits",
        good + b"0123000999\r\n": "record length",
        good.replace(b"921802.10", b"921809.99"): "unsupported GDT version",
        b"": "Empty",
        b"01\r\n": "too short",
    }
    for data, message in cases.items():
        with pytest.raises(FormatError, match=message):
            decode(data)


def test_sizes_are_bounded_before_anything_is_allocated() -> None:
    with pytest.raises(FormatError, match="too large"):
        decode(b"0" * (50 * 1024 * 1024))
    with pytest.raises(FormatError, match="Too many GDT lines"):
        decode(b"\r\n" * 60_000)
    with pytest.raises(FormatError, match="too long"):
        encode("6310", [("6220", "x" * (MAX_CONTENT + 1))])
    with pytest.raises(FormatError, match="not representable"):
        encode("6301", [("3101", "Łukasz")], charset="2")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=700), st.binary(min_size=1, max_size=4))
def test_random_and_mutated_bytes_give_a_record_or_a_format_error(noise: bytes, at: int, patch: bytes) -> None:
    good = encode("6310", FIELDS["6310"], charset="3")
    mutated = good[:at] + patch + good[at + len(patch):]
    for data in (noise, mutated):
        try:
            rec = decode(data)
        except FormatError as exc:
            assert str(exc).startswith(("GDT", "Empty", "Too many"))
        else:
            assert rec.record_type in RECORD_TYPES
