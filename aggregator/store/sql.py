"""The one write path and every read query of story storage, written once over a `Dialect`.

A save records one sighting: a new story, a new place for a stored story (which may become its primary
item, see `aggregator.store.identity`), a new version, or a URL seen again. The backends
(`aggregator.store.sqlite`, `aggregator.store.postgres`) supply only the connection and the unit of work
each save runs in. Owns no DDL (`aggregator.store.migrations` does), knows nothing of Scrapy or of how
duplicates are decided.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from aggregator.store.dialect import URL_LOCK_PREFIX, Dialect, Statements
from aggregator.store.identity import Candidate, choose_primary
from aggregator.store.merges import StoryMerges, merge_stories
from aggregator.store.model import (
    SAME_SOURCE_RULE,
    Sighting,
    Story,
    clean,
    sighting_from_row,
    story_from_row,
    utc_now,
)
from aggregator.store.rule_outcomes import APPLY_BATCH, RuleChange, StoryRules, reapply, redecide
from aggregator.store.search import index_story

logger = logging.getLogger(__name__)

T = TypeVar("T")
FINGERPRINT_BATCH = 1000  # read in batches by id: neither a huge result nor a long read held by the caller
SIGHTINGS_BATCH = 500  # story ids per query (SQLite allows 32,766 parameters; PostgreSQL 65,535)
# Earlier texts kept per story: its first and the newest others. A page whose text changes on every fetch (a
# clock, a view counter) would otherwise add a version per crawl for ever.
MAX_VERSIONS = 50


@dataclass(frozen=True)
class Seen:
    """What one save was told: one sighting of an item, at `now`."""

    story_id: str
    url: str
    source: str
    article: Any  # an aggregator.extract.extractor.Article (storage only reads its fields)
    text_hash: str
    similarity: float | None
    rule: str | None
    fingerprint: bytes | None
    source_updated: str | None
    canonical_claim: str | None
    now: str


class SQLStorage(StoryMerges, ABC):
    """Stories, sightings, versions and HTTP validators in SQL tables (`StoryStorage` for every backend).

    Subclasses set `dialect` and `db` (the connection reads run on, rows readable by column name) and
    give `_unit`: how one item's writes become all or nothing."""

    dialect: ClassVar[Dialect]
    db: Any

    @abstractmethod
    def _unit(self, work: Callable[[Statements], T]) -> T:
        """Run `work` as one item's writes: all of them, or (when it raises) none, and the error raised."""

    def _statements(self) -> Statements:
        """Statements on the storage's connection (reads, and writes where a backend runs them there)."""
        return Statements(self.db, self.dialect)

    # The write path.

    def save(self, *, story_id: str, url: str, source: str, article: Any, text_hash: str,
             similarity: float | None, rule: str | None, fingerprint: bytes | None,
             source_updated: str | None = None, canonical_claim: str | None = None,
             then: Callable[[], None] | None = None, rules: StoryRules | None = None,
             merges: Sequence[str] = ()) -> str:
        """Store one sighting of `story_id`, creating the story if it is new. Returns "new" (a new story),
        "sighting" (a new place for a stored story; it may become the story's primary item), "updated" (a
        new text for a stored URL, or a later version of the story from the same source at another URL: the
        old text is kept as a version) or "seen" (a stored URL, text unchanged).

        `then` runs last inside the item's transaction: what it writes on this storage's connection commits
        with the story, or is rolled back with it when the save or `then` raises. PostgreSQL runs a save
        again from the start after a serialization failure or deadlock, so `then` must be safe to repeat.
        With `rules`, the story this sighting belongs to is decided again (hidden, rule tags) in the same save.
        The stories in `merges` (this text bridges them) are merged into `story_id` in the same unit of work
        (`aggregator.store.merges`); a new story that merges a stored one counts as a "sighting"."""
        seen = Seen(story_id, url, source, article, text_hash, similarity, rule, fingerprint, source_updated,
                    canonical_claim, utc_now())

        def work(tx: Statements) -> str:
            outcome = self._store(tx, seen)
            if merges and merge_stories(tx, seen.story_id, merges, rule=seen.rule, similarity=seen.similarity,
                                        url=seen.url, now=seen.now) and outcome == "new":
                outcome = "sighting"
            if outcome != "seen" or rules is not None:
                # the story the sighting belongs to now (a stored URL keeps its story; a merge may rename it)
                stored = tx.execute("SELECT story_id FROM sightings WHERE url = ?", (seen.url,)).fetchone()
                current = stored["story_id"] if stored else seen.story_id
                if outcome != "seen" and stored:  # its search row follows the story, in the same transaction
                    self._index_search(tx, current)
                if rules is not None:
                    redecide(tx, current, rules, seen.now)
            if then is not None:
                then()
            return outcome

        return self._unit(work)

    def _index_search(self, tx: Statements, story_id: str) -> None:
        """Bring the search row of `story_id` in step with it, inside the item's unit of work (a batching SQLite
        storage defers it to the batch's commit, still in the same transaction)."""
        index_story(tx, story_id)

    def _store(self, tx: Statements, seen: Seen) -> str:
        if tx.dialect.url_lock is not None:
            # Saves of one URL queue here until the holder commits; READ COMMITTED then shows its row.
            tx.execute(tx.dialect.url_lock, (URL_LOCK_PREFIX + seen.url,))
        known = tx.execute("SELECT story_id, text_hash FROM sightings WHERE url = ?", (seen.url,)).fetchone()
        if known is not None:
            if not seen.text_hash or known["text_hash"] == seen.text_hash:
                return self._seen_again(tx, seen.url, seen)
            self._new_version(tx, known["story_id"], seen, seen.fingerprint)
            return "updated"
        if seen.text_hash and seen.rule == SAME_SOURCE_RULE:
            # The same text from the same source at another URL (a per-fetch session parameter, a tracking
            # token, a second section path) is that sighting seen again, not a new sighting or version.
            same = tx.execute("SELECT url FROM sightings WHERE story_id = ? AND source = ? AND text_hash = ?"
                              " ORDER BY id LIMIT 1", (seen.story_id, seen.source, seen.text_hash)).fetchone()
            if same is not None:
                return self._seen_again(tx, same["url"], seen)
        article = seen.article
        # A concurrent insert of the same id waits for the other transaction, then does nothing.
        created = tx.execute(
            "INSERT INTO stories (id, url, source, title, text, summary, authors, tags, language, image,"
            " date_published, date_modified, date_source, text_hash, canonical_claim, first_seen, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (seen.story_id, seen.url, seen.source, article.title, article.text, article.description,
             json.dumps(list(article.authors)), json.dumps(list(article.tags)), article.language, article.image,
             article.date_published, article.date_modified, article.date_source, seen.text_hash,
             seen.canonical_claim, seen.now, seen.now),
        ).rowcount == 1
        tx.execute(
            "INSERT INTO sightings (story_id, url, source, title, date_published, first_seen, last_seen,"
            " similarity, rule, text_hash, source_updated, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seen.story_id, seen.url, seen.source, article.title, article.date_published, seen.now, seen.now,
             seen.similarity, "first" if created else seen.rule, seen.text_hash, seen.source_updated,
             seen.fingerprint),
        )
        if created:
            return "new"
        if seen.rule == SAME_SOURCE_RULE:
            self._new_version(tx, seen.story_id, seen, None)
            return "updated"
        self._choose_primary(tx, seen)
        return "sighting"

    def _seen_again(self, tx: Statements, url: str, seen: Seen) -> str:
        """The stored sighting at `url` seen again, unchanged: only when, and what its feed last said."""
        tx.execute("UPDATE sightings SET last_seen = ?, source_updated = coalesce(?, source_updated) WHERE url = ?",
                   (seen.now, seen.source_updated, url))
        return "seen"

    def _choose_primary(self, tx: Statements, seen: Seen) -> None:
        """A new outlet's item of the story: it replaces the primary item when it should (and why)."""
        # The row lock (PostgreSQL) makes concurrent sightings of one story decide one after the other, each
        # on the primary item the previous one left.
        current = tx.execute("SELECT url, date_published, date_source, length(text) AS text_length,"
                             " canonical_claim FROM stories WHERE id = ?" + tx.dialect.row_lock,
                             (seen.story_id,)).fetchone()
        article = seen.article
        replace, reason = choose_primary(
            Candidate(current["url"], current["date_published"], current["date_source"], current["text_length"],
                      current["canonical_claim"]),
            Candidate(seen.url, article.date_published, article.date_source, len(article.text),
                      seen.canonical_claim))
        if replace:
            tx.execute(
                "UPDATE stories SET url = ?, source = ?, title = ?, text = ?, summary = ?, authors = ?, tags = ?,"
                " language = ?, image = ?, date_published = ?, date_modified = ?, date_source = ?, text_hash = ?,"
                " canonical_claim = ?, primary_reason = ?, updated = ? WHERE id = ?",
                (seen.url, seen.source, article.title, article.text, article.description,
                 json.dumps(list(article.authors)), json.dumps(list(article.tags)), article.language, article.image,
                 article.date_published, article.date_modified, article.date_source, seen.text_hash,
                 seen.canonical_claim, reason, seen.now, seen.story_id))
        elif reason != "first_seen":
            tx.execute("UPDATE stories SET primary_reason = ? WHERE id = ?", (reason, seen.story_id))

    def _new_version(self, tx: Statements, story_id: str, seen: Seen, fingerprint: bytes | None) -> None:
        """A later version of an item of story `story_id`: a stored URL with another text, or the same
        source's item at a new URL. When it is the story's primary item, the old text is kept as a version
        and the story takes the new one."""
        story = tx.execute("SELECT url, source, title, text, text_hash, date_modified FROM stories WHERE id = ?"
                           + tx.dialect.row_lock, (story_id,)).fetchone()
        article = seen.article
        if story["url"] == seen.url or story["source"] == seen.source:
            if story["text_hash"] != seen.text_hash:  # the same text again is no earlier version
                tx.execute(
                    "INSERT INTO story_versions (story_id, url, title, text, text_hash, date_modified, recorded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (story_id, story["url"], story["title"], story["text"], story["text_hash"],
                     story["date_modified"], seen.now))
                self._bound_versions(tx, story_id)
            tx.execute(
                "UPDATE stories SET url = ?, title = ?, text = ?, summary = coalesce(?, summary), text_hash = ?,"
                " date_modified = coalesce(?, date_modified), updated = ? WHERE id = ?",
                (seen.url, article.title, article.text, article.description, seen.text_hash,
                 article.date_modified or seen.source_updated, seen.now, story_id))
        tx.execute(
            "UPDATE sightings SET title = ?, text_hash = ?, fingerprint = coalesce(?, fingerprint), last_seen = ?,"
            " source_updated = coalesce(?, source_updated) WHERE url = ?",
            (article.title, seen.text_hash, fingerprint, seen.now, seen.source_updated, seen.url))

    def _bound_versions(self, tx: Statements, story_id: str) -> None:
        """Keep a story's first earlier text and its newest `MAX_VERSIONS` - 1 others."""
        tx.execute("DELETE FROM story_versions WHERE story_id = ?"
                   " AND id > (SELECT min(id) FROM story_versions WHERE story_id = ?)"
                   " AND id NOT IN (SELECT id FROM story_versions WHERE story_id = ? ORDER BY id DESC LIMIT ?)",
                   (story_id, story_id, story_id, MAX_VERSIONS - 1))

    def save_validators(self, validators: dict[str, tuple[str | None, str | None]]) -> None:
        """Store the (ETag, Last-Modified) of feed, sitemap or listing URLs."""
        now = utc_now()
        # Sorted, so two crawls saving overlapping URLs lock their rows in the same order (no deadlock).
        rows = [(url, etag, modified, now) for url, (etag, modified) in sorted(validators.items())]
        if rows:
            self._unit(lambda tx: tx.executemany(
                "INSERT INTO http_validators (url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                " updated_at = excluded.updated_at", rows))

    def reapply_rules(self, rules: StoryRules, *, dry_run: bool = False,
                      batch: int = APPLY_BATCH) -> Iterator[RuleChange]:
        """Decide every stored story again with `rules`, `batch` at a time, writing and yielding what changed."""
        return reapply(self._statements, self._unit, rules, utc_now, dry_run=dry_run, batch=batch)

    # The readers.

    def story_for_url(self, url: str) -> str | None:
        row = self._statements().execute("SELECT story_id FROM sightings WHERE url = ?", (url,)).fetchone()
        return row["story_id"] if row else None

    def source_updated(self, url: str) -> tuple[str, str | None] | None:
        """(story id, the feed/sitemap date it had when stored) for a stored URL, else None."""
        row = self._statements().execute("SELECT story_id, source_updated FROM sightings WHERE url = ?",
                                         (url,)).fetchone()
        return (row["story_id"], row["source_updated"]) if row else None

    def validators(self, url: str) -> tuple[str | None, str | None] | None:
        """The (ETag, Last-Modified) stored for a feed, sitemap or listing URL."""
        row = self._statements().execute("SELECT etag, last_modified FROM http_validators WHERE url = ?",
                                         (url,)).fetchone()
        return (row["etag"], row["last_modified"]) if row else None

    def fingerprints(self) -> Iterator[tuple[str, bytes]]:
        """(story id, fingerprint) of every sighting that has one, in the order they were stored."""
        last = 0
        while True:
            rows = self._statements().execute(
                "SELECT id, story_id, fingerprint FROM sightings WHERE fingerprint IS NOT NULL AND id > ?"
                " ORDER BY id LIMIT ?", (last, FINGERPRINT_BATCH)).fetchall()
            for row in rows:
                yield row["story_id"], bytes(row["fingerprint"])
            if len(rows) < FINGERPRINT_BATCH:
                return
            last = rows[-1]["id"]

    def sources_of(self, story_id: str) -> set[str]:
        """The sources a story has been seen on."""
        rows = self._statements().execute("SELECT DISTINCT source FROM sightings WHERE story_id = ?",
                                          (story_id,))
        return {row["source"] for row in rows}

    def story(self, story_id: str) -> Story | None:
        row = self._statements().execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchone()
        return story_from_row(row) if row else None

    def versions(self, story_id: str) -> list[dict[str, Any]]:
        """Earlier texts of a story, oldest first."""
        rows = self._statements().execute("SELECT url, title, text, text_hash, date_modified, recorded_at"
                                          " FROM story_versions WHERE story_id = ? ORDER BY id", (story_id,))
        return [{key: clean(value) for key, value in dict(row).items()} for row in rows]

    def stories(self, limit: int | None = None, since: datetime | str | None = None,
                source: str | None = None, include_hidden: bool = False) -> list[Story]:
        """Stories newest first (by published date, else first seen), optionally filtered; those a filter
        rule hides only with `include_hidden` (every feed and page leaves them out).

        `since` as a datetime keeps the stories published (else first seen) at or after that instant,
        whatever offset each date was written with; as text it is compared as text, as before (kept for
        callers not yet passing instants: `2026-11-25T06:00:00Z` and the same instant at `+05:00` differ)."""
        db = self._statements()
        when = db.dialect.instant % "coalesce(date_published, first_seen)"
        sql = "SELECT * FROM stories"
        where: list[str] = [] if include_hidden else ["hidden = 0"]
        args: list[Any] = []
        if isinstance(since, datetime):
            where.append("%s >= %s" % (when, db.dialect.instant % "?"))
            aware = since if since.tzinfo else since.replace(tzinfo=UTC)
            args.append(aware.astimezone(UTC).isoformat())
        elif since:
            where.append("coalesce(date_published, first_seen) >= ?")
            args.append(since)
        if source:
            where.append("id IN (SELECT story_id FROM sightings WHERE source = ?)")
            args.append(source)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY %s DESC, id" % when
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [story_from_row(row) for row in db.execute(sql, args).fetchall()]

    def known_sources(self) -> set[str]:
        """Every source a story has been seen on."""
        return {clean(row["source"]) for row in self._statements().execute("SELECT DISTINCT source FROM sightings")}

    def sightings(self, story_ids: Sequence[str]) -> dict[str, list[Sighting]]:
        """The sightings of each story, in the order they were stored."""
        found: dict[str, list[Sighting]] = {story_id: [] for story_id in story_ids}
        ids = list(found)
        for start in range(0, len(ids), SIGHTINGS_BATCH):
            chunk = ids[start:start + SIGHTINGS_BATCH]
            rows = self._statements().execute(
                "SELECT story_id, url, source, title, date_published, first_seen, similarity, rule FROM sightings"
                " WHERE story_id IN (%s) ORDER BY id" % ", ".join("?" * len(chunk)), chunk).fetchall()
            for row in rows:
                found[row["story_id"]].append(sighting_from_row(row))
        return found

    def source_totals(self) -> dict[str, dict[str, Any]]:
        """Per source: stories whose primary item it holds, sightings, last sighting time."""
        totals: dict[str, dict[str, Any]] = {}
        db = self._statements()
        for row in db.execute("SELECT source, count(*) AS sightings, max(last_seen) AS last_seen FROM sightings"
                              " GROUP BY source").fetchall():
            totals[row["source"]] = {"sightings": row["sightings"], "last_seen": row["last_seen"], "stories": 0}
        for row in db.execute("SELECT source, count(*) AS stories FROM stories GROUP BY source").fetchall():
            totals.setdefault(row["source"], {"sightings": 0, "last_seen": None})["stories"] = row["stories"]
        return totals

    def counts(self) -> dict[str, int]:
        row = self._statements().execute("SELECT (SELECT count(*) FROM stories) AS stories,"
                                         " (SELECT count(*) FROM sightings) AS sightings").fetchone()
        return {"stories": row["stories"], "sightings": row["sightings"]}
