"""StorePipeline: writes each item as a story or a sighting, one transaction per item."""

from __future__ import annotations

import logging
from typing import Any

from aggregator.items import ArticleItem
from aggregator.storage import StoryStorage, open_storage

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, stats: Any, db: str) -> None:
        self.stats = stats
        self.db = db
        self.storage: StoryStorage | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler.stats, crawler.settings.get("AGGREGATOR_DB"))

    def open_spider(self) -> None:
        self.storage = open_storage(self.db)

    def close_spider(self) -> None:
        if self.storage is not None:
            self.storage.close()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        assert self.storage is not None, "open_spider() not called"
        fingerprint = item.fingerprint
        outcome = self.storage.save(
            story_id=item.story_id,
            url=item.canonical_url,
            source=item.source,
            article=item.article,
            text_hash=fingerprint.text_hash if fingerprint is not None else "",
            similarity=item.similarity,
            rule=item.rule,
            fingerprint=fingerprint.to_bytes() if fingerprint is not None else None,
            source_updated=item.source_updated,
            canonical_claim=item.canonical_claim,
        )
        # new: a new story; sighting: a duplicate collapsed into a stored story; updated: a new version
        # of a stored page; seen: already stored, unchanged.
        self.stats.inc_value("aggregator/stored/%s" % outcome)
        return item
