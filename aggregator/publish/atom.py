"""Atom 1.0 (RFC 4287) rendering of the JSON Feed document that `aggregator.publish.jsonfeed.build_feed` makes.

Owns the mapping JSON Feed item → Atom entry, so both feeds always carry the same stories:

- `<id>` is `urn:news-aggregator:story:<item id>` (Atom ids must be IRIs; `story_id` undoes it);
- `<link rel="alternate">` is the story's URL; every sighting (the story's own place included, in the order
  seen) is a `<link rel="related" href=… title=…>` whose foreign attributes in the `agg` namespace
  (`urn:news-aggregator:atom:1`) carry the rest: `agg:source`, `agg:published`, `agg:first-seen`,
  `agg:similarity`, `agg:rule`;
- links (and the image) are written only when they are absolute http(s) URLs;
- `<published>`/`<updated>` are `date_published`/`date_modified` (updated falls back to published, then to
  first seen);
- the feed's `<author>` is its title, so entries whose story names no author are valid too;
- `<summary>` and `<content>` are `type="text"`: no HTML leaves the aggregator through the feed;
- `<category term>` per tag, `<author><name>` per author, `xml:lang` from `language`, the image as
  `<media:thumbnail url>`, and `<agg:source>`/`<agg:first-seen>` for the story's own source and first sight.

Reads the feed dict only; never touches storage.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

from lxml import etree

from aggregator.publish.reader import safe_url

logger = logging.getLogger(__name__)

__all__ = ["AGG_NS", "ATOM_NS", "atom_id", "build_atom", "feed_id", "feed_updated", "story_id"]

ATOM_NS = "http://www.w3.org/2005/Atom"
AGG_NS = "urn:news-aggregator:atom:1"
MEDIA_NS = "http://search.yahoo.com/mrss/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ATOM_NS, "agg": AGG_NS, "media": MEDIA_NS}
# Characters XML 1.0 cannot carry at all (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF).
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
ID_PREFIX = "urn:news-aggregator:story:"
# An empty feed still needs an <updated>; a fixed instant keeps the document (and its ETag) stable.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SIGHTING_ATTRIBUTES = (("source", "source"), ("date_published", "published"), ("first_seen", "first-seen"),
                       ("similarity", "similarity"), ("rule", "rule"))


def atom_id(item_id: str) -> str:
    """The Atom entry id (an IRI) for a JSON Feed item id."""
    return ID_PREFIX + item_id


def feed_id(base_url: str, source: str | None = None) -> str:
    """The Atom feed's `<id>`: its address under the configured base URL, with the source it is filtered to.
    The same whether exported or served, on any port (RFC 4287 §4.2.6: it must not change when republished);
    `--limit`/`--since` show a window of the same feed, so they are not part of it."""
    return urljoin(base_url, "feed.atom") + ("?source=" + quote(source, safe="") if source else "")


def story_id(entry_id: str) -> str:
    """The JSON Feed item id back from an Atom entry id."""
    return entry_id.removeprefix(ID_PREFIX)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def item_dates(item: dict[str, Any]) -> Iterable[datetime]:
    """Every instant at which `item` (or one of its sightings) appeared or changed."""
    extension = item.get("_aggregator", {})
    values = [item.get("date_published"), item.get("date_modified"), extension.get("first_seen")]
    values += [sighting.get("first_seen") for sighting in extension.get("sightings", [])]
    return [parsed for parsed in map(_parse, values) if parsed is not None]


def feed_updated(feed: dict[str, Any]) -> datetime:
    """When the feed last changed: its newest story date or sighting; the epoch when it is empty."""
    return max((date for item in feed["items"] for date in item_dates(item)), default=EPOCH)


def _xml(value: str) -> str:
    return NOT_XML.sub("", value)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {name: _xml(value) for name, value in attributes.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def _entry(feed_element: etree._Element, item: dict[str, Any]) -> None:
    entry = _sub(feed_element, "{%s}entry" % ATOM_NS)
    if item.get("language"):
        entry.set("{%s}lang" % XML_NS, _xml(item["language"]))
    _sub(entry, "{%s}id" % ATOM_NS, atom_id(item["id"]))
    _sub(entry, "{%s}title" % ATOM_NS, item.get("title") or "", type="text")
    if safe_url(item.get("url")):
        _sub(entry, "{%s}link" % ATOM_NS, rel="alternate", type="text/html", href=item["url"])
    extension = item.get("_aggregator", {})
    for sighting in extension.get("sightings", []):
        if not safe_url(sighting.get("url")):
            logger.debug("story %s: sighting URL %r left out of the Atom feed", item["id"], sighting.get("url"))
            continue
        link = _sub(entry, "{%s}link" % ATOM_NS, rel="related", type="text/html", href=sighting["url"])
        if sighting.get("title"):
            link.set("title", _xml(sighting["title"]))
        for key, name in SIGHTING_ATTRIBUTES:
            if sighting.get(key) is not None:
                link.set("{%s}%s" % (AGG_NS, name), _xml(str(sighting[key])))
    published = item.get("date_published")
    if published:
        _sub(entry, "{%s}published" % ATOM_NS, published)
    updated = item.get("date_modified") or published or extension.get("first_seen") or EPOCH.isoformat()
    _sub(entry, "{%s}updated" % ATOM_NS, updated)
    for author in item.get("authors", []):
        _sub(_sub(entry, "{%s}author" % ATOM_NS), "{%s}name" % ATOM_NS, author["name"])
    for tag in item.get("tags", []):
        _sub(entry, "{%s}category" % ATOM_NS, term=tag)
    if item.get("summary"):
        _sub(entry, "{%s}summary" % ATOM_NS, item["summary"], type="text")
    _sub(entry, "{%s}content" % ATOM_NS, item.get("content_text", ""), type="text")
    if safe_url(item.get("image")):
        _sub(entry, "{%s}thumbnail" % MEDIA_NS, url=item["image"])
    if extension.get("source"):
        _sub(entry, "{%s}source" % AGG_NS, extension["source"])
    if extension.get("first_seen"):
        _sub(entry, "{%s}first-seen" % AGG_NS, extension["first_seen"])


def build_atom(feed: dict[str, Any], feed_id: str | None = None) -> str:
    """The Atom 1.0 document (UTF-8 XML text) for a JSON Feed document, entries in the feed's order.

    `feed_id` is the feed's `<id>` (see `feed_id()`); without it, the feed's own URL or its home page. The feed
    has an `<author>` (its title), so every entry has one (RFC 4287 §4.1.1) whether its story names authors
    or not; an entry's own authors stand for it."""
    root = etree.Element("{%s}feed" % ATOM_NS, nsmap=NSMAP)
    self_url = feed.get("feed_url")
    home = feed.get("home_page_url")
    _sub(root, "{%s}id" % ATOM_NS, feed_id or self_url or home or "urn:news-aggregator:feed")
    _sub(root, "{%s}title" % ATOM_NS, feed["title"], type="text")
    _sub(root, "{%s}updated" % ATOM_NS, feed_updated(feed).isoformat())
    _sub(_sub(root, "{%s}author" % ATOM_NS), "{%s}name" % ATOM_NS, feed["title"])
    if home:
        _sub(root, "{%s}link" % ATOM_NS, rel="alternate", type="text/html", href=home)
    if self_url:
        _sub(root, "{%s}link" % ATOM_NS, rel="self", type="application/atom+xml", href=self_url)
    _sub(root, "{%s}generator" % ATOM_NS, "news-aggregator")
    for item in feed["items"]:
        _entry(root, item)
    etree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="unicode") + "\n"
