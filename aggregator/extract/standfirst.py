"""The standfirst (lead, teaser paragraph) printed between the headline and the body, which trafilatura
often leaves out although it belongs to the article.

Owns finding it: the page's own description (og:description, JSON-LD description) shown as an element just
under the `<h1>`. It never guesses a lead the page does not state twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from lxml.html import HtmlElement

from aggregator.extract.datelines import elements_after_heading
from aggregator.extract.split_article import block_with_text as _block_with_text

logger = logging.getLogger(__name__)

__all__ = ["with_standfirst"]

WORD = re.compile(r"\w+")
# A description shorter than this is a tagline, not a lead.
MIN_LEAD_WORDS = 8
# Candidates are matched on their first characters before their words are compared.
PROBE_CHARS = 30
# How far up the lead and the body's first paragraph may meet.
CONTAINER_LEVELS = 2
LEAD_TAGS = {"p", "div", "span", "strong", "section"}


def _key(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def with_standfirst(tree: HtmlElement, body: str, descriptions: Sequence[str]) -> str:
    """`body` with the page's visible standfirst on top, when the body lacks it and the standfirst sits in
    the body's own container (a lead in the page header is the page's, by the usual benchmark convention)."""
    opening = _key(body[:2000])
    wanted: dict[str, str] = {}
    for description in descriptions:
        key = _key(description.rstrip(" .…"))
        if len(key.split()) >= MIN_LEAD_WORDS and key not in opening:
            wanted[" ".join(description.split())[:PROBE_CHARS]] = key
    if not wanted:
        return body
    for element in elements_after_heading(tree):
        if element.tag not in LEAD_TAGS or len(element) > 3:
            continue
        text = " ".join(element.text_content().split())
        wanted_key = wanted.get(text[:PROBE_CHARS])
        if wanted_key and _key(text) == wanted_key and _shares_container(tree, element, body):
            logger.debug("standfirst restored above the body")
            return f"{text}\n{body}"
    return body


def _shares_container(tree: HtmlElement, lead: HtmlElement, body: str) -> bool:
    """Whether the lead and the body's first paragraph have a common ancestor `CONTAINER_LEVELS` up."""
    opening = next((line for line in body.split("\n", 10)[:10] if len(WORD.findall(line)) >= 8), None)
    first = _block_with_text(tree, opening) if opening else None
    if first is None:
        return False
    near = set(list(lead.iterancestors())[:CONTAINER_LEVELS])
    return any(ancestor in near for ancestor in list(first.iterancestors())[:CONTAINER_LEVELS])
