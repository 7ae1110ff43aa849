"""Feed parsing: RSS 0.9x/1.0/2.0, Atom and JSON Feed bodies into plain `FeedEntry` records.

Owns the mapping from feedparser's (and JSON Feed's) shapes onto the hints that travel with an article. XML
reaches feedparser without its DOCTYPE and with invalid character references replaced
(`aggregator.fetch.xmlsafety`): no entity is ever expanded, no DTD loaded, and the feed's items are kept.
Parsing raises nothing but `FeedError`. Does no fetching.
"""

from __future__ import annotations

import calendar
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator.fetch.xmlsafety import SafeXML, make_safe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEntry:
    """One feed entry: the article's link and what the feed says about it."""

    link: str
    title: str | None = None
    published: str | None = None
    updated: str | None = None
    authors: tuple[str, ...] = ()
    summary: str | None = None
    guid: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = field(default=())

    def hints(self) -> dict[str, Any]:
        """The entry as extraction hints (see `aggregator.extract.extractor.extract_article`)."""
        hints = {
            "title": self.title,
            "date_published": self.published,
            "date_modified": self.updated,
            "authors": list(self.authors),
            "summary": self.summary,
            "guid": self.guid,
            "language": self.language,
            "tags": list(self.tags),
        }
        return {key: value for key, value in hints.items() if value}


@dataclass(frozen=True)
class ParsedFeed:
    entries: tuple[FeedEntry, ...]
    title: str | None = None
    problem: str | None = None  # set when the feed was malformed but still yielded entries
    guid_conflicts: int = 0  # entries whose guid another link had, or whose link came with another guid
    entities_ignored: int = 0  # entity declarations of the DOCTYPE that was dropped unread
    dtd_dropped: bool = False
    char_refs_replaced: int = 0  # references to characters XML cannot carry, read as U+FFFD


class FeedError(ValueError):
    """A body that is not a usable feed."""


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    return datetime.fromtimestamp(calendar.timegm(struct), UTC).isoformat()


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (a number, an object, null) as no items."""
    return value if isinstance(value, list) else []


def _json_feed(data: dict[str, Any]) -> ParsedFeed:
    entries = []
    language = _text(data.get("language"))
    for item in _list(data.get("items")):
        if not isinstance(item, dict):
            continue
        link = _text(item.get("url")) or _text(item.get("external_url"))
        if not link:
            continue
        authors = [a.get("name") for a in _list(item.get("authors")) if isinstance(a, dict)]
        if isinstance(item.get("author"), dict):  # JSON Feed 1.0
            authors.append(item["author"].get("name"))
        entries.append(
            FeedEntry(
                link=link,
                title=_text(item.get("title")),
                published=_text(item.get("date_published")),
                updated=_text(item.get("date_modified")),
                authors=tuple(a.strip() for a in authors if isinstance(a, str) and a.strip()),
                summary=_text(item.get("summary")),
                guid=_text(str(item.get("id"))) if item.get("id") is not None else None,
                language=_text(item.get("language")) or language,
                tags=tuple(t for t in _list(item.get("tags")) if isinstance(t, str)),
            )
        )
    return ParsedFeed(entries=tuple(entries), title=_text(data.get("title")), guid_conflicts=_guid_conflicts(entries))


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed body. Raises FeedError when nothing usable is in it; a malformed feed that still
    yields entries is returned with `problem` set."""
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FeedError("invalid JSON Feed: %s" % exc) from None
        if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
            raise FeedError("JSON without a jsonfeed.org version")
        return _json_feed(data)
    safe = make_safe(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        return _xml_feed(feedparser.parse(safe.body, response_headers=headers), safe)
    except FeedError:
        raise
    except Exception as exc:  # noqa: BLE001 - feedparser raises whatever its input provokes; never past here
        raise FeedError("feedparser failed: %s: %s" % (type(exc).__name__, exc)) from None


def _xml_feed(parsed: Any, safe: SafeXML) -> ParsedFeed:
    language = _text(parsed.feed.get("language"))
    entries = []
    for entry in parsed.entries:
        link = _text(entry.get("link"))
        if not link:
            continue
        authors = [a.get("name") for a in entry.get("authors", []) if isinstance(a, dict)]
        if not authors and entry.get("author"):
            authors = [entry.get("author")]
        entries.append(
            FeedEntry(
                link=link,
                title=_text(entry.get("title")),
                # dict.get: feedparser's own get() maps a missing `updated` onto `published` and warns.
                published=_iso(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
                updated=_iso(dict.get(entry, "updated_parsed")),
                authors=tuple(a.strip() for a in authors if isinstance(a, str) and a.strip()),
                summary=_text(entry.get("summary")),
                guid=_text(entry.get("id")),
                language=language,
                tags=tuple(t.get("term") for t in entry.get("tags", []) if t.get("term")),
            )
        )
    problem = None
    if parsed.get("bozo"):
        problem = "%s: %s" % (type(parsed.get("bozo_exception")).__name__, parsed.get("bozo_exception"))
        if not entries:
            raise FeedError("malformed feed: %s" % problem)
    if not entries and not parsed.get("version"):
        raise FeedError("not a feed (no RSS, Atom or JSON Feed found)")
    return ParsedFeed(entries=tuple(entries), title=_text(parsed.feed.get("title")), problem=problem,
                      guid_conflicts=_guid_conflicts(entries), entities_ignored=safe.entities_ignored,
                      dtd_dropped=safe.dtd_dropped, char_refs_replaced=safe.char_refs_replaced)


def _guid_conflicts(entries: list[FeedEntry]) -> int:
    """Entries that reuse another link's guid or give a listed link another guid. Harmless here: articles
    are keyed by canonical URL, never by guid; counted so a feed that does it can be noticed."""
    link_of: dict[str, str] = {}
    guid_of: dict[str, str] = {}
    conflicts = 0
    for entry in entries:
        if not entry.guid:
            continue
        if link_of.setdefault(entry.guid, entry.link) != entry.link or \
                guid_of.setdefault(entry.link, entry.guid) != entry.guid:
            conflicts += 1
    return conflicts
