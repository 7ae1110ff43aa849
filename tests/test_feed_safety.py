"""Feeds that declare XML entities are refused before feedparser sees them; bad JSON Feed shapes are not fatal;
page bytes with missing or wrong charsets decode to the right text (aggregator.extract.encoding)."""

from __future__ import annotations

import pytest

from aggregator.extract.encoding import decode_page
from aggregator.fetch.feeds import UnsafeFeedError, parse_feed

ITEM = "<item><title>t</title><link>https://news.example/a</link></item>"
LAUGHS = ('<!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')


@pytest.mark.parametrize("doctype", [
    LAUGHS,
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://169.254.169.254/x.dtd"> %remote;]>',
    '<!DOCTYPE rss [<!-- %s --><!ENTITY late "x">]>' % ("padding " * 20000),
    '<!doctype rss [<!entity lower "x">]>',
])
def test_entity_declarations_are_refused(doctype: str) -> None:
    body = '<?xml version="1.0"?>\n%s<rss version="2.0"><channel>%s</channel></rss>' % (doctype, ITEM)
    with pytest.raises(UnsafeFeedError):
        parse_feed(body.encode("utf-8"), "https://news.example/feed")
    with pytest.raises(UnsafeFeedError):  # however the body is encoded
        parse_feed(body.encode("utf-16"), "https://news.example/feed")


def test_a_doctype_without_entities_is_fine() -> None:
    body = ('<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            '"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel><title>T</title>'
            "<link>https://news.example/</link><description>d</description>%s</channel></rss>" % ITEM)
    assert [e.link for e in parse_feed(body.encode(), "https://news.example/feed").entries] == [
        "https://news.example/a"]


def test_json_feed_with_wrong_shapes_keeps_what_it_can() -> None:
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"url": "https://n.example/a", "tags": 3,'
            b' "authors": "nobody"}, 7, {"url": 5}]}')
    (entry,) = parse_feed(body, "https://n.example/feed.json").entries
    assert entry.link == "https://n.example/a" and entry.tags == () and entry.authors == ()


def test_guid_conflicts_are_counted() -> None:
    body = ('<rss version="2.0"><channel><title>t</title>'
            "<item><link>https://n.example/a</link><guid>same</guid></item>"
            "<item><link>https://n.example/b</link><guid>same</guid></item>"
            "<item><link>https://n.example/a</link><guid>other</guid></item></channel></rss>")
    assert parse_feed(body.encode(), "https://n.example/feed").guid_conflicts == 2


RUSSIAN = "Правительство объявило о строительстве новой железной дороги между двумя городами. " * 6


@pytest.mark.parametrize(("encoding", "content_type", "meta", "repaired"), [
    ("cp1251", "text/html", "", True),
    ("koi8-r", "text/html", "", True),
    ("koi8-r", "text/html; charset=utf-8", '<meta charset="koi8-r">', True),
    ("utf-8", "text/html; charset=iso-8859-1", "", True),
    ("cp1251", "text/html; charset=windows-1251", "", False),
    ("utf-8", "text/html", '<meta charset="utf-8">', False),
])
def test_pages_decode_to_the_right_text(encoding: str, content_type: str, meta: str, repaired: bool) -> None:
    body = ("<html><head>%s</head><body><p>%s</p></body></html>" % (meta, RUSSIAN)).encode(encoding)
    page = decode_page(body, content_type)
    assert RUSSIAN in page.text
    assert (page.problem is not None) == repaired, page.problem
