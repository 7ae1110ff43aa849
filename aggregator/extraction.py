"""Turn one fetched article page (plus what its feed said) into an Article: clean body text and metadata."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import trafilatura

logger = logging.getLogger(__name__)

__all__ = ["Article", "extract_article"]


@dataclass(frozen=True)
class Article:
    """The clean text of one article page and what we know about it."""

    text: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    date_published: str | None = None
    date_modified: str | None = None
    date_source: str | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    tags: tuple[str, ...] = field(default=())
    paywalled: bool | None = None


def extract_article(
    html: str, url: str | None = None, hints: dict[str, Any] | None = None
) -> Article | None:
    """Extract the article in `html` (fetched from `url`); `hints` is what the feed said. None if no body."""
    hints = hints or {}
    if not html or not html.strip():
        return None
    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            include_comments=False,
            favor_precision=True,
            with_metadata=True,
        )
    except Exception:  # trafilatura raises a wide range of parser errors on broken pages
        logger.exception("trafilatura failed on %s", url)
        return None
    if doc is None or not (doc.text or "").strip():
        return None
    authors = hints.get("authors") or ([a.strip() for a in doc.author.split(";")] if doc.author else [])
    return Article(
        text=doc.text.strip(),
        title=doc.title or hints.get("title"),
        authors=tuple(a for a in authors if a),
        date_published=hints.get("date_published") or doc.date,
        date_modified=hints.get("date_modified"),
        date_source="feed" if hints.get("date_published") else ("htmldate" if doc.date else None),
        language=doc.language or hints.get("language"),
        description=doc.description or hints.get("summary"),
        image=doc.image,
        tags=tuple(doc.tags or ()),
        paywalled=None,
    )
