"""Full-text search (`aggregator.store.search`), once per backend (a real SQLite file, the real PostgreSQL test
server): words, phrases and prefixes, ranking, snippets, stories found through their sightings' titles, hidden
stories never found, the search rows written in the save's own transaction, the migration indexing what was
stored before it, and hostile queries that never raise nor reach past their term."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.store.dialect import POSTGRESQL, SQLITE, Statements
from aggregator.store.model import StoryStorage
from aggregator.store.search import delete_search_rows, index_story, search
from aggregator.store.search_query import MAX_QUERY_CHARS, MAX_TERMS, SearchQueryError, Snippet, Term, parse_query
from aggregator.store.sqlite import SQLiteStorage
from tests.store_backends import Backend, article, backend_fixture, save, storage_fixture  # noqa: F401 (fixtures)
from tests.test_store_migrations import write_v1_database

WATER = ("Kazakhstan and Uzbekistan signed a water-sharing agreement on Monday in Tashkent. The deal covers the "
         "Syr Darya and its reservoirs, and both sides promised to publish the monthly releases.")
RAIL = ("A new rail link opened between Almaty and Bishkek on Friday. Officials said the stations have their own "
        "wells, so passengers will not run short of drinking water in summer.")
GRAIN = ("Grain exports rose for the third month. Farmers blamed low water in the canals, water prices and the "
         "cost of water pumps for the smaller harvest in the south.")
HOSTILE = ['"unbalanced water', 'water"', '-water', 'water -rail', 'title:water', '{title}: water', '(water',
           'water)', 'NEAR(water rail)', 'water NEAR rail', 'water AND', 'OR water', 'NOT rail', 'water OR rail',
           "'; DROP TABLE stories; --", 'water" OR "1"="1', '^water', 'water^', 'wat*er', '**water', 'water:*',
           "it's", "o'clock", 'back\\slash', '%s %(x)s ?', '$1', 'water & rail | !grain', '<-> water', '\x00water',
           'water\x00', 'e-mail', 'U.S.', '3.14', 'a@b.example', 'https://example.com/a?b=1#c', '"""water"""',
           '"water" "', 'ユニコード', 'Привет мир', '🙂 water', 'water' * 60]
NO_WORDS = ["", "   ", '"', '""', '" "', "-", "--", ":", "(", ")", "*", "***", '"*"', "&|!", "'", "\\", "\x00", "🙂"]


def fill(storage: StoryStorage) -> None:
    """Nine stories: `water` (seen twice, the copy under another title), `rail`, `grain`, `levels` (its title
    alone says water), `cafe`, and four without any of the words searched for."""
    save(storage, "water", "https://astanatimes.example/water", "astanatimes",
         article("Kazakhstan and Uzbekistan sign water deal", "2026-11-20T10:00:00+05:00", text=WATER), text_hash="w1")
    save(storage, "water", "https://timesca.example/water", "timesca",
         article("Syr Darya pact agreed by neighbours", "2026-11-20T12:00:00+05:00", text=WATER), text_hash="w2",
         similarity=0.91, rule="near_jaccard")
    save(storage, "rail", "https://timesca.example/rail", "timesca",
         article("Rail link opens between Almaty and Bishkek", "2026-11-22", text=RAIL), text_hash="r1")
    save(storage, "grain", "https://astanatimes.example/grain", "astanatimes",
         article("Grain exports rise", "2026-11-15", text=GRAIN), text_hash="g1")
    save(storage, "levels", "https://commonspace.example/levels", "commonspace",
         article("Water levels fall", "2026-11-16", text="The Aral basin reached its lowest mark since records."),
         text_hash="l1")
    save(storage, "cafe", "https://commonspace.example/cafe", "commonspace",
         article("Café culture returns to Tbilisi", "2026-11-17", text="Cafés in the old town reopened at dawn."),
         text_hash="c1")
    for n in range(4):
        save(storage, "other%d" % n, "https://commonspace.example/other%d" % n, "commonspace",
             article("Parliament session %d" % n, "2026-11-1%d" % n, text="Deputies debated the budget law."),
             text_hash="o%d" % n)


def ids(storage: StoryStorage, query: str, **filters: Any) -> list[str]:
    return [hit.story.id for hit in search(storage, query, **filters)]


@pytest.fixture(name="filled")
def filled_fixture(storage: StoryStorage) -> StoryStorage:
    fill(storage)
    return storage


@contextmanager
def transaction(backend: Backend) -> Iterator[Statements]:
    """Statements in one transaction on a connection of their own, committed at the end."""
    if backend.name == "sqlite":
        connection = sqlite3.connect(backend.db, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield Statements(connection, SQLITE)
            connection.execute("COMMIT")
        finally:
            connection.close()
        return
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(backend.db, row_factory=dict_row) as db, db.transaction():
        yield Statements(db, POSTGRESQL)


def search_rows(backend: Backend) -> list[tuple[Any, ...]]:
    """What the search tables hold, one row per story, as comparable values."""
    if backend.name == "sqlite":
        return backend.query("SELECT r.story_id, f.title, f.titles, f.body FROM story_search f"
                             " JOIN story_search_rows r ON r.id = f.rowid ORDER BY r.story_id")
    return backend.query("SELECT story_id, titles, document::text FROM story_search ORDER BY story_id")


def test_words_phrases_and_prefixes(filled: StoryStorage) -> None:
    assert ids(filled, "tashkent") == ids(filled, "TASHKENT") == ["water"]
    assert ids(filled, "water rail") == ["rail"]  # every word must match
    assert ids(filled, "water deal") == ["water"]
    assert ids(filled, '"water deal"') == ["water"]  # the title's "sign water deal"
    assert ids(filled, '"deal water"') == []
    assert ids(filled, '"drinking water"') == ["rail"] and ids(filled, '"water drinking"') == []
    assert ids(filled, "bish*") == ["rail"] and ids(filled, "bish") == []
    assert ids(filled, '"almaty and bish"*') == ["rail"]
    assert sorted(ids(filled, "water*")) == ["grain", "levels", "rail", "water"]
    assert ids(filled, "water-sharing") == ["water"]  # a hyphenated word is a phrase, as in the text
    assert ids(filled, "café") == ["cafe"]
    assert ids(filled, "cafe") == ["cafe"]  # diacritics folded (more in test_search_accents.py)
    assert ids(filled, "nowhere") == []


def test_a_story_is_found_through_any_sightings_title(filled: StoryStorage) -> None:
    (hit,) = search(filled, "pact neighbours")
    assert hit.story.id == "water" and hit.story.title == "Kazakhstan and Uzbekistan sign water deal"
    assert hit.snippet.marked("[", "]") == "Syr Darya [pact] agreed by [neighbours]"


def test_the_title_ranks_above_the_text(filled: StoryStorage) -> None:
    found = ids(filled, "water")
    assert sorted(found) == ["grain", "levels", "rail", "water"]
    # Once in the title ranks above three times in the text (and a short title above a long one).
    assert found.index("levels") < found.index("water") < found.index("grain")
    assert found.index("levels") < found.index("rail")
    scores = [hit.score for hit in search(filled, "water")]
    assert scores == sorted(scores, reverse=True)


def test_snippets_highlight_the_matches(filled: StoryStorage) -> None:
    (hit,) = search(filled, "tashkent monday")
    text = hit.snippet.text
    assert [text[start:end] for start, end in hit.snippet.highlights] == ["Monday", "Tashkent"]
    assert "on [Monday] in [Tashkent]" in hit.snippet.marked("[", "]")
    assert "\x02" not in text and "\x03" not in text
    assert hit.snippet.marked("<mark>", "</mark>").count("<mark>") == 2
    (rail,) = search(filled, "summer")
    # Cut at the start ("…"), not at the end (PostgreSQL's passage stops at the last word, before the period).
    assert rail.snippet.text.startswith("…") and rail.snippet.marked("[", "]").rstrip(".").endswith("in [summer]")
    (levels,) = search(filled, "levels")  # only the title matched: the title, highlighted
    assert levels.snippet.marked("[", "]") == "Water [levels] fall"


def test_filters_and_limit(filled: StoryStorage) -> None:
    assert ids(filled, "water", source="timesca") == ["water", "rail"]
    assert ids(filled, "water", since=datetime(2026, 11, 19, tzinfo=UTC)) == ["water", "rail"]
    # 2026-11-20T10:00:00+05:00 is 05:00 UTC: an instant, whatever the offset it was written with.
    assert ids(filled, "water", since=datetime(2026, 11, 20, 5, 0, tzinfo=UTC)) == ["water", "rail"]
    assert ids(filled, "water", since=datetime(2026, 11, 20, 5, 1, tzinfo=UTC)) == ["rail"]
    assert ids(filled, "water", limit=2) == ids(filled, "water")[:2]
    with pytest.raises(ValueError, match="limit"):
        search(filled, "water", limit=0)


def test_since_at_the_ends_of_the_calendar(filled: StoryStorage) -> None:
    # Valid dates whose UTC lies past datetime's range (as `parse_instant` reads `--since` and `?since=`): the
    # first is after every story, the second before them all; neither is an OverflowError.
    last = datetime.fromisoformat("9999-12-31T23:59:59-05:00")
    first = datetime.fromisoformat("0001-01-01T00:00:00+05:00")
    assert ids(filled, "water", since=last) == []
    assert sorted(ids(filled, "water", since=first)) == ["grain", "levels", "rail", "water"]


def test_hidden_stories_are_never_found(filled: StoryStorage, backend: Backend) -> None:
    backend.query("UPDATE stories SET hidden = 1 WHERE id IN ('water', 'grain')")
    assert sorted(ids(filled, "water")) == ["levels", "rail"]
    assert ids(filled, "pact") == [] and ids(filled, "tashkent", limit=1000) == []
    backend.query("UPDATE stories SET hidden = 0 WHERE id = 'water'")
    assert ids(filled, "pact") == ["water"]


def test_the_index_follows_the_story(filled: StoryStorage) -> None:
    # A new text for the stored URL: the old words leave the index, the new ones enter it.
    assert save(filled, "water", "https://astanatimes.example/water", "astanatimes",
                article("Kazakhstan and Uzbekistan sign water deal", "2026-11-20T10:00:00+05:00",
                        text="The agreement was signed in Samarkand after all."), text_hash="w3") == "updated"
    assert ids(filled, "samarkand") == ["water"] and ids(filled, "tashkent") == []
    # A more complete copy becomes the primary item: its title is the story's, the old one a sighting's.
    assert save(filled, "rail", "https://akipress.example/rail", "akipress",
                article("Almaty–Bishkek trains return", "2026-11-21", text=RAIL + " The first train left at dawn with"
                        " two hundred passengers on board and more waiting."),
                text_hash="r2", similarity=0.95, rule="near_jaccard") == "sighting"
    story = filled.story("rail")
    assert story is not None and story.title == "Almaty–Bishkek trains return"
    assert ids(filled, "trains return") == ["rail"] and ids(filled, "link opens") == ["rail"]
    # Another place's title changes: the story is found by the new one, no longer by the old.
    assert save(filled, "water", "https://timesca.example/water", "timesca",
                article("Neighbours share the river", "2026-11-20", text="Other text."), text_hash="w4") == "updated"
    assert ids(filled, "share river") == ["water"] and ids(filled, "pact") == []


def test_search_rows_commit_and_roll_back_with_the_story(storage: StoryStorage, backend: Backend) -> None:
    def fail() -> None:
        raise RuntimeError("after the story was written")

    with pytest.raises(RuntimeError):
        save(storage, "gone", "https://a.example/gone", "a", article("Vanished headline"), then=fail)
    assert storage.counts()["stories"] == 0 and search_rows(backend) == []
    assert ids(storage, "vanished") == []
    save(storage, "kept", "https://a.example/kept", "a", article("Kept headline"))
    assert [row[0] for row in search_rows(backend)] == ["kept"]  # committed, seen from another connection
    assert save(storage, "kept", "https://a.example/kept", "a", article("Kept headline")) == "seen"
    assert ids(storage, "kept") == ["kept"]


def test_a_failed_item_in_a_sqlite_batch_leaves_no_search_row(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "batch.db", batch_size=10)

    def fail() -> None:
        raise RuntimeError("this item fails")

    save(storage, "one", "https://a.example/1", "a", article("First headline"))
    with pytest.raises(RuntimeError):
        save(storage, "two", "https://a.example/2", "a", article("Second headline"), then=fail)
    storage.commit()
    assert ids(storage, "headline") == ["one"]
    storage.close()


def test_a_sqlite_batch_writes_its_search_rows_once_at_its_commit(tmp_path: Path) -> None:
    # FTS5 writes its pending terms out at every savepoint: indexed inside each item's savepoint, a batch of 40
    # left several index segments (and cost three times as much); indexed at the commit, one. An item updated
    # twice in the batch is indexed as it stands at the end, an item rolled back as it was.
    storage = SQLiteStorage(tmp_path / "batch.db", batch_size=100, batch_seconds=3600)
    for n in range(40):
        save(storage, "s%02d" % n, "https://a.example/%d" % n, "a", article("Harbour story %d" % n))
    save(storage, "s00", "https://a.example/0", "a", article("Lighthouse story, edited"), text_hash="h2")

    def fail() -> None:
        raise RuntimeError("this item fails")

    with pytest.raises(RuntimeError):
        save(storage, "s01", "https://a.example/1", "a", article("Ferry story, edited"), text_hash="h3", then=fail)
    storage.commit()
    segments = sqlite3.connect(tmp_path / "batch.db").execute(
        "SELECT count(DISTINCT segid) FROM story_search_idx").fetchone()[0]
    assert segments == 1
    assert len(ids(storage, "harbour", limit=100)) == 39 and "s01" in ids(storage, "harbour", limit=100)
    assert ids(storage, "lighthouse") == ["s00"] and ids(storage, "ferry") == []
    storage.close()


def test_the_migration_indexes_the_stories_already_stored(backend: Backend) -> None:
    write_v1_database(backend, with_runs=False)
    storage = backend.open()
    try:
        assert ids(storage, "original") == ["s1"] and ids(storage, "two") == ["s2"]
        assert ids(storage, "copy") == ["s1"]  # a sighting's title
        assert sorted(ids(storage, "text")) == ["s1", "s2"]
    finally:
        storage.close()
    migrated = search_rows(backend)
    assert [row[0] for row in migrated] == ["s1", "s2"]
    with transaction(backend) as tx:  # the write path's document for each story is the migration's
        for story_id in ("s1", "s2"):
            index_story(tx, story_id)
    assert search_rows(backend) == migrated


def test_delete_search_rows_and_deleted_stories(filled: StoryStorage, backend: Backend) -> None:
    with transaction(backend) as tx:
        delete_search_rows(tx, ["water", "rail", "nosuch"])
    assert ids(filled, "water") == ["levels", "grain"]
    assert "water" not in [row[0] for row in search_rows(backend)]
    # A story deleted outright takes its search row with it (ON DELETE CASCADE, and SQLite's trigger).
    with transaction(backend) as tx:
        tx.execute("DELETE FROM sightings WHERE story_id = 'grain'")
        tx.execute("DELETE FROM stories WHERE id = 'grain'")
    assert ids(filled, "water") == ["levels"] and "grain" not in [row[0] for row in search_rows(backend)]
    if backend.name == "sqlite":
        assert backend.query("SELECT count(*) FROM story_search") == backend.query(
            "SELECT count(*) FROM story_search_rows") == [(6,)]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise_nor_inject(filled: StoryStorage, backend: Backend, query: str) -> None:
    ids(filled, query)
    assert filled.counts() == {"stories": 9, "sightings": 10}
    assert len(search_rows(backend)) == 9


def test_what_hostile_queries_find(filled: StoryStorage) -> None:
    assert ids(filled, '"unbalanced water') == []  # two words: "unbalanced" is in no story
    assert ids(filled, "-water") == ids(filled, "water")
    assert sorted(ids(filled, "water AND")) == ["grain", "rail", "water"]  # "and" is a word to find
    assert ids(filled, "NOT rail") == ["rail"]  # "not" too: the rail story's "will not run short"
    assert ids(filled, 'water" OR "1"="1') == []
    assert ids(filled, "'; DROP TABLE stories; --") == []


@pytest.mark.parametrize("query", NO_WORDS)
def test_a_query_without_words_is_a_clear_error(filled: StoryStorage, query: str) -> None:
    with pytest.raises(SearchQueryError, match="no words to search for"):
        search(filled, query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_text_is_a_query_or_a_clear_error(filled: StoryStorage, query: str) -> None:
    try:
        hits = search(filled, query)
    except SearchQueryError:
        return
    assert all(hit.story.id for hit in hits)


def test_parse_query_terms_and_backend_syntax() -> None:
    parsed = parse_query('Water  "Syr   Darya" tash* e-mail "almaty bish"* water "unbalanced')
    assert parsed.terms == (Term("Water"), Term("Syr Darya"), Term("tash", prefix=True), Term("e-mail"),
                            Term("almaty bish", prefix=True), Term("water"), Term("unbalanced"))
    assert parse_query('say "x""y" it\'s').fts5() == '"say" "x" "y" "it\'s"'
    assert parse_query("it's back\\slash pre*").tsquery() == "'it''s' & 'back\\\\slash' & 'pre':*"
    assert parse_query("a " * MAX_TERMS).terms == (Term("a"),)  # the same term once
    with pytest.raises(SearchQueryError, match="at most %d" % MAX_TERMS):
        parse_query(" ".join("w%d" % n for n in range(MAX_TERMS + 1)))
    with pytest.raises(SearchQueryError, match="too long"):
        parse_query("w" * (MAX_QUERY_CHARS + 1))


def test_snippet_from_marked_text() -> None:
    snippet = Snippet.from_marked("  \x02Water\x03 levels\n\tfall in \x02the\x03\x02 Aral\x03 \x1b[31m\x03  ")
    assert snippet.text == "Water levels fall in the Aral [31m"
    assert snippet.highlights == [(0, 5), (21, 29)]
    assert snippet.marked("<mark>", "</mark>") == "<mark>Water</mark> levels fall in <mark>the Aral</mark> [31m"
    assert Snippet.from_marked(None) == Snippet() and not Snippet().highlighted
    assert Snippet.from_marked("a < b").marked("[", "]", lambda text: text.replace("<", "&lt;")) == "a &lt; b"
