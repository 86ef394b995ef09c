"""Text rules of an HPRIM Net file: ISO-8859-1 only, CRLF lines, bounded lengths, no field separator inside a
field.

A character outside Latin-1 is transliterated (``anyascii``: "—" -> "-", "Œ" -> "OE", "≥" -> ">="), never dropped; a
character with no transliteration is written as its code point (``<U+XXXX>``) so it stays visible.
"""

from __future__ import annotations

import textwrap

from anyascii import anyascii

CRLF = "\r\n"
#: Readable report lines are wrapped at this width (the public HPRIM files read by the parsers cited in
#: docs/hprim.md keep their text to an 80-column page).
TEXT_WIDTH = 80


def latin1(text: str) -> str:
    """``text`` with every character outside ISO-8859-1 (and every control character but TAB) transliterated."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\t" or (32 <= code < 127) or (160 <= code < 256):
            out.append(ch)
        elif code < 32 or 127 <= code < 160:
            out.append(" ")  # line breaks and C0/C1 controls never enter a field or a line
        else:
            ascii_ = anyascii(ch)
            out.append(ascii_ if ascii_ else f"<U+{code:04X}>")
    return "".join(out)


def field(text: str, max_len: int) -> str:
    """One ``|``-separated field: Latin-1, no separator inside (``|`` becomes ``/``), at most ``max_len`` long."""
    return latin1(text).replace("|", "/").strip()[:max_len]


def fixed(text: str, width: int) -> str:
    """A fixed-width header field: Latin-1, cut or padded to ``width``."""
    return latin1(text)[:width].ljust(width)


def wrap(text: str, width: int = TEXT_WIDTH) -> list[str]:
    """A paragraph of the readable report as Latin-1 lines of at most ``width`` characters (an empty paragraph is
    one empty line)."""
    clean = latin1(text).rstrip()
    if not clean:
        return [""]
    indent = clean[: len(clean) - len(clean.lstrip())]
    return textwrap.wrap(clean, width=width, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False, drop_whitespace=True) or [""]
