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
