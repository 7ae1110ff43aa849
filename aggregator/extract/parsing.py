"""Parse a page's HTML into the lxml tree that trafilatura and the rest of the extractor read.

Owns the parse: trafilatura's `load_html` steps (repairs, the byte-string fallback, the rejection of what is
no HTML) with the same parser options, but with element classes looked up in C. lxml.html's parser picks
each element's class in Python (`HtmlElementClassLookup.lookup`, for its form-field classes) every time an
element object is made, about 2,000 times a page across trafilatura's passes and ours: ~0.5 ms of a 12 ms
extraction. Here every element is a plain `HtmlElement` (forms are never filled in here), and the
extraction reads the same tree. It never changes what is parsed.
"""

from __future__ import annotations

import logging

from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction, fromstring
from trafilatura.utils import is_dubious_html, repair_faulty_html

logger = logging.getLogger(__name__)

__all__ = ["parse_html"]


def _parser() -> etree.HTMLParser:
    """trafilatura's parser options (`trafilatura.utils.HTML_PARSER`), with the C class lookup."""
    parser = etree.HTMLParser(
        collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
    )
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    ))
    return parser


def parse_html(html: str) -> HtmlElement | None:
    """The page's tree, as `trafilatura.utils.load_html(html)` would parse it; None when it is no HTML."""
    parser = _parser()
    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    tree: HtmlElement | None = None
    tried_bytes = False
    try:
        tree = fromstring(html, parser=parser)
    except ValueError:  # "Unicode strings with encoding declaration are not supported."
        tree, tried_bytes = _from_bytes(html, parser), True
    except Exception:  # libxml2 rejects some pages outright; the byte string may still parse
        logger.debug("lxml could not parse the page as a string", exc_info=True)
    if (tree is None or len(tree) < 1) and not tried_bytes:
        tree = _from_bytes(html, parser)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        logger.debug("parsed tree of %d elements: not HTML", len(tree))
        return None
    return tree


def _from_bytes(html: str, parser: etree.HTMLParser) -> HtmlElement | None:
    try:
        return fromstring(html.encode("utf8", "surrogatepass"), parser=parser)
    except Exception:  # same as trafilatura: a page lxml cannot parse is no page
        logger.debug("lxml could not parse the page as bytes", exc_info=True)
        return None
