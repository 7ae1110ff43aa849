"""CanonicalizePipeline: gives each item the one URL that identifies its page."""

from __future__ import annotations

from typing import Any

from aggregator.canonical import resolve_canonical
from aggregator.items import ArticleItem


class CanonicalizePipeline:
    """Sets `canonical_url` from the page URL and its same-site `rel=canonical`."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> CanonicalizePipeline:
        return cls()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        item.canonical_url = resolve_canonical(item.url, item.declared_canonical)
        return item
