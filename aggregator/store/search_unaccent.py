"""The frozen DDL of the migration that makes PostgreSQL's search fold diacritics as SQLite's FTS5 does ("zurich"
finds "Zürich"): the `aggregator_search` text search configuration and the search rows indexed again with it.
`aggregator.store.migrations` lists and applies it (in its one transaction); this module runs no statement, and
like every released migration it is never edited.

Statements here go through `Statements.execute` with no arguments: they hold no `?` (it would become a mark)
and no `%` (psycopg reads it as one), hence `RAISE NOTICE USING MESSAGE = ... || ...` and string concatenation
instead of format strings in the PL/pgSQL blocks.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["UNACCENT_POSTGRESQL"]

# unaccent ships with PostgreSQL's contrib (in Debian's postgresql package) and is trusted since PostgreSQL 13, so
# a database owner may create it. A server without it, or a role that may not create it, must still migrate: the
# failure is caught in the block's own subtransaction (the migration's transaction goes on), and search then
# tokenizes as `simple` did, without folding.
CREATE_UNACCENT = """DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS unaccent;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE USING MESSAGE = 'search will not fold diacritics: no unaccent extension (' || SQLERRM || ')';
END $$"""

# Every token type that may hold a letter outside ASCII (`word`, `hword`, `hword_part`, and their forms with
# digits: "Zürich2", "Zürich-2") goes through unaccent, a filtering dictionary, and then `simple`, which
# lowercases it as before; the ASCII types need no folding. The dictionary is named with the schema the
# extension lives in, which may be off the search path when it was created before this migration.
MAP_UNACCENT = """DO $$
DECLARE
    extension_schema TEXT;
BEGIN
    SELECT e.extnamespace::regnamespace::text INTO extension_schema FROM pg_extension e
        WHERE e.extname = 'unaccent';
    IF extension_schema IS NOT NULL THEN
        EXECUTE 'ALTER TEXT SEARCH CONFIGURATION aggregator_search ALTER MAPPING FOR word, hword, hword_part,'
            || ' numword, numhword, hword_numpart WITH ' || extension_schema || '.unaccent, simple';
    END IF;
END $$"""

# The stored documents, indexed again with the new configuration and the same weights (the titles column is
# already the sightings' titles the write path indexes). Every row changes, so the GIN index is built once
# afterwards instead of being updated row by row.
REINDEX = (
    "DROP INDEX story_search_document",
    "UPDATE story_search x SET document = setweight(to_tsvector('aggregator_search', coalesce(s.title, '')), 'A')"
    " || setweight(to_tsvector('aggregator_search', x.titles), 'B')"
    " || setweight(to_tsvector('aggregator_search', left(s.text, 200000)), 'D')"
    " FROM stories s WHERE s.id = x.story_id",
    "CREATE INDEX story_search_document ON story_search USING GIN (document)",
)

UNACCENT_POSTGRESQL = (
    CREATE_UNACCENT,
    "CREATE TEXT SEARCH CONFIGURATION aggregator_search (COPY = simple)",
    MAP_UNACCENT,
) + REINDEX
