"""StorePipeline: writes each item as a story or a sighting, with its dedup index rows and its story's filter
rule outcome (the registry's [rules.*], read once per crawl) in the same unit of work, in batches on SQLite
(AGGREGATOR_STORE_BATCH_SIZE items or AGGREGATOR_STORE_BATCH_SECONDS, whichever comes first; each item whole
or not at all)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.task import LoopingCall

from aggregator.dedup.index import StoryIndex
from aggregator.items import ArticleItem
from aggregator.rules import RuleSet
from aggregator.store.model import StoryStorage
from aggregator.store.source_runs import count_source
from pipelines.resources import CrawlResources, crawl_resources

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, resources: CrawlResources, stats: Any, batch_seconds: float = 1.0,
                 rules: RuleSet | None = None) -> None:
        self.resources = resources
        self.stats = stats
        self.batch_seconds = batch_seconds
        self.rules = rules if rules is not None else RuleSet()
        self.committer: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        resources = crawl_resources(crawler)
        return cls(resources, crawler.stats, crawler.settings.getfloat("AGGREGATOR_STORE_BATCH_SECONDS"),
                   resources.rules)

    def open_spider(self) -> None:
        # a batch is committed when full or, on this timer, once old: a slow crawl still shows its stories
        self.committer = LoopingCall(self.resources.storage.commit_if_due)
        self.committer.start(max(0.1, self.batch_seconds / 2), now=False)

    def close_spider(self) -> None:
        if self.committer is not None and self.committer.running:
            self.committer.stop()

    def process_item(self, item: ArticleItem) -> Any:
        if self.resources.off_reactor:
            return self._save_off_reactor(item)
        self._save(item)
        return item

    async def _save_off_reactor(self, item: ArticleItem) -> ArticleItem:
        try:
            await asyncio.to_thread(self._save, item)
        finally:
            await self.resources.gate.release()  # taken by the dedup pipeline for this item's decision
        return item

    def _save(self, item: ArticleItem) -> None:
        storage: StoryStorage = self.resources.storage
        assert item.story_id is not None and item.canonical_url is not None, "dedup did not run on this item"
        fingerprint = item.fingerprint
        outcome = storage.save(
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
            then=self._index_rows(item),
            rules=self.rules,  # even none: a story a removed rule had hidden is shown again when seen
            merges=item.merges,
        )
        # new: a new story; sighting: a duplicate collapsed into a stored story; updated: a new version
        # of a stored page; seen: already stored, unchanged.
        self.stats.inc_value("aggregator/stored/%s" % outcome)
        count_source(self.stats, item.source, "stored/%s" % outcome)

    def _index_rows(self, item: ArticleItem) -> Callable[[], None] | None:
        """The item's dedup index rows, written inside its save (with the index side of its merges): a story
        that is not stored leaves none."""
        if item.index_when is None or item.fingerprint is None or item.story_id is None:
            return None
        index: StoryIndex = self.resources.index
        story_id, fingerprint, when, merges = item.story_id, item.fingerprint, item.index_when, item.merges

        def write() -> None:
            index.insert(story_id, fingerprint, when=when)
            index.merge(story_id, merges)

        return write
