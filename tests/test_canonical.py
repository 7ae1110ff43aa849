"""URL canonicalization: one spelling per page."""

from __future__ import annotations

import pytest

from aggregator.urls import canonical_url, resolve_canonical


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.COM/News/a-story#comments", "https://example.com/News/a-story"),
        ("https://example.com/a?utm_source=x&utm_medium=y&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=abc&gclid=1&mc_cid=2", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("HTTPS://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/x/./y/../z", "https://example.com/x/z"),
        (" https://example.com/a ", "https://example.com/a"),
        # session ids: every visitor would get another spelling of the page
        ("https://example.com/a?PHPSESSID=9f8e&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a;jsessionid=ABC123?id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?ASPSESSIONIDQQ=x&sid_page=2", "https://example.com/a?sid_page=2"),
        # an escape that is not UTF-8 keeps its byte; UTF-8 ones keep theirs
        ("https://example.com/s?q=%E9t%E9", "https://example.com/s?q=%E9t%E9"),
        ("https://example.com/s?q=%C3%A9t%C3%A9", "https://example.com/s?q=%C3%A9t%C3%A9"),
        ("https://example.com/s?q=caf\u00e9&b=%FF", "https://example.com/s?b=%FF&q=caf%C3%A9"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://kz.example/news/%d0%bf%d1%80%d0%b8", "https://kz.example/news/%d0%bf%d1%80%d0%b8"),
        ("https://kz.example/news/при", "https://kz.example/news/%D0%BF%D1%80%D0%B8"),
        ("https://example.com/~a/b%7Ec", "https://example.com/~a/b%7Ec"),
        ("https://user:secret@example.com/a", "https://user@example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a/b/..", "https://example.com/a/b/.."),
    ],
)
def test_stored_spellings_stay_where_w3lib_would_spell_them_otherwise(url: str, expected: str) -> None:
    """Story ids derive from canonical URLs: these are the forms w3lib's canonicalize_url would change."""
    assert canonical_url(url) == expected


def test_two_urls_differing_only_in_a_non_utf8_escape_stay_two_pages() -> None:
    assert canonical_url("https://example.com/s?q=%E9") != canonical_url("https://example.com/s?q=%E8")


def test_canonical_url_is_idempotent() -> None:
    url = "HTTP://WWW.Example.com:80/a/b?utm_campaign=z&q=caf%C3%A9&b=1#top"
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert once == "http://www.example.com/a/b?b=1&q=caf%C3%A9"


def test_rel_canonical_on_the_same_site_wins() -> None:
    page = "https://www.example.com/news/story?utm_source=rss"
    assert resolve_canonical(page, "/news/story-final") == "https://www.example.com/news/story-final"
    assert resolve_canonical(page, "https://example.com/news/s") == "https://example.com/news/s"


def test_rel_canonical_on_another_site_is_not_this_pages_address() -> None:
    page = "https://republisher.example/2026/story.html"
    assert resolve_canonical(page, "https://original.example/story") == page
    assert resolve_canonical(page, None) == page
    assert resolve_canonical(page, "javascript:alert(1)") == page
