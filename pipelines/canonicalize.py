"""CanonicalizePipeline: gives each item the one URL that identifies its page."""

from __future__ import annotations

from typing import Any

from aggregator.items import ArticleItem
from aggregator.urls import canonical_claim, resolve_canonical


class CanonicalizePipeline:
    """Sets `canonical_url` from the page URL and its same-site `rel=canonical`, and `canonical_claim`
    when the page names another outlet's URL as canonical (used to choose the story's primary item)."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> CanonicalizePipeline:
        return cls()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        article = item.article
        item.canonical_url = resolve_canonical(item.url, article.canonical_link)
        item.canonical_claim = canonical_claim(item.url, article.canonical_link, article.og_url)
        return item
