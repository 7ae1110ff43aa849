"""Sitemap parsing: urlsets, indexes, Google News fields, gzip within bounds, no entity ever expanded,
and `Sitemap:` lines of robots.txt."""

from __future__ import annotations

import gzip

import pytest

from aggregator.fetch.sitemaps import MAX_SITEMAP_BYTES, SitemapError, parse_sitemap, sitemaps_from_robots

NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc> https://news.example/2026/budget-passed </loc>
    <lastmod>2026-11-30T10:00:00+05:00</lastmod>
    <news:news>
      <news:publication><news:name>Example News</news:name><news:language>kk</news:language></news:publication>
      <news:publication_date>2026-11-30T09:00:00+05:00</news:publication_date>
      <news:title>Budget passed</news:title>
    </news:news>
  </url>
  <url><loc>https://news.example/2026/plain</loc></url>
  <url><loc>   </loc><lastmod>2026-11-01</lastmod></url>
  <url><lastmod>2026-11-01</lastmod></url>
</urlset>"""

INDEX = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.example/sitemap-news.xml</loc><lastmod>2026-11-30</lastmod></sitemap>
<sitemap><loc>https://news.example/sitemap-2025.xml</loc></sitemap></sitemapindex>"""


def test_google_news_fields_and_lastmod() -> None:
    sitemap = parse_sitemap(NEWS)
    assert sitemap.kind == "urlset"
    first, plain = sitemap.entries  # entries without a <loc> are left out
    assert first.loc == "https://news.example/2026/budget-passed"
    assert (first.lastmod, first.news_published, first.news_title, first.news_language) == (
        "2026-11-30T10:00:00+05:00", "2026-11-30T09:00:00+05:00", "Budget passed", "kk")
    assert first.hints() == {"date_published": "2026-11-30T09:00:00+05:00",
                             "date_modified": "2026-11-30T10:00:00+05:00", "title": "Budget passed",
                             "language": "kk"}
    assert plain.loc == "https://news.example/2026/plain" and plain.hints() == {}


def test_sitemap_index() -> None:
    sitemap = parse_sitemap(INDEX)
    assert sitemap.kind == "sitemapindex"
    assert [(e.loc, e.lastmod) for e in sitemap.entries] == [
        ("https://news.example/sitemap-news.xml", "2026-11-30"), ("https://news.example/sitemap-2025.xml", None)]


def test_no_entity_is_expanded() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "lollollollollollollollol">'
              + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(8))
              + b"]><urlset><url><loc>https://news.example/&i;</loc></url></urlset>")
    assert [e.loc for e in parse_sitemap(laughs).entries] == ["https://news.example/"]
    xxe = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b"<urlset><url><loc>https://news.example/&x;</loc></url></urlset>")
    assert [e.loc for e in parse_sitemap(xxe).entries] == ["https://news.example/"]


def test_gzip_sitemaps_within_the_size_bound() -> None:
    assert parse_sitemap(gzip.compress(NEWS)) == parse_sitemap(NEWS)
    bomb = gzip.compress(b"<urlset>" + b" " * MAX_SITEMAP_BYTES + b"</urlset>", compresslevel=1)
    with pytest.raises(SitemapError, match="inflates past"):
        parse_sitemap(bomb)


def test_a_truncated_gzip_sitemap_is_read_as_far_as_it_goes() -> None:
    """As a truncated plain sitemap is (the parser recovers): the entries before the cut."""
    urls = b"".join(b"<url><loc>https://news.example/%d</loc></url>" % i for i in range(5000))
    body = gzip.compress(b'<?xml version="1.0"?><urlset>' + urls + b"</urlset>")
    entries = [e.loc for e in parse_sitemap(body[: len(body) // 2]).entries]
    assert 100 < len(entries) < 5000
    assert entries[:-1] == ["https://news.example/%d" % i for i in range(len(entries) - 1)]


def test_a_corrupt_gzip_body_is_a_sitemap_error() -> None:
    body = bytearray(gzip.compress(b"<urlset>" + b"<url><loc>https://news.example/x</loc></url>" * 2000))
    body[40:60] = b"\xff" * 20
    with pytest.raises(SitemapError):
        parse_sitemap(bytes(body))
    with pytest.raises(SitemapError):
        parse_sitemap(b"\x1f\x8b\x08\x00 not gzip at all")


@pytest.mark.parametrize("body", [b"", b"hello", b"<html><body>a page</body></html>", b"\x00\x01\x02"])
def test_what_is_not_a_sitemap(body: bytes) -> None:
    with pytest.raises(SitemapError):
        parse_sitemap(body)


def test_sitemaps_named_by_robots_txt() -> None:
    robots = ("User-agent: *\nDisallow: /private\nSitemap: https://news.example/sitemap.xml # the main one\r\n"
              "  sitemap:https://news.example/news.xml\nSITEMAP : /relative.xml\n# Sitemap: https://no.example/\n")
    assert sitemaps_from_robots(robots) == ["https://news.example/sitemap.xml", "https://news.example/news.xml",
                                            "/relative.xml"]
    assert sitemaps_from_robots("User-agent: *\nAllow: /\n") == []
