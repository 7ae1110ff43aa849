"""Exact fast paths for trafilatura's two prunes of the raw page, which cost more than half of its time.

Before cleaning, trafilatura 2.x prunes the whole raw tree with `RAW_TREE_PRUNE_XPATH` and, with comments
off, `REMOVE_COMMENTS_AND_LISTS_XPATH`. Their `re:test` predicates are EXSLT regular expressions that lxml
evaluates by calling back into Python for every div, section, aside, ol and ul of the page: about 7 ms of
a 12 ms extraction on a 100 KB page. The same predicates written as loops over those elements select the
same elements, in the same (document) order, in a fraction of that: one walk over the elements with an
id or a class serves all three expressions.

A fast path is used only while the installed trafilatura's expression is, whitespace aside, exactly the
text it was translated from (`TRANSLATED_FROM`); otherwise trafilatura's own XPath runs. The paths are
switched on only inside `fast_prunes()`, so other users of trafilatura in the process are not touched.
`tests/test_trafilatura_fast.py` checks that both select the same nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import trafilatura.core
from lxml.html import HtmlElement
from trafilatura import xpaths
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.xml import delete_element

__all__ = ["fast_prunes", "fast_selectors"]

Selector = Callable[[HtmlElement], list[HtmlElement]]

_AD_OR_SCROLL = re.compile(r"mvp-post-add-(?:box|wrap)|infinite-?scroll")
_AD = re.compile(r"mvp-post-add-(?:box|wrap)")
_COMMENT_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
_COMMENT_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")
_COMMENT_LIST_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol)")


_AD_TAGS = frozenset(("div", "section", "aside"))
_COMMENT_TAGS = frozenset(("div", "list", "section", "details", "ol", "ul"))


def _one_pass(tree: HtmlElement) -> tuple[list[HtmlElement], list[HtmlElement], list[HtmlElement]]:
    """The elements each of the three expressions selects, in one walk over the candidate elements (only
    elements with an id or a class can match): (ads and infinite scroll, share buttons, comments)."""
    ads: list[HtmlElement] = []
    shares: list[HtmlElement] = []
    comments: list[HtmlElement] = []
    for element in tree.iterdescendants(*_COMMENT_TAGS, "aside"):
        ident, cls = element.get("id") or "", element.get("class") or ""
        if not (ident or cls):
            continue
        tag = element.tag
        # Each regular expression can only match a value holding one of these substrings (cheap to test).
        if tag in _AD_TAGS:
            if ("scroll" in ident or "mvp-post-add-" in ident or "scroll" in cls or "mvp-post-add-" in cls) and (
                (_AD_OR_SCROLL.search(ident) or _AD_OR_SCROLL.search(cls)) and (
                    next(element.iterdescendants("h1"), None) is None or _AD.search(ident) or _AD.search(cls))
            ):
                ads.append(element)
            if "elementor-share-buttons" in cls:
                shares.append(element)
        if tag in _COMMENT_TAGS and ("omment" in cls or "omment" in ident or "comol" in ident
                                     or "disqus_thread" in ident):
            comment_class = _COMMENT_CLASS.search(cls)
            if (_COMMENT_ID.search(ident) or comment_class) and (
                tag not in ("ol", "ul") or _COMMENT_LIST_ID.search(ident) or comment_class
            ):
                comments.append(element)
    return ads, shares, comments


def _ads_and_infinite_scroll(tree: HtmlElement) -> list[HtmlElement]:
    return _one_pass(tree)[0]


def _share_buttons(tree: HtmlElement) -> list[HtmlElement]:
    return _one_pass(tree)[1]


def _comments_and_comment_lists(tree: HtmlElement) -> list[HtmlElement]:
    return _one_pass(tree)[2]


# Each fast selector, with the XPath text (whitespace aside) it was translated from.
TRANSLATED_FROM: dict[str, list[tuple[str, Selector]]] = {
    "RAW_TREE_PRUNE_XPATH": [
        (".//*[self::div or self::section or self::aside][ re:test(@id, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')"
         " or re:test(@class, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')][ not(.//h1) or re:test(@id,"
         " 'mvp-post-add-(?:box|wrap)') or re:test(@class, 'mvp-post-add-(?:box|wrap)')]", _ads_and_infinite_scroll),
        (".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]",
         _share_buttons),
    ],
    "REMOVE_COMMENTS_AND_LISTS_XPATH": [
        (".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ re:test(@id,"
         " '^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)') or re:test(@class,"
         " '^[Cc]omment(?!ary)|(?:article|post)-comments')][ not(self::ol or self::ul) or re:test(@id,"
         " '^(?:[Cc]omment(?!ary)|comol)') or re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments')]",
         _comments_and_comment_lists),
    ],
}


def _normalised(text: str) -> str:
    return " ".join(text.split())


def fast_selectors(name: str) -> list[Selector] | None:
    """The fast selectors standing in for trafilatura's `xpaths.<name>`, or None when the installed
    trafilatura's expressions differ from those they were translated from."""
    expressions = getattr(xpaths, name, None)
    translated = TRANSLATED_FROM[name]
    if expressions is None or len(expressions) != len(translated):
        return None
    if any(_normalised(xpath.path) != text for xpath, (text, _) in zip(expressions, translated)):
        return None
    return [selector for _, selector in translated]


_FAST = {id(getattr(xpaths, name)): name for name in TRANSLATED_FROM if fast_selectors(name) is not None}
# trafilatura prunes the raw tree for comments right after the ads: the one walk made for the ads keeps
# the comments it found for that call, for the tree it walked.
_walked: list[tuple[HtmlElement, list[HtmlElement], bool]] = []


def _attached(element: HtmlElement, root: HtmlElement) -> bool:
    parent = element
    for parent in element.iterancestors():
        pass
    return parent is root


def _prune(tree: HtmlElement, nodelist: list, with_backup: bool = False) -> HtmlElement:
    name = _FAST.get(id(nodelist))
    if name is None or with_backup:
        return prune_unwanted_nodes(tree, nodelist, with_backup)
    if name == "RAW_TREE_PRUNE_XPATH":
        ads, shares, comments = _one_pass(tree)
        doomed = ads + shares
        _walked[:] = [(tree, comments, bool(doomed))]
    elif _walked and _walked[0][0] is tree:
        _, comments, pruned = _walked.pop()
        # as the XPath would on the pruned tree: skip what went with the pruned ads
        doomed = [element for element in comments if _attached(element, tree)] if pruned else comments
    else:
        doomed = _one_pass(tree)[2]
    for subtree in doomed:
        delete_element(subtree)  # the tail text is preserved, as trafilatura does
    return tree


@contextmanager
def fast_prunes() -> Iterator[bool]:
    """Within this block trafilatura's raw-tree prunes take the fast paths; yields whether any applies."""
    if not _FAST or trafilatura.core.prune_unwanted_nodes is not prune_unwanted_nodes:
        yield False  # nothing translated for this trafilatura, or already inside the block
        return
    trafilatura.core.prune_unwanted_nodes = _prune
    try:
        yield True
    finally:
        trafilatura.core.prune_unwanted_nodes = prune_unwanted_nodes
        _walked.clear()
