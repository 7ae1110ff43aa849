"""Sitemaps with references to characters XML cannot carry keep their entries (as feeds do, see
tests/test_feed_safety.py): parse_sitemap raises nothing but SitemapError."""

from __future__ import annotations

import pytest

from aggregator.fetch.sitemaps import SitemapError, parse_sitemap


@pytest.mark.parametrize("reference", ["&#xD800;", "&#xDFFF;", "&#x110000;", "&#0;", "&#%s;" % ("9" * 5000)])
def test_an_invalid_character_reference_does_not_drop_the_sitemap(reference: str) -> None:
    body = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<url><loc>https://a.example/x%s</loc></url><url><loc>https://a.example/y</loc></url></urlset>"
            % reference).encode()
    sitemap = parse_sitemap(body)
    assert [entry.loc.rstrip("\ufffd") for entry in sitemap.entries] == ["https://a.example/x", "https://a.example/y"]
    assert sitemap.char_refs_replaced == 1


@pytest.mark.parametrize("body", [b"\xed\xa0\x80<urlset/>", b"<urlset>\xed\xa0\x80</urlset>", b"\xff\xfe<\x00"])
def test_undecodable_bytes_are_a_sitemap_error_at_most(body: bytes) -> None:
    try:
        parse_sitemap(body)
    except SitemapError:
        pass
