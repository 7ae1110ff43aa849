"""The extractor's parse: trafilatura's tree, with element classes looked up in C."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from aggregator.extract.parsing import parse_html

PAGES = sorted((Path(__file__).parent / "fixtures" / "extraction").glob("*.html"))
ODD_INPUTS = [
    "<p>only a fragment</p>",  # no document: trafilatura rejects it
    "<?xml version='1.0' encoding='utf-8'?><html><body><p>declared</p></body></html>",
    "<!DOCTYPE html>\n<html/>\n<body><p>self-closing html tag</p></body>",
    "<html><body><form><input name='q'><label>Search</label></form><p>text</p></body></html>",
    "",
    "   ",
]


@pytest.mark.parametrize("html", [page.read_text(encoding="utf-8") for page in PAGES] + ODD_INPUTS)
def test_the_tree_is_the_one_trafilatura_parses(html: str) -> None:
    ours, theirs = parse_html(html), load_html(html)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert etree.tostring(ours, encoding="unicode") == etree.tostring(theirs, encoding="unicode")


def test_every_element_is_a_plain_html_element() -> None:
    # lxml.html's own parser would make <form> a FormElement and <input> an InputElement, choosing each
    # element's class in Python whenever an element object is made
    tree = parse_html(ODD_INPUTS[3])
    assert tree is not None
    assert {type(element) for element in tree.iter()} == {HtmlElement}
    assert tree.text_content() == "Searchtext"
