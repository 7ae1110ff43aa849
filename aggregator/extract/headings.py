"""The headline the page shows above its article: which `<h1>` (or, when the `<h1>` is a breadcrumb, which
heading after it) and how its kicker is set apart.

Owns reading the visible headings; it never compares them with the page's metadata titles (see `titles`).
"""

from __future__ import annotations

import logging
import re

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["article_headings", "headline_element", "heading_text"]

NAVIGATION_MARK = re.compile(r"breadcrumb", re.I)
# How many ancestors of an <h1> are searched for the breadcrumb or navigation it sits in.
NAVIGATION_LEVELS = 8
# How far past the breadcrumb the article's own heading may stand, and the fewest words it has (one or two
# words are a section name); a paragraph before it means the article has begun and the heading is inside it.
REACH = 100
MIN_HEADLINE_WORDS = 3
# The kicker of a two-part heading is short and marked as such (by its class or a data attribute).
MAX_KICKER_WORDS = 12
KICKER_MARK = re.compile(r"kicker|overline|topline|dachzeile|spitzmarke|eyebrow|roofline|supertitle", re.I)


def article_headings(h1s: list[HtmlElement]) -> tuple[str, ...]:
    """The texts of the page's `<h1>`s that head the article, in document order.

    Many sites put the page's only `<h1>` in the breadcrumb trail or a navigation bar (for search engines)
    and show the reader the headline as an `<h2>` in the article's header: then that heading, the first
    `<h2>` after the breadcrumb, is the page's visible headline."""
    return tuple(heading_text(heading) for heading in _headline_elements(h1s))


def headline_element(h1s: list[HtmlElement]) -> HtmlElement | None:
    """The element of the article's visible headline (see `article_headings`); None without an `<h1>`."""
    return next(iter(_headline_elements(h1s)), None)


def _headline_elements(h1s: list[HtmlElement]) -> list[HtmlElement]:
    filled = [h1 for h1 in h1s if h1.text_content().strip()]
    headings = [h1 for h1 in filled if not _in_navigation(h1)]
    if filled and not headings:
        shown = _heading_after(filled[0])
        headings = [shown] if shown is not None else filled
    return headings


def _heading_after(breadcrumb: HtmlElement) -> HtmlElement | None:
    """The first `<h2>` after the breadcrumb `<h1>` and before any paragraph, outside navigation."""
    for element in breadcrumb.xpath("following::*[self::h2 or self::p][position() <= $reach]", reach=REACH):
        if element.tag == "p":
            if element.text_content().strip():
                return None
            continue
        if len(_text(element).split()) >= MIN_HEADLINE_WORDS and not _in_navigation(element):
            return element
    return None


def _text(element: HtmlElement) -> str:
    """The element's visible text: its text nodes outside `<style>` and `<script>`, whitespace collapsed."""
    if element.find(".//style") is None and element.find(".//script") is None:
        return " ".join(element.text_content().split())
    return " ".join(" ".join(element.xpath(".//text()[not(ancestor::style or ancestor::script)]")).split())


def heading_text(heading: HtmlElement) -> str:
    """The heading's text; a heading made of a kicker element and a headline element reads
    "Kicker: Headline", as titles write it, instead of running the two together."""
    children = [child for child in heading if isinstance(child.tag, str) and child.tag not in ("style", "script")]
    loose = (heading.text or "").strip() or any((child.tail or "").strip() for child in heading)
    if len(children) == 2 and not loose and any(KICKER_MARK.search(value) for value in children[0].values()):
        kicker, headline = (_text(child) for child in children)
        short = len(kicker.split()) <= MAX_KICKER_WORDS
        if kicker and headline and short and not kicker.endswith((":", ".", "!", "?")):
            return f"{kicker}: {headline}"
    return _text(heading)


def _in_navigation(element: HtmlElement) -> bool:
    """Whether `element` sits in a `<nav>` or a breadcrumb trail (by its own class or id, or an ancestor's)."""
    node: HtmlElement | None = element
    for _ in range(NAVIGATION_LEVELS + 1):
        if node is None:
            return False
        if node.tag == "nav" or NAVIGATION_MARK.search(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
        node = node.getparent()
    return False
