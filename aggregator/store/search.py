"""Full-text search over stories: the search rows kept in step with each story by the write path, and the ranked
search that reads them, on both backends (SQLite FTS5, PostgreSQL tsvector + GIN). Owns every statement on the
search tables but their DDL (`aggregator.store.migrations`, which also indexes the stories stored before it);
never writes a story, a sighting or a version.

A story's search document is its title, the titles its other sightings were seen under (so a story is found
through any of them), and its text (the first `INDEXED_CHARS` characters). Ranking weights the title above the
sightings' titles above the text: bm25 on SQLite, ts_rank_cd on PostgreSQL. Both tokenize without stemming or
stop words and fold diacritics ("cafe" finds "café"; FTS5 unicode61 with remove_diacritics, PostgreSQL's
`aggregator_search` configuration: `simple` after the unaccent dictionary, which a migration made), so a query
means the same on either; a PostgreSQL server without the unaccent extension does not fold. Stories a filter
rule hides (`stories.hidden`) are never returned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aggregator.store.dialect import Dialect, Statements
from aggregator.store.model import Story, story_from_row
from aggregator.store.search_query import HIGHLIGHT_END, HIGHLIGHT_START, SearchQuery, Snippet, parse_query

logger = logging.getLogger(__name__)

__all__ = ["Hit", "count_search_rows", "delete_search_rows", "index_story", "search"]

INDEXED_CHARS = 200_000  # of a story's text; a 10 MB page must not make one huge document (PostgreSQL: 1 MB)
MAX_LIMIT = 1000
BATCH = 500  # story ids per IN (...) list
SNIPPET_WORDS = 20

# A story's document from what is stored: its title, the titles of its other sightings (distinct, in the order
# they were first seen, one a line) and the start of its text. The migration that made the search tables indexes
# the stories stored before it with a frozen copy of these two (and `search_unaccent`'s indexes them again).
SQLITE_DOCUMENT = (
    "SELECT coalesce(title, '') AS title, coalesce((SELECT group_concat(title, char(10)) FROM"
    " (SELECT title FROM sightings WHERE story_id = stories.id AND title IS NOT NULL"
    " AND title <> coalesce(stories.title, '') GROUP BY title ORDER BY min(id))), '') AS titles,"
    " substr(text, 1, %d) AS body FROM stories WHERE id = ?" % INDEXED_CHARS)
POSTGRESQL_INDEX = (
    "INSERT INTO story_search (story_id, titles, document) SELECT id, titles,"
    " setweight(to_tsvector('aggregator_search', coalesce(title, '')), 'A')"
    " || setweight(to_tsvector('aggregator_search', titles), 'B')"
    " || setweight(to_tsvector('aggregator_search', left(text, %d)), 'D')"
    " FROM (SELECT id, title, text, coalesce((SELECT string_agg(title, chr(10) ORDER BY first) FROM"
    " (SELECT title, min(id) AS first FROM sightings WHERE story_id = stories.id AND title IS NOT NULL"
    " AND title <> coalesce(stories.title, '') GROUP BY title) other), '') AS titles"
    " FROM stories WHERE id = ?) story"
    " ON CONFLICT (story_id) DO UPDATE SET titles = excluded.titles, document = excluded.document"
    " WHERE story_search.titles <> excluded.titles OR story_search.document <> excluded.document" % INDEXED_CHARS)

# Ranked hits: (story_id, score, search_row), best first. `%s` takes the filters, each starting with AND.
SQLITE_RANK = (
    "SELECT r.story_id AS story_id, -bm25(story_search, 10.0, 5.0, 1.0) AS score, story_search.rowid AS search_row"
    " FROM story_search JOIN story_search_rows r ON r.id = story_search.rowid JOIN stories s ON s.id = r.story_id"
    " WHERE story_search MATCH ? AND s.hidden = 0%s ORDER BY score DESC, s.id LIMIT ?")
POSTGRESQL_RANK = (
    "SELECT x.story_id AS story_id, ts_rank_cd(x.document, q, 1) AS score, NULL AS search_row"
    " FROM story_search x JOIN stories s ON s.id = x.story_id, to_tsquery('aggregator_search', ?) AS q"
    " WHERE x.document @@ q AND s.hidden = 0%s ORDER BY score DESC, s.id LIMIT ?")
# Snippets of the ranked hits only (snippet() and ts_headline() read the text again: not for every match): a
# passage of the text, and the titles whole (the story's own, then its sightings', one a line). On SQLite,
# `+rowid` keeps the IN list from becoming one FTS5 lookup per row, each expanding a prefix query again (a
# 3-letter prefix over 10,000 stories: 90 ms, against 7 ms for one pass over the matches).
SQLITE_SNIPPETS = (
    "SELECT rowid AS search_row, snippet(story_search, 2, char(2), char(3), '…', %d) AS body,"
    " highlight(story_search, 0, char(2), char(3)) || char(10) || highlight(story_search, 1, char(2), char(3))"
    " AS titles FROM story_search WHERE story_search MATCH ? AND +rowid IN (%%s)" % SNIPPET_WORDS)
POSTGRESQL_SNIPPETS = (
    "SELECT x.story_id AS story_id, ts_headline('aggregator_search', left(s.text, %d), q, ?) AS body,"
    " ts_headline('aggregator_search', coalesce(s.title, '') || chr(10) || x.titles, q, ?) AS titles,"
    " ts_filter(x.document, '{d}') @@ q AS in_text"  # the text's own lexemes (weight D) match the query
    " FROM story_search x JOIN stories s ON s.id = x.story_id, to_tsquery('aggregator_search', ?) AS q"
    " WHERE x.story_id IN (%%s)" % INDEXED_CHARS)
HEADLINE_OPTIONS = ("StartSel=%s, StopSel=%s, MaxWords=%d, MinWords=%d, ShortWord=2, MaxFragments=1"
                    % (HIGHLIGHT_START, HIGHLIGHT_END, SNIPPET_WORDS, SNIPPET_WORDS // 2))
WHOLE_HEADLINE_OPTIONS = "StartSel=%s, StopSel=%s, HighlightAll=true" % (HIGHLIGHT_START, HIGHLIGHT_END)


@dataclass(frozen=True)
class Hit:
    """One story found: the story, its score (higher is better; comparable within one search only) and a
    passage of its title, sighting titles or text with the matches highlighted."""

    story: Story
    score: float
    snippet: Snippet


# The write side: called by `aggregator.store.sql` inside the transaction that changed the story.

def index_story(tx: Statements, story_id: str) -> None:
    """Write the search row of `story_id` from what is stored now (nothing when it is already that)."""
    if tx.dialect.name == "postgresql":
        tx.execute(POSTGRESQL_INDEX, (story_id,))
        return
    tx.execute("INSERT INTO story_search_rows (story_id) VALUES (?) ON CONFLICT (story_id) DO NOTHING", (story_id,))
    rowid = tx.execute("SELECT id FROM story_search_rows WHERE story_id = ?", (story_id,)).fetchone()["id"]
    new = tx.execute(SQLITE_DOCUMENT, (story_id,)).fetchone()
    old = tx.execute("SELECT title, titles, body FROM story_search WHERE rowid = ?", (rowid,)).fetchone()
    if new is not None and old is not None and tuple(old) == tuple(new):
        return  # a sighting that changed nothing searchable: the index is left alone
    if old is not None:
        tx.execute("DELETE FROM story_search WHERE rowid = ?", (rowid,))
    if new is not None:
        tx.execute("INSERT INTO story_search (rowid, title, titles, body) VALUES (?, ?, ?, ?)", (rowid, *new))


def delete_search_rows(tx: Statements, story_ids: Sequence[str]) -> int:
    """Delete the search rows of `story_ids`, in the caller's transaction (before the stories themselves are
    deleted, or after: a deleted story's row also goes with it, by ON DELETE CASCADE and, on SQLite, a
    trigger on `story_search_rows`); how many there were."""
    return sum(tx.execute("DELETE FROM %s WHERE story_id IN (%s)" % (_rows_table(tx), _marks(chunk)),
                          chunk).rowcount for chunk in _chunks(story_ids))


def count_search_rows(db: Statements, story_ids: Sequence[str]) -> int:
    """How many search rows `story_ids` have: what `delete_search_rows` would delete."""
    return sum(db.execute("SELECT count(*) AS n FROM %s WHERE story_id IN (%s)" % (_rows_table(db), _marks(chunk)),
                          chunk).fetchone()["n"] for chunk in _chunks(story_ids))


def _rows_table(db: Statements) -> str:
    """The table with one row per indexed story (on SQLite, deleting it deletes the FTS5 row by a trigger)."""
    return "story_search" if db.dialect.name == "postgresql" else "story_search_rows"


def _chunks(story_ids: Sequence[str]) -> list[list[str]]:
    return [list(story_ids[start:start + BATCH]) for start in range(0, len(story_ids), BATCH)]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))


# The read side.

def search(storage: object, query: SearchQuery | str, *, limit: int = 20, since: datetime | None = None,
           source: str | None = None) -> list[Hit]:
    """The stories matching `query` (parsed with `parse_query` when it is text), best first: at most `limit`,
    published (else first seen) at or after `since`, seen on `source`; never a hidden one.

    `storage` is a SQL storage backend (its `db` connection and `dialect`: `aggregator.store.sql.SQLStorage`).
    Raises SearchQueryError for a query with nothing to search for, ValueError for a limit out of range."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError("limit must be from 1 to %d, got %r" % (MAX_LIMIT, limit))
    parsed = query if isinstance(query, SearchQuery) else parse_query(query)
    db = _statements(storage)
    postgresql = db.dialect.name == "postgresql"
    where, args = _filters(db.dialect, since, source)
    ranked = db.execute((POSTGRESQL_RANK if postgresql else SQLITE_RANK) % where,
                        [parsed.tsquery() if postgresql else parsed.fts5(), *args, limit]).fetchall()
    if not ranked:
        return []
    ids = [row["story_id"] for row in ranked]
    stories = {row["id"]: story_from_row(row) for row in db.execute(
        "SELECT * FROM stories WHERE id IN (%s)" % ", ".join("?" * len(ids)), ids).fetchall()}
    if postgresql:
        rows = db.execute(POSTGRESQL_SNIPPETS % ", ".join("?" * len(ids)),
                          [HEADLINE_OPTIONS, WHOLE_HEADLINE_OPTIONS, parsed.tsquery(), *ids]).fetchall()
        snippets = {row["story_id"]: _snippet(row["body"], row["titles"], stories.get(row["story_id"]),
                                              row["in_text"]) for row in rows}
    else:
        search_rows = [row["search_row"] for row in ranked]
        by_row = {row["search_row"]: _snippet(row["body"], row["titles"]) for row in db.execute(
            SQLITE_SNIPPETS % ", ".join("?" * len(search_rows)), [parsed.fts5(), *search_rows]).fetchall()}
        snippets = {row["story_id"]: by_row.get(row["search_row"], Snippet()) for row in ranked}
    return [Hit(stories[row["story_id"]], float(row["score"]), snippets.get(row["story_id"], Snippet()))
            for row in ranked if row["story_id"] in stories]


def _statements(storage: object) -> Statements:
    """Statements on a SQL storage's own connection: what its readers run on."""
    dialect, db = getattr(storage, "dialect", None), getattr(storage, "db", None)
    if not isinstance(dialect, Dialect) or db is None:
        raise TypeError("%s keeps no SQL tables to search" % type(storage).__name__)
    return Statements(db, dialect)


def _filters(dialect: Dialect, since: datetime | None, source: str | None) -> tuple[str, list[Any]]:
    """The hits' filters as SQL (each starting with AND) and their arguments, as `SQLStorage.stories` has them."""
    where = ""
    args: list[Any] = []
    if since is not None:
        where += " AND %s >= %s" % (dialect.instant % "coalesce(s.date_published, s.first_seen)", dialect.instant % "?")
        args.append(_utc(since).isoformat())
    if source:
        where += " AND s.id IN (SELECT story_id FROM sightings WHERE source = ?)"
        args.append(source)
    return where, args


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC (naive means UTC). `--since 9999-12-31T23:59-05:00` is a valid date whose UTC falls past
    datetime's range (and year 1 with a positive offset before it): such an instant is after (before) every
    stored date, as datetime's last (first) instant is."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if aware.year == datetime.max.year else datetime.min
        return edge.replace(tzinfo=UTC)


def _snippet(body: str | None, titles: str | None, story: Story | None = None, in_text: bool = True) -> Snippet:
    """The snippet of one hit from the backend's marked passage of its text and its marked titles: the passage
    when the text matched (`in_text`: the whole query, where PostgreSQL highlights every word of it), else the
    titles that matched (" · " between two), else the passage as it is. With `story` (PostgreSQL, whose
    passages do not say where they were cut), "…" marks the cuts."""
    passage = Snippet.from_marked(body)
    if story is not None:
        passage = passage.around(story.text)
    if passage.highlighted and in_text:
        return passage
    matched = [line for line in (titles or "").split("\n") if HIGHLIGHT_START in line]
    return Snippet.from_marked(" · ".join(matched)) if matched else passage
