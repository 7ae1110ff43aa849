"""DedupPipeline: decides whether an item is a new story or a sighting of a stored one.

Exact matches first (the canonical URL is already stored, or the normalized text hash), then near
duplicates through `aggregator.dedup.index.StoryIndex` (MinHash/LSH). The index is rebuilt from the stored
fingerprints when the crawl opens, so it persists across runs. Nothing is dropped here: a duplicate
goes on to storage as a sighting.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.dedup.fingerprint import Fingerprint
from aggregator.dedup.index import StoryIndex
from aggregator.dedup.sqlite_bands import SQLiteBandStore
from aggregator.extract.pool import index_options
from aggregator.items import ArticleItem
from aggregator.store.model import SAME_SOURCE_RULE, StoryStorage
from aggregator.store.sqlite import SQLiteStorage
from pipelines import crawl_storage, release_storage

logger = logging.getLogger(__name__)


def new_story_id(canonical_url: str) -> str:
    """A story's id comes from the URL it was first seen at: stable across reruns of the same crawl."""
    return hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]


def index_store(db: str, redis_url: str | None, configured: str | None) -> str:
    """Where the near-duplicate index lives: AGGREGATOR_DEDUP_INDEX if set; else the shared Redis of a
    distributed crawl; else the SQLite file of the stories (`dedup_*` tables, opened without loading);
    else (PostgreSQL storage on one machine) memory, filled from the stored fingerprints at open."""
    if configured:
        return configured
    if redis_url:
        return redis_url
    if "://" not in db or db.startswith("sqlite:///"):
        return "sqlite:///" + db.removeprefix("sqlite:///")
    return "memory://"


class DedupPipeline:
    def __init__(self, crawler: Any, index_options: dict[str, Any], store: str,
                 window_days: float = 0, redis_url: str | None = None) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.index_options = index_options
        self.store = store
        self.window_days = window_days
        self.redis_url = redis_url
        self.storage: StoryStorage | None = None
        self.index: StoryIndex | None = None
        self.lock: Any = nullcontext()

    @classmethod
    def from_crawler(cls, crawler: Any) -> DedupPipeline:
        settings = crawler.settings
        db, redis_url = settings.get("AGGREGATOR_DB"), settings.get("REDIS_URL") or None
        return cls(crawler, index_options=index_options(settings),
                   store=index_store(db, redis_url, settings.get("AGGREGATOR_DEDUP_INDEX") or None),
                   window_days=settings.getfloat("AGGREGATOR_DEDUP_WINDOW_DAYS"), redis_url=redis_url)

    def open_spider(self) -> None:
        self.storage = crawl_storage(self.crawler)
        store: Any = self.store
        if isinstance(self.storage, SQLiteStorage) and store == "sqlite:///" + self.storage.path:
            # the index tables beside the stories, on the storage's connection: in its batches. SQLite's
            # own page cache (2 MB) is enough for a crawl's lookups (the OS caches the file); a bigger
            # one grows with the database and stays in the crawler's memory.
            store = SQLiteBandStore(self.storage.db, cache_mb=None)
        self.index = StoryIndex(store=store, **self.index_options)
        if self.store == "memory://":
            loaded = 0
            for story_id, data in self.storage.fingerprints():
                self.index.insert(story_id, Fingerprint.from_bytes(data))
                loaded += 1
            logger.info("Dedup index filled with %d stored fingerprints", loaded)
        if self.redis_url:
            import redis

            # Workers decide "new story or copy" one at a time, so two copies fetched at once by two
            # workers cannot both become new stories.
            client = redis.Redis.from_url(self.redis_url)
            self.lock = client.lock("aggregator:dedup:decide", timeout=30, blocking_timeout=60)
        logger.info("Dedup index: %s", self.store.split("@")[-1])

    def close_spider(self) -> None:
        if self.index is not None:
            self.index.close()
        if self.storage is not None:
            release_storage(self.crawler)
            self.storage = None

    def not_before(self) -> str | None:
        if not self.window_days:
            return None
        return (datetime.now(UTC) - timedelta(days=self.window_days)).isoformat()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        with self.lock:
            return self._decide(item)

    def _decide(self, item: ArticleItem) -> ArticleItem:
        assert self.storage is not None and self.index is not None, "open_spider() not called"
        now = datetime.now(UTC).isoformat()
        self.storage.begin()  # this item's index rows go in the batch its story will
        fingerprint = item.fingerprint or self.index.fingerprint(item.article.text)  # workers usually sign
        item.fingerprint = fingerprint
        known = self.storage.story_for_url(item.canonical_url)
        if known is not None:
            # The same page again: storage keeps it as is, or as a new version when its text changed.
            item.story_id, item.similarity, item.rule = known, 1.0, "canonical_url"
            self.stats.inc_value("aggregator/dedup/same_url")
            if fingerprint.text_hash not in self._stored_hashes(known):
                self.index.insert(known, fingerprint, when=now)  # a new version: match its copies too
            return item
        match = self.index.match(fingerprint, not_before=self.not_before())
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
        self.index.insert(item.story_id, fingerprint, when=now)
        return item

    def _stored_hashes(self, story_id: str) -> set[str]:
        assert self.index is not None
        return {Fingerprint.from_bytes(data).text_hash for data in self.index.store.fingerprints(story_id)}
