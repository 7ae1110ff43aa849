"""Property-based tests (hypothesis): URL canonicalization, feed parsing, text normalization and page
decoding never raise on any input, and canonicalization is idempotent."""

from __future__ import annotations

import os

import scrapy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aggregator.urls import canonical_url
from aggregator.dedup.fingerprint import normalize_text
from aggregator.extract.encoding import decode_page
from aggregator.fetch.feeds import FeedError, parse_feed

SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

hosts = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True),
                  st.just("EXAMPLE.com"), st.just("www.example.com."), st.just("127.0.0.1"))
query_part = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
urls = st.builds(
    lambda scheme, host, port, path, query, fragment: "%s://%s%s/%s%s%s" % (
        scheme, host, port, "/".join(path), "?" + "&".join("%s=%s" % kv for kv in query) if query else "",
        "#" + fragment if fragment else ""),
    st.sampled_from(["http", "https", "HTTP", "Https"]), hosts,
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"),
                     max_size=10), max_size=4),
    st.lists(st.tuples(st.sampled_from(["utm_source", "id", "page", "q", "fbclid", "a b", "ü"]), query_part),
             max_size=4),
    st.text(max_size=8))


@SETTINGS
@given(urls)
@example("http://example.com/a/./b/../c?utm_source=x&b=2&a=1#top")
@example("https://news.example/ünïcode path/?q=ä ö")
def test_canonical_url_is_idempotent_and_a_valid_request_url(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once
    scrapy.Request(once)  # a URL the spider can always ask for
    assert "#" not in once and "utm_source" not in once


@SETTINGS
@given(st.text())
@example("http://[::1")
@example("http://example.com:99999/")
@example("\x00\x01http://")
def test_canonical_url_of_any_text_raises_at_most_value_error(text: str) -> None:
    try:
        once = canonical_url(text)
    except ValueError:
        return
    assert canonical_url(once) == once


def _feed_bodies() -> st.SearchStrategy[bytes]:
    item = st.builds(
        lambda title, link, guid, date: ("<item><title>%s</title><link>%s</link><guid>%s</guid><pubDate>%s</pubDate>"
                                         "</item>" % (title, link, guid, date)),
        st.text(max_size=30), st.text(max_size=40), st.text(max_size=10),
        st.sampled_from(["Tue, 24 Nov 2026 08:30:00 +0500", "yesterday", "", "2026-13-45"]))
    rss = st.builds(lambda items, cut: ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>%s'
                                        "</channel></rss>" % "".join(items))[:cut].encode("utf-8", "replace"),
                    st.lists(item, max_size=4), st.integers(min_value=0, max_value=2000))
    return st.one_of(rss, st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-8")),
                     st.builds(lambda t: ('{"version": "https://jsonfeed.org/version/1.1", "items": %s}' % t).encode(),
                               st.sampled_from(["[]", "[1, null, {}]", '[{"url": 5}]', '[{"url": "x", "tags": 3}]',
                                                '{"a": 1}', "[{"])))


@SETTINGS
@given(_feed_bodies(), st.sampled_from([None, "text/html", "application/rss+xml", "application/octet-stream"]))
@example(b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"/>', None)
@example("\ufeff<rss version='2.0'/>".encode("utf-16"), None)
def test_parse_feed_raises_only_feed_error(body: bytes, content_type: str | None) -> None:
    try:
        feed = parse_feed(body, "https://news.example/feed", content_type)
    except FeedError:
        return
    for entry in feed.entries:
        assert entry.link and isinstance(entry.hints(), dict)


@SETTINGS
@given(st.text())
@example("Ａｂｃ　ＤＥＦ，ghi!!")
@example("ﬁ ß İ ǅ \u0301e")
def test_normalize_text_is_idempotent_and_total(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip() and "  " not in once


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([None, "text/html", "text/html; charset=utf-8",
                                                   "text/html; charset=koi8-r", "text/html; charset=bogus"]))
def test_decode_page_never_raises(body: bytes, content_type: str | None) -> None:
    page = decode_page(b"<html><head><meta charset=windows-1251></head>" + body, content_type)
    assert isinstance(page.text, str) and page.encoding


def test_canonical_url_keeps_ipv6_hosts_usable() -> None:
    once = canonical_url("http://[2001:db8::1]:8080/a")
    assert once == "http://[2001:db8::1]:8080/a"
    scrapy.Request(once)
