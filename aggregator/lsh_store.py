"""Band stores for the dedup index: where LSH band hashes and stored fingerprints live (memory, Redis, SQLite).

Owns the `BandStore` contract and its backends; knows nothing of how texts are fingerprinted, how band hashes
are computed or how a candidate is judged a copy (that is `aggregator.dedup.StoryIndex`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aggregator.storage import enable_wal

__all__ = ["BandStore", "Candidate", "MemoryBandStore", "SQLiteBandStore", "open_band_store"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One stored fingerprint that shares a band with a query."""

    key: int  # insertion order: lower is older
    story_id: str
    fingerprint: bytes  # Fingerprint.to_bytes()
    when: str | None  # UTC ISO 8601 time it was seen, if known


class BandStore(Protocol):
    """Stores fingerprints by story and finds those sharing any band hash with a query."""

    def bind(self, layout: Mapping[str, str]) -> None: ...
    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None) -> None: ...
    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]: ...
    def fingerprints(self, story_id: str) -> list[bytes]: ...
    def remove(self, story_id: str, bands: Sequence[int]) -> None: ...
    def __contains__(self, story_id: object) -> bool: ...
    def __len__(self) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class MemoryBandStore:
    """Bands in a datasketch MinHashLSH (one "row" per band, so its hash tables are our band tables).

    ``storage_config`` goes to MinHashLSH as is: ``{"type": "dict"}`` (default) keeps the bands in this process,
    ``{"type": "redis", "redis": {...}}`` puts them in Redis. Fingerprints stay in ``fingerprints`` (a dict by
    default; pass a persistent mapping of int -> tuple to keep them elsewhere).
    """

    def __init__(self, bands: int, storage_config: dict[str, Any] | None = None,
                 fingerprints: dict[int, tuple[str, bytes, str | None]] | None = None) -> None:
        if not isinstance(bands, int) or isinstance(bands, bool) or bands < 1:
            raise ValueError("bands must be a positive integer, got %r" % (bands,))
        self.bands = bands
        self._storage_config = storage_config
        self._lsh_instance: Any = None
        self._entries = {} if fingerprints is None else fingerprints
        self._keys: dict[str, list[int]] = {}
        self._next_key = max(self._entries, default=-1) + 1
        self._layout: dict[str, str] | None = None

    @property
    def _lsh(self) -> Any:
        """The MinHashLSH, made at first use: datasketch imports scipy (~50 MB, 0.35 s), which an index that
        only signs (as in the extraction workers) never needs."""
        if self._lsh_instance is None:
            from datasketch import MinHashLSH

            self._lsh_instance = MinHashLSH(num_perm=self.bands, params=(self.bands, 1),
                                            storage_config=self._storage_config)
        return self._lsh_instance

    def bind(self, layout: Mapping[str, str]) -> None:
        if self._layout is not None and self._layout != dict(layout):
            raise ValueError("store holds layout %r, index wants %r" % (self._layout, dict(layout)))
        self._layout = dict(layout)

    def _minhash(self, key: int, bands: Sequence[int]) -> Any:
        from datasketch import LeanMinHash

        values = list(bands)
        # Texts without shingles have only their exact-hash band: fill the rest with values no other key has.
        values.extend((1 << 62) + key * self.bands + i for i in range(len(values), self.bands))
        if len(values) != self.bands:
            raise ValueError("expected at most %d band hashes, got %d" % (self.bands, len(bands)))
        return LeanMinHash(seed=1, hashvalues=np.array(values, dtype=np.int64).view(np.uint64), scheme="legacy")

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None) -> None:
        key = self._next_key
        self._next_key += 1
        self._entries[key] = (story_id, fingerprint, when)
        self._keys.setdefault(story_id, []).append(key)
        self._lsh.insert(key, self._minhash(key, bands), check_duplication=False)

    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]:
        found = []
        for key in sorted(self._lsh.query(self._minhash(-1, bands))):
            story_id, fingerprint, when = self._entries[key]
            if not_before is None or when is None or when >= not_before:
                found.append(Candidate(key, story_id, fingerprint, when))
        return found

    def fingerprints(self, story_id: str) -> list[bytes]:
        return [self._entries[key][1] for key in self._keys.get(story_id, ())]

    def remove(self, story_id: str, bands: Sequence[int]) -> None:
        for key in self._keys.pop(story_id, ()):
            self._lsh.remove(key)
            del self._entries[key]

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


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


def open_band_store(config: Mapping[str, Any] | str | None, bands: int) -> BandStore:
    """The band store named by ``config``: a dict ``{"type": "memory"|"redis"|"sqlite", ...}`` or a URL
    (``memory://``, ``sqlite:///path``, ``redis://host:port/db``). ``bands`` is the index's band count."""
    if config is None:
        config = {"type": "memory"}
    if isinstance(config, str):
        url = config
        if url == "memory://":
            config = {"type": "memory"}
        elif url.startswith("sqlite:///"):
            config = {"type": "sqlite", "db": url.removeprefix("sqlite:///")}
        elif url.startswith("redis://"):
            from urllib.parse import urlsplit

            parts = urlsplit(url)
            config = {"type": "redis", "redis": {"host": parts.hostname or "localhost", "port": parts.port or 6379,
                                                 "db": int(parts.path.strip("/") or 0)}}
        else:
            raise ValueError("unsupported dedup index URL %r (memory://, sqlite:///path, redis://host:port/db)"
                             % url)
    kind = config.get("type")
    if kind == "memory":
        return MemoryBandStore(bands)
    if kind == "redis":
        from aggregator.lsh_redis import RedisBandStore

        return RedisBandStore(bands, dict(config.get("redis", {})), prefix=config.get("prefix", "aggregator:dedup"))
    if kind == "sqlite":
        return SQLiteBandStore(config["db"], batch_size=int(config.get("batch_size", 1)),
                               cache_mb=config.get("cache_mb", 64))
    raise ValueError("unknown dedup index type %r (memory, redis, sqlite)" % (kind,))
