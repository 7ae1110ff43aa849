"""Sitemap parsing: XML sitemaps, sitemap indexes, Google News sitemaps and `Sitemap:` lines in robots.txt.

Parsed with lxml with entity resolution and network access off, so no XML entity from the network is
ever expanded. Owns no fetching.

Not `scrapy.utils.sitemap.Sitemap`: it keeps only the text of a <url>'s direct children and clears the
rest as it goes, so a Google News sitemap's <news:publication_date>, <news:title> and <news:language>
(nested in <news:news>) would be lost; and it takes any root element (an HTML error page becomes a "sitemap"
of type "html"). Not `sitemap_urls_from_robots` either: it keeps a trailing `# comment` as part of the URL
and misses `Sitemap :` with a space before the colon.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass

from lxml import etree
from scrapy.utils.gz import gunzip

from aggregator.fetch.xmlsafety import replace_invalid_char_refs

logger = logging.getLogger(__name__)

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one (uncompressed) sitemap file
_ROBOTS_SITEMAP = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.I | re.M)


class SitemapError(ValueError):
    """A body that is not a usable sitemap."""


@dataclass(frozen=True)
class SitemapEntry:
    """One `<url>` of a sitemap, with the Google News extension when present."""

    loc: str
    lastmod: str | None = None
    news_published: str | None = None
    news_title: str | None = None
    news_language: str | None = None

    def hints(self) -> dict[str, str]:
        hints = {"date_published": self.news_published, "date_modified": self.lastmod,
                 "title": self.news_title, "language": self.news_language}
        return {key: value for key, value in hints.items() if value}


@dataclass(frozen=True)
class Sitemap:
    kind: str  # "urlset" or "sitemapindex"
    entries: tuple[SitemapEntry, ...]  # urls, or child sitemaps (loc + lastmod) for an index
    char_refs_replaced: int = 0  # references to characters XML cannot carry, read as U+FFFD


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _news(element: etree._Element) -> tuple[str | None, str | None, str | None]:
    for child in element:
        if _local(child.tag) == "news":
            language = None
            for publication in child:
                if _local(publication.tag) == "publication":
                    language = _child_text(publication, "language")
            return _child_text(child, "publication_date"), _child_text(child, "title"), language
    return None, None, None


def decompress(body: bytes) -> bytes:
    """Gunzip a `.xml.gz` body, refusing anything that inflates past MAX_SITEMAP_BYTES (a gzip bomb). A
    truncated one gives what it holds, which then parses as a truncated plain sitemap does."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        return gunzip(body, max_size=MAX_SITEMAP_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise SitemapError("broken gzip: %s" % exc) from None
    except ValueError:  # scrapy.utils._compression._DecompressionMaxSizeExceeded
        raise SitemapError("gzip sitemap inflates past %d bytes" % MAX_SITEMAP_BYTES) from None


def parse_sitemap(body: bytes) -> Sitemap:
    """Parse a sitemap or sitemap index body (plain or gzip)."""
    # lxml fails a whole sitemap on one reference to a surrogate (`&#xD800;`): read it as U+FFFD instead
    data, replaced = replace_invalid_char_refs(decompress(body))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:  # ValueError: lxml's own UnicodeDecodeError
        raise SitemapError("not XML: %s" % exc) from None
    if root is None or _local(root.tag) not in ("urlset", "sitemapindex"):
        raise SitemapError("not a sitemap (root element %r)" % (None if root is None else _local(root.tag)))
    kind = _local(root.tag)
    entries = []
    for element in root:
        if _local(element.tag) not in ("url", "sitemap"):
            continue
        loc = _child_text(element, "loc")
        if not loc:
            continue
        published, title, language = _news(element)
        entries.append(SitemapEntry(loc=loc, lastmod=_child_text(element, "lastmod"), news_published=published,
                                    news_title=title, news_language=language))
    return Sitemap(kind=kind, entries=tuple(entries), char_refs_replaced=replaced)


def sitemaps_from_robots(text: str) -> list[str]:
    """The `Sitemap:` URLs a robots.txt names."""
    return _ROBOTS_SITEMAP.findall(text)
