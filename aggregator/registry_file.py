"""Adding sources to a registry's text: new `[sources.<key>]` tables (rendered with tomlkit) appended after
every byte already there, so comments, layout and the `[rules.*]`/`[notify.*]` tables stay as written; the
result is checked as the commands load it (sources, rules, notifiers) before anyone writes it. Also the URLs a
registry already holds and source keys made from host names.

Plain data: reads and writes no file (the command writes, atomically) and fetches nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomlkit

from aggregator.notify import parse_notifiers
from aggregator.rules import parse_rules
from aggregator.sources import RegistryError, Source, parse_document, parse_registry
from aggregator.urls import canonical_url

logger = logging.getLogger(__name__)

__all__ = ["NewSource", "check_key", "check_source", "key_from_url", "registered_urls", "render_table",
           "shown_url", "unique_key", "with_sources"]

NewSource = tuple[str, dict[str, Any]]  # (key, the table's fields in the order they are written)

MAX_KEY = 64  # the registry's rule: lowercase letters, digits, '-' or '_', at most 64, first a letter or digit
# Labels that say nothing of whose site it is: "www.x.com" and "feeds.x.com" are both "x".
_SERVICE_LABELS = frozenset({"www", "www2", "m", "amp", "feeds", "feed", "rss"})
# Second-level labels under a two-letter country domain: "bbc.co.uk" is "bbc", "abc.net.au" is "abc".
_GENERIC_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "or", "ne", "go"})
_NOT_KEY = re.compile(r"[^a-z0-9_-]+")
URL_FIELDS = ("feed", "listing", "sitemap", "homepage")  # the fields of a new source that hold URLs


def render_table(key: str, fields: dict[str, Any]) -> str:
    """`[sources.<key>]` and its fields as TOML text (quoting the key and escaping values as TOML needs)."""
    table = tomlkit.table()
    for name, value in fields.items():
        if value is not None:
            table.add(name, list(value) if isinstance(value, tuple) else value)
    sources = tomlkit.table(is_super_table=True)
    sources.add(key, table)
    document = tomlkit.document()
    document.add("sources", sources)
    return tomlkit.dumps(document)


def with_sources(text: str, path: str, new: Sequence[NewSource]) -> str:
    """`text` with the `new` sources appended. Raises RegistryError (naming `path`, the source or the rule or
    notifier, and the field) when the result would not load: a bad value, a key already there, a file that is not
    a registry, a bad `[rules.*]` or `[notify.*]` table (which every crawl of the file would refuse)."""
    # a file that is not TOML is refused as it is, before anything is added to it
    existing = parse_document(text, path).get("sources", {}) if text.strip() else {}
    for key, _ in new:
        if isinstance(existing, dict) and key in existing:
            raise RegistryError("%s: source %r: the key is already in the registry" % (path, key))
    tables = "\n".join(render_table(key, fields) for key, fields in new)
    combined = text + ("" if text.endswith("\n") else "\n") + "\n" + tables if text.strip() else tables
    parse_registry(combined, path)
    # after the sources: a rule may name a source this very addition brings
    parse_rules(parse_document(combined, path), path)
    parse_notifiers(combined, path)
    return combined


def check_source(key: str, fields: dict[str, Any], path: str) -> Source:
    """The source as the registry would load it, alone: RegistryError names what it refuses and why (a URL with
    a user name or password in it among them: the crawl cannot send them)."""
    return parse_registry(render_table(key, fields), path)[key]


def shown_url(url: str) -> str:
    """`url` as it may be printed: a user name and password in it replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def check_key(key: str, path: str) -> None:
    """Refuse a key the registry would refuse, in the registry's own words (its rule lives in `sources`)."""
    check_source(key, {"name": key, "homepage": "https://example.invalid/"}, path)


def registered_urls(registry: dict[str, Source]) -> dict[str, str]:
    """Every URL a registry names (feeds, listings, sitemaps, homepages), canonical, to the key naming it."""
    found: dict[str, str] = {}
    for source in registry.values():
        for url in (*source.feeds, *source.listings, *source.sitemaps, *((source.homepage,) if source.homepage
                                                                         else ())):
            found.setdefault(canonical_url(url), source.key)
    return found


def registered_as(known: dict[str, str], urls: Iterable[str]) -> tuple[str, str] | None:
    """(url, key) of the first of `urls` that `known` (from `registered_urls`) holds, or None."""
    for url in urls:
        key = known.get(canonical_url(url))
        if key is not None:
            return url, key
    return None


def key_from_url(url: str) -> str:
    """A source key from a URL's host: "https://www.astanatimes.com/feed/" gives "astanatimes", "news.bbc.co.uk"
    "news-bbc", an address "127.0.0.2" "127-0-0-2". Always a valid key (see `check_key`)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        labels = [host]
    except ValueError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # a name idna refuses keeps its letters; _NOT_KEY turns the rest into '-'
        labels = [label for label in host.split(".") if label]
        while len(labels) > 2 and labels[0] in _SERVICE_LABELS:
            labels.pop(0)
        if len(labels) > 1:
            top = labels.pop()
            if len(labels) > 1 and len(top) == 2 and labels[-1] in _GENERIC_SECOND_LEVEL:
                labels.pop()
    key = _NOT_KEY.sub("-", "-".join(labels)).strip("-_")[:MAX_KEY].rstrip("-_")
    return key or "source"


def unique_key(base: str, taken: Collection[str]) -> str:
    """`base`, else `base-2`, `base-3`, ... : the first that `taken` does not hold, cut to the key's length."""
    if base not in taken:
        return base
    number = 2
    while True:
        suffix = "-%d" % number
        candidate = base[:MAX_KEY - len(suffix)].rstrip("-_") + suffix
        if candidate not in taken:
            return candidate
        number += 1
