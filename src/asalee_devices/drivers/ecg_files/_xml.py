"""Hardened XML parsing for the ECG XML formats (HL7 aECG, GE MUSE, Philips Sierra).

Parsing goes through :class:`defusedxml.ElementTree.DefusedXMLParser` (entity declarations and external
references refused; the document size is bounded by the caller). Readers see a small :class:`Node` view (local
element names in the document's namespace). The long digit / base64 texts of the waveform elements are lifted out
of the document before parsing (:func:`lift_bulk`) so the parser only walks the skeleton.

Budgets, from the largest real files of each format (``../shared/data/ecg``: GE MUSE example 5 800 ``<``, 2 899
elements; HL7 aECG example depth 15; Philips Sierra 32 611 characters in one element) times 10, so a hostile
document is refused before the parser allocates a tree for it: at most ``MAX_MARKUP`` ``<`` in the document
(counted on the bytes, before anything is lifted or parsed: a 64 MiB document of ``<a/>`` or 2 M nested elements
is refused at once), then, on the parsed skeleton, at most ``MAX_DEPTH`` levels and ``MAX_TEXT_CHARS`` characters
in one element's text (lifted waveform texts are bounded by their readers). Past a budget: :class:`FormatError`.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from asalee_devices.errors import FormatError

_MARK = "@@asalee-bulk:"
MAX_MARKUP = 60_000  # '<' in one document (largest real file: 5 800)
MAX_DEPTH = 150  # element nesting (largest real file: 15)
MAX_TEXT_CHARS = 512 * 1024  # characters of one element's text or tail in the skeleton (largest real: 32 611)


_OPENERS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


_START_TAG_END = re.compile(rb"""(?:\s+[^\s=/>"']+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")


def _opener(names: tuple[str, ...]) -> re.Pattern[bytes]:
    pattern = _OPENERS.get(names)
    if pattern is None:
        alternatives = b"|".join(re.escape(n.encode()) for n in names)
        pattern = _OPENERS[names] = re.compile(rb"<(" + alternatives + rb")[ \t\n\r>]")
    return pattern


_SAME_NAME: dict[bytes, re.Pattern[bytes]] = {}
_DECLARATIONS = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))


class _Declarations:
    """The comments, CDATA sections and processing instructions of a document (where ``<`` and element names
    are text, not markup), found once through the rare ``!`` and ``?`` (memchr), not through ``<``, which is
    everywhere in a document. Spans are disjoint and in document order."""

    __slots__ = ("ends", "starts")

    def __init__(self, data: bytes) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        size = len(data)
        bang, quest = data.find(b"!"), data.find(b"?")
        while bang >= 0 or quest >= 0:
            i = bang if quest < 0 or 0 <= bang < quest else quest
            nxt = i + 1
            if i > 0 and data[i - 1] == 0x3C:
                for opener, closer in _DECLARATIONS:
                    if data.startswith(opener, i - 1):
                        j = data.find(closer, i - 1 + len(opener))
                        nxt = size if j < 0 else j + len(closer)
                        self.starts.append(i - 1)
                        self.ends.append(nxt)
                        break
            if 0 <= bang < nxt:
                bang = data.find(b"!", nxt)
            if 0 <= quest < nxt:
                quest = data.find(b"?", nxt)

    def covering(self, pos: int) -> int:
        """End of the span ``pos`` lies inside (after its first character), or -1."""
        k = bisect_left(self.starts, pos) - 1
        return self.ends[k] if k >= 0 and self.ends[k] > pos else -1

    def runs_past(self, start: int, end: int) -> bool:
        """Whether a span beginning in ``[start, end)`` runs past ``end`` (so ``end`` is inside it, not markup)."""
        k = bisect_left(self.starts, end) - 1
        return k >= 0 and self.starts[k] >= start and self.ends[k] > end


def _drop_end(data: bytes, start: int, name: bytes, keep: tuple[bytes, ...], decl: _Declarations) -> int:
    """Position of the ``</name>`` closing the element whose content starts at ``start``, or -1 when that content
    may not be dropped: it holds an element of the same name (nesting), one of the ``keep`` names (what the
    reader searches the whole tree for), or a comment, CDATA section or processing instruction that runs past the
    closing tag found (which would then be inside it); -1 too when there is no closing tag. Outside those,
    ``</name>`` can only be markup (``<`` is not allowed in text or attribute values).

    The content is scanned once, for the bare name (``bytes.find`` is a byte-by-byte loop for a needle starting
    with the ``<`` that markup is full of: one pass instead of one for the closing tag and one for nesting)."""
    same = _SAME_NAME.get(name)
    if same is None:
        same = _SAME_NAME[name] = re.compile(rb"<" + re.escape(name) + rb"[ \t\n\r>/]")
    size = len(name)
    i = data.find(name, start)
    while i >= 0:
        if data[i - 1] == 0x3C and same.match(data, i - 1):  # <name: an element of the same name inside
            return -1
        if data[i - 1] == 0x2F and data[i - 2] == 0x3C and data.startswith(b">", i + size):  # </name>
            end = i - 2
            for k in keep:
                if data.find(k, start, end) >= 0:
                    return -1
            return -1 if decl.runs_past(start, end) else end
        i = data.find(name, i + 1)
    return -1


class Lifted:
    """The texts :func:`lift_bulk` cut out of a document: spans of the original bytes, copied only when one is
    read (``lifted[i]``) or when several are joined for a single parse (:meth:`joined`). A decoder thus never
    holds a second copy of every long text beside the document (a 10 s 12-lead aECG carries ~340 kB of digits)."""

    __slots__ = ("_data", "_spans")

    def __init__(self, data: bytes = b"", spans: list[tuple[int, int]] | None = None) -> None:
        self._data = data
        self._spans: list[tuple[int, int]] = spans if spans is not None else []

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, index: int) -> bytes:
        start, end = self._spans[index]
        return self._data[start:end]

    def sizes(self) -> list[int]:
        """Length in bytes of each text."""
        return [end - start for start, end in self._spans]

    def joined(self, separator: bytes) -> bytes:
        """Every text, each followed by ``separator``, in one bytes object (one copy)."""
        view = memoryview(self._data)
        return separator.join([view[a:b] for a, b in self._spans] + [b""])


_NOTHING_LIFTED = Lifted()


def lift_bulk(data: bytes, names: tuple[str, ...], drop: tuple[str, ...] = (), keep: tuple[str, ...] = (),
              ) -> tuple[bytes, Lifted]:
    """Cut the character data of elements ``names`` out of an ASCII-compatible document (replaced by a marker):
    long digit or base64 texts then bypass the XML parser. Contents holding markup (``<``) or references (``&``)
    are left in place, so the document means the same; the parser still checks the whole skeleton.

    Elements named in ``drop`` (detail a reader never uses) lose their whole content, unless it holds another
    element of the same name, one of the ``keep`` names (what the reader searches the whole tree for), or a
    comment, CDATA section or processing instruction that is not closed before the element's closing tag.

    One pass in document order: the search for the next element resumes after each cut region, so the long
    texts are scanned once (for their closing tag and for ``<``/``&``), never by the element search."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:200] or not names + drop:
        return data, _NOTHING_LIFTED
    opener = _opener(names + drop)
    dropped = frozenset(n.encode() for n in drop)
    kept = tuple(n.encode() for n in keep)
    decl = _Declarations(data)
    has_amp = b"&" in data  # no reference anywhere (the usual case): no per-text check
    view = memoryview(data)  # the skeleton's pieces are joined straight from the document: one copy
    parts: list[bytes | memoryview] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    search = 0
    while True:
        m = opener.search(data, search)
        if m is None:
            break
        inside = decl.covering(m.start()) if decl.starts else -1
        if inside >= 0:  # the match is text of a comment, CDATA section or PI
            search = inside
            continue
        name = m.group(1)
        tag = _START_TAG_END.match(data, m.end() - 1)  # the attributes (a quoted value may hold ">")
        if tag is None or tag.group(1):  # not a start tag we can read, or <name/>: nothing to cut
            search = m.end()
            continue
        gt = tag.end() - 1
        if name in dropped:
            end = _drop_end(data, gt + 1, name, kept, decl)
            if end < 0:
                search = gt + 1
                continue
            parts.append(view[pos: gt + 1])
        else:
            # the first "<" after the start tag (memchr) must open the closing tag: then the text holds no markup
            end = data.find(b"<", gt + 1)
            if (end < 0 or not data.startswith(b"</" + name + b">", end)
                    or (has_amp and data.find(b"&", gt + 1, end) >= 0)):
                search = gt + 1
                continue
            parts.append(view[pos: gt + 1])
            parts.append(f"{_MARK}{len(spans)}@@".encode("ascii"))
            spans.append((gt + 1, end))
        pos = search = end
    if pos == 0:
        return data, _NOTHING_LIFTED
    parts.append(view[pos:])
    return b"".join(parts), Lifted(data, spans)


def element_text(el: Any) -> str:
    """Character data directly inside an ElementTree element (its text and its children's tails)."""
    if len(el) == 0:
        return el.text or ""
    return "".join([el.text or ""] + [c.tail or "" for c in el])


class Node:
    """A view of one XML element: ``tag`` (local name), ``attrib``, ``text``, ``children``."""

    __slots__ = ("_el", "bulk", "ns")

    def __init__(self, el: Any, ns: str = "", bulk: Lifted | None = None) -> None:
        self._el = el
        self.ns = ns
        self.bulk: Lifted = bulk if bulk is not None else _NOTHING_LIFTED

    @property
    def tag(self) -> str:
        t: str = self._el.tag if isinstance(self._el.tag, str) else ""
        return t.rsplit("}", 1)[-1]

    @property
    def attrib(self) -> dict[str, str]:
        a: dict[str, str] = self._el.attrib
        return a

    @property
    def text(self) -> str:
        return element_text(self._el)

    @property
    def element(self) -> Any:
        """The underlying ElementTree element (for readers' hot loops)."""
        return self._el

    @property
    def children(self) -> list[Node]:
        return [Node(c, self.ns) for c in self._el if isinstance(c.tag, str)]

    def _child(self, name: str) -> Node | None:
        el = self._el.find(self.ns + name)
        return Node(el, self.ns) if el is not None else None

    def child_texts(self) -> dict[str, str]:
        """Stripped text of each child element by local name (the first of each name), in one pass: what
        ``findtext(name)`` gives for every child, without a wrapper per look-up."""
        out: dict[str, str] = {}
        ns = self.ns
        if not ns:  # no namespace (MUSE, Sierra): the tag is the name
            for c in self._el:
                tag = c.tag
                if type(tag) is str and tag not in out and "}" not in tag:
                    out[tag] = (c.text or "").strip() if len(c) == 0 else element_text(c).strip()
            return out
        skip = len(ns)
        for c in self._el:
            tag = c.tag
            if type(tag) is not str or not tag.startswith(ns):
                continue
            name = tag[skip:] if skip else tag
            if name in out or "}" in name:
                continue
            out[name] = (c.text or "").strip() if len(c) == 0 else element_text(c).strip()
        return out

    def find(self, *path: str) -> Node | None:
        """First descendant along the child path ``path`` (local names, in the document's namespace)."""
        node: Node | None = self
        for name in path:
            if node is None:
                return None
            node = node._child(name)
        return node

    def findtext(self, *path: str, default: str = "") -> str:
        node = self.find(*path)
        return node.text.strip() if node is not None else default

    def findall(self, name: str) -> list[Node]:
        return [Node(c, self.ns) for c in self._el.findall(self.ns + name)]

    def iter(self, name: str | None = None) -> Iterator[Node]:
        for el in self._el.iter(self.ns + name if name else None):
            if isinstance(el.tag, str):
                yield Node(el, self.ns)

    def content(self, node: Node) -> str | bytes:
        """Text of ``node`` (a descendant of this root), as the original bytes when it was lifted out."""
        return self.lifted(node.text)

    def bulk_index(self, text: str) -> int | None:
        """Index in :attr:`bulk` of the lifted text an element's ``text`` stands for, or ``None``."""
        if text.startswith(_MARK) and text.endswith("@@") and self.bulk:
            key = text[len(_MARK):-2]
            if key.isdigit() and int(key) < len(self.bulk):
                return int(key)
        return None

    def lifted(self, text: str) -> str | bytes:
        """``text`` of an element of this document, as the original bytes when it was lifted out."""
        index = self.bulk_index(text)
        return self.bulk[index] if index is not None else text


def _declares_entities(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "<!ENTITY" in data.decode("utf-16", "replace")
    return b"<!ENTITY" in data


def _check_shape(root: Any, fmt: str) -> None:
    """Depth and text budgets over the parsed skeleton (iterative: no recursion on a deep document)."""
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormatError(f"{fmt}: XML elements nested too deeply", field="xml", value=f"> {MAX_DEPTH} levels",
                              expected=f"<= {MAX_DEPTH}")
        for text in (el.text, el.tail):
            if text is not None and len(text) > MAX_TEXT_CHARS:
                raise FormatError(f"{fmt}: XML text too long", field="xml", value=f"{len(text)} characters",
                                  expected=f"<= {MAX_TEXT_CHARS} in one element outside the waveform data")
        if len(el):
            stack.extend((child, depth + 1) for child in el)


def parse(data: bytes, fmt: str, bulk: tuple[str, ...] = (), drop: tuple[str, ...] = (), keep: tuple[str, ...] = (),
          alongside: Callable[[Lifted], object] | None = None) -> Node:
    """Parse ``data`` (encoding from its declaration or BOM) into a :class:`Node` view; any failure is a
    :class:`FormatError`. ``bulk`` element texts are lifted out before parsing (see :func:`lift_bulk`).
    ``alongside(texts)``, when given, is called with them as soon as they are lifted, to start work on them that
    runs while the rest of the parse does (the caller collects it, whatever the outcome of the parse).

    Policy of defusedxml (entity declarations and external references refused): a document that declares
    entities goes through :class:`defusedxml.ElementTree.DefusedXMLParser`, which refuses it; the others (no
    entity can be expanded, external DTDs are never fetched) through the C ElementTree parser, 3-4 times faster
    than defusedxml's pure-Python parser class."""
    import xml.etree.ElementTree as ET
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    markup = data.count(b"<")
    if markup > MAX_MARKUP:
        raise FormatError(f"{fmt}: too many XML elements", field="xml", value=f"{markup} tags",
                          expected=f"<= {MAX_MARKUP} (ten times the largest real {fmt} file)")
    lifted = _NOTHING_LIFTED
    texts_first = alongside is not None and bool(bulk) and bool(drop)
    if texts_first:
        # the texts first, so that the work alongside starts before the (slower) search for regions to drop,
        # which then runs on the skeleton; the result is the same as one pass (texts in dropped regions go too)
        data, lifted = lift_bulk(data, bulk)
    elif bulk or drop:
        data, lifted = lift_bulk(data, bulk, drop, keep)
    if alongside is not None:
        alongside(lifted)
    # the tree's elements are thousands of container objects, none in a reference cycle: a garbage collection
    # triggered by their allocation would walk every object of the process for nothing (a quarter of the parse
    # time in a service that holds many objects), so collection waits until the tree is built
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if texts_first:
            data = lift_bulk(data, (), drop, keep)[0]
        parser: Any = (DefusedXMLParser(forbid_dtd=False, forbid_entities=True, forbid_external=True)
                       if _declares_entities(data) else ET.XMLParser())
        parser.feed(data)
        root = parser.close()
    except (ParseError, DefusedXmlException, ValueError, UnicodeError, LookupError, SyntaxError) as exc:
        raise FormatError(f"{fmt}: the XML document cannot be parsed", field="xml",
                          value=type(exc).__name__) from exc
    finally:
        if gc_was_enabled:
            gc.enable()
    if root is None or not isinstance(root.tag, str):
        raise FormatError(f"{fmt}: empty XML document", field="xml")
    _check_shape(root, fmt)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    return Node(root, ns, lifted)
