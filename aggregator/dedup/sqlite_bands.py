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

_ARMS = 8  # passages (and keys) per statement of `holders`

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
CREATE TABLE IF NOT EXISTS dedup_passages (
    passage INTEGER NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (passage, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_deferred (
    first TEXT NOT NULL,
    second TEXT NOT NULL,
    similarity REAL NOT NULL,
    PRIMARY KEY (first, second)
) WITHOUT ROWID;
"""


class SQLiteBandStore:
    """Bands and fingerprints in SQLite tables prefixed ``dedup_``, by default beside the stories.

    ``dedup_bands`` is a WITHOUT ROWID (band hash, key) table, so a lookup is one indexed SELECT over all of a
    query's bands joined to ``dedup_fingerprints`` (key -> story id, time seen, fingerprint bytes); passages are
    (passage, key) rows of ``dedup_passages``, written at once. Nothing is
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
        self._first_waiting: int | None = None  # keys from this one on have band rows only in memory
        self._arms: dict[int, str] = {}  # the statement of `holders`, by limit
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
            self._first_waiting = None
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

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None,
               passages: Sequence[int] = ()) -> None:
        def operation() -> None:
            key = self._db.execute("INSERT INTO dedup_fingerprints (story_id, seen, fingerprint) VALUES (?, ?, ?)",
                                   (story_id, when, fingerprint)).lastrowid
            assert key is not None  # an INSERT into a rowid table always has one
            # A few passage rows a text: written at once (kept in memory like the bands, they cost more resident
            # memory than the random pages they save).
            if passages:
                self._db.executemany("INSERT OR IGNORE INTO dedup_passages (passage, key) VALUES (?, ?)",
                                     [(passage, key) for passage in passages])
            if self.batch_size == 1:
                self._db.executemany("INSERT OR IGNORE INTO dedup_bands (band, key) VALUES (?, ?)",
                                     [(band, key) for band in sorted(set(bands))])
                return
            if self._first_waiting is None:
                self._first_waiting = key
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

    def holders(self, passages: Sequence[int], limit: int) -> dict[int, list[Candidate] | None]:
        wanted = sorted(set(passages))
        postings: dict[int, set[int]] = {}
        # Statements of a fixed shape (padded with repeats), so SQLite's statement cache holds a few, not one per
        # count of passages; each arm reads at most `limit` rows of its passage's b-tree range.
        arms = self._arms.get(limit) or self._arms.setdefault(limit, " UNION ALL ".join(
            ["SELECT * FROM (SELECT passage, key FROM dedup_passages WHERE passage = ? ORDER BY key LIMIT %d)"
             % limit] * _ARMS))
        for start in range(0, len(wanted), _ARMS):
            chunk = wanted[start:start + _ARMS]
            for passage, key in self._db.execute(arms, chunk + chunk[-1:] * (_ARMS - len(chunk))):
                postings.setdefault(passage, set()).add(key)  # a repeated arm gives its rows again
        held = {passage: sorted(keys) if len(keys) < limit else None for passage, keys in postings.items()}
        keys = sorted({key for found in held.values() if found is not None for key in found})
        found: dict[int, Candidate] = {}
        for start in range(0, len(keys), _ARMS):
            chunk = keys[start:start + _ARMS]
            stored = self._db.execute("SELECT key, story_id, seen, fingerprint FROM dedup_fingerprints WHERE key IN"
                                      " (%s)" % ",".join("?" * _ARMS), chunk + chunk[-1:] * (_ARMS - len(chunk)))
            found.update((row[0], Candidate(row[0], row[1], bytes(row[3]), row[2])) for row in stored)
        return {passage: None if keys_held is None else [found[key] for key in keys_held if key in found]
                for passage, keys_held in held.items()}

    def fingerprints(self, story_id: str) -> list[bytes]:
        rows = self._db.execute("SELECT fingerprint FROM dedup_fingerprints WHERE story_id = ? ORDER BY key",
                                (story_id,))
        return [bytes(row[0]) for row in rows]

    def remove(self, story_id: str, bands: Sequence[int], passages: Sequence[int] = ()) -> None:
        """Forget ``story_id``'s fingerprints and their rows under ``bands`` and ``passages`` (the unions of their
        band hashes and passage keys)."""
        keys = [row[0] for row in self._db.execute("SELECT key FROM dedup_fingerprints WHERE story_id = ?",
                                                   (story_id,))]

        def operation() -> None:
            self._forget_waiting(set(keys), set(bands))
            written = [key for key in keys if self._first_waiting is None or key < self._first_waiting]
            self._db.executemany("DELETE FROM dedup_bands WHERE band = ? AND key = ?",
                                 [(band, key) for key in written for band in sorted(set(bands))])
            self._db.executemany("DELETE FROM dedup_passages WHERE passage = ? AND key = ?",
                                 [(passage, key) for key in keys for passage in sorted(set(passages))])
            self._db.execute("DELETE FROM dedup_fingerprints WHERE story_id = ?", (story_id,))
        self._write(operation)

    def rename(self, story_id: str, into: str) -> None:
        """File every fingerprint of ``story_id`` under ``into`` (a merge): band and passage rows name keys, not
        stories, so they stay as they are."""
        self._write(lambda: self._db.execute("UPDATE dedup_fingerprints SET story_id = ? WHERE story_id = ?",
                                             (into, story_id)))

    def defer(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        if pairs:
            self._write(lambda: self._db.executemany(
                "INSERT INTO dedup_deferred (first, second, similarity) VALUES (?, ?, ?) ON CONFLICT (first, second)"
                " DO UPDATE SET similarity = excluded.similarity", list(pairs)))

    def take_deferred(self) -> list[tuple[str, str, float]]:
        rows = self._db.execute("SELECT first, second, similarity FROM dedup_deferred"
                                " ORDER BY first, second").fetchall()
        if rows:
            self._write(lambda: self._db.execute("DELETE FROM dedup_deferred"))
        return [(row[0], row[1], row[2]) for row in rows]

    def _forget_waiting(self, keys: set[int], bands: set[int]) -> None:
        """Drop ``keys`` from the batch's band rows still waiting in memory (writing them out first would break the
        batch's one pass in band order)."""
        for band in bands & self._waiting.keys():
            rest = [key for key in (self._waiting[band], *self._shared.get(band, ())) if key not in keys]
            if rest:
                self._waiting[band] = rest[0]
            else:
                del self._waiting[band]
            if len(rest) > 1:
                self._shared[band] = rest[1:]
            else:
                self._shared.pop(band, None)

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
