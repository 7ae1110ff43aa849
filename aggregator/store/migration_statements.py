"""The frozen statements of the later migrations (full-text search, story merges, the sighting marks of runs),
kept apart from `aggregator.store.migrations`, which lists them in order and applies them. Like every released
migration they are never edited; this module runs no statement.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["MERGES_POSTGRESQL", "MERGES_SQLITE", "RUN_SIGHTINGS_POSTGRESQL", "RUN_SIGHTINGS_SQLITE",
           "SEARCH_POSTGRESQL", "SEARCH_SQLITE"]

# Full-text search (aggregator.store.search). SQLite: an FTS5 table whose rowid is the story's row in
# story_search_rows (a story's own rowid may change on VACUUM); PostgreSQL: a weighted tsvector per story with a
# GIN index. Every story already stored is indexed here, so an upgraded database is searchable at once.
SEARCH_SQLITE = (
    "CREATE TABLE story_search_rows (id INTEGER PRIMARY KEY,"
    " story_id TEXT NOT NULL UNIQUE REFERENCES stories (id) ON DELETE CASCADE)",
    "CREATE VIRTUAL TABLE story_search USING fts5(title, titles, body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER story_search_rows_deleted AFTER DELETE ON story_search_rows"
    " BEGIN DELETE FROM story_search WHERE rowid = old.id; END",
    # What a search filters its matches by, without reading each story's row (and its text's overflow pages).
    "CREATE INDEX stories_search_filter ON stories (id, hidden, date_published, first_seen)",
    "INSERT INTO story_search_rows (story_id) SELECT id FROM stories ORDER BY first_seen, id",
    "INSERT INTO story_search (rowid, title, titles, body) SELECT r.id, coalesce(s.title, ''),"
    " coalesce((SELECT group_concat(title, char(10)) FROM (SELECT title FROM sightings WHERE story_id = s.id"
    " AND title IS NOT NULL AND title <> coalesce(s.title, '') GROUP BY title ORDER BY min(id))), ''),"
    " substr(s.text, 1, 200000) FROM story_search_rows r JOIN stories s ON s.id = r.story_id",
)
SEARCH_POSTGRESQL = (
    """CREATE TABLE story_search (
        story_id TEXT COLLATE "C" PRIMARY KEY REFERENCES stories (id) ON DELETE CASCADE,
        titles TEXT NOT NULL DEFAULT '',
        document TSVECTOR NOT NULL
    )""",
    "INSERT INTO story_search (story_id, titles, document) SELECT id, titles,"
    " setweight(to_tsvector('simple', coalesce(title, '')), 'A') || setweight(to_tsvector('simple', titles), 'B')"
    " || setweight(to_tsvector('simple', left(text, 200000)), 'D')"
    " FROM (SELECT id, title, text, coalesce((SELECT string_agg(title, chr(10) ORDER BY first) FROM"
    " (SELECT title, min(id) AS first FROM sightings WHERE story_id = stories.id AND title IS NOT NULL"
    " AND title <> coalesce(stories.title, '') GROUP BY title) other), '') AS titles FROM stories) story",
    "CREATE INDEX story_search_document ON story_search USING GIN (document)",
)

# Stories merged into another when a text showed they are one (aggregator.store.merges): the merged-away id, the
# story it went into, when, under which rule and similarity, and the URL whose arrival showed it.
MERGES_TABLE = """CREATE TABLE story_merges (
    merged_id TEXT%(text)s PRIMARY KEY,
    into_id TEXT%(text)s NOT NULL,
    merged_at TEXT%(text)s NOT NULL,
    rule TEXT,
    similarity %(real)s,
    url TEXT
)"""
MERGES_INDEX = "CREATE INDEX story_merges_into ON story_merges (into_id)"
MERGES_SQLITE = (MERGES_TABLE % {"text": "", "real": "REAL"}, MERGES_INDEX)
MERGES_POSTGRESQL = (MERGES_TABLE % {"text": ' COLLATE "C"', "real": "DOUBLE PRECISION"}, MERGES_INDEX)

# Where each run starts and ends in the sightings (aggregator.store.outbox: the stories a run saw first are those
# whose first sighting lies between the two): the highest sighting id when the run row is made, and when it is
# marked finished. Kept by the database itself, so every writer of runs (the run log, a test, an older release
# still running beside this one) records them, at the exact moment the row changes. Runs made before this
# migration have neither: they keep their whole-second time window.
RUN_SIGHTINGS_COLUMNS = ("ALTER TABLE runs ADD COLUMN last_sighting_at_start BIGINT",
                         "ALTER TABLE runs ADD COLUMN last_sighting_at_end BIGINT")
RUN_SIGHTINGS_SQLITE = RUN_SIGHTINGS_COLUMNS + (
    "CREATE TRIGGER runs_sightings_started AFTER INSERT ON runs WHEN new.last_sighting_at_start IS NULL"
    " BEGIN UPDATE runs SET last_sighting_at_start = (SELECT coalesce(max(id), 0) FROM sightings)"
    " WHERE id = new.id; END",
    "CREATE TRIGGER runs_sightings_finished AFTER UPDATE OF finished ON runs"
    " WHEN old.finished IS NULL AND new.finished IS NOT NULL AND new.last_sighting_at_end IS NULL"
    " BEGIN UPDATE runs SET last_sighting_at_end = (SELECT coalesce(max(id), 0) FROM sightings)"
    " WHERE id = new.id; END",
)
RUN_SIGHTINGS_POSTGRESQL = RUN_SIGHTINGS_COLUMNS + (
    """CREATE FUNCTION runs_sightings_mark() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.last_sighting_at_start IS NULL THEN
                NEW.last_sighting_at_start := (SELECT coalesce(max(id), 0) FROM sightings);
            END IF;
        ELSIF OLD.finished IS NULL AND NEW.finished IS NOT NULL AND NEW.last_sighting_at_end IS NULL THEN
            NEW.last_sighting_at_end := (SELECT coalesce(max(id), 0) FROM sightings);
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER runs_sightings_mark BEFORE INSERT OR UPDATE OF finished ON runs FOR EACH ROW"
    " EXECUTE FUNCTION runs_sightings_mark()",
)
