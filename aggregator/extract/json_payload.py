"""Article text that a page carries only in a script payload: Next.js `__NEXT_DATA__` or `self.__next_f.push`.

Owns finding the article's HTML (or plain text) inside those payloads and turning it into paragraphs; it
never decides whether the result beats the body found in the page's markup (see `extractor`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import lxml.html
from lxml.etree import ParserError
from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["payload_text"]

NEXT_F_PUSH = re.compile(r"^\s*self\.__next_f\.push\(\s*(\[.*\])\s*\)\s*;?\s*$", re.S)
# A React Server Components text record: `<id>:T<length in UTF-8 bytes, hex>,<text>`
RSC_TEXT = re.compile(r"(?:^|\n)[0-9a-z]+:T([0-9a-f]+),")
PARAGRAPH = re.compile(r"<p[\s>]", re.I)
# A payload string with fewer paragraphs than this is a caption or a teaser, not an article.
MIN_PARAGRAPHS = 3
BLOCKS = ("p", "h2", "h3", "h4", "li", "blockquote")


def payload_text(scripts: list[HtmlElement]) -> str | None:
    """The longest article-like HTML found in the page's script payloads, as paragraphs; None if none."""
    best: str | None = None
    for html in _payload_html(scripts):
        if len(PARAGRAPH.findall(html)) < MIN_PARAGRAPHS:
            continue
        text = _paragraphs(html)
        if text and (best is None or len(text) > len(best)):
            best = text
    return best


def _payload_html(scripts: list[HtmlElement]) -> Iterator[str]:
    flight: list[str] = []
    for script in scripts:
        text = script.text or ""
        if script.get("id") == "__NEXT_DATA__":
            try:
                yield from _strings(json.loads(text))
            except ValueError:
                logger.debug("unreadable __NEXT_DATA__ skipped")
        elif "__next_f" in text[:40] and (match := NEXT_F_PUSH.match(text)):
            try:
                chunk = json.loads(match.group(1))
            except ValueError:
                continue
            if isinstance(chunk, list) and len(chunk) > 1 and isinstance(chunk[1], str):
                flight.append(chunk[1])
    if flight:
        yield from _rsc_texts("".join(flight))


def _strings(node: Any) -> Iterator[str]:
    """Every string in a JSON document that looks like HTML with paragraphs."""
    if isinstance(node, str):
        if PARAGRAPH.search(node):
            yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)


def _rsc_texts(stream: str) -> Iterator[str]:
    """The text records of a React Server Components stream (their length is counted in UTF-8 bytes)."""
    encoded = stream.encode("utf-8")
    for match in RSC_TEXT.finditer(stream):
        start = len(stream[: match.end()].encode("utf-8"))
        yield encoded[start : start + int(match.group(1), 16)].decode("utf-8", errors="ignore")


def _paragraphs(html: str) -> str | None:
    """The text of the HTML's paragraphs and subheadings, one per line."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ParserError, ValueError):
        return None
    for unwanted in root.xpath(".//script | .//style | .//figure | .//figcaption | .//*[@class='caption']"):
        unwanted.drop_tree()
    lines = []
    for element in root.iter(*BLOCKS):
        if any(parent.tag in BLOCKS for parent in element.iterancestors()):
            continue  # a paragraph inside a list item or quote is read with it
        line = " ".join(element.text_content().split())
        if line:
            lines.append(line)
    return "\n".join(lines) or None
