"""A light, hardened XML tree for the ECG XML formats (HL7 aECG, GE MUSE, Philips Sierra).

Parsing goes through :class:`defusedxml.ElementTree.DefusedXMLParser` (entity declarations and external
references refused) with a small tree builder: element names without namespace, attributes, text with
whitespace-only text dropped. Building this tree is several times faster than a full ElementTree for documents
made mostly of long base64 or digit texts, and the document size is bounded by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator

from asalee_devices.errors import FormatError

#: Element budget per document (a resting ECG export has a few thousand elements).
MAX_ELEMENTS = 500_000
MAX_DEPTH = 200


_MARK = "@@asalee-bulk:"


def lift_bulk(data: bytes, names: tuple[str, ...]) -> tuple[bytes, list[bytes]]:
    """Cut the character data of elements ``names`` out of an ASCII-compatible document (replaced by a marker):
    long digit or base64 texts then bypass the XML parser. Contents holding markup (``<``) or references (``&``)
    are left in place, so the document means the same; the parser still checks the whole skeleton."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:200]:
        return data, []
    parts: list[bytes] = []
    bulk: list[bytes] = []
    pos = 0
    found: list[tuple[int, int]] = []
    for name in names:
        open_tag = b"<" + name.encode()
        close_tag = b"</" + name.encode() + b">"
        i = data.find(open_tag)
        while i >= 0:
            after = data[i + len(open_tag): i + len(open_tag) + 1]
            if after in (b">", b" ", b"\t", b"\n", b"\r"):
                gt = data.find(b">", i)
                if gt < 0 or data[gt - 1: gt] == b"/":
                    i = data.find(open_tag, i + 1)
                    continue
                end = data.find(close_tag, gt)
                if end < 0:
                    break
                found.append((gt + 1, end))
                i = data.find(open_tag, end)
            else:
                i = data.find(open_tag, i + 1)
    for a, b in sorted(found):
        if a < pos:
            continue
        chunk = data[a:b]
        if b"<" in chunk or b"&" in chunk:
            continue
        parts.append(data[pos:a])
        parts.append(f"{_MARK}{len(bulk)}@@".encode("ascii"))
        bulk.append(chunk)
        pos = b
    if not bulk:
        return data, []
    parts.append(data[pos:])
    return b"".join(parts), bulk


class Node:
    """One XML element: ``tag`` (local name), ``attrib``, ``text`` (joined character data), ``children``."""

    __slots__ = ("attrib", "bulk", "children", "index", "parts", "tag")

    def __init__(self, tag: str, attrib: dict[str, str]) -> None:
        self.tag = tag
        self.attrib = attrib
        self.children: list[Node] = []
        self.parts: list[str] = []
        #: on the document root only: every element by tag, in document order
        self.index: dict[str, list[Node]] | None = None
        #: on the document root only: contents of the bulk elements lifted out before parsing
        self.bulk: list[bytes] = []

    def content(self, node: Node) -> str | bytes:
        """Text of ``node`` (a descendant of this root), as the original bytes when it was lifted out."""
        text = node.text
        if text.startswith(_MARK) and text.endswith("@@") and self.bulk:
            key = text[len(_MARK):-2]
            if key.isdigit() and int(key) < len(self.bulk):
                return self.bulk[int(key)]
        return text

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def find(self, *path: str) -> Node | None:
        """First descendant along the child path ``path`` (local names)."""
        node: Node | None = self
        for name in path:
            if node is None:
                return None
            node = next((c for c in node.children if c.tag == name), None)
        return node

    def findtext(self, *path: str, default: str = "") -> str:
        node = self.find(*path)
        return node.text.strip() if node is not None else default

    def findall(self, name: str) -> list[Node]:
        return [c for c in self.children if c.tag == name]

    def iter(self, name: str | None = None) -> Iterator[Node]:
        if name is not None and self.index is not None:
            yield from self.index.get(name, ())
            return
        stack = [self]
        while stack:
            node = stack.pop()
            if name is None or node.tag == name:
                yield node
            stack.extend(reversed(node.children))


def _forbid_entity(*args: object) -> None:
    from defusedxml import EntitiesForbidden

    raise EntitiesForbidden(*(list(args) + [None] * 6)[:6])


def _forbid_external(*args: object) -> int:
    from defusedxml import ExternalReferenceForbidden

    raise ExternalReferenceForbidden(*(list(args) + [None] * 4)[:4])


def parse(data: bytes, fmt: str, bulk: tuple[str, ...] = ()) -> Node:
    """Parse ``data`` (encoding from its declaration or BOM) into a :class:`Node` tree with expat hardened as
    defusedxml does (entity declarations and external references refused); any failure is a
    :class:`FormatError`."""
    import pyexpat

    from defusedxml import DefusedXmlException

    lifted: list[bytes] = []
    if bulk:
        data, lifted = lift_bulk(data, bulk)
    stack: list[Node] = []
    result: list[Node] = []
    index: dict[str, list[Node]] = {}
    count = 0

    def start(tag: str, attrib: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise FormatError("XML document too large or too deep", field="elements", value=count,
                              expected=f"at most {MAX_ELEMENTS} elements, depth {MAX_DEPTH}")
        if ":" in tag:
            tag = tag.rsplit(":", 1)[-1]
        node = Node(tag, attrib)
        if stack:
            stack[-1].children.append(node)
        else:
            result.append(node)
        stack.append(node)
        bucket = index.get(tag)
        if bucket is None:
            index[tag] = [node]
        else:
            bucket.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack and not text.isspace():
            stack[-1].parts.append(text)

    parser = pyexpat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 20
    parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.EntityDeclHandler = _forbid_entity
    parser.UnparsedEntityDeclHandler = _forbid_entity
    parser.ExternalEntityRefHandler = _forbid_external
    try:
        parser.Parse(data, True)
    except FormatError:
        raise
    except (pyexpat.ExpatError, DefusedXmlException, ValueError, UnicodeError, LookupError) as exc:
        raise FormatError(f"{fmt}: the XML document cannot be parsed", field="xml",
                          value=type(exc).__name__) from exc
    if not result:
        raise FormatError(f"{fmt}: empty XML document", field="xml")
    result[0].index = index
    result[0].bulk = lifted
    return result[0]
