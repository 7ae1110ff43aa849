"""The fast raw-tree prunes select exactly what trafilatura's XPath expressions select, and run in extraction."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import trafilatura
import trafilatura.core
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura import xpaths
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.utils import load_html

from aggregator.extract.extractor import extract_article
from aggregator.extract.trafilatura_fast import TRANSLATED_FROM, FastPrunes, fast_selectors, installed_fast_prunes
from aggregator.testing.sitegen import SiteSpec, generate_stories, render_heavy_article

FIXTURES = Path(__file__).parent / "fixtures"
# The extraction benchmark's 91 pages, when the shared data is next to the checkout (not in CI).
BENCH_PAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "extraction" / "html"
URL = "https://gazette.example/news/2024/03/05/harbour-bridge-reopens"
FAST_LOGGER = "aggregator.extract.trafilatura_fast"

TRICKY = """<html><body>
<div id="mvp-post-add-box"><h1>Headline kept out</h1><p>ad</p></div>
<div class="infinite-scroll"><h1>Next article</h1><p>kept: has an h1</p></div>
<section class="post infinitescroll-wrap"><p>pruned: no h1</p></section>
<aside id="x-infinite-scroll"><div class="mvp-post-add-wrap"><p>nested match</p></div>
  <div id="comments-inside-an-ad">pruned with the ad</div></aside>
<div class="elementor-widget elementor-share-buttons"><a href="#">share</a></div>
<div id="comments"><p>reader comment</p><div class="comment-body"><p>nested comment</p></div></div>
<div id="Commentary"><p>an opinion column, not comments</p></div>
<div class="commentary"><p>also a column</p></div>
<ul class="comment-list"><li>comment in a list</li></ul>
<ol id="comol"><li>comment list by id</li></ol>
<ul id="disqus_thread"><li>an ul matched by id only through a non-list rule: kept</li></ul>
<div id="disqus_thread">disqus</div>
<details class="x article-comments">details</details>
<div class="no-comments here"><p>no: class does not start with comment</p></div>
<p class="comment">a paragraph is never pruned here</p>
<div><p>tail text</p></div>after
<div ID="COMMENTS" CLASS="Comment">upper-case attribute names are lower-cased by the parser</div>
</body></html>"""


def heavy_pages() -> list[str]:
    stories = generate_stories(8, seed=3)
    return [render_heavy_article(SiteSpec(name="s", template=n % 4), story, stories[:2], seed=n)
            for n, story in enumerate(stories)]


def pages() -> list[str]:
    found = [TRICKY, *heavy_pages()]
    found += [path.read_text("utf-8") for path in sorted(FIXTURES.rglob("*.html"))]
    found += [gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
              for path in sorted(BENCH_PAGES.glob("*.html.gz"))]
    return found


def harbour_bridge() -> str:
    return (FIXTURES / "extraction" / "harbour_bridge.html").read_text("utf-8")


class CountedExpression:
    """Stands in for one of trafilatura's compiled expressions: same kind of object, counts evaluations."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.xpath = XPath(path, namespaces={"re": xpaths.REGEXP_NS})
        self.calls = 0

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        self.calls += 1
        return self.xpath(tree)


@contextmanager
def installed(name: str, reword: Callable[[str], str] = str) -> Iterator[list[CountedExpression]]:
    """Trafilatura's `xpaths.<name>`, in the very list it prunes with, made of counted (and reworded)
    expressions for the block."""
    expressions = getattr(xpaths, name)
    original = list(expressions)
    counted = [CountedExpression(reword(expression.path)) for expression in original]
    expressions[:] = counted
    try:
        yield counted
    finally:
        expressions[:] = original


def test_the_installed_trafilatura_has_the_translated_expressions() -> None:
    # fails on a trafilatura upgrade that changed them: translate the new text, or drop the fast path
    for name in TRANSLATED_FROM:
        assert fast_selectors(name) is not None, name
    assert installed_fast_prunes().names == tuple(TRANSLATED_FROM)
    assert installed_fast_prunes() is installed_fast_prunes()  # checked once per process


@pytest.mark.parametrize("name", sorted(TRANSLATED_FROM))
def test_fast_selectors_select_the_same_elements_in_the_same_order(name: str) -> None:
    selectors = fast_selectors(name)
    assert selectors is not None
    matched = 0
    for html in pages():
        tree = load_html(html)
        for xpath, selector in zip(getattr(xpaths, name), selectors):
            expected = xpath(tree)
            assert selector(tree) == expected
            matched += len(expected)
    assert matched >= 5  # the tricky page exercises every branch, not only the no-match path


def test_tricky_page_prunes_what_trafilatura_prunes() -> None:
    def pruned(tree: HtmlElement, fast: bool) -> str:
        # in trafilatura's order, in one block: the comments found by the walk for the ads are reused
        with installed_fast_prunes().active() as active:
            assert active
            prune = trafilatura.core.prune_unwanted_nodes if fast else prune_unwanted_nodes
            for name in ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH"):
                prune(tree, getattr(xpaths, name))
        return " ".join(tree.text_content().split())

    slow, fast = pruned(load_html(TRICKY), False), pruned(load_html(TRICKY), True)
    assert fast == slow
    assert "reader comment" not in fast and "an opinion column" in fast and "after" in fast


def test_the_fast_paths_run_inside_extract_article() -> None:
    with installed("RAW_TREE_PRUNE_XPATH") as raw, installed("REMOVE_COMMENTS_AND_LISTS_XPATH") as comments:
        assert extract_article(harbour_bridge(), URL) is not None
        # trafilatura pruned with these very lists, yet never evaluated them: the fast paths stood in
        assert [expression.calls for expression in raw + comments] == [0, 0, 0]
        # the counters do see trafilatura's own XPath when no fast path stands in
        assert extract_article(harbour_bridge(), URL, prunes=FastPrunes({})) is not None
        assert all(expression.calls > 0 for expression in raw + comments)
    assert trafilatura.core.prune_unwanted_nodes is prune_unwanted_nodes  # only inside the block


def test_other_expression_text_leaves_trafilatura_as_it_is_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    def reworded(text: str) -> str:
        # same meaning, other text: as a trafilatura release that rewrote the expressions
        return text.replace("self::div or self::section", "self::section or self::div").replace(
            "self::div or self::list", "self::list or self::div")

    html_pages = [harbour_bridge(), *heavy_pages()[:3]]
    fast = [extract_article(html, URL) for html in html_pages]
    with ExitStack() as stack:
        stack.callback(installed_fast_prunes.cache_clear)  # last, once the expressions are back
        raw = stack.enter_context(installed("RAW_TREE_PRUNE_XPATH", reworded))
        comments = stack.enter_context(installed("REMOVE_COMMENTS_AND_LISTS_XPATH", reworded))
        installed_fast_prunes.cache_clear()  # as in a process that imported the reworded trafilatura
        assert all(fast_selectors(name) is None for name in TRANSLATED_FROM)
        with caplog.at_level(logging.WARNING, logger=FAST_LOGGER):
            plain = [extract_article(html, URL) for html in html_pages]
        assert installed_fast_prunes().names == ()
        assert all(expression.calls >= len(html_pages) for expression in raw + comments)
    warnings = [record for record in caplog.records if record.name == FAST_LOGGER]
    assert len(warnings) == 1  # once per process, not once per page
    assert "RAW_TREE_PRUNE_XPATH and REMOVE_COMMENTS_AND_LISTS_XPATH" in warnings[0].getMessage()
    assert plain == fast and all(plain)
    assert installed_fast_prunes().names == tuple(TRANSLATED_FROM)


def test_fast_prunes_are_scoped_and_do_not_nest() -> None:
    prunes = installed_fast_prunes()
    with prunes.active() as outer:
        swapped = trafilatura.core.prune_unwanted_nodes
        with prunes.active() as inner:
            assert trafilatura.core.prune_unwanted_nodes is swapped
    assert outer and not inner and swapped is not prune_unwanted_nodes
    assert trafilatura.core.prune_unwanted_nodes is prune_unwanted_nodes


def test_extraction_is_unchanged_by_the_fast_prunes() -> None:
    without = FastPrunes({})
    for html in [*heavy_pages()[:4], harbour_bridge()]:
        assert extract_article(html, URL) == extract_article(html, URL, prunes=without)
