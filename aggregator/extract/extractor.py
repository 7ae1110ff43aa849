"""Turn one fetched article page (plus what its feed said) into an Article: clean body text and metadata.

Owns the body: trafilatura in precision mode with comments off, a recall fallback when the result is
implausibly short, a default-mode one when it is a fragment of its container's prose, and a line-level clean-up
of leftovers (the title repeated on top, "Related:" teasers, newsletter and follow-us calls at the end). Page
metadata lives in `page_metadata`, dates in `dates`. Nothing here may know individual sites: every rule must
hold for news pages in general.
"""

from __future__ import annotations

import functools
import logging
import re
from datetime import datetime
from typing import Any

import trafilatura
from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.settings import Document

from aggregator.extract.body_cleanup import clean_body
from aggregator.extract.container_prose import container_prose_words
from aggregator.extract.datelines import dateline, heading_time, labelled_date
from aggregator.extract.dates import (
    DateCandidate,
    borrow_offset,
    date_from_url,
    is_naive,
    parse_date,
    reconcile_dates,
    with_zone_offset,
)
from aggregator.extract.json_payload import payload_text
from aggregator.extract.metadata_only import Extraction
from aggregator.extract.page_metadata import (
    PageMetadata,
    clean_authors,
    normalise_language,
    read_page_metadata,
    site_names_for,
)
from aggregator.extract.parsing import parse_html
from aggregator.extract.split_article import block_with_text, rejoin_split_article
from aggregator.extract.standfirst import with_standfirst
from aggregator.extract.teaser_cards import without_teaser_cards
from aggregator.extract.titles import choose_title
from aggregator.extract.trafilatura_fast import FastPrunes, installed_fast_prunes
from aggregator.items import Article
from aggregator.text import clean_article

logger = logging.getLogger(__name__)

__all__ = ["Article", "Extraction", "clean_body", "extract_article", "extract_page"]

WORD = re.compile(r"\w+")
# Fewer words than this is a menu or a caption, not an article body.
MIN_BODY_WORDS = 15
# A body below this many words is a teaser (or a failed extraction), not an article.
TEASER_WORDS = 120
# Below this many words, the fast precision pass gets trafilatura's full comparison with its fallbacks.
FAST_MIN_WORDS = 200
# Below this share of the JSON-LD articleBody or this multiple of the feed summary, precision mode
# probably cut real paragraphs, so the recall-oriented extraction gets a chance.
SHORT_AGAINST_JSONLD = 0.6
SHORT_AGAINST_SUMMARY = 1.5
FALLBACK_MIN_GAIN = 1.3
# Below this share of the prose paragraphs in its own <article>/<main> the body is a fragment: the default mode
# takes over when it reads this much more, and no more than this multiple of that prose.
SHORT_AGAINST_PROSE = 0.92
PROSE_MIN_GAIN = 1.15
PROSE_MAX_SHARE = 1.15

PAYWALL_MARKUP = "//*[contains(@class, 'paywall') or contains(@id, 'paywall') or contains(@class, 'premium')]"


def extract_article(
    html: str,
    url: str | None = None,
    hints: dict[str, Any] | None = None,
    now: datetime | None = None,
    prunes: FastPrunes | None = None,
) -> Article | None:
    """Extract the article in `html` (fetched from `url`); `hints` is what the feed said.

    None when the page has no body and does not declare itself an article; an article whose body cannot be
    read comes back with its metadata and an empty `text`.

    `now` is the reference for rejecting future dates (defaults to the current time); `prunes` the fast
    paths for trafilatura's raw-tree prunes (defaults to those checked once per process against the
    installed trafilatura).
    """
    return extract_page(html, url, hints, now, prunes).article


def extract_page(
    html: str,
    url: str | None = None,
    hints: dict[str, Any] | None = None,
    now: datetime | None = None,
    prunes: FastPrunes | None = None,
) -> Extraction:
    """`extract_article`'s article, and whether the page declares itself an article (which decides whether a
    short body still makes a story: `aggregator.extract.metadata_only`)."""
    hints = hints or {}
    if not html or not html.strip():
        return Extraction(None)
    tree = parse_html(html)
    if tree is None:
        return Extraction(None)
    page = read_page_metadata(tree, url)
    text = extract_body(tree, url, page, hints, prunes or installed_fast_prunes())
    if not text:
        if not page.declares_article:
            logger.debug("no article body in %s", url)
            return Extraction(None)
        # an article whose body we cannot read still has a title, authors and a date worth keeping
        logger.debug("article without an extractable body in %s; keeping its metadata", url)
        text = ""
    names = [*site_names_for(page.site_name, url), *page.site_names]
    title = choose_title(page.title_candidates, names, _plain(hints.get("title")))
    feed_authors = clean_authors(list(hints.get("authors") or ()), names)
    authors = feed_authors if feed_authors and (page.authors_are_publisher or not page.authors) else page.authors
    dates = reconcile_dates(_date_candidates(tree, url, page, hints), now=now)
    # Page text enters here: a lone surrogate or a control character stops at the extractor, so whoever
    # calls it (the worker, which then signs this text; the CLI) gets what will be stored and exported.
    article = clean_article(Article(
        text=text,
        title=title,
        authors=authors,
        date_published=dates.published,
        date_modified=dates.modified,
        date_source=dates.source,
        language=page.language or normalise_language(hints.get("language")),
        description=page.description or _plain(hints.get("summary")),
        image=page.image,
        tags=page.tags or tuple(hints.get("tags") or ()),
        paywalled=_paywalled(tree, page, text),
        canonical_link=page.canonical_link,
        og_url=page.og_url,
    ))
    return Extraction(article, page.declares_article)


def extract_body(
    tree: HtmlElement, url: str | None, page: PageMetadata, hints: dict[str, Any], prunes: FastPrunes
) -> str | None:
    """Body text: trafilatura precision mode, a recall fallback when implausibly short, then line clean-up.

    Precision mode runs first without trafilatura's own second opinions (readability, jusText: `fast`),
    which cost more than half of its time and change only bodies that come out short; those get the
    full comparison."""
    text = _trafilatura(tree, url, prunes, favor_precision=True, fast=True)
    words = _word_count(text)  # counting words costs ~0.1 ms on a long body: each text is counted once
    if words < FAST_MIN_WORDS:
        text = _trafilatura(tree, url, prunes, favor_precision=True)
        words = _word_count(text)
    expected = max(
        SHORT_AGAINST_JSONLD * _word_count(page.article_body),
        SHORT_AGAINST_SUMMARY * _word_count(_plain(hints.get("summary"))),
        1,
    )
    # the body's opening line is looked for in the page up to three times (its container's prose, split parts,
    # standfirst): once is enough
    locate = functools.cache(functools.partial(block_with_text, tree))
    if words < expected:
        fallback = _trafilatura(tree, url, prunes, favor_recall=True)
        if _word_count(fallback) >= max(words * FALLBACK_MIN_GAIN, 1):
            logger.debug("precision extraction too short (%d words) on %s; using recall mode", words, url)
            text = fallback
            words = _word_count(text)
    elif text and (prose := container_prose_words(tree, text, locate)) and words < SHORT_AGAINST_PROSE * prose:
        # precision mode kept a fragment of the paragraphs in the body's own container: trafilatura's default
        # mode, trusted only as far as that container's prose goes (past it lie teasers and comments)
        fallback = _trafilatura(tree, url, prunes, fast=True)
        fallback_words = _word_count(fallback)
        if words * PROSE_MIN_GAIN <= fallback_words <= prose * PROSE_MAX_SHARE:
            logger.debug("precision extraction a fragment (%d of %d words) on %s; using default mode", words,
                         prose, url)
            text, words = fallback, fallback_words
    if text and (joined := rejoin_split_article(tree, text, words, locate)):
        # a mid-article row split the body into same-class parts, of which trafilatura read the first
        text = joined
        words = _word_count(text)
    if words < FAST_MIN_WORDS and (payload := payload_text(list(tree.iter("script")))) and (
        _word_count(payload) > 2 * words
    ):
        logger.debug("article body taken from a script payload on %s", url)
        text = payload  # a page rendered by script: the article is in its Next.js data
    if not text and page.article_body:
        text = page.article_body
    if not text:
        return None
    titles = [page_title for page_title in (*page.titles, hints.get("title")) if page_title]
    names = [*site_names_for(page.site_name, url), *page.site_names]
    text = clean_body(without_teaser_cards(tree, text, url), titles, names, page.authors)
    text = with_standfirst(tree, text, page.descriptions, locate)
    return text if _has_words(text, MIN_BODY_WORDS) else None


def _trafilatura(
    tree: HtmlElement,
    url: str | None,
    prunes: FastPrunes,
    *,
    favor_precision: bool = False,
    favor_recall: bool = False,
    fast: bool = False,
) -> str | None:
    try:
        with prunes.active():
            document = trafilatura.bare_extraction(
                tree,
                url=url,
                include_comments=False,
                favor_precision=favor_precision,
                favor_recall=favor_recall,
                fast=fast,
            )
    except Exception:  # trafilatura surfaces a wide range of parser errors on broken pages
        logger.exception("trafilatura failed on %s", url)
        return None
    # a Document unless as_dict=True, which this call does not ask for
    return (document.text or None) if isinstance(document, Document) else None


def _has_words(text: str, count: int) -> bool:
    """Whether `text` has at least `count` words, reading no further than that."""
    if count <= 0:
        return True
    for seen, _ in enumerate(WORD.finditer(text), 1):
        if seen >= count:
            return True
    return False


def _word_count(text: str | None) -> int:
    return len(WORD.findall(text)) if text else 0


def _plain(value: Any) -> str | None:
    """Feed summaries may carry HTML; keep their text."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip()
    return text or None


def _date_candidates(
    tree: HtmlElement, url: str | None, page: PageMetadata, hints: dict[str, Any]
) -> list[DateCandidate]:
    candidates: list[DateCandidate] = []
    claims = [
        *[("published", source, value) for source, value in page.published],
        ("published", "feed", hints.get("date_published")),
        *[("modified", source, value) for source, value in page.modified],
        ("modified", "feed", hints.get("date_modified")),
    ]
    texts = [(kind, source, with_zone_offset(value) if isinstance(value, str) else value)
             for kind, source, value in claims]
    # offsets the page states, for the wall-clock times its JSON-LD gives without one
    stated = [parsed[0] for _, _, value in texts
              if isinstance(value, str) and not is_naive(value) and (parsed := parse_date(value))]
    for kind, source, value in texts:
        parsed = parse_date(value)
        if parsed:
            moment = borrow_offset(parsed[0], stated) if isinstance(value, str) and is_naive(value) else parsed[0]
            candidates.append(DateCandidate(source, kind, moment, day_only=parsed[1]))
    if not any(c.kind == "published" and not c.day_only for c in candidates):
        # the page's structured data gives no time of day: the <time> or dateline under its headline may
        for source, value in (("time", heading_time(tree)), ("dateline", dateline(tree)),
                              ("label", labelled_date(tree))):
            if value and (parsed := parse_date(with_zone_offset(value))):
                candidates.append(DateCandidate(source, "published", parsed[0], day_only=parsed[1]))
    if day := date_from_url(url):
        candidates.append(DateCandidate("url", "published", day, day_only=True))
    if not any(c.kind == "published" for c in candidates):
        # htmldate reads the whole page, so it only runs when nothing better spoke
        try:
            found = find_date(tree, url=url, original_date=True, extensive_search=True)
        except Exception:  # htmldate raises on odd markup; a missing date is not fatal
            logger.debug("htmldate failed on %s", url, exc_info=True)
            found = None
        if found and (parsed := parse_date(found)):
            candidates.append(DateCandidate("htmldate", "published", parsed[0], day_only=parsed[1]))
    return candidates


def _paywalled(tree: HtmlElement, page: PageMetadata, text: str) -> bool | None:
    """JSON-LD isAccessibleForFree decides; otherwise a teaser-length body on a page with paywall markup."""
    if page.accessible_for_free is not None:
        return not page.accessible_for_free
    if not _has_words(text, TEASER_WORDS) and tree.xpath(PAYWALL_MARKUP):
        return True
    return None
