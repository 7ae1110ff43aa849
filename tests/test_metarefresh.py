"""The meta refresh middleware: Scrapy's decisions, without decoding pages that cannot refresh."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from aggregator.fetch.metarefresh import MetaRefreshMiddleware, may_refresh

FILLER = "<p>%s</p>" % ("Сообщение о погоде. " * 400)  # 8 KB of text in Cyrillic: 2 bytes a character

PAGES = {
    "refresh": ('<html><head><meta http-equiv="refresh" content="0; url=/moved"></head><body>x</body></html>',
                "utf-8"),
    "upper-case": ('<html><head><META HTTP-EQUIV="REFRESH" CONTENT="0;URL=/moved"></head></html>', "utf-8"),
    "none": ("<html><head><title>t</title></head><body>%s</body></html>" % FILLER, "utf-8"),
    "refresh after 4096 characters": ("<html><body>%s<meta http-equiv='refresh' content='0; url=/moved'>"
                                      "</body></html>" % FILLER, "utf-8"),
    "refresh inside 4096 characters of 2-byte text": (
        "<html><head><title>%s</title><meta http-equiv='refresh' content='0; url=/moved'></head></html>"
        % ("Сообщение о погоде. " * 150), "utf-8"),
    "utf-16": ('<html><head><meta http-equiv="refresh" content="0; url=/moved"></head></html>', "utf-16"),
}


def respond(html: str, encoding: str) -> HtmlResponse:
    return HtmlResponse("https://news.example/a", body=html.encode(encoding),
                        headers={"Content-Type": "text/html; charset=%s" % encoding})


@pytest.mark.parametrize("name", sorted(PAGES))
def test_same_decision_as_scrapy(name: str) -> None:
    crawler = get_crawler()
    ours, theirs = MetaRefreshMiddleware.from_crawler(crawler), ScrapyMetaRefreshMiddleware.from_crawler(crawler)
    request = Request("https://news.example/a")
    mine, reference = ours.process_response(request, respond(*PAGES[name])), \
        theirs.process_response(request, respond(*PAGES[name]))
    assert type(mine) is type(reference)
    if isinstance(reference, Request):
        assert mine.url == reference.url == "https://news.example/moved"
    assert isinstance(reference, Request) == (name not in ("none", "refresh after 4096 characters"))


def test_a_page_that_cannot_refresh_is_not_decoded() -> None:
    response = respond(*PAGES["none"])
    assert not may_refresh(response.body)
    assert MetaRefreshMiddleware.from_crawler(get_crawler()).process_response(
        Request("https://news.example/a"), response) is response
    assert response._cached_ubody is None  # Scrapy's own middleware would have decoded the whole body
    assert may_refresh(respond(*PAGES["utf-16"]).body)  # NUL bytes: Scrapy's check decides
