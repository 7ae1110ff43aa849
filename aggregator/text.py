"""Text from the network made safe to store and publish: one cleaning function for every text where it enters.

Owns which characters never enter (lone surrogates, non-characters, NUL and the other C0/C1 controls but
tab and newline, bidi overrides and isolates) and how long a title, an author or a tag may be. Plain data:
imports nothing of the aggregator, so fetch (feed and sitemap hints) and the extractor (the `Article` it
returns) share it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

__all__ = ["LIMITS", "clean_article", "clean_hints", "clean_text"]

# Lengths past which a field is cut (characters). The body text is not bounded here: DOWNLOAD_MAXSIZE is.
LIMITS = {"title": 500, "author": 200, "authors": 50, "tag": 100, "tags": 100, "description": 5000,
          "short": 2000}

# C0 controls but tab and newline (CR becomes a newline first), DEL, C1 controls; lone surrogates (a pair
# cannot occur in a Python str, only its halves); the non-characters U+FDD0..U+FDEF and U+xFFFE/U+xFFFF of
# every plane; the bidi embeddings, overrides (U+202A..U+202E) and isolates (U+2066..U+2069), which can make
# a title read backwards on a terminal or a reader page. Bidi *marks* (U+200E/U+200F) stay: Arabic and Hebrew
# text needs them and they cannot reorder what follows.
_NEVER = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069"
    + "".join("%s-%s" % (chr(plane * 0x10000 + 0xFFFE), chr(plane * 0x10000 + 0xFFFF)) for plane in range(17))
    + "]")
_NEWLINES = re.compile("\r\n?")

T = TypeVar("T")


def clean_text(value: str, limit: int | None = None) -> str:
    """`value` without the characters that never enter, cut to `limit` characters (on a word boundary
    when one is near, with an ellipsis)."""
    text = _NEVER.sub("", _NEWLINES.sub("\n", value))
    if limit is not None and len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        if space > limit * 0.8:
            cut = cut[:space]
        text = cut.rstrip() + "…"
    return text


def _optional(value: str | None, limit: int | None) -> str | None:
    if value is None:
        return None
    text = clean_text(value, limit).strip()
    return text or None


def _names(values: Any, each: int, count: int) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or ():
        text = clean_text(value, each).strip() if isinstance(value, str) else ""
        if text and text not in out:
            out.append(text)
        if len(out) == count:
            break
    return tuple(out)


def clean_article(article: T) -> T:
    """The `aggregator.items.Article` (any frozen dataclass of those fields) with every text cleaned and the
    title, authors, tags and description bounded; the same object when nothing changed."""
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(article):  # type: ignore[arg-type]
        value = getattr(article, item.name)
        if item.name == "text" and isinstance(value, str):
            cleaned: Any = clean_text(value)
        elif item.name == "authors":
            cleaned = _names(value, LIMITS["author"], LIMITS["authors"])
        elif item.name == "tags":
            cleaned = _names(value, LIMITS["tag"], LIMITS["tags"])
        elif isinstance(value, str):
            cleaned = _optional(value, LIMITS.get(item.name, LIMITS["short"]))
        else:
            continue
        if cleaned != value:
            changes[item.name] = cleaned
    return dataclasses.replace(article, **changes) if changes else article  # type: ignore[type-var]


def clean_hints(hints: dict[str, Any]) -> dict[str, Any]:
    """Feed or sitemap hints (`FeedEntry.hints`, `SitemapEntry.hints`) cleaned as `clean_article` cleans the
    fields they stand for; empty values are left out."""
    cleaned: dict[str, Any] = {}
    for key, value in hints.items():
        if key in ("authors", "tags"):
            singular = key[:-1]
            value = list(_names(value if isinstance(value, list | tuple) else [value], LIMITS[singular],
                                LIMITS[key]))
        elif isinstance(value, str):
            value = _optional(value, LIMITS.get(key, LIMITS["short"]))
        if value:
            cleaned[key] = value
    return cleaned
