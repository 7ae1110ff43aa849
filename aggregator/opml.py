"""OPML 2.0 subscription lists, both ways: the feeds of an OPML file (their folders as categories), and OPML
written from the registry's sources (their categories as folders). A category nested in folders is their
path, outermost first, joined with "/" ("News/Tech"), and is written back as the same nested folders. Each
feed's outline also carries its source's key (`aggregator:key`, in a namespace of ours that other readers
ignore), so that an import of our own export makes the same sources again: same keys, a source's feeds one
source.

Owns the format only: reads and writes no file, fetches nothing. Parsed with the standard library's expat,
with every DOCTYPE that declares something refused: no entity is ever expanded, no DTD or external entity
ever loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from aggregator.sources import Source
from aggregator.text import clean_text

logger = logging.getLogger(__name__)

__all__ = ["KEY_ATTRIBUTE", "NAMESPACE", "OPMLError", "Subscription", "SubscriptionList", "parse_opml",
           "render_opml"]

NAMESPACE = "urn:news-aggregator:opml:1"
KEY_ATTRIBUTE = "aggregator:key"  # the prefix is declared for NAMESPACE on <opml>


class OPMLError(ValueError):
    """A file that is not usable OPML; the message says why in one line."""


@dataclass(frozen=True)
class Subscription:
    """One feed of a subscription list."""

    feed: str
    title: str | None = None
    homepage: str | None = None
    category: str | None = None  # its folders, outermost first, joined with "/"
    language: str | None = None
    key: str | None = None  # the source key our export wrote (unchecked: the registry checks it)


@dataclass(frozen=True)
class SubscriptionList:
    title: str | None
    subscriptions: tuple[Subscription, ...]
    ignored: tuple[str, ...] = ()  # outlines that are neither a feed nor a folder, described


@dataclass
class _Outline:
    """An open <outline> while the file is read."""

    is_feed: bool
    folder: str | None = None  # a folder's name (an outline without xmlUrl, named by its text or title)
    children: int = 0


@dataclass
class _Reader:
    """expat handlers building a SubscriptionList; made per file."""

    elements: list[str] = field(default_factory=list)
    outlines: list[_Outline] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    title: str = ""
    saw_body: bool = False

    def doctype(self, name: str, system_id: str | None, public_id: str | None, has_internal_subset: int) -> None:
        if has_internal_subset or system_id or public_id:
            raise OPMLError("a DOCTYPE with declarations or an external DTD is refused (OPML needs none)")

    def entity(self, *args: object) -> None:
        raise OPMLError("entity declarations are refused (OPML needs none)")

    def external(self, *args: object) -> int:
        raise OPMLError("external entities are refused")

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if not self.elements and name != "opml":
            raise OPMLError("not OPML: the root element is <%s>, not <opml>" % name)
        self.elements.append(name)
        if name == "body" and self.elements[:2] == ["opml", "body"]:
            self.saw_body = True
        if name != "outline" or "body" not in self.elements:
            return
        if self.outlines:
            self.outlines[-1].children += 1
        attrs = {key.lower(): value.strip() for key, value in attributes.items() if value and value.strip()}
        text = attrs.get("text") or attrs.get("title")
        feed = attrs.get("xmlurl")
        if feed:
            folders = [outline.folder for outline in self.outlines if outline.folder]
            category = "/".join(folders) if folders else _first_category(attrs.get("category"))
            self.subscriptions.append(Subscription(feed=feed, title=text, homepage=attrs.get("htmlurl"),
                                                   category=category, language=attrs.get("language"),
                                                   key=attrs.get(KEY_ATTRIBUTE)))
            self.outlines.append(_Outline(is_feed=True))
        else:
            self.outlines.append(_Outline(is_feed=False, folder=text))

    def end(self, name: str) -> None:
        self.elements.pop()
        if name == "outline" and self.outlines:
            outline = self.outlines.pop()
            if not outline.is_feed and not outline.children:
                self.ignored.append("outline %s: no xmlUrl (not a feed) and no outlines in it"
                                    % (repr(outline.folder) if outline.folder else "without a text"))

    def characters(self, data: str) -> None:
        if self.elements == ["opml", "head", "title"]:
            self.title += data


def _first_category(value: str | None) -> str | None:
    """The first of an OPML 2.0 `category` attribute ("/News/Tech,/Sport" gives "News/Tech")."""
    if not value:
        return None
    first = "/".join(part.strip() for part in value.split(",")[0].split("/") if part.strip())
    return first or None


def parse_opml(data: bytes) -> SubscriptionList:
    """The feeds of an OPML file (1.0 or 2.0), in file order. Raises OPMLError for anything else."""
    reader = _Reader()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = reader.doctype
    parser.EntityDeclHandler = reader.entity
    parser.UnparsedEntityDeclHandler = reader.entity
    parser.ExternalEntityRefHandler = reader.external
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    try:
        parser.Parse(data, True)
    except OPMLError:
        raise
    except expat.ExpatError as exc:
        raise OPMLError("not XML: %s" % exc) from None
    except (ValueError, LookupError) as exc:  # an encoding expat does not know
        raise OPMLError("not XML: %s" % exc) from None
    if not reader.saw_body:
        raise OPMLError("not OPML: no <body> in <opml>")
    title = " ".join(reader.title.split())
    return SubscriptionList(title=title or None, subscriptions=tuple(reader.subscriptions),
                            ignored=tuple(reader.ignored))


@dataclass
class _Folder:
    name: str
    items: list[_Folder | str] = field(default_factory=list)  # folders and rendered feed outlines, in order

    def folder(self, name: str) -> _Folder:
        for item in self.items:
            if isinstance(item, _Folder) and item.name == name:
                return item
        made = _Folder(name)
        self.items.append(made)
        return made


def render_opml(sources: Iterable[Source], title: str, created: datetime) -> tuple[str, tuple[Source, ...]]:
    """OPML 2.0 listing every feed of `sources` (one outline per feed URL), in folders by category; and the
    sources left out because they have no feed URL (listings, sitemaps, homepages: OPML lists feeds)."""
    root = _Folder("")
    left_out = []
    for source in sources:
        if not source.feeds:
            left_out.append(source)
            continue
        folder = root
        for name in (source.category or "").split("/"):
            if name.strip():
                folder = folder.folder(name.strip())
        for feed in source.feeds:
            attributes = {"type": "rss", "text": source.name, "title": source.name, "xmlUrl": feed,
                          "htmlUrl": source.homepage, "language": source.language, KEY_ATTRIBUTE: source.key}
            folder.items.append("<outline %s/>" % " ".join(
                "%s=%s" % (name, quoteattr(_xml_text(value))) for name, value in attributes.items() if value))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<opml version="2.0" xmlns:%s=%s>' % (KEY_ATTRIBUTE.split(":")[0], quoteattr(NAMESPACE)), "  <head>",
             "    <title>%s</title>" % escape(_xml_text(title)),
             "    <dateCreated>%s</dateCreated>" % format_datetime(created), "  </head>", "  <body>"]
    lines += _outlines(root, 2)
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n", tuple(left_out)


def _outlines(folder: _Folder, depth: int) -> list[str]:
    indent = "  " * depth
    lines = []
    for item in folder.items:
        if isinstance(item, str):
            lines.append(indent + item)
            continue
        name = quoteattr(_xml_text(item.name))
        lines.append("%s<outline text=%s title=%s>" % (indent, name, name))
        lines += _outlines(item, depth + 1)
        lines.append(indent + "</outline>")
    return lines


def _xml_text(value: str) -> str:
    """Text XML can carry: no control characters (a registry string may hold them as TOML escapes)."""
    return clean_text(value).replace("\n", " ").replace("\t", " ")
