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
# And lists of other stories: every item of a list (at least this many) a link to another page of the site,
# perhaps after a short kicker; the short heading just before such a list goes with it.
MIN_LIST_ITEMS = 3
MAX_LIST_HEADING_CHARS = 80


def _key(text: str) -> str:
    """`text` lower-cased without its whitespace: trafilatura's line and the page's blocks may space the
    same words differently (a list item's "- ", blocks run together or apart)."""
    return "".join(text.lower().split())


def without_teaser_cards(tree: HtmlElement, text: str, url: str | None = None) -> str:
    """`text` without its lines that are a link's card on the page, or a headline or paragraph of one; with the
    page's `url`, also the headlines that link to another page of its site, with their summaries, and lists of
    such links."""
    lines = text.split("\n")
    in_body = {_key(line.lstrip("-•> ")) for line in lines}
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
        cards.update(_linked_headings(tree, url, in_body))
        cards.update(_link_lists(tree, url, in_body))
    cards.discard("")
    if not cards:
        return text
    kept = [line for line in lines if _key(line.lstrip("-•> ")) not in cards]
    if len(kept) == len(lines) or len(kept) < len(lines) * (1 - MAX_CARD_SHARE):
        return text
    logger.debug("%d teaser card lines removed from the body", len(lines) - len(kept))
    return "\n".join(kept)


def _other_page(href: str | None, url: str) -> bool:
    """Whether `href` (on the page at `url`) is another page of the same site."""
    if not href or href.startswith("#"):
        return False
    page, target = urlsplit(url), urlsplit(urljoin(url, href))
    return target.hostname == page.hostname and target.path.rstrip("/") != page.path.rstrip("/")


def _link_lists(tree: HtmlElement, url: str, in_body: set[str]) -> set[str]:
    """Keys of the items of lists of links to other stories of the site, and of the heading just before one;
    only lists the body reads (`in_body`: its lines' keys), so the site's menus cost a look at their first item."""
    found = set()
    for listing in tree.iter("ul", "ol"):
        items = [item for item in listing if item.tag == "li"]
        if len(items) < MIN_LIST_ITEMS or _key(items[0].text_content()) not in in_body:
            continue
        keys = []
        for item in items:
            item_key = _key(item.text_content())
            links = [link for link in item.iter("a") if _other_page(link.get("href"), url)]
            if not item_key or len(links) != 1 or len(_key(links[0].text_content())) * 2 < len(item_key):
                break
            keys.append(item_key)
        else:
            found.update(keys)
            before = listing.getprevious()
            if before is not None and before.tag in ("h2", "h3", "h4", "p") and (
                len(before.text_content()) <= MAX_LIST_HEADING_CHARS
            ):
                found.add(_key(before.text_content()))
    return found


def _linked_headings(tree: HtmlElement, url: str, in_body: set[str]) -> set[str]:
    """Keys of the headlines that are a link to another page of the site, each with the summary paragraph after
    it. A headline linking elsewhere is kept: a buying guide's headings link to the shops."""
    found = set()
    for heading in tree.iter(*CARD_HEADINGS):
        heading_key = _key(heading.text_content())
        if heading_key not in in_body:
            continue
        links = [link for link in heading.iter("a") if not (link.get("href") or "#").startswith("#")]
        if not heading_key or len(links) != 1 or len(_key(links[0].text_content())) * 2 < len(heading_key):
            continue
        if not _other_page(links[0].get("href"), url):
            continue
        found.add(heading_key)
        following = heading.getnext()
        if following is not None and following.tag == "p":
            dek = following.text_content()
            if len(dek) <= MAX_DEK_CHARS:
                found.add(_key(dek))
    return found
