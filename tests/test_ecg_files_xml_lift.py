"""Cutting unused elements out of an XML document before parsing (``_xml.lift_bulk`` ``drop``/``keep``): a region
is cut only when the document then means the same for the reader — the tree equals the original with the dropped
elements emptied — and never when a comment, CDATA section or processing instruction could hide the closing tag,
when the element nests its own name, or when it holds a name the reader searches for."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asalee_devices.drivers.ecg_files._xml import lift_bulk

KEEP = ("annotation",)


def _lift(doc: bytes) -> bytes:
    return lift_bulk(doc, (), ("support",), KEEP)[0]


@pytest.mark.parametrize(("doc", "dropped"), [
    (b"<r><support><!-- </support> --><a/></support><b/></r>", False),  # closing tag inside a comment
    (b"<r><support><![CDATA[</support>]]><a/></support></r>", False),  # ... inside CDATA
    (b"<r><support><?pi </support> ?><a/></support></r>", False),  # ... inside a processing instruction
    (b"<r><support><support>x</support><a/></support></r>", True),  # nested: only the inner one is cut
    (b"<r><support><annotation/></support></r>", False),  # holds a name the reader searches for
    (b"<r><support><!-- c --><x/><![CDATA[y]]><?p q?></support><y/></r>", True),  # closed before the end
    (b"<r><support><supportingROI a='1'/></support></r>", True),  # a longer name is not the same name
    (b"<r><support/><support >t</support></r>", True),
])
def test_drop_decisions(doc: bytes, dropped: bool) -> None:
    out = _lift(doc)
    assert (out != doc) == dropped
    _same_for_reader(doc, out)


def _emptied(root: ET.Element) -> bytes:
    for el in root.iter("support"):
        el.text = None
        for child in list(el):
            el.remove(child)
    return ET.tostring(root)


def _same_for_reader(doc: bytes, out: bytes) -> None:
    """Outside the ``support`` elements the two documents parse to the same tree, with the same searched
    elements; a well-formed original stays well-formed."""
    try:
        ref = ET.fromstring(doc)
    except ET.ParseError:
        return  # not well formed: nothing to compare (its contents are not read)
    got = ET.fromstring(out)
    assert len(list(got.iter("annotation"))) == len(list(ref.iter("annotation")))
    assert _emptied(got) == _emptied(ref)


_PIECES = [b"<support>", b"</support>", b"<support/>", b"<support a='>'>", b"<supportingROI/>", b"<annotation/>",
           b"<a>", b"</a>", b"<b/>", b"text", b"<!--", b"-->", b"<!-- </support> -->", b"<![CDATA[", b"]]>",
           b"<?p", b"?>", b" "]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=14))
def test_random_documents_mean_the_same(pieces: list[bytes]) -> None:
    doc = b"<r>" + b"".join(pieces) + b"</r>"
    _same_for_reader(doc, _lift(doc))


def _parsed(doc: bytes, with_alongside: bool) -> bytes | str:
    """The tree ``parse`` gives (lifted texts put back in place), or the error's name."""
    from asalee_devices.drivers.ecg_files._xml import Lifted, parse
    from asalee_devices.errors import FormatError

    seen: list[Lifted] = []

    def alongside(texts: Lifted) -> None:
        seen.append(texts)

    try:
        root = parse(doc, "test", bulk=("digits",), drop=("support",), keep=KEEP,
                     alongside=alongside if with_alongside else None)
    except FormatError as exc:
        return type(exc).__name__
    assert len(seen) == int(with_alongside)
    for node in root.iter("digits"):
        content = root.content(node)
        node.element.text = content.decode() if isinstance(content, bytes) else content
    return ET.tostring(root.element)


_LEAVES = st.sampled_from([b"", b"1 -2 3", b"text", b" ", b"<b/>", b"<annotation/>", b"<?p ?>",
                           b"<!-- </support> <digits>1</digits> -->", b"<![CDATA[</digits> 7]]>"])


def _elements(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.tuples(st.sampled_from([b"support", b"digits", b"a", b"supportingROI"]),
                     st.lists(children, max_size=4)).map(lambda t: b"<%s>%s</%s>" % (t[0], b"".join(t[1]), t[0]))


@pytest.mark.parametrize("doc", [
    b"<r><support><digits>1 2</digits><a/></support><digits>3 4</digits></r>",
    b"<r><support><annotation/><digits>1</digits></support><digits>2</digits></r>",  # kept: a searched name
    b"<r><support><!-- </support> --><digits>5</digits></support></r>",  # kept: closing tag in a comment
])
def test_texts_first_then_regions_is_the_one_pass_result(doc: bytes) -> None:
    # with work alongside, parse lifts the texts first (to start that work early), then drops regions from the
    # skeleton: the tree is the one a single pass gives
    assert _parsed(doc, True) == _parsed(doc, False)
    assert isinstance(_parsed(doc, True), bytes)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(body=st.recursive(_LEAVES, _elements, max_leaves=12))
def test_texts_first_then_regions_on_random_trees(body: bytes) -> None:
    doc = b"<r>" + body + b"</r>"
    ET.fromstring(doc)  # the strategy builds well-formed documents
    assert _parsed(doc, True) == _parsed(doc, False)
