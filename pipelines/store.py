"""StorePipeline: writes each item as a story or a sighting, in batches (AGGREGATOR_STORE_BATCH_SIZE items
or AGGREGATOR_STORE_BATCH_SECONDS, whichever comes first; each item whole or not at all)."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.task import LoopingCall

from aggregator.items import ArticleItem
from aggregator.store.model import StoryStorage
from pipelines import crawl_storage, release_storage

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.storage: StoryStorage | None = None
        self.committer: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        self.storage = crawl_storage(self.crawler)
        # a batch is committed when full or, on this timer, once old: a slow crawl still shows its stories
        self.committer = LoopingCall(self.storage.commit_if_due)
        self.committer.start(max(0.1, self.crawler.settings.getfloat("AGGREGATOR_STORE_BATCH_SECONDS") / 2),
                             now=False)

    def close_spider(self) -> None:
        if self.committer is not None and self.committer.running:
            self.committer.stop()
        if self.storage is not None:
            release_storage(self.crawler)
            self.storage = None

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
