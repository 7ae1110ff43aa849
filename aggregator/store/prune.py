"""Retention: delete the stories last seen before a cutoff with everything that hangs on them (sightings,
versions, search rows, the merges that lead to them, and the dedup index rows the caller reaches through
`IndexRows`), a batch of stories per transaction; then give SQLite's freed pages back to the file system.

Owns these deletes and nothing else: no DDL (`aggregator.store.migrations`), no statement on the search tables
(`aggregator.store.search`) or on the merges (`aggregator.store.merges`), and no knowledge of how the dedup index
stores a story (the store never imports dedup: `aggregator.ops.cli_prune` passes the index rows in).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from aggregator.store.dialect import Statements
from aggregator.store.merges import delete_merges, merges_ending_in
from aggregator.store.search import count_search_rows, delete_search_rows
from aggregator.store.sql import SQLStorage
from aggregator.store.sqlite import SQLiteStorage

logger = logging.getLogger(__name__)

__all__ = ["BATCH", "IndexRows", "Pruned", "file_bytes", "prune", "reclaim_space"]

BATCH = 500  # stories per transaction: a crawl waiting for the lock, or a reader, waits for one batch at most
# A story is last seen when its latest sighting was (a story without any: when it last changed).
LAST_SEEN = "coalesce((SELECT max(last_seen) FROM sightings WHERE sightings.story_id = stories.id), stories.updated)"


class IndexRows(Protocol):
    """The dedup index's rows of stories, as the caller reaches them (on the storage's connection where they
    share it, so that `forget` commits or rolls back with the batch)."""

    def count(self, story_ids: Sequence[str]) -> int:
        """How many index entries (fingerprints) `story_ids` have."""
        ...

    def forget(self, story_ids: Sequence[str]) -> int:
        """Remove them, inside the batch's transaction; how many there were."""
        ...


@dataclass
class Pruned:
    """What a prune removed (or, in a dry run, would remove)."""

    stories: int = 0
    sightings: int = 0
    versions: int = 0
    search_rows: int = 0
    merges: int = 0  # story_merges rows that led to a removed story (`explain` would name a story that is gone)
    index_entries: int = 0
    batches: int = 0


def prune(storage: SQLStorage, before: datetime, *, dry_run: bool = False, index: IndexRows | None = None,
          batch: int = BATCH,
          search_rows: Callable[[Statements, Sequence[str]], int] = delete_search_rows) -> Pruned:
    """Delete (or with `dry_run` only count) the stories last seen before `before`, `batch` stories to a
    transaction. `search_rows(tx, story_ids)` deletes their search rows in that transaction and says how many
    (a dry run counts them with `count_search_rows`)."""
    if batch < 1:
        raise ValueError("batch must be a positive integer, got %r" % (batch,))
    cutoff = before.astimezone(UTC).isoformat(timespec="seconds")
    db = storage._statements()
    old = "%s < %s" % (db.dialect.instant % LAST_SEEN, db.dialect.instant % "?")
    pruned = Pruned()
    merges_counted: set[str] = set()  # a dry run deletes nothing: a merge two batches lead to counts once
    last = ""
    while True:
        chosen = [row["id"] for row in db.execute(
            "SELECT id FROM stories WHERE id > ? AND %s ORDER BY id LIMIT ?" % old, (last, cutoff, batch)).fetchall()]
        if not chosen:
            return pruned
        last = chosen[-1]
        if dry_run:
            _count(db, chosen, index, pruned, merges_counted)
        else:
            storage._unit(partial(_delete, chosen=chosen, old=old, cutoff=cutoff, index=index,
                                  search_rows=search_rows, pruned=pruned))
        pruned.batches += 1
        logger.debug("prune: %d stories so far (%s)", pruned.stories, "counted" if dry_run else "deleted")


def _ids(story_ids: Sequence[str]) -> str:
    return ", ".join("?" * len(story_ids))


def _count(db: Statements, story_ids: list[str], index: IndexRows | None, pruned: Pruned,
           merges_counted: set[str]) -> None:
    marks = _ids(story_ids)
    pruned.stories += len(story_ids)
    pruned.sightings += db.execute("SELECT count(*) AS n FROM sightings WHERE story_id IN (%s)" % marks,
                                   story_ids).fetchone()["n"]
    pruned.versions += db.execute("SELECT count(*) AS n FROM story_versions WHERE story_id IN (%s)" % marks,
                                  story_ids).fetchone()["n"]
    pruned.search_rows += count_search_rows(db, story_ids)
    merges_counted.update(merges_ending_in(db, story_ids))
    pruned.merges = len(merges_counted)
    if index is not None:
        pruned.index_entries += index.count(story_ids)


def _delete(tx: Statements, chosen: list[str], old: str, cutoff: str, index: IndexRows | None,
            search_rows: Callable[[Statements, Sequence[str]], int], pruned: Pruned) -> None:
    # Chosen again inside the transaction: a story seen since it was chosen (a worker's save) is kept.
    story_ids = [row["id"] for row in tx.execute(
        "SELECT id FROM stories WHERE id IN (%s) AND %s" % (_ids(chosen), old), (*chosen, cutoff)).fetchall()]
    if not story_ids:
        return
    marks = _ids(story_ids)
    entries = index.forget(story_ids) if index is not None else 0
    searchable = search_rows(tx, story_ids)
    merges = delete_merges(tx, sorted(merges_ending_in(tx, story_ids)))
    versions = tx.execute("DELETE FROM story_versions WHERE story_id IN (%s)" % marks, story_ids).rowcount
    sightings = tx.execute("DELETE FROM sightings WHERE story_id IN (%s)" % marks, story_ids).rowcount
    stories = tx.execute("DELETE FROM stories WHERE id IN (%s)" % marks, story_ids).rowcount
    # Counted once the batch's statements have all run (PostgreSQL may run a unit again after a conflict).
    pruned.index_entries += entries
    pruned.search_rows += searchable
    pruned.merges += merges
    pruned.versions += versions
    pruned.sightings += sightings
    pruned.stories += stories


def file_bytes(storage: SQLStorage) -> int | None:
    """The bytes a SQLite database takes (its file and write-ahead log, after a checkpoint that empties the log
    where no reader holds it); None for a database that is not a file of ours (PostgreSQL)."""
    if not isinstance(storage, SQLiteStorage):
        return None
    storage.commit()
    storage.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(os.path.getsize(name) for name in (storage.path, storage.path + "-wal") if os.path.exists(name))


def reclaim_space(storage: SQLStorage) -> bool:
    """Give the pages freed by deletes back to the file system (SQLite's VACUUM: it rewrites the file, and needs
    room for a copy of it meanwhile). False for a backend that keeps freed space for reuse instead (PostgreSQL:
    autovacuum; VACUUM FULL would lock every table while it rewrites them)."""
    if not isinstance(storage, SQLiteStorage):
        return False
    storage.commit()
    storage.db.execute("VACUUM")
    return True
