"""The sources registry: a TOML file of news sources, loaded into frozen dataclasses and validated on load.

Owns the file format and its checks; knows nothing of crawling. A bad file raises `RegistryError`
naming the file, the source and the field.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

SOURCES_ENV = "AGGREGATOR_SOURCES"
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FIELDS = {"name", "feed", "listing", "sitemap", "homepage", "article_links", "pagination", "language",
           "max_pages", "max_age", "allow", "deny", "download_delay", "every", "category", "min_interval",
           "max_interval"}
# Top-level tables besides [sources.*]: each is validated by the module that owns it (rules, notifications);
# here they are only allowed, so a registry that has them still loads its sources.
EXTRA_TABLES = ("rules", "notify")
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class RegistryError(ValueError):
    """A sources file that cannot be used; the message names the file, source and field."""


@dataclass(frozen=True)
class Source:
    """One news source: where its articles are announced and how to find them."""

    key: str
    name: str
    feeds: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()  # sitemap or sitemap-index URLs; a robots.txt URL means its Sitemap: lines
    homepage: str | None = None  # alone, it is where feeds are autodiscovered
    article_links: str | None = None
    pagination: str | None = None  # listing page URL template with {page}, e.g. https://x/news?page={page}
    language: str | None = None
    max_pages: int = 1
    max_age: float | None = None  # seconds: older feed/sitemap entries are not fetched
    allow: tuple[str, ...] = ()  # regexes: when given, only article URLs matching one are fetched
    deny: tuple[str, ...] = ()  # regexes: article URLs matching one are never fetched
    download_delay: float | None = None  # seconds between requests to this source's hosts
    every: str | None = None  # crawl interval for the scheduler: "30m" or a cron expression
    category: str | None = None  # a folder name for readers and OPML (an <outline> category)
    min_interval: float | None = None  # seconds: adaptive polling never polls more often than this
    max_interval: float | None = None  # seconds: adaptive polling never waits longer than this

    @property
    def start_urls(self) -> tuple[str, ...]:
        if self.feeds or self.listings or self.sitemaps:
            return self.feeds + self.listings + self.sitemaps
        return (self.homepage,) if self.homepage else ()

    @property
    def discovers_feeds(self) -> bool:
        """A source given only a homepage: its feeds are found from <link rel="alternate">."""
        return not (self.feeds or self.listings or self.sitemaps) and self.homepage is not None

    @property
    def kind(self) -> str:
        kinds = [name for name, urls in (("feed", self.feeds), ("listing", self.listings),
                                         ("sitemap", self.sitemaps)) if urls]
        return "+".join(kinds) or "homepage"

    def wants(self, url: str) -> bool:
        """Whether an article URL passes the source's allow/deny patterns."""
        if any(re.search(pattern, url) for pattern in self.deny):
            return False
        return not self.allow or any(re.search(pattern, url) for pattern in self.allow)


def _fail(path: str, key: str | None, field: str | None, why: str) -> RegistryError:
    where = path
    if key is not None:
        where += ": source %r" % key
    if field is not None:
        where += ", field %r" % field
    return RegistryError("%s: %s" % (where, why))


def _urls(path: str, key: str, field: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise _fail(path, key, field, "expected a URL or a non-empty list of URLs, got %r" % (value,))
    for url in values:
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            # .port raises for a port out of 0-65535: found here, not when the crawl reaches the source
            port = parts.port if parts is not None else None
        except ValueError as exc:
            raise _fail(path, key, field, "not a usable URL: %r (%s)" % (url, exc)) from None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _fail(path, key, field, "not an http(s) URL: %r" % (url,))
        if port == 0:
            raise _fail(path, key, field, "port 0 in %r" % (url,))
        if parts.username is not None or parts.password is not None:
            # the crawl cannot use them (Scrapy takes "user:pw@host" for the host) and would log the password
            raise _fail(path, key, field, "a user name or password in %s is not supported (the crawl cannot send"
                        " them)" % parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl())
        if any(char.isspace() or ord(char) < 0x20 for char in url):
            raise _fail(path, key, field, "white space or a control character in %r" % (url,))
    return tuple(values)


def _optional_str(path: str, key: str, field: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    raise _fail(path, key, field, "expected a non-empty string, got %r" % (value,))


def _source(path: str, key: str, table: Any) -> Source:
    if not _KEY_RE.match(key):
        raise _fail(path, key, None, "a source id is lowercase letters, digits, '-' or '_'")
    if not isinstance(table, dict):
        raise _fail(path, key, None, "expected a table, got %r" % (table,))
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise _fail(path, key, unknown[0], "unknown field (known: %s)" % ", ".join(sorted(_FIELDS)))
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, key, "name", "required: a non-empty string")
    feeds = _urls(path, key, "feed", table["feed"]) if "feed" in table else ()
    listings = _urls(path, key, "listing", table["listing"]) if "listing" in table else ()
    sitemaps = _urls(path, key, "sitemap", table["sitemap"]) if "sitemap" in table else ()
    if not feeds and not listings and not sitemaps and "homepage" not in table:
        raise _fail(path, key, "feed", "a source needs 'feed', 'listing', 'sitemap' or 'homepage' URLs")
    max_pages = table.get("max_pages", 1)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
        raise _fail(path, key, "max_pages", "expected a positive integer, got %r" % (max_pages,))
    homepage = table.get("homepage")
    if homepage is not None:
        homepage = _urls(path, key, "homepage", homepage)[0]
    pagination = _optional_str(path, key, "pagination", table.get("pagination"))
    if pagination is not None:
        if "{page}" not in pagination:
            raise _fail(path, key, "pagination", "a URL template needs {page}, got %r" % pagination)
        try:  # as the spider fills it in: any other {placeholder} (or a lone brace) would fail there
            page_2 = pagination.format(page=2)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise _fail(path, key, "pagination", "a URL template may name only {page} (a literal brace is {{ or }}),"
                        " got %r (%s: %s)" % (pagination, type(exc).__name__, exc)) from None
        _urls(path, key, "pagination", page_2)
    delay = table.get("download_delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0):
        raise _fail(path, key, "download_delay", "expected seconds >= 0, got %r" % (delay,))
    min_interval = _interval(path, key, "min_interval", table.get("min_interval"))
    max_interval = _interval(path, key, "max_interval", table.get("max_interval"))
    if min_interval is not None and max_interval is not None and min_interval > max_interval:
        raise _fail(path, key, "min_interval", "greater than max_interval (%r > %r)"
                    % (table["min_interval"], table["max_interval"]))
    return Source(
        key=key,
        name=name.strip(),
        feeds=feeds,
        listings=listings,
        sitemaps=sitemaps,
        homepage=homepage,
        article_links=_optional_str(path, key, "article_links", table.get("article_links")),
        pagination=pagination,
        language=_optional_str(path, key, "language", table.get("language")),
        max_pages=max_pages,
        max_age=_age(path, key, table.get("max_age")),
        allow=_patterns(path, key, "allow", table.get("allow")),
        deny=_patterns(path, key, "deny", table.get("deny")),
        download_delay=float(delay) if delay is not None else None,
        every=_every(path, key, table.get("every")),
        category=_optional_str(path, key, "category", table.get("category")),
        min_interval=min_interval,
        max_interval=max_interval,
    )


def _interval(path: str, key: str, field: str, value: Any) -> float | None:
    """A polling bound as seconds: "30m", "2h", "1d" (not a cron expression)."""
    from aggregator.intervals import Every, ScheduleError

    text = _optional_str(path, key, field, value)
    if text is None:
        return None
    try:
        seconds = Every.parse(text).seconds
    except ScheduleError:
        seconds = None
    if seconds is None:
        raise _fail(path, key, field, "expected an interval like '15m', '2h', '1d', got %r" % (value,))
    return seconds


def _every(path: str, key: str, value: Any) -> str | None:
    from aggregator.intervals import Every, ScheduleError

    text = _optional_str(path, key, "every", value)
    if text is not None:
        try:
            Every.parse(text)
        except ScheduleError as exc:
            raise _fail(path, key, "every", str(exc)) from None
    return text


def _age(path: str, key: str, value: Any) -> float | None:
    """`max_age` as seconds: a number of days, or "36h", "7d", "2w"."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value) * 86400
    match = _AGE_RE.match(value) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise _fail(path, key, "max_age", "expected days or a duration like '36h', '7d', got %r" % (value,))
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def _patterns(path: str, key: str, field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise _fail(path, key, field, "expected a regex or a list of regexes, got %r" % (value,))
    for pattern in values:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, key, field, "bad regex %r: %s" % (pattern, exc)) from None
    return tuple(values)


def parse_document(text: str, path: str = "<sources>") -> dict[str, Any]:
    """The registry as TOML data, with only its top-level tables checked; `parse_registry` checks sources."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, None, None, "not valid TOML: %s" % exc) from None
    unknown = sorted(set(data) - {"sources", *EXTRA_TABLES})
    if unknown:
        raise _fail(path, None, unknown[0], "unknown top-level table (expected [sources.<id>], [rules.<name>]"
                    " or [notify.<name>])")
    for name in EXTRA_TABLES:
        if name in data and not isinstance(data[name], dict):
            raise _fail(path, None, name, "expected tables [%s.<name>], got %r" % (name, data[name]))
    return data


def parse_registry(text: str, path: str = "<sources>") -> dict[str, Source]:
    """Parse and validate registry text; returns sources by key, in file order."""
    data = parse_document(text, path)
    tables = data.get("sources")
    if not isinstance(tables, dict) or not tables:
        raise _fail(path, None, "sources", "no [sources.<id>] tables found")
    return {key: _source(path, key, table) for key, table in tables.items()}


def default_registry_text() -> str:
    return resources.files("aggregator").joinpath("sources.toml").read_text(encoding="utf-8")


def registry_path(path: str | os.PathLike[str] | None = None) -> str | None:
    """The registry file in use: `path`, else $AGGREGATOR_SOURCES; None means the one shipped in the package."""
    chosen = path or os.environ.get(SOURCES_ENV)
    return str(chosen) if chosen else None


def read_registry_text(path: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """The registry's text and the name to report it by (see `registry_path`)."""
    chosen = registry_path(path)
    if chosen is None:
        return default_registry_text(), "aggregator/sources.toml"
    try:
        return Path(chosen).read_text(encoding="utf-8"), chosen
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(chosen, None, None, "cannot read: %s" % exc) from None


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, Source]:
    """Load `path`, else $AGGREGATOR_SOURCES, else the registry shipped in the package."""
    text, name = read_registry_text(path)
    return parse_registry(text, name)
