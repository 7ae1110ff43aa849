"""The fragment check (aggregator.extract.container_prose): a body much shorter than the prose paragraphs of its
own <article> gets trafilatura's default mode, as far as that prose goes."""

from __future__ import annotations

import functools
import logging
import re

import pytest

from aggregator.extract.container_prose import container_prose_words
from aggregator.extract.extractor import extract_article
from aggregator.extract.parsing import parse_html
from aggregator.extract.split_article import block_with_text
from tests.test_pipelines import story_text

WORD = re.compile(r"\w+")
FRAGMENT_LOG = "using default mode"


def paragraphs(first: int, count: int) -> str:
    return "".join("<p>%s</p>" % story_text(n, 45) for n in range(first, first + count))


def article_page(rest_class: str) -> str:
    """An article whose last four paragraphs sit in a second block of class `rest_class`."""
    return ("<html><head><title>Harbour budget approved</title></head><body><main><article>"
            "<h1>Harbour budget approved</h1><div class='story-text'>%s</div><div class='%s'>%s</div>"
            "<footer><p>Copyright 2026 the Harbour Gazette. All rights reserved, reprints by permission.</p></footer>"
            "</article></main><aside><p>Most read: %s</p></aside></body></html>"
            % (paragraphs(0, 5), rest_class, paragraphs(10, 4), story_text(30, 20)))


def test_a_fragment_of_the_articles_own_paragraphs_gives_way_to_the_whole(caplog: pytest.LogCaptureFixture) -> None:
    # precision mode drops a block whose class ends in "bottom" (page-bottom chrome, usually): here it holds
    # the last four paragraphs of the article
    html = article_page("story-text article-bottom")
    with caplog.at_level(logging.DEBUG, logger="aggregator.extract.extractor"):
        article = extract_article(html)
    assert article is not None and FRAGMENT_LOG in caplog.text
    assert len(WORD.findall(article.text)) == 9 * 45
    assert article.text.endswith(story_text(13, 45))
    assert "Copyright" not in article.text and "Most read" not in article.text


def test_a_whole_article_costs_no_second_pass(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aggregator.extract.extractor"):
        article = extract_article(article_page("story-text more"))
    assert article is not None and len(WORD.findall(article.text)) == 9 * 45
    assert FRAGMENT_LOG not in caplog.text


def test_prose_counts_paragraphs_of_the_article_not_its_furniture() -> None:
    html = ("<html><body><article><header><p>%s.</p></header><p>%s</p><p>Short line.</p><p>%s</p>"
            "<p><a href='/a'>A teaser headline that is a link to another story.</a> Read it.</p>"
            "<figure><figcaption>%s.</figcaption></figure><aside><p>%s.</p></aside>"
            "<p>A list of eight words without any sentence end</p></article></body></html>"
            % (story_text(1, 12), story_text(2, 24), story_text(3, 36), story_text(4, 12), story_text(5, 12)))
    tree = parse_html(html)
    assert tree is not None
    locate = functools.cache(functools.partial(block_with_text, tree))
    assert container_prose_words(tree, story_text(2, 24), locate) == 24 + 36
    # no <article> or <main> around the body: no evidence, so no second opinion
    bare = parse_html("<html><body><div><p>%s</p></div></body></html>" % story_text(2, 24))
    assert bare is not None
    assert container_prose_words(bare, story_text(2, 24),
                                 functools.partial(block_with_text, bare)) is None
