"""Search folds diacritics on both backends (`aggregator.store.search`, and on PostgreSQL the migration in
`aggregator.store.search_unaccent`): "zurich" finds "Zürich" and "Zurich" and highlights the word as written;
a database upgraded from the version before that migration finds the stories it already held; a PostgreSQL
database without the unaccent extension still migrates and searches, without folding."""

from __future__ import annotations

import pytest

from aggregator.store.dialect import POSTGRESQL, SQLITE
from aggregator.store.migrations import MIGRATIONS, SCHEMA_VERSION
from aggregator.store.model import StoryStorage
from aggregator.store.search import index_story, search
from tests.store_backends import Backend, article, backend_fixture, save, storage_fixture  # noqa: F401 (fixtures)
from tests.test_search import search_rows, transaction
from tests.test_store_migrations import write_v1_database

FOLDED_QUERIES = ["zurich", "Zurich", "ZÜRICH", "zür*", "Zürich", "zu*"]

# (id, title, text): the accented word in a title only, the plain word in a text only, the accented word in a
# text, and a story without it.
STORIES = [
    ("title", "Zürich votes on rent caps", "Tenants' groups gathered signatures for two years."),
    ("text", "Lake shipping resumes", "The first boats left Zurich at dawn after the storms."),
    ("body", "Housing report", "Rents in Zürich rose again this spring, the statistics office said."),
    ("other", "Geneva talks", "Delegates met in Geneva to discuss the treaty."),
]
SNIPPETS = {"title": "[Zürich] votes on rent caps", "text": "The first boats left [Zurich] at dawn after the storms",
            "body": "Rents in [Zürich] rose again this spring, the statistics office said"}


def snippets(storage: StoryStorage, query: str) -> dict[str, str]:
    """Each hit's snippet with its highlights in brackets (PostgreSQL's passage stops before the last period)."""
    return {hit.story.id: hit.snippet.marked("[", "]").rstrip(".") for hit in search(storage, query)}


@pytest.mark.parametrize("query", FOLDED_QUERIES)
def test_a_word_is_found_with_or_without_its_diacritics(storage: StoryStorage, query: str) -> None:
    for story_id, title, text in STORIES:
        save(storage, story_id, "https://a.example/%s" % story_id, "a", article(title, text=text), text_hash=story_id)
    assert snippets(storage, query) == SNIPPETS


def test_other_words_fold_as_well(storage: StoryStorage, backend: Backend) -> None:
    save(storage, "cafe", "https://a.example/cafe", "a",
         article("Café culture returns", text="Crème brûlée is back on the menu in Tbilisi, Zürich-Nord and Łódź."))
    for query in ("cafe", "CAFÉ", "creme brulee", '"creme brulee"', "łodz", "zurich-nord", "zurich", "nord"):
        assert [hit.story.id for hit in search(storage, query)] == ["cafe"], query
    # Letters that are no letter plus a mark (Ł, ß, æ) stay themselves in FTS5; unaccent writes them plainly.
    assert [hit.story.id for hit in search(storage, "lodz")] == ([] if backend.name == "sqlite" else ["cafe"])
    assert snippets(storage, "creme brulee") == {"cafe": "[Crème] [brûlée] is back on the menu in Tbilisi,"
                                                          " Zürich-Nord and Łódź"}


def test_a_database_from_before_the_migration_finds_its_stories_folded(backend: Backend) -> None:
    # The version before this change, with the stories already in it: the release before numbered migrations
    # wrote them (version 1); every later migration but the last ran on them, the search one indexing them.
    write_v1_database(backend, with_runs=False)
    for story_id, title, text in STORIES:
        backend.query("INSERT INTO stories (id, url, source, title, text, text_hash, first_seen, updated)"
                      " VALUES (?, ?, 'a', ?, ?, ?, '2026-11-20T09:00:00+00:00', '2026-11-20T09:00:00+00:00')",
                      (story_id, "https://a.example/%s" % story_id, title, text, story_id))
        backend.query("INSERT INTO sightings (story_id, url, source, title, first_seen, last_seen) VALUES"
                      " (?, ?, 'a', ?, '2026-11-20T09:00:00+00:00', '2026-11-20T09:00:00+00:00')",
                      (story_id, "https://a.example/%s" % story_id, title))
    dialect = SQLITE if backend.name == "sqlite" else POSTGRESQL
    backend.script([dialect.sql(statement) for migration in MIGRATIONS[1:SCHEMA_VERSION - 1]
                    for statement in migration.statements(dialect)])
    backend.query("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION - 1),))
    if backend.name == "postgresql":  # indexed as `simple` did: the accented word as it is written
        (document,) = backend.query("SELECT document::text FROM story_search WHERE story_id = 'body'")[0]
        assert "'zürich'" in document and "'zurich'" not in document

    storage = backend.open()
    try:
        assert backend.query("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
        for query in FOLDED_QUERIES:
            assert snippets(storage, query) == SNIPPETS, query
        assert [hit.story.id for hit in search(storage, "storms")] == ["text"]  # every word still indexed
    finally:
        storage.close()
    migrated = search_rows(backend)
    assert [row[0] for row in migrated] == ["body", "other", "s1", "s2", "text", "title"]
    with transaction(backend) as tx:  # the write path's document for each story is the migration's
        for row in migrated:
            index_story(tx, row[0])
    assert search_rows(backend) == migrated


def test_postgresql_without_unaccent_migrates_and_searches_unfolded(backend: Backend) -> None:
    """A server where the extension cannot be created (here: a function of its name is in the way, as a
    missing contrib package or a role without the right would stop it) still migrates; its search matches
    words exactly as `simple` did, and still highlights them."""
    if backend.name != "postgresql":
        pytest.skip("SQLite's FTS5 folds diacritics itself")
    backend.script(["CREATE FUNCTION unaccent(text) RETURNS text LANGUAGE sql AS 'SELECT $1'"])
    storage = backend.open()
    try:
        assert backend.query("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
        assert backend.query("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'") == [(0,)]
        for story_id, title, text in STORIES:
            save(storage, story_id, "https://a.example/%s" % story_id, "a", article(title, text=text),
                 text_hash=story_id)
        assert snippets(storage, "Zürich") == {key: SNIPPETS[key] for key in ("title", "body")}
        assert snippets(storage, "zurich") == {"text": SNIPPETS["text"]}
        assert snippets(storage, "zü*") == {key: SNIPPETS[key] for key in ("title", "body")}
    finally:
        storage.close()
