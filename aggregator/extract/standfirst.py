"""The standfirst (lead, teaser paragraph) printed between the headline and the body, which trafilatura
often leaves out although it belongs to the article.

Owns finding it: a block after the article's headline and before the body's first paragraph, inside the
same `<article>` as the body, that the page states twice (its og:description or JSON-LD description) or
marks as a lead by its class. It never guesses a lead from position alone.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence

from lxml.html import HtmlElement

from aggregator.extract.headings import headline_element
from aggregator.extract.split_article import block_with_text

logger = logging.getLogger(__name__)

__all__ = ["with_standfirst"]

WORD = re.compile(r"\w+")
# A block shorter than this is a tagline or a kicker, longer is a paragraph of the body or a teaser list.
MIN_LEAD_WORDS = 8
MAX_LEAD_WORDS = 120
# How many elements after the headline are searched (leads on real pages stood within 47), and how many
# children a lead block may have.
REACH = 50
MAX_CHILDREN = 3
LEAD_TAGS = {"p", "div", "span", "strong", "section", "h2", "h3"}
LEAD_CLASS = re.compile(
    r"lead(?!er)|standfirst|teaser|intro|excerpt|summary|sub-?title|sub-?head|sub-?tit|deck|strapline|abstract"
    r"|preamble|description",
    re.I,
)
LEAD_STEMS = ("lead", "standfirst", "teaser", "intro", "excerpt", "summary", "sub", "deck", "strapline",
              "abstract", "preamble", "description")
# Blocks with these in their class (or their ancestors' near them) are page furniture, not a lead.
NOT_LEAD_CLASS = re.compile(r"caption|credit|byline|author|share|social|related|newsletter|promo|advert", re.I)
NOT_LEAD_TAGS = {"figure", "figcaption", "nav", "aside", "footer", "li", "a", "button", "form", "time"}
FURNITURE_LEVELS = 3
Locate = Callable[[str], HtmlElement | None]
# A lead whose first words the body's opening has is there already (perhaps without the byline beside it).
PROBE_WORDS = 12
# A block is compared with the descriptions on its first characters before its words are.
PROBE_CHARS = 24
MAX_LEAD_CHARS = 2000
# Without an `<article>`, how far up the lead and the body's first paragraph must meet.
NEAR_LEVELS = 4
CONTAINS_FURNITURE = "boolean(.//figure | .//figcaption | .//img | .//ul | .//ol | .//nav | .//time)"


def _key(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def with_standfirst(
    tree: HtmlElement,
    body: str,
    descriptions: Sequence[str],
    locate: Locate | None = None,
) -> str:
    """`body` with the article's visible standfirst on top, when the body lacks it. `locate` finds the block
    of a line of the body (default `block_with_text` in `tree`)."""
    heading = headline_element(list(tree.iter("h1")))
    if heading is None:
        return body
    locate = locate or functools.cache(functools.partial(block_with_text, tree))
    described = [key for description in descriptions
                 if len((key := _key(description.rstrip(" .…"))).split()) >= MIN_LEAD_WORDS]
    probes = tuple({key[:PROBE_CHARS] for key in described})
    opening: str | None = None
    following: list[HtmlElement] = heading.xpath("following::*[position() <= $reach]", reach=REACH)
    for position, element in enumerate(following):
        # the cheap tests first: most of the elements after a headline are links, pictures and containers
        if element.tag not in LEAD_TAGS or len(element) > MAX_CHILDREN:
            continue
        marked = _lead_class(element)
        if not (marked or probes):
            continue
        raw = element.text_content()
        if len(raw) > MAX_LEAD_CHARS or not MIN_LEAD_WORDS <= len(raw.split()) <= MAX_LEAD_WORDS:
            continue
        if not marked and not _key(raw.lstrip()[:2 * PROBE_CHARS]).startswith(probes):
            continue  # neither marked as a lead nor opening like a description: most blocks end here
        key = _key(raw)
        stated = any(key == d or (key.startswith(d) and len(d) > 40) or d.startswith(key) for d in described)
        if not (stated or marked) or _is_furniture(element):
            continue
        text = _text(element)
        if len(text.split()) < MIN_LEAD_WORDS:
            continue  # its words were a script's
        opening = opening if opening is not None else _key(body[:3000])
        if " ".join(_key(text).split()[:PROBE_WORDS]) in opening:
            return body  # the body begins with its lead already
        first = _first_block(body, locate)
        if first is not None and _belongs_to_body(heading, element, set(following[:position]), first):
            logger.debug("standfirst restored above the body")
            return f"{text}\n{body}"
    return body


def _first_block(body: str, locate: Locate) -> HtmlElement | None:
    """The element of the body's first real paragraph."""
    opening_line = next((line for line in body.split("\n", 10)[:10] if len(WORD.findall(line)) >= 8), None)
    return locate(opening_line) if opening_line else None


def _belongs_to_body(heading: HtmlElement, lead: HtmlElement, before: set[HtmlElement], first: HtmlElement) -> bool:
    """Whether `lead` stands before the body's first paragraph `first`, in the article the body is part of."""
    shared = set(lead.iterancestors())
    if any(element in before for element in [first, *first.iterancestors()] if element not in shared):
        return False  # the body (or a container of it apart from the lead) had begun: a box in it, no lead
    article = next(heading.iterancestors("article"), None)
    if article is not None:
        return any(ancestor is article for ancestor in first.iterancestors())
    near = set(list(lead.iterancestors())[:NEAR_LEVELS])
    return any(ancestor in near for ancestor in list(first.iterancestors())[:NEAR_LEVELS])


def _text(element: HtmlElement) -> str:
    """The block's visible text, whitespace collapsed: its scripts and styles left out, a `<br>` a space."""
    parts = element.xpath(".//text()[not(ancestor::script or ancestor::style)] | .//br")
    return " ".join("".join(part if isinstance(part, str) else " " for part in parts).split())


def _lead_class(element: HtmlElement) -> bool:
    parent = element.getparent()
    classes = f"{element.get('class', '')} {parent.get('class', '') if parent is not None else ''}".lower()
    # the stems first: the regex costs ~5 µs a class, and most blocks after a headline have a class
    return any(stem in classes for stem in LEAD_STEMS) and bool(LEAD_CLASS.search(classes))


def _is_furniture(element: HtmlElement) -> bool:
    """A caption, byline, share row or link (or a block holding a picture or a list): no lead."""
    for node in [element, *list(element.iterancestors())[:FURNITURE_LEVELS]]:
        if node.tag in NOT_LEAD_TAGS or NOT_LEAD_CLASS.search(node.get("class") or ""):
            return True
    return bool(element.xpath(CONTAINS_FURNITURE))
