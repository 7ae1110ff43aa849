"""Probing a site before it is registered: fetch one page (a size cap, a timeout, a redirect limit) and find what
to crawl there: the page itself as a feed or sitemap, the feeds it announces, a feed at a common path, the
sitemaps its robots.txt names, else the page as a listing.

For `aggregator add`, outside any crawl: a blocking fetch with the standard library, never Scrapy's reactor
(it cannot restart in one process). Parsing is the crawl's own (`discovery`, `feeds`, `sitemaps`). Owns no
registry: it says what it found and the caller decides what to write.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from scrapy.http import HtmlResponse

from aggregator.fetch.discovery import article_links, discover_feeds
from aggregator.fetch.feeds import FeedError, ParsedFeed, parse_feed
from aggregator.fetch.sitemaps import SitemapError, parse_sitemap, sitemaps_from_robots
from aggregator.fetch.ssrf import is_public_address
from aggregator.settings import DOWNLOAD_MAXSIZE, REDIRECT_MAX_TIMES, USER_AGENT
from aggregator.urls import same_site

logger = logging.getLogger(__name__)

__all__ = ["Found", "Page", "ProbeError", "Prober"]

TIMEOUT = 15.0  # seconds for one whole response, headers and body
# Where sites without <link rel="alternate"> most often keep their feed (WordPress, Ghost, Hugo, Jekyll, ...)
COMMON_FEED_PATHS = ("/feed", "/rss", "/feed.xml", "/rss.xml", "/atom.xml", "/index.xml")
ANNOUNCED_TRIES = 3  # announced feeds fetched before giving up on them (the first that parses is taken)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_STARTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<urlset", b"<sitemapindex", b"{")

HostPort = tuple[str, int | None]


class ProbeError(Exception):
    """The page could not be fetched or used; the message is one line naming the URL."""


@dataclass(frozen=True)
class Page:
    """A fetched page: where it ended up after redirects, and what it said."""

    url: str
    status: int
    content_type: str | None
    body: bytes
    location: str | None = None  # a redirect's target, as sent

    @property
    def is_html(self) -> bool:
        """An HTML page, by its first bytes before its content type: servers send feeds as text/html too."""
        head = self.body[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
        if head.startswith(b"<?xml"):
            return b"<html" in head  # XHTML; anything else with an XML declaration is read as XML
        if head.startswith(_FEED_STARTS):
            return False
        media = (self.content_type or "").split(";")[0].strip().lower()
        return media in _HTML_TYPES or (not media.endswith(("xml", "json"))
                                        and head.startswith((b"<!doctype html", b"<html")))


@dataclass(frozen=True)
class Found:
    """What a site offers to crawl: the registry field (`kind`) and its URLs, and how they were found."""

    kind: str  # "feed", "sitemap" or "listing": the registry field the URLs go in
    urls: tuple[str, ...]
    how: str
    page: Page
    title: str | None = None  # a name for the source: the site's, else the feed's, else the page's title
    homepage: str | None = None  # the HTML page asked, when what is registered is another URL
    others: tuple[str, ...] = ()  # other feeds the page announced, not registered
    passed_over: tuple[str, ...] = ()  # "URL: why" of the candidates tried and not taken


def host_port(url: str) -> HostPort:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None
    return (parts.hostname or "").lower().rstrip("."), port


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects come back as answers: `Prober.fetch` follows them itself, checking each target."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Prober:
    """Fetches with the limits it is made with; `probe(url)` finds what to crawl on a site."""

    def __init__(self, timeout: float = TIMEOUT, max_bytes: int = DOWNLOAD_MAXSIZE,
                 max_redirects: int = REDIRECT_MAX_TIMES, user_agent: str = USER_AGENT) -> None:
        if timeout <= 0 or max_bytes <= 0 or max_redirects < 0:
            raise ValueError("bad limits: timeout=%r, max_bytes=%r, max_redirects=%r"
                             % (timeout, max_bytes, max_redirects))
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirects)

    # --- one page ---------------------------------------------------------------------------------
    def fetch(self, url: str, trusted: HostPort | None = None) -> Page:
        """GET `url`, following up to `max_redirects` redirects. A host on a non-public address is fetched only
        when it is `trusted` (the host and port the user named), as the crawl's SSRF guard does."""
        trusted = trusted or host_port(url)
        current = urldefrag(url)[0]
        for _ in range(self.max_redirects + 1):
            refusal = _unusable(current) or self._refusal(current, trusted)
            if refusal:
                raise ProbeError("%s not fetched: %s" % (current, refusal))
            page = self._get(current)
            if page.status not in _REDIRECTS:
                return page
            if not page.location:
                raise ProbeError("%s: HTTP %d without a Location" % (current, page.status))
            current = urldefrag(urljoin(current, page.location.strip()))[0]
        raise ProbeError("%s: more than %d redirects" % (url, self.max_redirects))

    def _get(self, url: str) -> Page:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ProbeError("%s: not an http(s) URL" % url)
        logger.debug("Probing: GET %s", url)
        request = urllib.request.Request(url, headers={
            "User-Agent": self.user_agent, "Accept-Encoding": "identity",
            "Accept": "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
                      "application/feed+json,application/xml;q=0.9,*/*;q=0.8"})
        deadline = time.monotonic() + self.timeout
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in _REDIRECTS:
                return Page(url, exc.code, exc.headers.get("Content-Type"), b"", exc.headers.get("Location"))
            raise ProbeError("%s: HTTP %d %s" % (url, exc.code, exc.reason)) from None
        except urllib.error.URLError as exc:
            raise ProbeError("cannot fetch %s: %s" % (url, _why(exc.reason))) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ProbeError("cannot fetch %s: %s" % (url, _why(exc))) from None
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise ProbeError("%s: larger than %d bytes (Content-Length %s)" % (url, self.max_bytes, declared))
            body = self._read(url, response, deadline)
            return Page(url, response.status, response.headers.get("Content-Type"), body)

    def _read(self, url: str, response: Any, deadline: float) -> bytes:
        """The body, in pieces as they come (`read1`), so that a trickle is cut off at the deadline too."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise ProbeError("%s: not received whole within %g s" % (url, self.timeout))
                chunk = response.read1(65536)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > self.max_bytes:
                    raise ProbeError("%s: larger than %d bytes" % (url, self.max_bytes))
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise ProbeError("cannot fetch %s: %s" % (url, _why(exc))) from None

    def _refusal(self, url: str, trusted: HostPort) -> str | None:
        """Why `url` must not be fetched (a non-public address the user did not name), or None."""
        host, port = host_port(url)
        if (host, port) == trusted:
            return None
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return None  # unresolvable: the fetch fails with an error of its own
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for address in addresses:
            if not is_public_address(address):
                return "%s is a non-public address (%s) other than the one asked; add that URL itself if you" \
                       " trust it" % (host, address)
        return None

    # --- a site ----------------------------------------------------------------------------------
    def probe(self, url: str) -> Found:
        """What to crawl on the site of `url`: raises ProbeError when the page itself cannot be fetched."""
        trusted = host_port(url)
        page = self.fetch(url, trusted)
        if not page.is_html:
            return _as_feed_or_sitemap(page)
        html = HtmlResponse(url=page.url, body=page.body,
                            headers={"Content-Type": page.content_type} if page.content_type else None)
        site_name = _first_text(html, "meta[property='og:site_name']::attr(content)")
        page_title = site_name or _first_text(html, "title::text")
        announced = discover_feeds(html)
        # the site's own feeds first, in page order: a feed hosted elsewhere (a feed service) is the fallback
        own = [feed for feed in announced if same_site(feed, page.url)]
        tried = (own + [feed for feed in announced if feed not in own])[:ANNOUNCED_TRIES]
        passed: list[str] = []
        for candidate in tried:
            feed_page, feed, why = self._try_feed(candidate, trusted)
            if feed_page is not None and feed is not None:
                return Found("feed", (feed_page.url,), 'announced by <link rel="alternate"> on the page', page,
                             title=site_name or feed.title or page_title, homepage=page.url,
                             others=tuple(other for other in announced if other != candidate),
                             passed_over=tuple(passed))
            passed.append("%s: %s" % (candidate, why))
        untried = tuple(feed for feed in announced if feed not in tried)
        for path in COMMON_FEED_PATHS:
            feed_page, feed, _ = self._try_feed(urljoin(page.url, path), trusted)
            if feed_page is not None and feed is not None:
                return Found("feed", (feed_page.url,), "found at a common feed path (%s)" % path, page,
                             title=site_name or feed.title or page_title, homepage=page.url,
                             others=untried, passed_over=tuple(passed))
        sitemaps, how = self._sitemaps(page.url, trusted, passed)
        if sitemaps:
            return Found("sitemap", sitemaps, how, page, title=page_title, homepage=page.url,
                         others=untried, passed_over=tuple(passed))
        links = article_links(html)
        return Found("listing", (page.url,), "no feed or sitemap found: the page is read as a listing (%d"
                     " article-like link%s on it)" % (len(links), "" if len(links) == 1 else "s"), page,
                     title=page_title, others=untried, passed_over=tuple(passed))

    def _try_feed(self, url: str, trusted: HostPort) -> tuple[Page | None, ParsedFeed | None, str]:
        try:
            page = self.fetch(url, trusted)
        except ProbeError as exc:
            return None, None, str(exc)
        if page.is_html:
            return page, None, "an HTML page, not a feed"
        try:
            return page, parse_feed(page.body, page.url, page.content_type), ""
        except FeedError as exc:
            return page, None, str(exc)

    def _sitemaps(self, page_url: str, trusted: HostPort, passed: list[str]) -> tuple[tuple[str, ...], str]:
        """The sitemaps robots.txt names (those this probe may reach), else /sitemap.xml when it is one."""
        try:
            robots = self.fetch(urljoin(page_url, "/robots.txt"), trusted)
        except ProbeError:
            robots = None
        if robots is not None and not robots.is_html:
            named = dict.fromkeys(sitemaps_from_robots(robots.body.decode("utf-8", "replace")))
            usable = []
            for sitemap in named:
                refusal = _unusable(sitemap) or self._refusal(sitemap, trusted)
                if refusal:
                    passed.append("%s: %s" % (sitemap, refusal))
                else:
                    usable.append(sitemap)
            if usable:
                return tuple(usable), "named by robots.txt (Sitemap: lines)"
        try:
            sitemap_page = self.fetch(urljoin(page_url, "/sitemap.xml"), trusted)
            parse_sitemap(sitemap_page.body)
        except (ProbeError, SitemapError):
            return (), ""
        return (sitemap_page.url,), "found at /sitemap.xml"


def _as_feed_or_sitemap(page: Page) -> Found:
    try:
        feed = parse_feed(page.body, page.url, page.content_type)
    except FeedError as feed_problem:
        try:
            sitemap = parse_sitemap(page.body)
        except SitemapError:
            raise ProbeError("%s is neither an HTML page, a feed nor a sitemap (%s; %s)"
                             % (page.url, page.content_type or "no content type", feed_problem)) from None
        return Found("sitemap", (page.url,), "the page itself is a sitemap (%s, %d entr%s)"
                     % (sitemap.kind, len(sitemap.entries), "y" if len(sitemap.entries) == 1 else "ies"), page)
    return Found("feed", (page.url,), "the page itself is a feed (%d entr%s)"
                 % (len(feed.entries), "y" if len(feed.entries) == 1 else "ies"), page, title=feed.title)


def _unusable(url: str) -> str | None:
    """Why `url` cannot be fetched at all, else None: not http(s), or no URL (an unclosed IPv6 bracket, a port
    past 65535), as a page's links, a Location or a robots.txt line may be."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in 0-65535
    except ValueError as exc:
        return "not a usable URL (%s)" % exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    return None


def _first_text(page: HtmlResponse, query: str) -> str | None:
    value = page.css(query).get()
    text = " ".join(value.split()) if value else ""
    return text or None


def _why(error: object) -> str:
    """A network error in the words a user reads."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "cannot resolve the host name (%s)" % error.strerror
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, ssl.SSLError):
        return "TLS error: %s" % (error.reason or error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = " ".join(str(error).split())
    return text or type(error).__name__
