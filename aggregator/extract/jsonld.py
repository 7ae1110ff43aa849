"""Read a page's JSON-LD: the article node, `@id` references resolved through the `@graph`, people's names.

Owns parsing the `<script type="application/ld+json">` blocks (CDATA wrappers, HTML entities in strings);
it never looks at the rest of the page and never cleans names for display (see `authors`).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml.html import HtmlElement

logger = logging.getLogger(__name__)

__all__ = ["JsonLd", "NamedAuthor", "read_jsonld", "walk"]

ARTICLE_TYPES = {
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "blogposting", "socialmediaposting", "liveblogposting", "techarticle", "scholarlyarticle", "report",
    "webpage", "review", "backgroundnewsarticle", "claimreview",
}
ORGANIZATION_TYPES = {"organization", "newsmediaorganization", "corporation", "localbusiness", "brand"}
# CMS templates wrap JSON-LD in `//<![CDATA[ ... //]]>` (or HTML comments) for old XHTML validators.
WRAPPER = re.compile(r"^\s*(?://\s*)?(?:<!\[CDATA\[|<!--)|(?://\s*)?(?:\]\]>|-->)\s*$")


@dataclass(frozen=True)
class NamedAuthor:
    """A name the JSON-LD gives as the article's author, and whether it names an organization."""

    name: str
    organization: bool = False


@dataclass(frozen=True)
class JsonLd:
    """The article node (empty when the page has none) and every node that carries an `@id`."""

    article: dict[str, Any] = field(default_factory=dict)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolve(self, node: Any) -> Any:
        """A bare `{"@id": ...}` reference replaced by the node it points to (when the page has it)."""
        if isinstance(node, dict) and isinstance(node.get("@id"), str):
            target = self.by_id.get(node["@id"])
            if target is not None and target is not node:
                return {**target, **{k: v for k, v in node.items() if k != "@id"}}
        return node

    def authors(self) -> list[NamedAuthor]:
        """The article's authors: names, `givenName`/`familyName` pairs, or references into the graph."""
        value = self.article.get("author") or self.article.get("creator")
        values = value if isinstance(value, list) else [value]
        found: list[NamedAuthor] = []
        for item in values:
            item = self.resolve(item)
            if isinstance(item, str):
                found.append(NamedAuthor(item))
            elif isinstance(item, dict) and (name := person_name(item)):
                found.append(NamedAuthor(name, organization=bool(types_of(item) & ORGANIZATION_TYPES)))
        return found

    def is_article(self) -> bool:
        """Whether the page describes itself as an article (not merely as a web page)."""
        return bool(types_of(self.article) & (ARTICLE_TYPES - {"webpage"}))

    def headline(self) -> str | None:
        return plain_text(self.article.get("headline") or self.article.get("name"))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a JSON-LD document, including those in @graph and nested values."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item)
    elif isinstance(node, dict):
        yield node
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from walk(value)


def types_of(node: dict[str, Any]) -> set[str]:
    value = node.get("@type", ())
    values = value if isinstance(value, list) else [value]
    return {str(v).lower() for v in values}


def person_name(node: dict[str, Any]) -> str | None:
    """`name`, else `givenName familyName` (pages that describe a Person only by its parts)."""
    name = node.get("name")
    if isinstance(name, list):
        name = next((n for n in name if isinstance(n, str)), None)
    if isinstance(name, str) and name.strip():
        return html.unescape(name).strip()
    parts = [node.get(key) for key in ("givenName", "additionalName", "familyName")]
    joined = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return html.unescape(joined) or None


def plain_text(value: Any) -> str | None:
    """A JSON-LD text value without markup or entities, whitespace collapsed."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str):
        return None
    text = html.unescape(re.sub(r"<[^>]+>", " ", value))
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def parse_block(text: str) -> Any:
    """One script's JSON, tolerating CDATA/comment wrappers and raw newlines inside strings; None if broken."""
    text = WRAPPER.sub("", text.strip()).strip()
    for attempt in (text, re.sub(r"[\x00-\x1f]+", " ", text)):
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    logger.debug("invalid JSON-LD skipped")
    return None


def read_jsonld(scripts: list[HtmlElement]) -> JsonLd:
    """The first Article-like node of the page (else a WebPage) and an index of every node by `@id`."""
    article: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    by_id: dict[str, dict[str, Any]] = {}
    for script in scripts:
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        document = parse_block(script.text)
        for node in walk(document):
            node_id = node.get("@id")
            if isinstance(node_id, str) and len(node) > 1:
                by_id.setdefault(node_id, node)
            types = types_of(node)
            if article is None and types & (ARTICLE_TYPES - {"webpage"}):
                article = node
            if "webpage" in types and fallback is None:
                fallback = node
    return JsonLd(article=article or fallback or {}, by_id=by_id)
