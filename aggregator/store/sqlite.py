"""Story storage in one SQLite file: the connection and its transactions; the SQL is `aggregator.store.sql`'s.

Saves are batched: up to `batch_size` items, or `batch_seconds` of them, go in one transaction (each item in
a savepoint of its own), so a crash leaves whole items or nothing of them, and a crawl does not pay a commit
per article. Knows nothing of Scrapy or of how duplicates are decided.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from aggregator.sqlitefile import connect
from aggregator.store.dialect import SQLITE, Statements
from aggregator.store.migrations import SCHEMA_VERSION, migrate, schema_version
from aggregator.store.search import index_story
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")


def read_only_uri(path: str | Path) -> str:
    """The SQLite URI that opens the file `path` for reading only, creating nothing: `mode=ro`, and also
    `immutable=1` when its folder cannot be written (a read-only file system or folder), where a WAL database
    cannot make its `-shm` file and `mode=ro` alone fails ("unable to open database file"). Immutable means
    SQLite takes no lock and trusts that nobody writes the file, which holds where nobody can."""
    absolute = Path(path).absolute()
    uri = "file:%s?mode=ro" % quote(str(absolute), safe="/")
    if not os.access(absolute.parent, os.W_OK):
        uri += "&immutable=1"
    return uri


def connect_read_only(path: str | Path, timeout: float = 30) -> sqlite3.Connection:
    """A connection for reading the existing SQLite file `path`: read-only (see `read_only_uri`), never
    changing its journal mode nor creating a file. A database of an older schema that can be written is
    opened as a writer instead, so that the caller's migrate() brings it forward as before."""
    if not Path(path).is_file():
        raise FileNotFoundError("no database at %s" % path)
    connection = sqlite3.connect(read_only_uri(path), uri=True, timeout=timeout, isolation_level=None)
    try:
        older = schema_version(Statements(connection, SQLITE)) < SCHEMA_VERSION
    except BaseException:
        connection.close()
        raise
    if older and os.access(path, os.W_OK) and os.access(Path(path).absolute().parent, os.W_OK):
        connection.close()
        return connect(path, timeout)
    return connection


class SQLiteStorage(SQLStorage):
    """Stories in one SQLite file (WAL mode, so exports can read while a crawl writes).

    With `batch_size` > 1, saves join one open transaction that commits after `batch_size` items, when
    `commit_if_due()` finds it older than `batch_seconds`, or at `commit()`/`close()`. Other writers on
    `self.db` join it after `begin()`; a save's `then` writes inside the item's own savepoint, so an item's
    dedup index rows and its story commit, or roll back, together. Readers on other connections see a batch
    once committed."""

    dialect = SQLITE

    def __init__(self, path: str | Path, batch_size: int = 1, batch_seconds: float = 1.0, *,
                 read_only: bool = False) -> None:
        if batch_size < 1 or batch_seconds < 0:
            raise ValueError("batch_size must be >= 1 and batch_seconds >= 0, got %r, %r"
                             % (batch_size, batch_seconds))
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._batched = 0  # items saved in the open batch
        # Stories whose search rows the open batch owes: written just before it commits. An FTS5 table writes
        # out its pending terms at every savepoint, so indexing inside each item's savepoint cost three times
        # as much (0.5 against 0.16 ms a 600-word story).
        self._search_due: dict[str, None] = {}
        self._batch_started = 0.0
        self.path = str(path)
        # A reader opens read-only, so that a database on a read-only file system can be served and exported;
        # an up-to-date schema is then only read by migrate() (an older one fails: a writer must migrate it).
        self.db = connect_read_only(self.path) if read_only else connect(self.path)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys=ON")
            if not read_only:
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
        """Commit the open batch, if any, with the search rows its items changed."""
        if self.db.in_transaction:
            self._index_due()
            self.db.execute("COMMIT")
        self._batched = 0

    def _index_search(self, tx: Statements, story_id: str) -> None:
        if self.batch_size == 1:
            super()._index_search(tx, story_id)
        else:
            self._search_due[story_id] = None

    def _index_due(self) -> None:
        """The search rows of the batch's stories, as they stand now: an item rolled back leaves its story as
        it was (or gone, and a story merged away has no row to write)."""
        due, self._search_due = list(self._search_due), {}
        statements = self._statements()
        for story_id in due:
            if statements.execute("SELECT 1 FROM stories WHERE id = ?", (story_id,)).fetchone() is not None:
                index_story(statements, story_id)

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
        try:
            self.commit()  # may fail (a full disk): the connection is closed all the same
        finally:
            self.db.close()
