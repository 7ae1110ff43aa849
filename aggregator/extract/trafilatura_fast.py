"""Exact fast paths for trafilatura's two raw-tree prunes; swaps its pruning only inside `FastPrunes.active()`.

Before cleaning, trafilatura 2.x prunes the whole raw tree with `RAW_TREE_PRUNE_XPATH` and, with comments
off, `REMOVE_COMMENTS_AND_LISTS_XPATH`: three XPath walks over the whole tree whose predicates test the id
and class of every div, section, aside, ol and ul, mostly with EXSLT `re:test`, which lxml answers by
calling back into Python's `re`: about 7 ms of an 11 ms precision extraction of a 100 KB page, 2 of 9 ms on
the benchmark pages. The same predicates written as one walk over those elements (only those with an id or
a class can match) select the same elements, in the same (document) order, in about a ninth of that time.
docs/trafilatura-fast-prunes.md has the measurement and the exactness argument.

A fast path stands in for an expression list only while the installed trafilatura's expressions are,
whitespace aside, exactly the text they were translated from (`TRANSLATED_FROM`); otherwise trafilatura's
own XPath runs, and the `FastPrunes` made for that trafilatura logs one warning saying the speed-up is off.

State: a `FastPrunes` is immutable once made (which of trafilatura's expression lists it stands in for);
the walk the two prunes of one extraction share belongs to a `_Pruning` made per `with` block.
`installed_fast_prunes()` is `functools.cache`d, which is acceptable here because it is a pure function of
the installed trafilatura, whose expression lists do not change while the process runs: the cache holds
one immutable object, nothing a crawl changes, and it makes the check (and its warning) once per process
instead of once per page. Not thread-safe: the block swaps `trafilatura.core.prune_unwanted_nodes`, and
extraction runs one page at a time per worker process.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

import trafilatura
import trafilatura.core
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura import xpaths
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.xml import delete_element

logger = logging.getLogger(__name__)

__all__ = ["TRANSLATED_FROM", "FastPrunes", "fast_selectors", "installed_fast_prunes"]

Selector = Callable[[HtmlElement], list[HtmlElement]]


class Expression(Protocol):
    """What the check reads of one of trafilatura's compiled expressions (an `lxml.etree.XPath`)."""

    @property
    def path(self) -> str: ...


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


# Each fast selector, with the XPath text (whitespace aside) it was translated from (trafilatura 2.3).
TRANSLATED_FROM: Mapping[str, tuple[tuple[str, Selector], ...]] = {
    "RAW_TREE_PRUNE_XPATH": (
        (".//*[self::div or self::section or self::aside][ re:test(@id, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')"
         " or re:test(@class, 'mvp-post-add-(?:box|wrap)|infinite-?scroll')][ not(.//h1) or re:test(@id,"
         " 'mvp-post-add-(?:box|wrap)') or re:test(@class, 'mvp-post-add-(?:box|wrap)')]", _ads_and_infinite_scroll),
        (".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]",
         _share_buttons),
    ),
    "REMOVE_COMMENTS_AND_LISTS_XPATH": (
        (".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ re:test(@id,"
         " '^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)') or re:test(@class,"
         " '^[Cc]omment(?!ary)|(?:article|post)-comments')][ not(self::ol or self::ul) or re:test(@id,"
         " '^(?:[Cc]omment(?!ary)|comol)') or re:test(@class, '^[Cc]omment(?!ary)|(?:article|post)-comments')]",
         _comments_and_comment_lists),
    ),
}


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _translated(name: str, expressions: Sequence[Expression] | None) -> bool:
    """Whether `expressions` are, whitespace aside, the text the fast selectors for `name` replace."""
    translated = TRANSLATED_FROM[name]
    return expressions is not None and len(expressions) == len(translated) and all(
        _normalised(expression.path) == text for expression, (text, _) in zip(expressions, translated)
    )


def fast_selectors(name: str) -> list[Selector] | None:
    """The fast selectors standing in for trafilatura's `xpaths.<name>`, or None when the installed
    trafilatura's expressions differ from those they were translated from."""
    if not _translated(name, getattr(xpaths, name, None)):
        return None
    return [selector for _, selector in TRANSLATED_FROM[name]]


class FastPrunes:
    """Which of trafilatura's prune expression lists take a fast path; made once by its owner.

    `installed` maps each name in `TRANSLATED_FROM` to the expression list trafilatura passes to
    `prune_unwanted_nodes` (None when that trafilatura has no such name). A list whose text differs from
    the translated one keeps trafilatura's XPath; making the object logs that once.
    """

    def __init__(self, installed: Mapping[str, Sequence[Expression] | None]) -> None:
        # the very list objects trafilatura passes in, told apart by identity
        self._lists: tuple[tuple[Sequence[Expression], str], ...] = tuple(
            (expressions, name) for name in TRANSLATED_FROM
            if (expressions := installed.get(name)) is not None and _translated(name, expressions)
        )
        self.stale: tuple[str, ...] = tuple(name for name in TRANSLATED_FROM if name not in self.names)
        if self.stale:
            logger.warning(
                "trafilatura %s: %s renamed or not the expression text the fast prunes were translated "
                "from; trafilatura's own XPath runs instead (extraction about 1.6x slower). "
                "Translate the new text in aggregator/extract/trafilatura_fast.py and pin that trafilatura "
                "minor version", getattr(trafilatura, "__version__", "?"), " and ".join(self.stale),
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The expression lists that take a fast path."""
        return tuple(name for _, name in self._lists)

    @contextmanager
    def active(self) -> Iterator[bool]:
        """Within this block trafilatura's raw-tree prunes take the fast paths; yields whether any applies."""
        if not self._lists or trafilatura.core.prune_unwanted_nodes is not prune_unwanted_nodes:
            yield False  # nothing translated for this trafilatura, or already inside a block
            return
        trafilatura.core.prune_unwanted_nodes = _Pruning(self._lists).prune
        try:
            yield True
        finally:
            trafilatura.core.prune_unwanted_nodes = prune_unwanted_nodes


@functools.cache
def installed_fast_prunes() -> FastPrunes:
    """The fast prunes for the installed trafilatura, checked once per process (see the module docstring)."""
    return FastPrunes({name: getattr(xpaths, name, None) for name in TRANSLATED_FROM})


class _Pruning:
    """Stands in for `prune_unwanted_nodes` during one `FastPrunes.active()` block.

    trafilatura prunes the raw tree for comments right after the ads: the walk made for the ads keeps the
    comments it found, for the tree it walked, until that next call.
    """

    def __init__(self, lists: tuple[tuple[Sequence[Expression], str], ...]) -> None:
        self._lists = lists
        self._walked: tuple[HtmlElement, list[HtmlElement], bool] | None = None

    def prune(self, tree: HtmlElement, nodelist: list[XPath], with_backup: bool = False) -> HtmlElement:
        name = next((name for expressions, name in self._lists if expressions is nodelist), None)
        if name is None or with_backup:
            return prune_unwanted_nodes(tree, nodelist, with_backup)
        walked, self._walked = self._walked, None
        if name == "RAW_TREE_PRUNE_XPATH":
            ads, shares, comments = _one_pass(tree)
            doomed = ads + shares
            self._walked = (tree, comments, bool(doomed))
        elif walked is not None and walked[0] is tree:
            _, comments, pruned = walked
            # as the XPath would on the pruned tree: skip what went with the pruned ads
            doomed = [element for element in comments if _attached(element, tree)] if pruned else comments
        else:
            doomed = _one_pass(tree)[2]
        for subtree in doomed:
            delete_element(subtree)  # the tail text is preserved, as trafilatura does
        return tree


def _attached(element: HtmlElement, root: HtmlElement) -> bool:
    """Whether `element` still hangs below `root` (a pruned subtree's elements end at its detached top)."""
    top = deque(element.iterancestors(), maxlen=1)
    return (top[0] if top else element) is root
