"""Story storage in one SQLite file: the connection, its transactions and the schema; the SQL of saves and
reads is `aggregator.store.sql`'s.

Saves are batched: up to `batch_size` items, or `batch_seconds` of them, go in one transaction (each item in
a savepoint of its own), so a crash leaves whole items or nothing of them, and a crawl does not pay a commit
per article. Knows nothing of Scrapy or of how duplicates are decided.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from aggregator.sqlitefile import connect
from aggregator.store.dialect import SQLITE, Statements
from aggregator.store.model import SCHEMA_VERSION
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT,
    text TEXT NOT NULL,
    summary TEXT,
    authors TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    language TEXT,
    image TEXT,
    date_published TEXT,
    date_modified TEXT,
    date_source TEXT,
    text_hash TEXT NOT NULL,
    canonical_claim TEXT,
    canonical_reason TEXT NOT NULL DEFAULT 'first_seen',
    first_seen TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_order ON stories (coalesce(date_published, first_seen));
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY,
    story_id TEXT NOT NULL REFERENCES stories (id),
    url TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    title TEXT,
    date_published TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    similarity REAL,
    rule TEXT,
    text_hash TEXT,
    source_updated TEXT,
    fingerprint BLOB
);
CREATE INDEX IF NOT EXISTS sightings_story ON sightings (story_id);
CREATE TABLE IF NOT EXISTS story_versions (
    id INTEGER PRIMARY KEY,
    story_id TEXT NOT NULL REFERENCES stories (id),
    url TEXT NOT NULL,
    title TEXT,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    date_modified TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS story_versions_story ON story_versions (story_id);
CREATE TABLE IF NOT EXISTS http_validators (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    updated_at TEXT NOT NULL
);
"""



class SQLiteStorage(SQLStorage):
    """Stories in one SQLite file (WAL mode, so exports can read while a crawl writes).

    With `batch_size` > 1, saves join one open transaction that commits after `batch_size` items, when
    `commit_if_due()` finds it older than `batch_seconds`, or at `commit()`/`close()`. Other writers on
    `self.db` join it after `begin()`; a save's `then` writes inside the item's own savepoint, so an item's
    dedup index rows and its story commit, or roll back, together. Readers on other connections see a batch
    once committed."""

    dialect = SQLITE

    def __init__(self, path: str | Path, batch_size: int = 1, batch_seconds: float = 1.0) -> None:
        if batch_size < 1 or batch_seconds < 0:
            raise ValueError("batch_size must be >= 1 and batch_seconds >= 0, got %r, %r"
                             % (batch_size, batch_seconds))
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._batched = 0  # items saved in the open batch
        self._batch_started = 0.0
        self.path = str(path)
        self.db = connect(self.path)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executescript(SCHEMA.replace("\n\n", "\n"))
                self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                                (str(SCHEMA_VERSION),))
        except BaseException:
            self.db.close()
            raise

    def begin(self) -> None:
        """Open the batch's transaction, when batching and none is open."""
        if self.batch_size > 1 and not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self._batch_started = time.monotonic()

    def commit(self) -> None:
        """Commit the open batch, if any."""
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self._batched = 0

    def commit_if_due(self) -> None:
        """Commit the open batch if it is older than `batch_seconds` (a crawl calls this on a timer)."""
        if self.db.in_transaction and time.monotonic() - self._batch_started >= self.batch_seconds:
            self.commit()

    def _unit(self, work: Callable[[Statements], T]) -> T:
        with self._item():
            return work(self._statements())

    @contextmanager
    def _item(self) -> Iterator[None]:
        """One item's writes: a transaction of its own, or a savepoint in the open batch (rolled back alone
        when the item fails)."""
        if self.batch_size == 1:
            with self.db:  # commits, or rolls back when the item raises
                self.db.execute("BEGIN IMMEDIATE")
                yield
            return
        self.begin()
        self.db.execute("SAVEPOINT item")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO item")
            self.db.execute("RELEASE item")
            raise
        self.db.execute("RELEASE item")
        self._batched += 1
        if self._batched >= self.batch_size:
            self.commit()
        else:
            self.commit_if_due()

    def close(self) -> None:
        self.commit()
        self.db.close()
