"""NewsSpider: one generic spider driven by the sources registry (feeds and listing pages).

Owns discovery and fetching: feeds are parsed with feedparser and each entry's page is fetched with the
entry's metadata as hints; listing pages yield their article links (and follow rel=next up to
`max_pages`). It never extracts, deduplicates or stores: that is the pipelines' work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from aggregator.canonical import canonical_url, same_site
from aggregator.feeds import FeedError, parse_feed
from aggregator.items import ArticleItem
from aggregator.sources import Source, load_registry

logger = logging.getLogger(__name__)

_NOT_ARTICLE_SEGMENTS = frozenset(
    {
        "tag", "tags", "category", "categories", "author", "authors", "page", "about", "contact",
        "search", "login", "register", "subscribe", "feed", "rss", "privacy", "terms", "cookies",
        "advertise", "newsletter", "topics", "section", "sections", "wp-admin", "wp-login.php",
    }
)
_NOT_ARTICLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".pdf", ".zip", ".mp3",
                         ".mp4", ".css", ".js", ".xml", ".rss", ".json", ".ico")
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){2,}", re.IGNORECASE)


def is_article_like(url: str, listing_url: str) -> bool:
    """A same-site link whose path looks like an article (a slug of three or more words, or a
    numeric id), not a section, tag, author or static file."""
    if not same_site(url, listing_url):
        return False
    path = urlsplit(url).path.lower()
    if path.endswith(_NOT_ARTICLE_SUFFIXES):
        return False
    segments = [s for s in path.split("/") if s]
    if not segments or any(s in _NOT_ARTICLE_SEGMENTS for s in segments):
        return False
    last = segments[-1].removesuffix(".html").removesuffix(".htm")
    return bool(_SLUG_RE.fullmatch(last)) or (last.isdigit() and len(segments) >= 2)


class NewsSpider(scrapy.Spider):
    """Crawl the chosen sources of the registry: `scrapy crawl news -a sources=astanatimes,timesca`."""

    name = "news"

    def __init__(self, sources: str = "", registry: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_path = registry
        self.source_keys = [s.strip() for s in sources.split(",") if s.strip() and s.strip() != "all"]

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        settings = crawler.settings
        kwargs.setdefault("registry", settings.get("AGGREGATOR_SOURCES") or None)
        kwargs.setdefault("sources", settings.get("AGGREGATOR_CRAWL_SOURCES", ""))
        return super().from_crawler(crawler, *args, **kwargs)

    def chosen_sources(self) -> list[Source]:
        registry = load_registry(self.registry_path)
        unknown = [key for key in self.source_keys if key not in registry]
        if unknown:
            raise ValueError("unknown source(s) %s; known: %s" % (", ".join(unknown), ", ".join(registry)))
        return [registry[key] for key in self.source_keys] if self.source_keys else list(registry.values())

    async def start(self) -> AsyncIterator[Any]:
        for source in self.chosen_sources():
            for url in source.feeds:
                yield scrapy.Request(url, callback=self.parse_feed, errback=self.on_error,
                                     cb_kwargs={"source": source}, priority=10)
            for url in source.listings:
                yield scrapy.Request(url, callback=self.parse_listing, errback=self.on_error,
                                     cb_kwargs={"source": source, "page": 1}, priority=10)

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value("aggregator/%s" % key)

    def article_request(self, url: str, source: Source, found_on: str,
                        hints: dict[str, Any] | None = None) -> scrapy.Request:
        hints = dict(hints or {})
        if source.language:
            hints.setdefault("language", source.language)
        # Canonicalise before requesting, so a tracking-parameter variant is filtered as a duplicate request.
        return scrapy.Request(canonical_url(url), callback=self.parse_article, errback=self.on_error,
                              cb_kwargs={"source": source, "hints": hints, "found_on": found_on})

    def parse_feed(self, response: Response, source: Source) -> Iterator[scrapy.Request]:
        try:
            content_type = response.headers.get("Content-Type", b"").decode("latin-1") or None
            feed = parse_feed(response.body, response.url, content_type)
        except FeedError as exc:
            logger.error("Feed %s of source %s unusable: %s", response.url, source.key, exc)
            self._count("errors/feed_unusable")
            return
        if feed.problem:
            logger.warning("Feed %s of source %s is malformed but usable: %s",
                           response.url, source.key, feed.problem)
            self._count("feeds/malformed_used")
        self._count("feeds/parsed")
        for entry in feed.entries:
            link = response.urljoin(entry.link)
            if urlsplit(link).scheme not in ("http", "https"):
                continue
            self._count("links/from_feeds")
            yield self.article_request(link, source, response.url, entry.hints())

    def parse_listing(self, response: Response, source: Source, page: int) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            logger.error("Listing %s of source %s is not HTML", response.url, source.key)
            self._count("errors/listing_not_html")
            return
        self._count("listings/parsed")
        if source.article_links:
            hrefs = response.css(source.article_links).css("::attr(href)").getall()
            hrefs += response.css(source.article_links).xpath("self::a/@href").getall()
            links = [response.urljoin(h) for h in hrefs]
        else:
            links = [response.urljoin(h) for h in response.css("a::attr(href)").getall()]
            links = [link for link in links if is_article_like(link, response.url)]
        seen: set[str] = set()
        for link in links:
            key = canonical_url(link)
            if key in seen or urlsplit(key).scheme not in ("http", "https"):
                continue
            seen.add(key)
            self._count("links/from_listings")
            yield self.article_request(link, source, response.url)
        next_href = response.css("link[rel=next]::attr(href), a[rel~=next]::attr(href)").get()
        if next_href and page < source.max_pages:
            yield scrapy.Request(response.urljoin(next_href), callback=self.parse_listing,
                                 errback=self.on_error, cb_kwargs={"source": source, "page": page + 1})

    def parse_article(self, response: Response, source: Source, hints: dict[str, Any],
                      found_on: str) -> Iterator[ArticleItem]:
        if not isinstance(response, TextResponse):
            logger.error("Article %s of source %s is not a text page (%s)", response.url, source.key,
                         response.headers.get("Content-Type", b"").decode("latin-1"))
            self._count("errors/not_html")
            return
        self._count("articles/fetched")
        yield ArticleItem(
            url=response.url,
            source=source.key,
            html=response.text,
            hints=hints,
            found_on=found_on,
            declared_canonical=response.css("link[rel=canonical]::attr(href)").get(),
        )

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = failure.value.__class__.__name__
        status = getattr(getattr(failure.value, "response", None), "status", None)
        kind = "http_%d" % status if status else reason
        logger.error("Fetching %s failed: %s", request.url, failure.getErrorMessage() or kind)
        self._count("errors/%s" % kind)
