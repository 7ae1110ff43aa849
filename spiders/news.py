"""NewsSpider: one generic spider driven by the sources registry (feeds, sitemaps, listing pages, homepages).

Owns discovery and fetching, incrementally: feeds, sitemaps and listings are marked for conditional GET
(`aggregator.fetch.conditional` sends and keeps their validators; a 304 means nothing to read), and an
article whose canonical URL is stored is not fetched again unless its feed or sitemap says it changed since.
It never extracts, deduplicates or stores: that is the pipelines' work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Request, Response, TextResponse
from twisted.python.failure import Failure

from aggregator.extract.pool import WorkerCrashed
from aggregator.fetch.conditional import CONDITIONAL_GET
from aggregator.fetch.discovery import article_links, discover_feeds, next_page
from aggregator.fetch.faults import NotFetched, classify
from aggregator.fetch.feeds import FeedError, parse_feed
from aggregator.fetch.headers import header_text
from aggregator.fetch.redis_queue import request_done
from aggregator.fetch.sitemaps import SitemapError, parse_sitemap, sitemaps_from_robots
from aggregator.instants import parse_date
from aggregator.items import ArticleItem
from aggregator.sources import Source, load_registry
from aggregator.store.model import StoryStorage
from aggregator.store.source_runs import count_source, source_error
from aggregator.text import clean_hints
from aggregator.urls import canonical_url
from pipelines.resources import crawl_resources

logger = logging.getLogger(__name__)

# Article links answered with these are not pages: stopped at the headers, counted as errors/not_html.
BINARY_MAIN_TYPES = frozenset({"image", "audio", "video", "font", "model"})
BINARY_TYPES = frozenset({"application/pdf", "application/zip", "application/gzip", "application/octet-stream",
                          "application/msword", "application/x-shockwave-flash"})


def _when(value: str | None) -> datetime | None:
    parsed = parse_date(value) if value else None
    return parsed[0] if parsed else None


def _snake(name: str) -> str:
    """`UnicodeEncodeError` as `unicode_encode_error`: a counter's cause from an exception's class."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _join(response: Response, link: str) -> str:
    """`link` made absolute against the page; left as is when it cannot be (article_request reports it)."""
    try:
        return response.urljoin(link)
    except ValueError:
        return link


class NewsSpider(scrapy.Spider):
    """Crawl the chosen sources of the registry: `scrapy crawl news -a sources=astanatimes,timesca`."""

    name = "news"

    def __init__(self, sources: str = "", registry: str | None = None, refresh: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry_path = registry
        self.source_keys = [s.strip() for s in sources.split(",") if s.strip() and s.strip() != "all"]
        self.refresh = refresh

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        settings = crawler.settings
        kwargs.setdefault("registry", settings.get("AGGREGATOR_SOURCES") or None)
        kwargs.setdefault("sources", settings.get("AGGREGATOR_CRAWL_SOURCES", ""))
        if "refresh" in kwargs:
            # `-a refresh=1` is AGGREGATOR_REFRESH, which aggregator.fetch.conditional reads too (the settings
            # freeze only after the spider is made)
            settings.set("AGGREGATOR_REFRESH", kwargs["refresh"] in (True, "1", "true", "True", "yes"),
                         priority="spider")
        kwargs["refresh"] = settings.getbool("AGGREGATOR_REFRESH")
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.chosen_sources()  # an unknown source or a bad registry stops `scrapy crawl` here, exit 1
        crawler.signals.connect(spider.on_headers, signal=signals.headers_received)
        crawler.signals.connect(spider.on_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.on_item_error, signal=signals.item_error)
        return spider

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        """Per-source `download_delay` becomes a download slot per host of that source."""
        super().update_settings(settings)
        try:
            registry = load_registry(settings.get("AGGREGATOR_SOURCES") or None)
        except ValueError:
            return  # reported with the file's name when the crawl starts
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        for source in registry.values():
            if source.download_delay is not None:
                for url in source.start_urls:
                    slots.setdefault(urlsplit(url).hostname or "", {"delay": source.download_delay})
        settings.set("DOWNLOAD_SLOTS", slots, priority="spider")

    @cached_property
    def storage(self) -> StoryStorage:
        """The crawl's storage, looked up at first use: Scrapy makes the spider before the extensions."""
        return crawl_resources(self.crawler).storage

    def chosen_sources(self) -> list[Source]:
        registry = load_registry(self.registry_path)
        unknown = [key for key in self.source_keys if key not in registry]
        if unknown:
            raise ValueError("unknown source(s) %s; known: %s" % (", ".join(unknown), ", ".join(registry)))
        return [registry[key] for key in self.source_keys] if self.source_keys else list(registry.values())

    async def start(self) -> AsyncIterator[Any]:
        settings = self.crawler.settings
        if settings.get("REDIS_URL") and not settings.getbool("AGGREGATOR_REDIS_SEED"):
            return  # a distributed worker: requests come from the shared queue
        for source in self.chosen_sources():
            if source.discovers_feeds:
                # Unconditional: a 304 here would hide which feeds to ask for.
                yield scrapy.Request(source.homepage or "", callback=self.parse_homepage, errback=self.on_error,
                                     cb_kwargs={"source": source}, priority=20)
            for url in source.feeds:
                yield self.index_request(url, self.parse_feed, source)
            for url in source.listings:
                yield self.index_request(url, self.parse_listing, source, page=1)
            if source.pagination:
                for page in range(2, source.max_pages + 1):
                    yield self.index_request(source.pagination.format(page=page), self.parse_listing, source,
                                             page=source.max_pages)
            for url in source.sitemaps:
                if urlsplit(url).path.endswith("/robots.txt"):
                    yield scrapy.Request(url, callback=self.parse_robots, errback=self.on_error,
                                         cb_kwargs={"source": source}, priority=20)
                else:
                    yield self.index_request(url, self.parse_sitemap, source, conditional=False)

    # --- requests ---------------------------------------------------------------------------------
    def _count(self, key: str, source: Source | None = None) -> None:
        """Count `key` for the crawl, and for `source` when given (its health and polling are judged on it)."""
        self.crawler.stats.inc_value("aggregator/%s" % key)
        count_source(self.crawler.stats, source, key)

    def _fault(self, source: Any, cause: str, message: str, failed: str | None = None) -> None:
        self._count("errors/%s" % cause)
        source_error(self.crawler.stats, source, cause, message, failed)

    def index_request(self, url: str, callback: Any, source: Source, conditional: bool = True,
                      **cb_kwargs: Any) -> scrapy.Request:
        """A request for a feed, sitemap or listing, marked for conditional GET (aggregator.fetch.conditional adds
        the validators the last finished crawl saw; a 304 reaches the callback). A source's own sitemaps are
        asked unconditionally: an index whose children changed can look unchanged itself (its <lastmod>s are
        optional), and a 304 would hide its children."""
        return scrapy.Request(url, callback=callback, errback=self.on_error, priority=10,
                              meta={CONDITIONAL_GET: True} if conditional else {},
                              cb_kwargs={"source": source, **cb_kwargs})

    def article_request(self, url: str, source: Source, found_on: str, hints: dict[str, Any] | None = None,
                        last_change: str | None = None, published: str | None = None) -> scrapy.Request | None:
        """The request for one article, or None when it is filtered out, already stored unchanged, or its
        link is not a usable URL (logged and counted: one bad link must not cost the rest of its feed)."""
        count_source(self.crawler.stats, source, "entries/listed")
        try:
            return self._article_request(url, source, found_on, hints, last_change, published)
        except ValueError as exc:
            logger.error("Link %r on %s (source %s) is not a usable URL (bad_link): %s", url, found_on, source.key,
                         exc)
            self._fault(source, "bad_link", "%r on %s" % (url[:200], found_on))
            return None

    def _article_request(self, url: str, source: Source, found_on: str, hints: dict[str, Any] | None,
                         last_change: str | None, published: str | None) -> scrapy.Request | None:
        url = canonical_url(url)  # so a tracking-parameter variant is filtered as a duplicate request
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            # javascript:, file:, data:, ftp: ... in a feed, sitemap or listing: never fetched, and said so
            logger.error("Link %r on %s (source %s) is not http(s), never fetched (unsafe_scheme)", url[:200],
                         found_on, source.key)
            self._fault(source, "unsafe_scheme", "%r on %s" % (url[:200], found_on))
            return None
        if not source.wants(url):
            self._count("articles/filtered", source)
            return None
        when = _when(published or last_change)
        if source.max_age is not None and when is not None:
            if (datetime.now(UTC) - when).total_seconds() > source.max_age:
                self._count("articles/too_old", source)
                return None
        changed = _when(last_change)
        if not self.refresh:
            stored = self.storage.source_updated(url)
            if stored is not None:
                before = _when(stored[1])
                if changed is None or before is None or changed <= before:
                    self._count("articles/skipped_known", source)
                    return None
                self._count("articles/changed", source)
        count_source(self.crawler.stats, source, "articles/requested")
        hints = clean_hints(hints or {})  # what a feed or sitemap says enters here, as a page's text does
        if source.language:
            hints.setdefault("language", source.language)
        return scrapy.Request(url, callback=self.parse_article, errback=self.on_error,
                              cb_kwargs={"source": source, "hints": hints, "found_on": found_on,
                                         "source_updated": changed.isoformat() if changed else None})

    # --- callbacks --------------------------------------------------------------------------------
    def parse_homepage(self, response: Response, source: Source) -> Iterator[scrapy.Request]:
        if not isinstance(response, TextResponse):
            logger.error("Homepage %s of source %s is not HTML", response.url, source.key)
            self._fault(source, "homepage_not_html", response.url, failed="index")
            return
        feeds = discover_feeds(response)
        if not feeds:
            logger.warning("No feed announced on %s (source %s): reading it as a listing page",
                           response.url, source.key)
            yield from self.parse_listing(response, source, page=source.max_pages)
            return
        self._count("feeds/discovered")
        for url in feeds:
            yield self.index_request(url, self.parse_feed, source)

    async def off_reactor(self, url: str, function: Any, *args: Any) -> Any:
        """`function(*args)` in a worker process of its own: a big feed or sitemap (fetched from `url`) parses
        there while the crawler goes on downloading, and its parser's memory leaves with that process
        (inline when AGGREGATOR_WORKERS is 0)."""
        return await crawl_resources(self.crawler).pool.call(function, *args, what="parsing %s" % url, own_process=True)

    async def parse_feed(self, response: Response, source: Source) -> AsyncIterator[scrapy.Request]:
        if response.status == 304:  # unchanged since the last finished crawl
            count_source(self.crawler.stats, source, "index/not_modified")
            return
        try:
            feed = await self.off_reactor(response.url, parse_feed, response.body, response.url,
                                          header_text(response.headers, "Content-Type"))
        except (FeedError, WorkerCrashed) as exc:
            logger.error("Feed %s of source %s unusable: %s", response.url, source.key, exc)
            self._fault(source, "feed_unusable", "%s: %s" % (response.url, exc), failed="index")
            return
        if feed.problem:
            logger.warning("Feed %s of source %s is malformed but usable: %s",
                           response.url, source.key, feed.problem)
            self._count("feeds/malformed_used")
        if feed.dtd_dropped:
            logger.warning("Feed %s of source %s has a DOCTYPE: read without it (%d entity declaration(s) ignored,"
                           " nothing expanded or loaded)", response.url, source.key, feed.entities_ignored)
            self.crawler.stats.inc_value("aggregator/feeds/entities_ignored", feed.entities_ignored)
        if feed.char_refs_replaced:
            logger.warning("Feed %s of source %s: %d reference(s) to characters XML cannot carry, read as U+FFFD",
                           response.url, source.key, feed.char_refs_replaced)
            self.crawler.stats.inc_value("aggregator/repaired/feed_char_refs", feed.char_refs_replaced)
        if feed.guid_conflicts:
            logger.warning("Feed %s of source %s reuses guids across links (or changes a link's guid) %d time(s):"
                           " articles are keyed by URL, so nothing is lost or doubled", response.url, source.key,
                           feed.guid_conflicts)
            self.crawler.stats.inc_value("aggregator/feeds/guid_conflicts", feed.guid_conflicts)
        self._count("feeds/parsed", source)
        for entry in feed.entries:
            request = self.article_request(_join(response, entry.link), source, response.url, entry.hints(),
                                           last_change=entry.updated or entry.published,
                                           published=entry.published)
            if request is not None:
                yield request

    def parse_listing(self, response: Response, source: Source, page: int) -> Iterator[scrapy.Request]:
        if response.status == 304:  # unchanged since the last finished crawl
            count_source(self.crawler.stats, source, "index/not_modified")
            return
        if not isinstance(response, TextResponse):
            logger.error("Listing %s of source %s is not HTML", response.url, source.key)
            self._fault(source, "listing_not_html", response.url, failed="index")
            return
        self._count("listings/parsed", source)
        for link in article_links(response, source.article_links):
            request = self.article_request(link, source, response.url)
            if request is not None:
                yield request
        following = next_page(response)
        if following and page < source.max_pages:
            yield self.index_request(following, self.parse_listing, source, page=page + 1)

    def parse_robots(self, response: Response, source: Source) -> Iterator[scrapy.Request]:
        text = response.text if isinstance(response, TextResponse) else response.body.decode("utf-8", "replace")
        urls = sitemaps_from_robots(text)
        if not urls:
            logger.error("robots.txt %s of source %s names no sitemap", response.url, source.key)
            self._fault(source, "robots_no_sitemap", response.url, failed="index")
        for url in urls:
            yield self.index_request(response.urljoin(url), self.parse_sitemap, source, conditional=False)

    async def parse_sitemap(self, response: Response, source: Source) -> AsyncIterator[scrapy.Request]:
        if response.status == 304:  # unchanged since the last finished crawl
            count_source(self.crawler.stats, source, "index/not_modified")
            return
        try:
            sitemap = await self.off_reactor(response.url, parse_sitemap, response.body)
        except (SitemapError, WorkerCrashed) as exc:
            logger.error("Sitemap %s of source %s unusable: %s", response.url, source.key, exc)
            self._fault(source, "sitemap_unusable", "%s: %s" % (response.url, exc), failed="index")
            return
        self._count("sitemaps/parsed", source)
        if sitemap.char_refs_replaced:
            logger.warning("Sitemap %s of source %s: %d reference(s) to characters XML cannot carry, read as U+FFFD",
                           response.url, source.key, sitemap.char_refs_replaced)
            self.crawler.stats.inc_value("aggregator/repaired/sitemap_char_refs", sitemap.char_refs_replaced)
        for entry in sitemap.entries:
            url = _join(response, entry.loc)
            if sitemap.kind == "sitemapindex":
                when = _when(entry.lastmod)
                if source.max_age is not None and when is not None and \
                        (datetime.now(UTC) - when).total_seconds() > source.max_age:
                    continue  # a child sitemap unchanged for longer than max_age holds only older entries
                yield self.index_request(url, self.parse_sitemap, source)
                continue
            request = self.article_request(url, source, response.url, entry.hints(),
                                           last_change=entry.lastmod or entry.news_published,
                                           published=entry.news_published or entry.lastmod)
            if request is not None:
                yield request

    def parse_article(self, response: Response, source: Source, hints: dict[str, Any], found_on: str,
                      source_updated: str | None) -> Iterator[ArticleItem]:
        if not isinstance(response, TextResponse):
            logger.error("Article %s of source %s is not a text page (%s)", response.url, source.key,
                         header_text(response.headers, "Content-Type") or "no Content-Type")
            self._fault(source, "not_html", response.url, failed="articles")
            return
        self._count("articles/fetched", source)
        # the bytes go to an extraction worker as they are: decoding them is its work, not the reactor's
        yield ArticleItem(
            url=response.url,
            source=source.key,
            body=response.body,
            content_type=header_text(response.headers, "Content-Type"),
            hints=hints,
            found_on=found_on,
            source_updated=source_updated,
        )

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.crawler.signals.send_catch_log(request_done, request=request)  # a distributed lease ends here
        fault = classify(failure)
        source = request.cb_kwargs.get("source")
        failed = "articles" if request.callback == self.parse_article else "index"
        if fault is None:  # refused by the SSRF guard, which logged and counted it for the crawl
            source_error(self.crawler.stats, source, "ssrf_refused", request.url, failed)
            return
        if isinstance(fault, NotFetched):  # robots.txt said no, or a filter dropped it: not a fault
            logger.info("Not fetching %s: %s", request.url, fault.message)
            self._count("articles/ignored")
            return
        chain = request.meta.get("redirect_urls") or []
        if chain:  # name the URL that was linked, and where its redirects led
            logger.error("Fetching %s failed (%s): %s (redirected to %s)", chain[0], fault.cause, fault.message,
                         request.url)
        else:
            logger.error("Fetching %s failed (%s): %s", request.url, fault.cause, fault.message)
        self._fault(source, fault.cause, "%s: %s" % ((chain or [request.url])[0], fault.message), failed)

    def on_headers(self, headers: Headers, body_length: int, request: Request) -> None:
        """Stop an article download at its headers when it is a binary file (a PDF, an image, a video)."""
        if request.callback != self.parse_article:
            return
        content_type = (header_text(headers, "Content-Type") or "").split(";")[0].strip().lower()
        if content_type.split("/")[0] in BINARY_MAIN_TYPES or content_type in BINARY_TYPES \
                or content_type.startswith("application/vnd."):
            raise StopDownload(fail=True)

    def on_item_error(self, item: Any, failure: Failure) -> None:
        """A pipeline raised on one item (DropItem aside): a counted error named after the exception, so the
        crawl exits 3 and the summary says why; Scrapy has logged the traceback, this line names the URL."""
        cause = "item_%s" % _snake(type(failure.value).__name__)
        url = getattr(item, "url", None) or "(an item without a URL)"
        logger.error("Processing %s (source %s) failed (%s): %s", url, getattr(item, "source", "?"), cause,
                     failure.getErrorMessage())
        self._fault(getattr(item, "source", None), cause, "%s: %s" % (url, failure.getErrorMessage()))

    def on_dropped(self, request: Request) -> None:
        """A redirect back to a URL of its own chain is dropped by the duplicate filter: that is a loop."""
        chain = request.meta.get("redirect_urls") or []
        if request.url in chain:
            logger.error("Fetching %s failed (redirect_loop): redirected back to itself via %s", chain[0],
                         " -> ".join(chain[1:] + [request.url]))
            self._fault(request.cb_kwargs.get("source"), "redirect_loop", chain[0],
                        "articles" if request.callback == self.parse_article else "index")
