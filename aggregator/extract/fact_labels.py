"""Values the page writes after a label in a list of the article's facts ("<strong>Autor</strong> Name",
"<dt>Datum</dt><dd>28.04.2023</dd>", "<th>Published</th><td>...</td>").

Owns finding a label element and reading the value after it; which labels mean what is the caller's (authors,
datelines). Reads the tree, never the body text.
"""

from __future__ import annotations

import logging
import re

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["labelled_values"]

# Short bold, term and header cells: the elements a facts list labels with. libxml2 filters on the length.
LABEL_XPATH = ("//*[self::strong or self::b or self::dt or self::th or self::label]"
               "[string-length(normalize-space()) < 24]")


def labelled_values(tree: HtmlElement, label: re.Pattern[str], max_length: int = 160) -> list[str]:
    """The values after each element whose whole text `label` matches: the label's own tail text, else the text
    of the element after it (`<dd>`, `<td>`, a link); at most `max_length` characters, in document order, once each."""
    found: list[str] = []
    for element in tree.xpath(LABEL_XPATH):
        if not isinstance(element, HtmlElement) or not label.match(" ".join(element.text_content().split())):
            continue
        value = " ".join((element.tail or "").split()).lstrip(":").strip()
        following = element.getnext()
        if not value and following is not None:
            value = " ".join(following.text_content().split())
        if value and len(value) <= max_length and value not in found:
            found.append(value)
    return found
