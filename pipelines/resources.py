"""CrawlResources: the crawl-wide objects the spider, the downloader middlewares and the pipelines share.

One Scrapy extension, reached with `crawler.get_extension(CrawlResources)` (or `crawl_resources(crawler)`):
the storage (one connection, so an item's dedup index rows commit with its story), the extraction pool,
the dedup index, the gate that keeps "new story or copy of X" decisions one at a time from the dedup
pipeline to the store, and the sources' template snapshots the extraction and template pipelines share.
Settings are read once in `from_crawler`; everything opens at first use and closes at `engine_stopped`,
after the spider and the pipelines are done with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from aggregator.dedup.fingerprint import Fingerprint
from aggregator.dedup.index import StoryIndex
from aggregator.dedup.sqlite_bands import SQLiteBandStore
from aggregator.extract.pool import ExtractionPool, default_workers
from aggregator.redis_client import redis_client
from aggregator.rules import RuleSet, load_rules
from aggregator.store.backends import open_storage, sqlite_path
from aggregator.store.model import StoryStorage
from aggregator.store.sqlite import SQLiteStorage
from pipelines.template_snapshots import TemplateSnapshots

__all__ = ["CrawlResources", "DecisionGate", "crawl_resources", "index_location", "validator_store"]

logger = logging.getLogger(__name__)

DECISION_LOCK = "aggregator:dedup:decide"


def index_options(settings: Any) -> dict[str, Any]:
    """The StoryIndex parameters of AGGREGATOR_DEDUP_* (the workers sign with the same)."""
    threshold = settings.get("AGGREGATOR_DEDUP_THRESHOLD")
    return {"threshold": float(threshold) if threshold not in (None, "") else None,
            "num_perm": settings.getint("AGGREGATOR_DEDUP_NUM_PERM")}


def index_location(db: str, redis_url: str | None, configured: str | None) -> str:
    """Where the near-duplicate index lives: AGGREGATOR_DEDUP_INDEX if set; else the shared Redis of a
    distributed crawl; else the SQLite file of the stories (`dedup_*` tables, opened without loading);
    else (PostgreSQL storage on one machine) memory, filled from the stored fingerprints at open."""
    if configured:
        return configured
    if redis_url:
        return redis_url
    path = sqlite_path(db)
    return "sqlite:///" + path if path is not None else "memory://"


class DecisionGate:
    """One dedup decision at a time, held from the dedup pipeline's decision until the store has saved it
    (with its index rows), so a copy never misses the story decided just before it. In this process an
    asyncio lock; in a distributed crawl also a Redis lock, so that two workers fetching two copies at once
    cannot both make a new story. Only used where deciding or saving leaves the reactor thread."""

    def __init__(self, redis_lock: Any = None) -> None:
        self._local = asyncio.Lock()
        self._redis_lock = redis_lock

    async def acquire(self) -> None:
        await self._local.acquire()
        if self._redis_lock is None:
            return
        try:
            acquired = await asyncio.to_thread(self._redis_lock.acquire)
        except BaseException:
            self._local.release()
            raise
        if not acquired:
            self._local.release()
            raise TimeoutError("the distributed dedup lock %r stayed taken" % DECISION_LOCK)

    async def release(self) -> None:
        try:
            if self._redis_lock is not None:
                await asyncio.to_thread(self._release_redis)
        finally:
            self._local.release()

    def _release_redis(self) -> None:
        from redis.exceptions import LockError

        try:
            self._redis_lock.release()
        except LockError:  # it expired while we held it (a save slower than its timeout): nothing to free
            logger.warning("The distributed dedup lock expired before it was released")


class CrawlResources:
    """The crawl's storage, extraction pool, dedup index, decision gate and template snapshots (see the module
    docstring)."""

    def __init__(self, db: str, *, batch_size: int = 1, batch_seconds: float = 1.0, workers: int = -1,
                 index_options: dict[str, Any] | None = None, index_url: str = "memory://",
                 redis_url: str | None = None, rules: RuleSet | None = None) -> None:
        self.db = db
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds
        self.workers = default_workers() if workers < 0 else workers
        self.index_options = dict(index_options or {})
        self.index_url = index_url
        self.redis_url = redis_url
        self._storage: StoryStorage | None = None
        self._pool: ExtractionPool | None = None
        self._index: StoryIndex | None = None
        self._gate: DecisionGate | None = None
        self.templates = TemplateSnapshots()
        # the registry's filter rules, read once per crawl: decided in every save and again in every merge
        self.rules = rules if rules is not None else RuleSet()

    @classmethod
    def from_crawler(cls, crawler: Any) -> CrawlResources:
        settings = crawler.settings
        db, redis_url = settings.get("AGGREGATOR_DB"), settings.get("REDIS_URL") or None
        resources = cls(
            db, batch_size=settings.getint("AGGREGATOR_STORE_BATCH_SIZE"),
            batch_seconds=settings.getfloat("AGGREGATOR_STORE_BATCH_SECONDS"),
            workers=settings.getint("AGGREGATOR_WORKERS", -1), index_options=index_options(settings),
            index_url=index_location(db, redis_url, settings.get("AGGREGATOR_DEDUP_INDEX") or None),
            redis_url=redis_url,
            # a bad rule raises RegistryError here, naming the rule and field (the CLI refuses it before this)
            rules=load_rules(settings.get("AGGREGATOR_SOURCES") or None))
        crawler.signals.connect(resources.close, signal=signals.engine_stopped)
        return resources

    @property
    def storage(self) -> StoryStorage:
        if self._storage is None:
            self._storage = open_storage(self.db, batch_size=self.batch_size, batch_seconds=self.batch_seconds)
        return self._storage

    @property
    def pool(self) -> ExtractionPool:
        if self._pool is None:
            self._pool = ExtractionPool(self.workers, self.index_options)
        return self._pool

    @property
    def index(self) -> StoryIndex:
        if self._index is None:
            self._index = self._open_index()
        return self._index

    @property
    def gate(self) -> DecisionGate:
        if self._gate is None:
            lock = None
            if self.redis_url:
                # thread_local=False: taken in one thread of the pool and released from another
                lock = redis_client(self.redis_url).lock(DECISION_LOCK, timeout=30, blocking_timeout=60,
                                                         thread_local=False)
            self._gate = DecisionGate(lock)
        return self._gate

    @property
    def off_reactor(self) -> bool:
        """Whether deciding and saving may block (a network database, a Redis index or lock): they then run in
        threads, under the gate. SQLite on one machine stays on the reactor thread: fast, and already
        one decision at a time."""
        return not isinstance(self.storage, SQLiteStorage) or self.redis_url is not None \
            or self.index_url.startswith(("redis://", "rediss://", "unix://"))

    def _open_index(self) -> StoryIndex:
        storage = self.storage
        store: Any = self.index_url
        if isinstance(storage, SQLiteStorage) and self.index_url == "sqlite:///" + storage.path:
            # the index tables beside the stories, on the storage's connection, so an item's index rows are in
            # its unit of work. SQLite's own page cache (2 MB) is enough for a crawl's lookups (the OS caches the
            # file); a bigger one grows with the database and stays in the crawler's memory.
            store = SQLiteBandStore(storage.db, cache_mb=None)
        index = StoryIndex(store=store, **self.index_options)
        if self.index_url == "memory://":
            loaded = 0
            for story_id, data in storage.fingerprints():
                index.insert(story_id, Fingerprint.from_bytes(data))
                loaded += 1
            logger.info("Dedup index filled with %d stored fingerprints", loaded)
        logger.info("Dedup index: %s", self.index_url.split("@")[-1])
        return index

    def close(self) -> None:
        """Close what was opened: the index, then the storage (which commits its open batch), then the pool,
        each even when closing the one before failed (a full disk fails the last commit)."""
        index, storage, pool = self._index, self._storage, self._pool
        self._index = self._storage = self._pool = None
        try:
            if index is not None:
                index.close()
        finally:
            try:
                if storage is not None:
                    storage.close()
            finally:
                if pool is not None:
                    pool.close()


def crawl_resources(crawler: Any) -> CrawlResources:
    """The crawl's `CrawlResources` extension (enabled in `aggregator.settings.EXTENSIONS`)."""
    resources = crawler.get_extension(CrawlResources)
    if resources is None:
        raise NotConfigured("pipelines.resources.CrawlResources is not in EXTENSIONS")
    return resources


def validator_store(crawler: Any) -> StoryStorage:
    """The store of HTTP validators for `aggregator.fetch.conditional` (named by AGGREGATOR_VALIDATOR_STORE)."""
    return crawl_resources(crawler).storage
