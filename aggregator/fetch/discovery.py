"""Finding article and feed links in HTML: listing pages, pagination and feed autodiscovery.

Pure functions over a fetched page (Scrapy's `TextResponse`, so relative links resolve against its
`<base href>` as a browser's do); owns no fetching.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from scrapy.http import TextResponse
from scrapy.linkextractors import LinkExtractor

from aggregator.urls import canonical_url, same_site

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
              "application/rdf+xml")
_NOT_ARTICLE_SEGMENTS = frozenset(
    {
        "tag", "tags", "category", "categories", "author", "authors", "page", "about", "contact",
        "search", "login", "register", "subscribe", "feed", "rss", "privacy", "terms", "cookies",
        "advertise", "newsletter", "topics", "section", "sections", "wp-admin", "wp-login.php",
    }
)
_NOT_ARTICLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".pdf", ".zip", ".mp3",
                         ".mp4", ".css", ".js", ".xml", ".rss", ".json", ".ico")
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){2,}", re.IGNORECASE)


def is_article_like(url: str, listing_url: str) -> bool:
    """A same-site link whose path looks like an article (a slug of three or more words, or a
    numeric id), not a section, tag, author or static file."""
    if not same_site(url, listing_url):
        return False
    path = urlsplit(url).path.lower()
    if path.endswith(_NOT_ARTICLE_SUFFIXES):
        return False
    segments = [s for s in path.split("/") if s]
    if not segments or any(s in _NOT_ARTICLE_SEGMENTS for s in segments):
        return False
    last = segments[-1].removesuffix(".html").removesuffix(".htm")
    return bool(_SLUG_RE.fullmatch(last)) or (last.isdigit() and len(segments) >= 2)


def _http(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _absolute(page: TextResponse, href: str) -> str | None:
    """`href` made absolute against the page, when that gives an http(s) URL."""
    try:
        url = page.urljoin(href.strip())
    except ValueError:  # e.g. "http://[unclosed": one bad link must not cost the page
        return None
    return url if _http(url) else None


def article_links(page: TextResponse, selector: str | None = None) -> list[str]:
    """Article links of a listing page, absolute, canonical and in page order, each once. With a CSS
    `selector`, the links it selects (or the links inside what it selects); without one, same-site
    article-like links."""
    # <a href> only, whatever the extension: with a selector the source says what an article link is,
    # without one is_article_like decides.
    extractor = LinkExtractor(tags="a", attrs="href", deny_extensions=(), restrict_css=selector or ())
    links = [link.url for link in extractor.extract_links(page) if _http(link.url)]
    if not selector:
        links = [link for link in links if is_article_like(link, page.url)]
    return list(dict.fromkeys(canonical_url(link) for link in links))


def next_page(page: TextResponse) -> str | None:
    """The listing's next page from `<link rel=next>` or `<a rel=next>`, if any."""
    href = page.css("link[rel~=next]::attr(href), a[rel~=next]::attr(href)").get()
    return _absolute(page, href) if href else None


def discover_feeds(page: TextResponse) -> list[str]:
    """Feeds a page announces with `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json">`."""
    found: dict[str, None] = {}
    for link in page.css("link[href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        kind = (link.attrib.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            url = _absolute(page, link.attrib["href"])
            if url:
                found.setdefault(url, None)
    return list(found)
