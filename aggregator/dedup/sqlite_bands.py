"""The dedup index's band store in SQLite tables (`dedup_*`), by default in the stories' own file.

Never reads or writes stories: a caller that shares its connection (the crawl's storage) owns the transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aggregator.dedup.bands import Candidate
from aggregator.sqlitefile import enable_wal

__all__ = ["SQLiteBandStore"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup_fingerprints (
    key INTEGER PRIMARY KEY,
    story_id TEXT NOT NULL,
    seen TEXT,
    fingerprint BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_fingerprints_story ON dedup_fingerprints (story_id);
CREATE TABLE IF NOT EXISTS dedup_bands (
    band INTEGER NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (band, key)
) WITHOUT ROWID;
"""


class SQLiteBandStore:
    """Bands and fingerprints in SQLite tables prefixed ``dedup_``, by default beside the stories.

    ``dedup_bands`` is a WITHOUT ROWID (band hash, key) table, so a lookup is one indexed SELECT over all of a
    query's bands joined to ``dedup_fingerprints`` (key -> story id, time seen, fingerprint bytes). Nothing is
    read at open: opening costs the same for ten stories or ten million. Writes are grouped ``batch_size``
    inserts to a transaction (uncommitted rows are visible to this connection's queries); ``flush`` commits.
    With ``batch_size`` > 1 a batch's band rows wait in memory (band hash -> key) and join ``dedup_bands`` in
    band order at ``flush``: one pass along the b-tree instead of a random page per row. If the caller already
    holds a transaction on a shared connection, its writes join it (after ``flush``) and the caller commits.
    """

    def __init__(self, db: sqlite3.Connection | str | Path, batch_size: int = 1, cache_mb: int | None = 64) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError("batch_size must be a positive integer, got %r" % (batch_size,))
        if cache_mb is not None and (not isinstance(cache_mb, int) or isinstance(cache_mb, bool) or cache_mb < 1):
            raise ValueError("cache_mb must be a positive integer or None, got %r" % (cache_mb,))
        if isinstance(db, sqlite3.Connection):
            self._db, self._owned = db, False
        elif isinstance(db, (str, Path)) and str(db):
            if str(db) != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            self._db, self._owned = sqlite3.connect(str(db), timeout=30, isolation_level=None), True
            enable_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
        else:
            raise ValueError("db must be a sqlite3.Connection or a database path, got %r" % (db,))
        if cache_mb is not None:
            self._db.execute("PRAGMA cache_size=%d" % (-1024 * cache_mb))
        self.batch_size = batch_size
        self._pending = 0
        # This batch's band rows, not yet in dedup_bands: band -> key, and band -> keys for bands shared in the batch.
        self._waiting: dict[int, int] = {}
        self._shared: dict[int, list[int]] = {}
        self._in_own_transaction = False
        self._write(lambda: [self._db.execute(statement) for statement in _SCHEMA.split(";") if statement.strip()])
        self.flush()

    def _begin(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_own_transaction = True

    def _write(self, operation: Any) -> None:
        self._begin()
        operation()
        self._pending += 1
        if self._pending >= self.batch_size:
            self.flush()

    def _write_waiting(self) -> None:
        if self._waiting:
            waiting, shared, self._waiting, self._shared = self._waiting, self._shared, {}, {}
            bands = sorted(waiting)
            self._db.executemany("INSERT OR IGNORE INTO dedup_bands (band, key) VALUES (?, ?)",
                                 zip(bands, map(waiting.__getitem__, bands)))
            self._db.executemany("INSERT OR IGNORE INTO dedup_bands (band, key) VALUES (?, ?)",
                                 sorted((band, key) for band, keys in shared.items() for key in keys))

    def flush(self) -> None:
        """Commit the writes made since the last commit (if this store began the transaction)."""
        self._write_waiting()
        if self._in_own_transaction and self._db.in_transaction:
            self._db.execute("COMMIT")
        self._in_own_transaction = False
        self._pending = 0

    def bind(self, layout: Mapping[str, str]) -> None:
        """Record the index layout on first use; refuse an index whose layout differs from the stored one."""
        stored = dict(self._db.execute("SELECT key, value FROM dedup_meta").fetchall())
        if stored and stored != dict(layout):
            raise ValueError("dedup tables hold layout %r, index wants %r" % (stored, dict(layout)))
        if not stored:
            self._write(lambda: self._db.executemany("INSERT INTO dedup_meta (key, value) VALUES (?, ?)",
                                                     sorted(layout.items())))
            self.flush()

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None) -> None:
        def operation() -> None:
            key = self._db.execute("INSERT INTO dedup_fingerprints (story_id, seen, fingerprint) VALUES (?, ?, ?)",
                                   (story_id, when, fingerprint)).lastrowid
            assert key is not None  # an INSERT into a rowid table always has one
            if self.batch_size == 1:
                self._db.executemany("INSERT OR IGNORE INTO dedup_bands (band, key) VALUES (?, ?)",
                                     [(band, key) for band in sorted(set(bands))])
                return
            waiting = self._waiting
            for band in bands:
                if waiting.setdefault(band, key) != key:  # a band shared within the batch (a copy, mostly)
                    self._shared.setdefault(band, []).append(key)
        self._write(operation)

    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]:
        distinct = sorted(set(bands))
        if not distinct:
            return []
        # One statement: the keys under the bands, then their fingerprints; keys still waiting are added by value.
        sql = ("SELECT key, story_id, seen, fingerprint FROM dedup_fingerprints WHERE (key IN"
               " (SELECT key FROM dedup_bands WHERE band IN (%s))" % ",".join("?" * len(distinct)))
        args: list[Any] = list(distinct)
        common = self._waiting.keys() & distinct
        held = sorted({*map(self._waiting.__getitem__, common),
                       *(key for band in common & self._shared.keys() for key in self._shared[band])})
        if held:
            sql += " OR key IN (%s)" % ",".join("?" * len(held))
            args.extend(held)
        sql += ")"
        if not_before is not None:
            sql += " AND (seen IS NULL OR seen >= ?)"
            args.append(not_before)
        rows = self._db.execute(sql + " ORDER BY key", args).fetchall()
        return [Candidate(row[0], row[1], bytes(row[3]), row[2]) for row in rows]

    def fingerprints(self, story_id: str) -> list[bytes]:
        rows = self._db.execute("SELECT fingerprint FROM dedup_fingerprints WHERE story_id = ? ORDER BY key",
                                (story_id,))
        return [bytes(row[0]) for row in rows]

    def remove(self, story_id: str, bands: Sequence[int]) -> None:
        """Forget ``story_id``'s fingerprints and their rows under ``bands`` (the union of their band hashes)."""
        keys = [row[0] for row in self._db.execute("SELECT key FROM dedup_fingerprints WHERE story_id = ?",
                                                   (story_id,))]

        def operation() -> None:
            self._write_waiting()
            self._db.executemany("DELETE FROM dedup_bands WHERE band = ? AND key = ?",
                                 [(band, key) for key in keys for band in sorted(set(bands))])
            self._db.execute("DELETE FROM dedup_fingerprints WHERE story_id = ?", (story_id,))
        self._write(operation)

    def __contains__(self, story_id: object) -> bool:
        return self._db.execute("SELECT 1 FROM dedup_fingerprints WHERE story_id = ? LIMIT 1",
                                (story_id,)).fetchone() is not None

    def __len__(self) -> int:
        """Stories indexed (a full count: for tests and reports, not the hot path)."""
        return self._db.execute("SELECT count(DISTINCT story_id) FROM dedup_fingerprints").fetchone()[0]

    def close(self) -> None:
        self.flush()
        if self._owned:
            self._db.close()
