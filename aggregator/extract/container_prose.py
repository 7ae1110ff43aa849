"""What the article's own container says is there: the words of the prose paragraphs inside the `<article>` or
`<main>` element that holds the extracted body's opening paragraph.

Evidence for the extractor's "is this a fragment?" question (precision mode sometimes keeps the first paragraphs
of an article whose every paragraph sits in one container); it never extracts and never decides. Nothing here
knows a site: only tags, sentence punctuation and link density.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["container_prose_words"]

WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"[.!?…。！？]")
CONTAINERS = frozenset({"article", "main"})
# Inside the container but not the article's prose: asides, captions, forms, navigation, its header and footer.
OUTSIDE_PROSE = frozenset({"aside", "nav", "footer", "header", "figure", "figcaption", "form", "button", "label"})
# Fewer words than this is a label, a credit or a teaser line, not a paragraph of the article.
PARAGRAPH_WORDS = 8
OPENING_LINES = 20


def container_prose_words(tree: HtmlElement, text: str, locate: Callable[[str], HtmlElement | None]) -> int | None:
    """The words of the prose paragraphs (`<p>` of at least `PARAGRAPH_WORDS` words with a sentence end, at most
    half of them link text) in the nearest `<article>` or `<main>` around the block of `text`'s opening line,
    which `locate` finds in `tree`; None when that block or such a container is not found."""
    opening = next((line for line in text.split("\n", OPENING_LINES)[:OPENING_LINES]
                    if len(WORD.findall(line)) >= PARAGRAPH_WORDS), None)
    if opening is None:
        return None
    block = locate(opening)
    if block is None:
        return None
    container = next((ancestor for ancestor in block.iterancestors() if ancestor.tag in CONTAINERS), None)
    if container is None:
        return None
    total = 0
    for paragraph in container.iter("p"):
        if _outside_prose(paragraph, container):
            continue
        content = paragraph.text_content()
        words = len(WORD.findall(content))
        if words < PARAGRAPH_WORDS or not SENTENCE_END.search(content):
            continue
        if 2 * sum(len(WORD.findall(link.text_content())) for link in paragraph.iter("a")) > words:
            continue
        total += words
    return total


def _outside_prose(element: HtmlElement, container: HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor is container:
            return False
        if ancestor.tag in OUTSIDE_PROSE:
            return True
    return False
