"""DedupPipeline: decides whether an item is a new story or a sighting of a stored one.

Exact matches first (the canonical URL is already stored, or the normalized text hash), then near
duplicates through `aggregator.dedup.index.StoryIndex` (MinHash/LSH), which persists across runs. Nothing is
dropped here and nothing is written: a duplicate goes on to storage as a sighting, and the store writes the
item's index rows, and merges the stories the item bridges, in the same unit of work as its story
(`ArticleItem.index_when`, `ArticleItem.merges`). A story is named by the smallest id any of its items would have
started, so the same pages in any order give the same ids. Partial copies wait for the end of the crawl, when
the index settles them and the stories they join are merged here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aggregator.dedup.fingerprint import Fingerprint
from aggregator.items import ArticleItem
from aggregator.store.model import SAME_SOURCE_RULE
from pipelines.resources import CrawlResources, crawl_resources

logger = logging.getLogger(__name__)


def new_story_id(canonical_url: str) -> str:
    """A story's id comes from the URL it was first seen at: stable across reruns of the same crawl."""
    return hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]


class DedupPipeline:
    def __init__(self, resources: CrawlResources, stats: Any, window_days: float = 0) -> None:
        self.resources = resources
        self.stats = stats
        self.window_days = window_days

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupPipeline:
        return cls(crawl_resources(crawler), crawler.stats, crawler.settings.getfloat("AGGREGATOR_DEDUP_WINDOW_DAYS"))

    def open_spider(self) -> None:
        self.resources.index  # noqa: B018 (opened now, not at the first item: a Redis or database error stops the crawl here)

    async def close_spider(self) -> None:
        if not self.resources.off_reactor:
            self._settle()
            return
        gate = self.resources.gate  # no other worker decides while the deferred pairs are settled
        await gate.acquire()
        try:
            await asyncio.to_thread(self._settle)
        finally:
            await gate.release()

    def _settle(self) -> None:
        """Merge the stories the partial copies deferred during this crawl join, each with its index rows."""
        storage, index = self.resources.storage, self.resources.index
        for match in index.settle():
            merged = storage.merge(match.story_id, match.merges, rule=match.rule, similarity=match.similarity,
                                   then=partial(index.merge, match.story_id, match.merges), rules=self.resources.rules)
            self.stats.inc_value("aggregator/dedup/settled_merges", len(merged))

    def not_before(self) -> str | None:
        if not self.window_days:
            return None
        return (datetime.now(UTC) - timedelta(days=self.window_days)).isoformat()

    def process_item(self, item: ArticleItem) -> Any:
        if self.resources.off_reactor:
            return self._decide_off_reactor(item)
        return self._decide(item)

    async def _decide_off_reactor(self, item: ArticleItem) -> ArticleItem:
        """Decide in a thread (a Redis index or a database may block) with the gate held until the store pipeline
        has saved the item; it releases the gate."""
        gate = self.resources.gate
        await gate.acquire()
        try:
            return await asyncio.to_thread(self._decide, item)
        except BaseException:
            await gate.release()
            raise

    def _decide(self, item: ArticleItem) -> ArticleItem:
        assert item.canonical_url is not None, "the canonicalize pipeline did not run on this item"
        storage, index = self.resources.storage, self.resources.index
        now = datetime.now(UTC).isoformat()
        fingerprint = item.fingerprint or index.fingerprint(item.article.text)  # workers usually sign
        item.fingerprint = fingerprint
        known = storage.story_for_url(item.canonical_url)
        if known is not None:
            # The same page again: storage keeps it as is, or as a new version when its text changed.
            item.story_id, item.similarity, item.rule = known, 1.0, "canonical_url"
            self.stats.inc_value("aggregator/dedup/same_url")
            if fingerprint.text_hash not in self._stored_hashes(known):
                item.index_when = now  # a new version: match its copies too
            return item
        decision = index.decide(fingerprint, not_before=self.not_before())
        match = decision.match
        if match is None:
            item.story_id, item.is_new_story = new_story_id(item.canonical_url), True
        elif item.source in storage.sources_of(match.story_id):
            # The outlet that ran the story ran it again at another URL (an edited headline, a new slug or
            # GUID): a later version of the story, not a sighting from another outlet; the story keeps its id.
            item.story_id, item.similarity, item.rule = match.story_id, match.similarity, SAME_SOURCE_RULE
            item.merges = match.merges
        else:
            match = match.named(new_story_id(item.canonical_url))
            item.story_id, item.similarity, item.rule, item.merges = (match.story_id, match.similarity, match.rule,
                                                                      match.merges)
        if match is not None:
            self.stats.inc_value("aggregator/dedup/%s" % item.rule)
            logger.info("%s is a copy of story %s (%s, similarity %.2f)%s", item.canonical_url, item.story_id,
                        item.rule, match.similarity, ", merging %s" % ", ".join(item.merges) if item.merges else "")
        index.defer(fingerprint, decision.partial)
        item.index_when = now
        return item

    def _stored_hashes(self, story_id: str) -> set[str]:
        store = self.resources.index.store
        return {Fingerprint.from_bytes(data).text_hash for data in store.fingerprints(story_id)}
