"""Story storage: stories, their sightings and dedup fingerprints, in SQLite by default.

Owns the schema and every SQL statement (all parameterized). Saves are batched: up to `batch_size` items,
or `batch_seconds` of them, go in one transaction (each item in a savepoint of its own), so a crash leaves
whole items or nothing of them, and a crawl does not pay a commit per article. Knows nothing of Scrapy or
of how duplicates are decided.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aggregator.sqlitefile import enable_wal
from aggregator.store.identity import Candidate, choose_canonical
from aggregator.store.model import (
    SAME_SOURCE_RULE,
    SCHEMA_VERSION,
    Sighting,
    Story,
    sighting_from_row,
    source_totals_of,
    stories_query,
    story_from_row,
    utc_now,
)

logger = logging.getLogger(__name__)

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


class SQLiteStorage:
    """Stories in one SQLite file (WAL mode, so exports can read while a crawl writes).

    With `batch_size` > 1, saves join one open transaction that commits after `batch_size` items, when
    `commit_if_due()` finds it older than `batch_seconds`, or at `commit()`/`close()`. Other writers on
    `self.db` (the dedup index's tables, see `aggregator.dedup.bands`) join it after `begin()`, so an item's
    index rows and its story commit together. Readers on other connections see a batch once committed."""

    def __init__(self, path: str | Path, batch_size: int = 1, batch_seconds: float = 1.0) -> None:
        if batch_size < 1 or batch_seconds < 0:
            raise ValueError("batch_size must be >= 1 and batch_seconds >= 0, got %r, %r"
                             % (batch_size, batch_seconds))
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._batched = 0  # items saved in the open batch
        self._batch_started = 0.0
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        enable_wal(self.db)
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA synchronous=NORMAL")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executescript(SCHEMA.replace("\n\n", "\n"))
            self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))

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

    @contextmanager
    def _item(self) -> Iterator[None]:
        """One item's writes: a transaction of its own, or a savepoint in the open batch (rolled back alone
        when the item fails)."""
        if self.batch_size == 1:
            with self.db:
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

    def story_for_url(self, url: str) -> str | None:
        row = self.db.execute("SELECT story_id FROM sightings WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def source_updated(self, url: str) -> tuple[str, str | None] | None:
        """(story id, the feed/sitemap date it had when stored) for a stored URL, else None."""
        row = self.db.execute("SELECT story_id, source_updated FROM sightings WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1]) if row else None

    def validators(self, url: str) -> tuple[str | None, str | None] | None:
        """The (ETag, Last-Modified) stored for a feed, sitemap or listing URL."""
        row = self.db.execute("SELECT etag, last_modified FROM http_validators WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1]) if row else None

    def save_validators(self, validators: dict[str, tuple[str | None, str | None]]) -> None:
        now = utc_now()
        with self._item():
            self.db.executemany(
                "INSERT INTO http_validators (url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                " updated_at = excluded.updated_at",
                [(url, etag, modified, now) for url, (etag, modified) in validators.items()])

    def fingerprints(self) -> Iterator[tuple[str, bytes]]:
        rows = self.db.execute("SELECT story_id, fingerprint FROM sightings WHERE fingerprint IS NOT NULL "
                               "ORDER BY id")
        for story_id, fingerprint in rows:
            yield story_id, bytes(fingerprint)

    def save(self, *, story_id: str, url: str, source: str, article: Any, text_hash: str,
             similarity: float | None, rule: str | None, fingerprint: bytes | None,
             source_updated: str | None = None, canonical_claim: str | None = None) -> str:
        """Store one sighting of `story_id`, creating the story if it is new. Returns "new" (a new story),
        "sighting" (a new place for a stored story; it may become the story's canonical item, see
        `aggregator.store.identity`), "updated" (a new text for a stored URL, or a later version of the
        story from the same source at another URL: the old text is kept as a version) or "seen" (a
        stored URL, text unchanged)."""
        now = utc_now()
        with self._item():
            known = self.db.execute("SELECT story_id, text_hash FROM sightings WHERE url = ?", (url,)).fetchone()
            if known is not None:
                if not text_hash or known["text_hash"] == text_hash:
                    self.db.execute("UPDATE sightings SET last_seen = ?, source_updated ="
                                    " coalesce(?, source_updated) WHERE url = ?", (now, source_updated, url))
                    return "seen"
                self._new_version(known["story_id"], url, source, article, text_hash, fingerprint,
                                  source_updated, now)
                return "updated"
            created = self.db.execute(
                "INSERT OR IGNORE INTO stories (id, url, source, title, text, summary, authors, tags,"
                " language, image, date_published, date_modified, date_source, text_hash, canonical_claim,"
                " first_seen, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (story_id, url, source, article.title, article.text, article.description,
                 json.dumps(list(article.authors)), json.dumps(list(article.tags)), article.language,
                 article.image, article.date_published, article.date_modified, article.date_source,
                 text_hash, canonical_claim, now, now),
            ).rowcount
            self.db.execute(
                "INSERT INTO sightings (story_id, url, source, title, date_published, first_seen,"
                " last_seen, similarity, rule, text_hash, source_updated, fingerprint)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (story_id, url, source, article.title, article.date_published, now, now,
                 similarity, rule if not created else "first", text_hash, source_updated, fingerprint),
            )
            if created:
                return "new"
            if rule == SAME_SOURCE_RULE:
                self._new_version(story_id, url, source, article, text_hash, None, source_updated, now)
                return "updated"
            self._choose_canonical(story_id, url, article, text_hash, canonical_claim, now)
        return "sighting"

    def _choose_canonical(self, story_id: str, url: str, article: Any, text_hash: str,
                          canonical_claim: str | None, now: str) -> None:
        """A new outlet's item of the story: it replaces the canonical item when it should (and why)."""
        current = self.db.execute("SELECT url, date_published, date_source, length(text) AS text_length,"
                                  " canonical_claim FROM stories WHERE id = ?", (story_id,)).fetchone()
        replace, reason = choose_canonical(
            Candidate(current["url"], current["date_published"], current["date_source"], current["text_length"],
                      current["canonical_claim"]),
            Candidate(url, article.date_published, article.date_source, len(article.text), canonical_claim))
        if replace:
            source = self.db.execute("SELECT source FROM sightings WHERE url = ?", (url,)).fetchone()[0]
            self.db.execute(
                "UPDATE stories SET url = ?, source = ?, title = ?, text = ?, summary = ?, authors = ?, tags = ?,"
                " language = ?, image = ?, date_published = ?, date_modified = ?, date_source = ?, text_hash = ?,"
                " canonical_claim = ?, canonical_reason = ?, updated = ? WHERE id = ?",
                (url, source, article.title, article.text, article.description, json.dumps(list(article.authors)),
                 json.dumps(list(article.tags)), article.language, article.image, article.date_published,
                 article.date_modified, article.date_source, text_hash, canonical_claim, reason, now, story_id))
        elif reason != "first_seen":
            self.db.execute("UPDATE stories SET canonical_reason = ? WHERE id = ?", (reason, story_id))

    def _new_version(self, story_id: str, url: str, source: str, article: Any, text_hash: str,
                     fingerprint: bytes | None, source_updated: str | None, now: str) -> None:
        """A later version of an item of the story: a stored URL with another text, or the same source's
        item at a new URL. When it is the story's canonical item, the old text is kept as a version and
        the story takes the new one."""
        story = self.db.execute("SELECT url, source, title, text, text_hash, date_modified FROM stories"
                                " WHERE id = ?", (story_id,)).fetchone()
        if story["url"] == url or story["source"] == source:
            self.db.execute(
                "INSERT INTO story_versions (story_id, url, title, text, text_hash, date_modified, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (story_id, story["url"], story["title"], story["text"], story["text_hash"], story["date_modified"],
                 now))
            self.db.execute(
                "UPDATE stories SET url = ?, title = ?, text = ?, summary = coalesce(?, summary), text_hash = ?,"
                " date_modified = coalesce(?, date_modified), updated = ? WHERE id = ?",
                (url, article.title, article.text, article.description, text_hash,
                 article.date_modified or source_updated, now, story_id))
        self.db.execute(
            "UPDATE sightings SET title = ?, text_hash = ?, fingerprint = coalesce(?, fingerprint), last_seen = ?,"
            " source_updated = coalesce(?, source_updated) WHERE url = ?",
            (article.title, text_hash, fingerprint, now, source_updated, url))

    def sources_of(self, story_id: str) -> set[str]:
        """The sources a story has been seen on."""
        rows = self.db.execute("SELECT DISTINCT source FROM sightings WHERE story_id = ?", (story_id,))
        return {source for (source,) in rows}

    def story(self, story_id: str) -> Story | None:
        row = self.db.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchone()
        return story_from_row(row) if row else None

    def versions(self, story_id: str) -> list[dict[str, Any]]:
        """Earlier texts of a story, oldest first."""
        rows = self.db.execute("SELECT url, title, text, text_hash, date_modified, recorded_at FROM story_versions"
                               " WHERE story_id = ? ORDER BY id", (story_id,))
        return [dict(row) for row in rows]

    def stories(self, limit: int | None = None, since: str | None = None,
                source: str | None = None) -> list[Story]:
        """Stories newest first (by published date, else first seen), optionally filtered."""
        sql, args = stories_query(limit, since, source)
        return [story_from_row(row) for row in self.db.execute(sql, args)]

    def sightings(self, story_ids: Sequence[str]) -> dict[str, list[Sighting]]:
        found: dict[str, list[Sighting]] = {story_id: [] for story_id in story_ids}
        for start in range(0, len(story_ids), 500):
            chunk = list(story_ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT story_id, url, source, title, date_published, first_seen, similarity, rule"
                " FROM sightings WHERE story_id IN (%s) ORDER BY id" % marks, chunk)
            for row in rows:
                found[row["story_id"]].append(sighting_from_row(row))
        return found

    def source_totals(self) -> dict[str, dict[str, Any]]:
        return source_totals_of(self.db)

    def counts(self) -> dict[str, int]:
        stories = self.db.execute("SELECT count(*) FROM stories").fetchone()[0]
        sightings = self.db.execute("SELECT count(*) FROM sightings").fetchone()[0]
        return {"stories": stories, "sightings": sightings}

    def close(self) -> None:
        self.commit()
        self.db.close()
