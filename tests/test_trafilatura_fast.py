"""The fast raw-tree prunes select exactly what trafilatura's XPath expressions select."""

from __future__ import annotations

from pathlib import Path

import pytest
import trafilatura
import trafilatura.core
from lxml.html import HtmlElement
from trafilatura import xpaths
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.utils import load_html

from aggregator.extract.extractor import extract_article
from aggregator.testing.sitegen import SiteSpec, generate_stories, render_heavy_article
from aggregator.extract.trafilatura_fast import TRANSLATED_FROM, fast_prunes, fast_selectors

FIXTURES = Path(__file__).parent / "fixtures"

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
    return found


def test_the_installed_trafilatura_has_the_translated_expressions() -> None:
    # fails on a trafilatura upgrade that changed them: translate the new text, or drop the fast path
    for name in TRANSLATED_FROM:
        assert fast_selectors(name) is not None, name


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
        with fast_prunes():
            prune = trafilatura.core.prune_unwanted_nodes if fast else prune_unwanted_nodes
            for name in ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH"):
                prune(tree, getattr(xpaths, name))
        return " ".join(tree.text_content().split())

    slow, fast = pruned(load_html(TRICKY), False), pruned(load_html(TRICKY), True)
    assert fast == slow
    assert "reader comment" not in fast and "an opinion column" in fast and "after" in fast


def test_fast_prunes_are_scoped_and_extraction_is_unchanged() -> None:
    for html in [*heavy_pages()[:4], (FIXTURES / "extraction" / "harbour_bridge.html").read_text("utf-8")]:
        with_fast = extract_article(html, url="http://127.0.0.1/a")
        original = trafilatura.core.prune_unwanted_nodes
        trafilatura.core.prune_unwanted_nodes = lambda *args, **kwargs: prune_unwanted_nodes(*args, **kwargs)
        try:  # a stand-in that is not the original turns the fast paths off
            without = extract_article(html, url="http://127.0.0.1/a")
        finally:
            trafilatura.core.prune_unwanted_nodes = original
        assert with_fast == without
    assert trafilatura.core.prune_unwanted_nodes is prune_unwanted_nodes
