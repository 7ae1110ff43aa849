"""Rejoin an article that the page splits into sibling containers (a mid-article ad or newsletter row between
parts that carry the same body class), which trafilatura reads as its first part only.

Owns finding the container of the extracted text's first paragraph and its same-class cousins; it never
decides whether the joined text beats the extracted one beyond "it contains it and is much longer".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["block_with_text", "rejoin_split_article"]

WORD = re.compile(r"\w+")
BLOCKS = ("p", "h2", "h3", "h4", "li", "blockquote")
# How far up from the first paragraph the repeated body container (its first ancestor with a class) may
# sit, and how far above that the parts may part ways (the article's row structure).
CONTAINER_LEVELS = 4
COUSIN_LEVELS = 3
# A joined body shorter than this multiple of the extracted one is not worth the swap.
MIN_GAIN = 1.25
MIN_PART_WORDS = 20
PROBE_CHARS = 60


def rejoin_split_article(
    tree: HtmlElement, text: str, words: int, locate: Callable[[str], HtmlElement | None] | None = None
) -> str | None:
    """The whole article when `text` (of `words` words) is the first of several same-class sibling parts;
    None otherwise. `locate` finds a line's block (default `block_with_text` in `tree`; the extractor passes
    one that remembers, as the standfirst looks for the same line)."""
    opening = next((line for line in text.split("\n", 20)[:20] if len(WORD.findall(line)) >= 8), None)
    if opening is None:
        return None
    first = locate(opening) if locate else block_with_text(tree, opening)
    if first is None:
        return None
    container = next((a for a in list(first.iterancestors())[:CONTAINER_LEVELS] if a.get("class")), None)
    if container is None:
        return None
    container_words = len(WORD.findall(container.text_content()))
    # the extraction read this container and not much more: past it lies the page, below it a paragraph
    if not words * 0.8 <= container_words <= words * 1.5 + 50:
        return None
    parts = _same_class_cousins(container)
    if len(parts) < 2:
        return None
    joined = "\n".join(line for part in parts for line in _block_lines(part))
    if len(WORD.findall(joined)) >= words * MIN_GAIN and _key(opening) in _key(joined):
        logger.debug("article split into %d containers of class %r rejoined", len(parts), container.get("class"))
        return joined
    return None


def _key(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def block_with_text(tree: HtmlElement, line: str) -> HtmlElement | None:
    """The paragraph (else the smallest div or list item) whose text starts with `line`."""
    probe = " ".join(line.split())[:PROBE_CHARS]
    for tags in (("p",), ("div", "li")):
        for element in tree.iter(*tags):
            lead = (element.text or "").strip()
            if lead and not (lead.startswith(probe[:8]) or probe.startswith(lead[:8])):
                continue  # most elements fail this test without building their text
            text = element.text_content()
            if probe[:8] not in text:
                continue
            if " ".join(text.split()).startswith(probe) and len(text) < len(line) * 3 + 200:
                return element
    return None


def _same_class_cousins(container: HtmlElement) -> list[HtmlElement]:
    """The container and the elements of its tag and class under its ancestor `COUSIN_LEVELS` up, in order."""
    css = container.get("class")
    if not css:
        return []
    top = container
    for _ in range(COUSIN_LEVELS):
        parent = top.getparent()
        if parent is None or parent.tag in ("body", "html") or top.tag == "article":
            break  # the parts of one article stay inside its <article>
        top = parent
    parts = [element for element in top.iter(container.tag) if element.get("class") == css]
    if any(_nested(part, parts) for part in parts):
        return []
    # each part is prose: at least one real paragraph, not a list of headlines
    return [part for part in parts if len(WORD.findall(part.text_content())) >= MIN_PART_WORDS
            and any(len(WORD.findall(p.text_content())) >= 8 for p in part.iter("p"))]


def _nested(element: HtmlElement, others: list[HtmlElement]) -> bool:
    return any(ancestor in others for ancestor in element.iterancestors())


def _block_lines(part: HtmlElement) -> list[str]:
    lines = []
    for element in part.iter(*BLOCKS):
        if any(ancestor.tag in BLOCKS for ancestor in element.iterancestors()):
            continue
        line = " ".join(element.text_content().split())
        if line:
            lines.append(line)
    return lines
