"""ConditionalGetMiddleware with the crawl's real SQLite storage: validators sent, 304s let through and counted,
200s' validators saved only when the crawl finishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError, HttpErrorMiddleware
from scrapy.utils.test import get_crawler

from aggregator.fetch.conditional import CONDITIONAL_GET, NOT_MODIFIED_STAT, ConditionalGetMiddleware
from aggregator.store.sqlite import SQLiteStorage

FEED = "https://news.example/feed.xml"
OTHER = "https://news.example/other.xml"
MOVED = "https://news.example/moved.xml"
SAVED = ('"v1"', "Mon, 30 Nov 2026 10:00:00 GMT")


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "stories.db"
    storage = SQLiteStorage(path)
    storage.save_validators({FEED: SAVED, MOVED: ('"m1"', None)})
    storage.close()
    return path


def crawler_for(db: Path, **settings: Any) -> Any:
    """A crawler with the project's wiring: the CrawlResources extension and the default validator store."""
    return get_crawler(settings_dict={"EXTENSIONS": {"pipelines.resources.CrawlResources": 0},
                                      "AGGREGATOR_DB": str(db), "AGGREGATOR_WORKERS": 0,
                                      "AGGREGATOR_VALIDATOR_STORE": "pipelines.resources.validator_store",
                                      **settings})


@pytest.fixture()
def crawler(db: Path) -> Iterator[Any]:
    crawler = crawler_for(db)
    yield crawler
    crawler.signals.send_catch_log(signals.engine_stopped)  # closes the crawl's storage


def conditional(url: str = FEED, **meta: Any) -> Request:
    return Request(url, meta={CONDITIONAL_GET: True, **meta})


def finish(crawler: Any, reason: str) -> None:
    crawler.signals.send_catch_log(signals.spider_closed, spider=None, reason=reason)
    crawler.signals.send_catch_log(signals.engine_stopped)


def test_a_marked_request_carries_the_saved_validators_and_its_304_reaches_the_callback(crawler: Any) -> None:
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    request = conditional()
    middleware.process_request(request)
    assert request.headers[b"If-None-Match"] == b'"v1"'
    assert request.headers[b"If-Modified-Since"] == SAVED[1].encode()
    response = middleware.process_response(request, Response(FEED, status=304, request=request))
    assert crawler.stats.get_value(NOT_MODIFIED_STAT) == 1
    HttpErrorMiddleware.from_crawler(crawler).process_spider_input(response)  # not dropped as an error


def test_unmarked_or_unknown_requests_are_asked_unconditionally(crawler: Any) -> None:
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    for request in (Request(FEED), conditional(OTHER)):
        middleware.process_request(request)
        assert b"If-None-Match" not in request.headers and b"If-Modified-Since" not in request.headers
        response = Response(request.url, status=304, request=request)
        with pytest.raises(HttpError):  # a 304 nobody asked for is not "unchanged"
            HttpErrorMiddleware.from_crawler(crawler).process_spider_input(response)
    assert crawler.stats.get_value(NOT_MODIFIED_STAT) is None


def test_a_redirected_or_retried_hop_is_asked_with_its_own_urls_validators(crawler: Any) -> None:
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    request = conditional(handle_httpstatus_list=[404])
    middleware.process_request(request)
    hop = request.replace(url=OTHER)  # what RedirectMiddleware sends on: headers and meta copied
    middleware.process_request(hop)
    assert b"If-None-Match" not in hop.headers and b"If-Modified-Since" not in hop.headers
    moved = request.replace(url=MOVED)
    middleware.process_request(moved)
    assert moved.headers.getlist(b"If-None-Match") == [b'"m1"'] and b"If-Modified-Since" not in moved.headers
    again = request.copy()  # what RetryMiddleware sends on
    middleware.process_request(again)
    assert again.headers.getlist(b"If-None-Match") == [b'"v1"']
    assert again.meta["handle_httpstatus_list"] == [404, 304]


def test_validators_of_200s_are_saved_when_the_crawl_finishes(crawler: Any, db: Path) -> None:
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    for url, headers in ((FEED, {"ETag": '"v2"'}), (OTHER, {"Last-Modified": "Tue, 01 Dec 2026 08:00:00 GMT"})):
        request = conditional(url)
        middleware.process_request(request)
        middleware.process_response(request, Response(url, status=200, headers=headers, request=request))
    plain = Request("https://news.example/homepage")
    middleware.process_response(plain, Response(plain.url, headers={"ETag": '"h"'}, request=plain))
    finish(crawler, "finished")
    storage = SQLiteStorage(db)
    assert storage.validators(FEED) == ('"v2"', None)
    assert storage.validators(OTHER) == (None, "Tue, 01 Dec 2026 08:00:00 GMT")
    assert storage.validators(plain.url) is None  # not a conditional request: its validators are never used
    storage.close()


@pytest.mark.parametrize("reason", ["shutdown", "closespider_itemcount"])
def test_an_interrupted_crawl_saves_no_validators(crawler: Any, db: Path, reason: str) -> None:
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    request = conditional()
    middleware.process_response(request, Response(FEED, headers={"ETag": '"v2"'}, request=request))
    finish(crawler, reason)
    storage = SQLiteStorage(db)
    assert storage.validators(FEED) == SAVED  # the next crawl re-reads the feed
    storage.close()


def test_refresh_asks_unconditionally_and_still_saves(db: Path) -> None:
    crawler = crawler_for(db, AGGREGATOR_REFRESH=True)
    middleware = ConditionalGetMiddleware.from_crawler(crawler)
    request = conditional()
    middleware.process_request(request)
    assert b"If-None-Match" not in request.headers and "handle_httpstatus_list" not in request.meta
    middleware.process_response(request, Response(FEED, headers={"ETag": '"v3"'}, request=request))
    finish(crawler, "finished")
    storage = SQLiteStorage(db)
    assert storage.validators(FEED) == ('"v3"', None)
    storage.close()


def test_switched_off_without_a_store(db: Path) -> None:
    with pytest.raises(NotConfigured):
        ConditionalGetMiddleware.from_crawler(crawler_for(db, AGGREGATOR_VALIDATOR_STORE=""))


def test_the_project_settings_enable_it() -> None:
    from aggregator import settings

    assert "aggregator.fetch.conditional.ConditionalGetMiddleware" in settings.DOWNLOADER_MIDDLEWARES
    assert settings.AGGREGATOR_VALIDATOR_STORE == "pipelines.resources.validator_store"
