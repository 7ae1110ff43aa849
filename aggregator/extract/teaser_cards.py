"""Teaser cards of other articles that trafilatura reads into a body: a link wrapped around a headline or a
summary paragraph ("<a href=...><h3>Other story</h3><p>Its summary</p></a>") points away from the page.

Owns recognising those lines by the page's markup; it never judges a line by its wording (see `body_cleanup`).
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["without_teaser_cards"]

# A paragraph an article links as a whole is rare, a card of headline and summary linking to another story
# is common.
BLOCKS = ("p", "h1", "h2", "h3", "h4")
# A body made mostly of such lines is a page of cards (or an article wrapped in one link): left alone.
MAX_CARD_SHARE = 0.5
# The other kind of card: a headline that is a link ("<h3><a href=...>Other story</a></h3>", perhaps with a
# screen-reader copy of it), and the summary paragraph right after it.
CARD_HEADINGS = ("h2", "h3", "h4")
MAX_DEK_CHARS = 300


def _key(text: str) -> str:
    """`text` lower-cased without its whitespace: trafilatura's line and the page's blocks may space the
    same words differently (a list item's "- ", blocks run together or apart)."""
    return "".join(text.lower().split())


def without_teaser_cards(tree: HtmlElement, text: str, url: str | None = None) -> str:
    """`text` without its lines that are a link's card on the page, or a headline or paragraph of one; with the
    page's `url`, also the headlines that link to another page of its site, with their summaries."""
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
    if url:
        cards.update(_linked_headings(tree, url))
    cards.discard("")
    if not cards:
        return text
    lines = text.split("\n")
    kept = [line for line in lines if _key(line.lstrip("-•> ")) not in cards]
    if len(kept) == len(lines) or len(kept) < len(lines) * (1 - MAX_CARD_SHARE):
        return text
    logger.debug("%d teaser card lines removed from the body", len(lines) - len(kept))
    return "\n".join(kept)


def _linked_headings(tree: HtmlElement, url: str) -> set[str]:
    """Keys of the headlines that are a link to another page of the site, each with the summary paragraph after
    it. A headline linking elsewhere is kept: a buying guide's headings link to the shops."""
    found = set()
    page = urlsplit(url)
    for heading in tree.iter(*CARD_HEADINGS):
        heading_key = _key(heading.text_content())
        links = [link for link in heading.iter("a") if not (link.get("href") or "#").startswith("#")]
        if not heading_key or len(links) != 1 or len(_key(links[0].text_content())) * 2 < len(heading_key):
            continue
        target = urlsplit(urljoin(url, links[0].get("href") or ""))
        if target.hostname != page.hostname or target.path.rstrip("/") == page.path.rstrip("/"):
            continue
        found.add(heading_key)
        following = heading.getnext()
        if following is not None and following.tag == "p":
            dek = following.text_content()
            if len(dek) <= MAX_DEK_CHARS:
                found.add(_key(dek))
    return found
