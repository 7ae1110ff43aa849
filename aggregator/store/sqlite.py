"""Story storage in one SQLite file: the connection and its transactions; the SQL is `aggregator.store.sql`'s.

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
from aggregator.store.migrations import migrate
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
            migrate(Statements(self.db, SQLITE), repr(self.path))
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
