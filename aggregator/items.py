"""The item that travels from the spider through the pipelines (one fetched article page), and the
`Article` extracted from it. Both are plain data, light to import: the crawler process unpickles the
Articles its extraction workers send without importing the extractor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    tags: tuple[str, ...] = ()
    paywalled: bool | None = None
    canonical_link: str | None = None  # the page's rel=canonical and og:url, as written (for canonicalization)
    og_url: str | None = None


@dataclass
class ArticleItem:
    """A fetched article page; each pipeline fills in its own fields.

    spider:       url, source, body (the page's bytes, decoded in an extraction worker), content_type,
                  hints (what the feed said), found_on (feed or listing URL), source_updated
    extract:      article (an `aggregator.extract.extractor.Article`); body is released afterwards;
                  template_page (the `aggregator.extract.templates.TemplatePage` of the template lines the worker
                  stripped, for the template pipeline, which clears it)
    canonicalize: canonical_url, canonical_claim (a canonical URL the page declares on another site)
    dedup:        story_id, is_new_story, similarity, rule, fingerprint, index_when (set when the store is to add
                  the fingerprint to the dedup index under story_id, in the same unit of work as the story),
                  merges (stored stories the item shows are story_id too: merged into it in that unit of work)
    """

    url: str
    source: str
    body: bytes = b""
    content_type: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    found_on: str | None = None
    source_updated: str | None = None  # the feed/sitemap's last-change date for this URL, when it gave one
    article: Any = None
    template_page: Any = None
    canonical_url: str | None = None
    canonical_claim: str | None = None
    story_id: str | None = None
    is_new_story: bool = False
    similarity: float | None = None
    rule: str | None = None
    fingerprint: Any = None
    index_when: str | None = None
    merges: tuple[str, ...] = ()
