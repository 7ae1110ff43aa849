"""DedupPipeline: decides whether an item is a new story or a sighting of a stored one.

Exact matches first (the canonical URL is already stored, or the normalized text hash), then near
duplicates through `aggregator.dedup.StoryIndex` (MinHash/LSH). The index is rebuilt from the stored
fingerprints when the crawl opens, so it persists across runs. Nothing is dropped here: a duplicate
goes on to storage as a sighting.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from aggregator.dedup import Fingerprint, StoryIndex
from aggregator.items import ArticleItem
from pipelines.extract import index_options
from aggregator.storage import SAME_SOURCE_RULE, StoryStorage, open_storage

logger = logging.getLogger(__name__)


def new_story_id(canonical_url: str) -> str:
    """A story's id comes from the URL it was first seen at: stable across reruns of the same crawl."""
    return hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]


class DedupPipeline:
    def __init__(self, stats: Any, db: str, threshold: float, num_perm: int) -> None:
        self.stats = stats
        self.db = db
        self.threshold = threshold
        self.num_perm = num_perm
        self.storage: StoryStorage | None = None
        self.index: StoryIndex | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupPipeline:
        settings = crawler.settings
        return cls(crawler.stats, db=settings.get("AGGREGATOR_DB"), **index_options(settings))

    def open_spider(self) -> None:
        self.storage = open_storage(self.db)
        self.index = StoryIndex(threshold=self.threshold, num_perm=self.num_perm)
        loaded = 0
        for story_id, data in self.storage.fingerprints():
            self.index.insert(story_id, Fingerprint.from_bytes(data))
            loaded += 1
        logger.info("Dedup index opened with %d fingerprints from %s", loaded, self.db)

    def close_spider(self) -> None:
        if self.storage is not None:
            self.storage.close()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        assert self.storage is not None and self.index is not None, "open_spider() not called"
        fingerprint = item.fingerprint or self.index.fingerprint(item.article.text)  # workers usually sign
        item.fingerprint = fingerprint
        known = self.storage.story_for_url(item.canonical_url)
        if known is not None:
            # The same page again: storage keeps it as is, or as a new version when its text changed.
            item.story_id, item.similarity, item.rule = known, 1.0, "canonical_url"
            self.stats.inc_value("aggregator/dedup/same_url")
            self.index.insert(known, fingerprint)  # a no-op unless the text changed
            return item
        match = self.index.match(fingerprint)
        if match is None:
            item.story_id, item.is_new_story = new_story_id(item.canonical_url), True
        else:
            item.story_id, item.similarity, item.rule = match.story_id, match.similarity, match.rule
            if item.source in self.storage.sources_of(match.story_id):
                # The outlet that ran the story ran it again at another URL (an edited headline, a new
                # slug or GUID): a later version of the story, not a sighting from another outlet.
                item.rule = SAME_SOURCE_RULE
            self.stats.inc_value("aggregator/dedup/%s" % item.rule)
            logger.info("%s is a copy of story %s (%s, similarity %.2f)",
                        item.canonical_url, match.story_id, item.rule, match.similarity)
        self.index.insert(item.story_id, fingerprint)
        return item
