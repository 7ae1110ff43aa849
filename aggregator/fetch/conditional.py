"""ConditionalGetMiddleware: a request the spider marks conditional is sent with the validators last saved for its URL.

The spider sets `meta[CONDITIONAL_GET]` on its feed, sitemap and listing requests. This middleware adds
If-None-Match / If-Modified-Since from a validator store, lets a 304 through to the callback (counted as
`aggregator/index/not_modified`), remembers the ETag / Last-Modified of every 200, and saves them only when
the crawl finishes: an interrupted crawl saves none, so the next one re-reads the pages it may not have
followed to the end. Owns those headers and that bookkeeping; what a page is, and what to do on a 304, is the
spider's business. The store comes from the factory AGGREGATOR_VALIDATOR_STORE names (called with the crawler).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.misc import load_object

from aggregator.fetch.headers import header_text

__all__ = ["CONDITIONAL_GET", "ConditionalGetMiddleware", "ValidatorStore", "Validators"]

logger = logging.getLogger(__name__)

CONDITIONAL_GET = "conditional_get"  # request meta key: ask with the saved validators of the request's URL
NOT_MODIFIED_STAT = "aggregator/index/not_modified"
_CONDITIONAL_HEADERS = (b"If-None-Match", b"If-Modified-Since")

Validators = tuple[str | None, str | None]  # (ETag, Last-Modified), as the server sent them


class ValidatorStore(Protocol):
    """Where validators live between crawls (the crawl's story storage implements it)."""

    def validators(self, url: str) -> Validators | None: ...
    def save_validators(self, validators: dict[str, Validators]) -> None: ...


class ConditionalGetMiddleware:
    """Conditional GET for the requests marked with `meta[CONDITIONAL_GET]` (see the module docstring)."""

    def __init__(self, store: ValidatorStore, stats: StatsCollector, *, send_validators: bool = True) -> None:
        self.store = store
        self.stats = stats
        self.send_validators = send_validators  # False for --refresh: ask unconditionally, still save what we see
        self.seen: dict[str, Validators] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> ConditionalGetMiddleware:
        factory = crawler.settings.get("AGGREGATOR_VALIDATOR_STORE")
        if not factory:
            raise NotConfigured("AGGREGATOR_VALIDATOR_STORE is empty: no conditional GET")
        middleware = cls(load_object(factory)(crawler), crawler.stats,
                         send_validators=not crawler.settings.getbool("AGGREGATOR_REFRESH"))
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request) -> None:
        if not request.meta.get(CONDITIONAL_GET):
            return
        # A retry or a redirect of a conditional request comes back through here with the headers of the
        # first hop: a redirect target is asked with its own validators, or with none.
        for name in _CONDITIONAL_HEADERS:
            request.headers.pop(name, None)
        validators = self.store.validators(request.url) if self.send_validators else None
        if not validators or not any(validators):
            return
        etag, modified = validators
        if etag:
            request.headers[b"If-None-Match"] = etag
        if modified:
            request.headers[b"If-Modified-Since"] = modified
        allowed = request.meta.get("handle_httpstatus_list") or []
        if 304 not in allowed:  # past HttpErrorMiddleware to the callback, which knows what "unchanged" means
            request.meta["handle_httpstatus_list"] = [*allowed, 304]

    def process_response(self, request: Request, response: Response) -> Response:
        if not request.meta.get(CONDITIONAL_GET):
            return response
        if response.status == 304:
            self.stats.inc_value(NOT_MODIFIED_STAT)
        elif response.status == 200:
            etag, modified = header_text(response.headers, "ETag"), header_text(response.headers, "Last-Modified")
            if etag or modified:
                self.seen[request.url] = (etag, modified)
        return response

    def spider_closed(self, reason: str) -> None:
        if not self.seen:
            return
        if reason == "finished":
            self.store.save_validators(self.seen)
        else:
            logger.info("Crawl ended (%s): %d validators not saved, the next crawl re-reads those pages", reason,
                        len(self.seen))
        self.seen = {}
