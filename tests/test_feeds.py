"""Feed parsing: every format gives entries with their metadata as hints."""

from __future__ import annotations

import json

import pytest

from aggregator.fetch.feeds import FeedError, parse_feed

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Example News</title><link>https://news.example/</link><language>en-us</language>
<item><title>Rail link opens</title><link>https://news.example/rail-link-opens</link>
<guid isPermaLink="false">post-17</guid><pubDate>Tue, 24 Nov 2026 08:30:00 +0500</pubDate>
<dc:creator>Aida Nurlanova</dc:creator><category>Transport</category>
<description>The line cuts travel time in half.</description></item>
</channel></rss>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example/"><title>Example</title><link>https://news.example/</link>
<description>d</description></channel>
<item rdf:about="https://news.example/a"><title>A</title><link>https://news.example/a</link>
<dc:date>2026-11-20T10:00:00Z</dc:date></item></rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title><id>urn:x</id>
<updated>2026-11-25T00:00:00Z</updated>
<entry><title>Port expands</title><link rel="alternate" href="https://atom.example/port"/>
<id>urn:entry:1</id><published>2026-11-21T09:00:00Z</published><updated>2026-11-22T09:00:00Z</updated>
<author><name>Erlan Sadykov</name></author><summary>Capacity doubles.</summary></entry></feed>"""


def test_rss2_entry_carries_its_metadata() -> None:
    feed = parse_feed(RSS2, "https://news.example/feed", "application/rss+xml")
    assert feed.title == "Example News" and feed.problem is None
    (entry,) = feed.entries
    assert entry.link == "https://news.example/rail-link-opens"
    assert entry.guid == "post-17"
    assert entry.published == "2026-11-24T03:30:00+00:00"
    assert entry.authors == ("Aida Nurlanova",)
    assert entry.tags == ("Transport",)
    hints = entry.hints()
    assert hints["title"] == "Rail link opens"
    assert hints["summary"] == "The line cuts travel time in half."
    assert hints["language"] == "en-us"


def test_rss1_rdf() -> None:
    (entry,) = parse_feed(RDF, "https://news.example/rdf", "application/rdf+xml").entries
    assert entry.link == "https://news.example/a"
    assert entry.published == "2026-11-20T10:00:00+00:00"


def test_atom() -> None:
    (entry,) = parse_feed(ATOM, "https://atom.example/feed", "application/atom+xml").entries
    assert entry.link == "https://atom.example/port"
    assert entry.published == "2026-11-21T09:00:00+00:00"
    assert entry.updated == "2026-11-22T09:00:00+00:00"
    assert entry.authors == ("Erlan Sadykov",)
    assert entry.summary == "Capacity doubles."


@pytest.mark.parametrize("version", ["https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"])
def test_json_feed(version: str) -> None:
    body = json.dumps({
        "version": version, "title": "JSON News", "language": "ru",
        "items": [
            {"id": 5, "url": "https://json.example/a", "title": "A", "date_published": "2026-11-20T10:00:00Z",
             "authors": [{"name": "Olga"}], "author": {"name": "Old Style"}, "tags": ["x"]},
            {"id": "no-url"},
        ],
    }).encode()
    (entry,) = parse_feed(body, "https://json.example/feed.json").entries
    assert entry.guid == "5" and entry.language == "ru"
    assert entry.authors == ("Olga", "Old Style")
    assert entry.published == "2026-11-20T10:00:00Z"


def test_malformed_feed_with_entries_is_used_and_flagged() -> None:
    broken = RSS2.replace(b"</channel></rss>", b"<item><title>Broken & bad</title>")
    feed = parse_feed(broken, "https://news.example/feed", "application/rss+xml")
    assert feed.problem
    assert [e.link for e in feed.entries][0] == "https://news.example/rail-link-opens"


@pytest.mark.parametrize("body", [b"<html><body>Not a feed</body></html>", b"{not json", b'{"a": 1}', b""])
def test_not_a_feed_raises(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, "https://news.example/feed", "text/html")
