"""Teaser cards of other articles that trafilatura reads into a body: a link wrapped around a headline or a
summary paragraph ("<a href=...><h3>Other story</h3><p>Its summary</p></a>") points away from the page.

Owns recognising those lines by the page's markup; it never judges a line by its wording (see `body_cleanup`).
"""

from __future__ import annotations

import logging

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["without_teaser_cards"]

# A paragraph an article links as a whole is rare, a card of headline and summary linking to another story
# is common.
BLOCKS = ("p", "h1", "h2", "h3", "h4")
# A body made mostly of such lines is a page of cards (or an article wrapped in one link): left alone.
MAX_CARD_SHARE = 0.5


def _key(text: str) -> str:
    """`text` lower-cased without its whitespace: trafilatura's line and the page's blocks may space the
    same words differently (a list item's "- ", blocks run together or apart)."""
    return "".join(text.lower().split())


def without_teaser_cards(tree: HtmlElement, text: str) -> str:
    """`text` without its lines that are a link's card on the page, or a headline or paragraph of one."""
    cards = set()
    # most links hold only text: len() rules them out without a look inside (0.1 ms for 250 links, where
    # libxml2's "//a[*]" takes 0.25 ms)
    for link in tree.iter("a"):
        if not len(link) or link.get("href") is None:
            continue
        blocks = list(link.iterdescendants(*BLOCKS))
        if blocks:
            cards.add(_key(link.text_content()))
            cards.update(_key(block.text_content()) for block in blocks)
    cards.discard("")
    if not cards:
        return text
    lines = text.split("\n")
    kept = [line for line in lines if _key(line.lstrip("-•> ")) not in cards]
    if len(kept) == len(lines) or len(kept) < len(lines) * (1 - MAX_CARD_SHARE):
        return text
    logger.debug("%d teaser card lines removed from the body", len(lines) - len(kept))
    return "\n".join(kept)
