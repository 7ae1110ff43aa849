"""Finding article and feed links in HTML: listing pages, pagination and feed autodiscovery.

Pure functions over a parsed page (a parsel `Selector` as Scrapy gives it); owns no fetching.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from parsel import Selector

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


def article_links(page: Selector, page_url: str, selector: str | None = None) -> list[str]:
    """Article links of a listing page, absolute, canonical and in page order, each once. With a CSS
    `selector`, the links it selects (or the links inside what it selects); without one, same-site
    article-like links."""
    if selector:
        chosen = page.css(selector)
        hrefs = chosen.xpath("self::a/@href").getall() + chosen.css("a::attr(href)").getall()
        links = [urljoin(page_url, href.strip()) for href in hrefs]
    else:
        links = [urljoin(page_url, href.strip()) for href in page.css("a::attr(href)").getall()]
        links = [link for link in links if is_article_like(link, page_url)]
    unique: dict[str, None] = {}
    for link in links:
        if _http(link):
            unique.setdefault(canonical_url(link), None)
    return list(unique)


def next_page(page: Selector, page_url: str) -> str | None:
    """The listing's next page from `<link rel=next>` or `<a rel=next>`, if any."""
    href = page.css("link[rel~=next]::attr(href), a[rel~=next]::attr(href)").get()
    if href and _http(urljoin(page_url, href.strip())):
        return urljoin(page_url, href.strip())
    return None


def discover_feeds(page: Selector, page_url: str) -> list[str]:
    """Feeds a page announces with `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json">`."""
    found: dict[str, None] = {}
    for link in page.css("link[href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        kind = (link.attrib.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            url = urljoin(page_url, link.attrib["href"].strip())
            if _http(url):
                found.setdefault(url, None)
    return list(found)
