"""Feeds reach feedparser without their DOCTYPE (no entity expanded, no DTD loaded, the items kept) and with
invalid character references replaced; bad JSON Feed shapes are not fatal; page bytes with missing or wrong
charsets decode to the right text (aggregator.extract.encoding)."""

from __future__ import annotations

import pytest

from aggregator.extract.encoding import decode_page
from aggregator.fetch.feeds import FeedError, parse_feed

ITEM = "<item><title>t &c; &xxe; &nbsp;</title><link>https://news.example/a</link></item>"
LAUGHS = ('<!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')


@pytest.mark.parametrize(("doctype", "declarations"), [
    (LAUGHS, 3),
    ('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1),
    ('<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://169.254.169.254/x.dtd"> %remote;]>', 1),
    ('<!DOCTYPE rss [<!-- %s <!ENTITY commented "x"> --><!ENTITY late "x">]>' % ("padding " * 20000), 1),
    ('<!doctype rss [<!entity lower "x">]>', 1),
    ('<!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY q "]>"><!ENTITY after "y">]>', 3),
    ('<!DOCTYPE rss SYSTEM "http://169.254.169.254/rss.dtd">', 0),
])
def test_a_doctype_is_dropped_unread_and_the_items_are_kept(doctype: str, declarations: int) -> None:
    body = '<?xml version="1.0"?>\n%s<rss version="2.0"><channel>%s</channel></rss>' % (doctype, ITEM)
    feed = parse_feed(body.encode("utf-8"), "https://news.example/feed")
    (entry,) = feed.entries
    assert entry.link == "https://news.example/a"
    assert "lol" not in (entry.title or "") and "root:" not in (entry.title or "")
    assert feed.dtd_dropped and feed.entities_ignored == declarations
    try:  # however the body is encoded, nothing is expanded (feedparser cannot read this UTF-16 body at all)
        feed = parse_feed(body.encode("utf-16"), "https://news.example/feed")
        assert not any("lol" in (e.title or "") for e in feed.entries)
    except FeedError:
        pass


def test_a_quoted_xxe_example_in_the_text_is_just_text() -> None:
    quoted = ('<item><title>How XXE works</title><link>https://news.example/xxe</link><description><![CDATA['
              '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>]]></description></item>')
    body = '<?xml version="1.0"?>\n<rss version="2.0"><channel>%s%s</channel></rss>' % (ITEM, quoted)
    feed = parse_feed(body.encode(), "https://news.example/feed")
    assert [e.link for e in feed.entries] == ["https://news.example/a", "https://news.example/xxe"]
    assert "ENTITY xxe" in (feed.entries[1].summary or "") and not feed.dtd_dropped


@pytest.mark.parametrize("reference", ["&#xD800;", "&#x110000;", "&#0;", "&#xFFFE;", "&#99999999999999999999;",
                                       "&#x%s;" % ("f" * 5000), "&#%s;" % ("9" * 5000)])
def test_an_invalid_character_reference_does_not_drop_the_feed(reference: str) -> None:
    body = ('<rss version="2.0"><channel><title>t</title><item><title>bad %s here</title>'
            "<link>https://n.example/a</link></item><item><title>fine</title><link>https://n.example/b</link></item>"
            "</channel></rss>" % reference)
    feed = parse_feed(body.encode(), "https://n.example/feed")
    assert [e.link for e in feed.entries] == ["https://n.example/a", "https://n.example/b"]
    assert feed.entries[0].title == "bad \ufffd here" and feed.char_refs_replaced == 1


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
