"""The storage contract, once per backend (SQLite and a real PostgreSQL server): saves and what they return,
versions, the story's primary item, the readers, the schema made on first use, and each save one unit of work."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.extract.extractor import Article
from aggregator.store.backends import open_storage
from aggregator.store.migrations import SCHEMA_VERSION
from aggregator.store.model import SAME_SOURCE_RULE, StoryStorage
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.store_backends import Backend, article, backend_fixture, save, storage_fixture  # noqa: F401 (fixtures)

# SQLite keeps an FTS5 table's index in shadow tables of its own, and the story -> search row map beside them
SQLITE_SEARCH_TABLES = {"story_search_rows", "story_search_data", "story_search_idx", "story_search_content",
                        "story_search_docsize", "story_search_config"}
TABLES = {"meta", "stories", "sightings", "story_versions", "http_validators", "runs", "source_runs", "source_polling",
          "notifications", "source_templates", "story_search", "story_merges"}


def test_new_story_then_sighting_then_seen(storage: StoryStorage) -> None:
    assert save(storage, "s1", "https://a.example/1", "a", article("One"), fingerprint=b"\x01") == "new"
    assert save(storage, "s1", "https://b.example/1", "b", article("One (copy)"), similarity=0.9,
                rule="near_jaccard", fingerprint=b"\x02") == "sighting"
    assert save(storage, "s1", "https://b.example/1", "b", article("One (copy)")) == "seen"
    assert save(storage, "s1", "https://b.example/1", "b", article("One (copy)"), text_hash="") == "seen"
    assert storage.counts() == {"stories": 1, "sightings": 2}
    assert storage.story_for_url("https://b.example/1") == "s1"
    assert storage.story_for_url("https://c.example/1") is None
    (story,) = storage.stories()
    assert (story.id, story.url, story.title, story.source) == ("s1", "https://a.example/1", "One", "a")
    assert story.authors == ("A. Writer",) and story.tags == ("x",) and story.language == "en"
    assert story.text == "Body text. " * 30 and story.first_seen == story.updated
    sightings = storage.sightings(["s1"])["s1"]
    assert [(s.url, s.source, s.title, s.rule, s.similarity) for s in sightings] == [
        ("https://a.example/1", "a", "One", "first", None),
        ("https://b.example/1", "b", "One (copy)", "near_jaccard", 0.9)]
    assert list(storage.fingerprints()) == [("s1", b"\x01"), ("s1", b"\x02")]


def test_changed_text_makes_a_version(storage: StoryStorage) -> None:
    url, copy = "https://a.example/1", "https://b.example/1"
    save(storage, "s1", url, "a", article("One", text="First text."), text_hash="h1", fingerprint=b"f1",
         source_updated="2026-11-01T00:00:00+00:00")
    save(storage, "s1", copy, "b", article("Copy", text="First text."), text_hash="h1", fingerprint=b"c1")
    assert storage.source_updated(url) == ("s1", "2026-11-01T00:00:00+00:00")
    assert storage.source_updated(copy) == ("s1", None)
    assert storage.source_updated("https://c.example/") is None

    assert save(storage, "s1", url, "a", article("One, revised", text="Second text.", description="Sum."),
                text_hash="h2", fingerprint=b"f2", source_updated="2026-11-02T00:00:00+00:00") == "updated"
    (story,) = storage.stories()
    assert (story.title, story.text, story.summary) == ("One, revised", "Second text.", "Sum.")
    assert story.date_modified == "2026-11-02T00:00:00+00:00"  # no date on the page: the feed's
    (version,) = storage.versions("s1")
    assert {key: version[key] for key in ("url", "title", "text", "text_hash", "date_modified")} == {
        "url": url, "title": "One", "text": "First text.", "text_hash": "h1", "date_modified": None}
    assert set(version) == {"url", "title", "text", "text_hash", "date_modified", "recorded_at"}
    assert storage.source_updated(url) == ("s1", "2026-11-02T00:00:00+00:00")

    # Another place's text changed: only its sighting follows; the story and its versions stay.
    assert save(storage, "s1", copy, "b", article("Copy, revised", text="Other."), text_hash="h3") == "updated"
    assert storage.stories()[0].text == "Second text." and len(storage.versions("s1")) == 1
    assert [s.title for s in storage.sightings(["s1"])["s1"]] == ["One, revised", "Copy, revised"]
    assert list(storage.fingerprints()) == [("s1", b"f2"), ("s1", b"c1")]  # no new fingerprint: kept
    assert save(storage, "s1", url, "a", article("One, revised", text="Second text."), text_hash="h2") == "seen"
    assert storage.source_updated(url) == ("s1", "2026-11-02T00:00:00+00:00")  # kept when none is given
    assert storage.versions("nope") == []
    assert storage.counts() == {"stories": 1, "sightings": 2}


def test_a_later_version_from_the_same_outlet_at_a_new_url(storage: StoryStorage) -> None:
    save(storage, "s1", "https://a.example/tram", "a", article("Tram", text="First."), text_hash="h1")
    assert save(storage, "s1", "https://a.example/tram-2", "a", article("Tram, edited", text="Second."),
                text_hash="h2", similarity=0.9, rule=SAME_SOURCE_RULE) == "updated"
    story = storage.story("s1")
    assert story is not None and (story.url, story.title, story.text) == ("https://a.example/tram-2",
                                                                          "Tram, edited", "Second.")
    assert [(v["url"], v["text"]) for v in storage.versions("s1")] == [("https://a.example/tram", "First.")]
    assert storage.story_for_url("https://a.example/tram") == "s1" and storage.story("nope") is None
    assert storage.counts() == {"stories": 1, "sightings": 2}


def test_the_primary_item_is_chosen_and_recorded(storage: StoryStorage) -> None:
    save(storage, "s1", "https://copy.example/1", "copy",
         article("Copy", "2026-11-20T12:00:00+00:00", date_source="jsonld", description="Copy summary."))
    assert save(storage, "s1", "https://orig.example/1", "orig",
                article("Original", "2026-11-20T08:00:00+00:00", date_source="meta"), rule="near_jaccard",
                similarity=0.8) == "sighting"
    story = storage.story("s1")
    assert story is not None
    assert (story.url, story.source, story.title, story.date_source, story.primary_reason, story.summary) == (
        "https://orig.example/1", "orig", "Original", "meta", "earliest_date", None)
    assert storage.versions("s1") == []
    # A copy whose canonical URL is the original's never replaces it, however long it is.
    save(storage, "s1", "https://third.example/1", "third", article("Third", text="Long. " * 500),
         rule="near_containment", canonical_claim="https://orig.example/1")
    story = storage.story("s1")
    assert story is not None and story.url == "https://orig.example/1"
    assert story.primary_reason == "declared_canonical"
    assert storage.sources_of("s1") == {"copy", "orig", "third"} and storage.sources_of("nope") == set()
    assert storage.stories()[0] == story


def test_source_totals(storage: StoryStorage) -> None:
    assert storage.source_totals() == {}
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    save(storage, "s1", "https://b.example/1", "b", article("One"), rule="near_jaccard")
    save(storage, "s2", "https://b.example/2", "b", article("Two"))
    totals = storage.source_totals()
    assert {source: (t["stories"], t["sightings"]) for source, t in totals.items()} == {"a": (1, 1), "b": (1, 2)}
    (story,) = [story for story in storage.stories() if story.id == "s2"]
    assert totals["b"]["last_seen"] >= story.first_seen


def test_http_validators(storage: StoryStorage) -> None:
    assert storage.validators("https://a.example/feed") is None
    storage.save_validators({})
    storage.save_validators({"https://a.example/feed": ('"e1"', "Mon, 23 Nov 2026 10:00:00 GMT"),
                             "https://a.example/news": (None, "Tue, 24 Nov 2026 10:00:00 GMT")})
    storage.save_validators({"https://a.example/feed": ('"e2"', None)})
    assert storage.validators("https://a.example/feed") == ('"e2"', None)
    assert storage.validators("https://a.example/news") == (None, "Tue, 24 Nov 2026 10:00:00 GMT")


def test_newest_first_with_limit_since_and_source(storage: StoryStorage) -> None:
    save(storage, "old", "https://a.example/old", "a", article("Old", "2026-11-01T00:00:00+00:00"))
    save(storage, "new", "https://a.example/new", "a", article("New", "2026-11-20T00:00:00+00:00"))
    save(storage, "mid", "https://b.example/mid", "b", article("Mid", "2026-11-10T00:00:00+00:00"))
    save(storage, "old", "https://b.example/old-copy", "b", article("Old copy"))
    assert [s.id for s in storage.stories()] == ["new", "mid", "old"]
    assert [s.id for s in storage.stories(limit=2)] == ["new", "mid"]
    assert [s.id for s in storage.stories(since="2026-11-05")] == ["new", "mid"]
    assert [s.id for s in storage.stories(since="2026-11-10T00:00:00+00:00")] == ["new", "mid"]
    assert [s.id for s in storage.stories(source="b")] == ["mid", "old"]
    assert [s.id for s in storage.stories(limit=1, since="2026-11-05", source="b")] == ["mid"]
    assert storage.stories(source="nope") == [] and storage.stories(limit=0) == []


def test_order_is_byte_order_and_undated_stories_sort_by_first_seen(storage: StoryStorage) -> None:
    for story_id in ("a", "B", "b", "A"):  # same date: ties broken by id, in byte order ("B" < "a")
        save(storage, story_id, "https://x.example/%s1" % story_id, "x", article(story_id, "2000-01-01"))
    save(storage, "future", "https://x.example/future", "x", article("Future", "2999-01-01T00:00:00+00:00"))
    save(storage, "undated", "https://x.example/undated", "x", article("Undated"))
    assert [s.id for s in storage.stories()] == ["future", "undated", "A", "B", "a", "b"]
    assert [s.id for s in storage.stories(since="2000-01-01T")] == ["future", "undated"]


def test_sightings_of_several_stories(storage: StoryStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aggregator.store.sql.SIGHTINGS_BATCH", 2)  # several queries of story ids
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    save(storage, "s2", "https://a.example/2", "a", article("Two"))
    save(storage, "s1", "https://b.example/1", "b", article("One"), similarity=1.0, rule="exact_text")
    found = storage.sightings(["s2", "s1", "unknown", "s1"])
    assert list(found) == ["s2", "s1", "unknown"]
    assert [s.url for s in found["s1"]] == ["https://a.example/1", "https://b.example/1"]
    assert [s.url for s in found["s2"]] == ["https://a.example/2"] and found["unknown"] == []
    assert storage.sightings([]) == {}
    assert found["s1"][1].similarity == 1.0 and isinstance(found["s1"][1].similarity, float)


def test_fingerprints_round_trip(storage: StoryStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aggregator.store.sql.FINGERPRINT_BATCH", 2)  # read in several batches
    stored = [("s%d" % (n % 3), bytes(range(256)) * (n + 1) + b"\x00") for n in range(5)]
    for n, (story_id, fingerprint) in enumerate(stored):
        save(storage, story_id, "https://a.example/%d" % n, "a", article("T"), fingerprint=fingerprint)
    save(storage, "s9", "https://a.example/none", "a", article("No fingerprint"))
    assert list(storage.fingerprints()) == stored
    assert all(type(fingerprint) is bytes for _, fingerprint in storage.fingerprints())


def test_schema_is_made_on_first_use_and_data_persists(backend: Backend) -> None:
    assert backend.tables() == set()
    first = backend.open()
    assert backend.tables() == TABLES | (SQLITE_SEARCH_TABLES if backend.name == "sqlite" else set())
    assert backend.query("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    save(first, "s1", "https://a.example/1", "a", article("One"), fingerprint=b"\x01")
    first.save_validators({"https://a.example/feed": ("e", None)})
    first.close()
    second = backend.open()
    assert second.counts() == {"stories": 1, "sightings": 1}
    assert second.stories()[0].title == "One" and list(second.fingerprints()) == [("s1", b"\x01")]
    assert second.validators("https://a.example/feed") == ("e", None)
    second.close()
    assert backend.query("SELECT count(*) FROM meta") == [(1,)]


def test_a_failed_save_leaves_nothing_half_written(storage: StoryStorage, backend: Backend) -> None:
    broken = Article(text=None, title="No text")  # type: ignore[arg-type]
    with pytest.raises(backend.integrity_error):
        save(storage, "s1", "https://a.example/1", "a", broken)
    assert storage.counts() == {"stories": 0, "sightings": 0}
    assert save(storage, "s1", "https://a.example/1", "a", article("One")) == "new"  # still usable


# Each save is one unit of work: the story, its sighting and what `then` writes on the storage's connection
# commit together or not at all.

SIDE_TABLE = "CREATE TABLE side_rows (note TEXT NOT NULL)"


class Failed(Exception):
    """What a failing `then` raises."""


def write_side_row(storage: StoryStorage, note: str) -> None:
    """A row written on the storage's own connection, as the dedup pipeline writes its index rows."""
    connection: Any = storage.db  # type: ignore[attr-defined]  # both backends have one
    connection.execute("INSERT INTO side_rows (note) VALUES ('%s')" % note)


def nothing_of(backend: Backend, *urls: str) -> None:
    """Nothing a failed save wrote remains: what another connection sees."""
    for url in urls:
        assert backend.query("SELECT count(*) FROM sightings WHERE url = ?", (url,)) == [(0,)]
    assert backend.query("SELECT count(*) FROM side_rows") == [(0,)]


def test_then_runs_inside_the_save_and_commits_with_it(storage: StoryStorage, backend: Backend) -> None:
    backend.script([SIDE_TABLE])
    seen: list[tuple[Any, ...]] = []

    def then() -> None:
        write_side_row(storage, "index row")
        # the story and its sighting are written, on this connection only: not committed yet
        seen.append((storage.story_for_url("https://a.example/1"), backend.query("SELECT count(*) FROM stories"),
                     backend.query("SELECT count(*) FROM side_rows")))

    assert save(storage, "s1", "https://a.example/1", "a", article("One"), then=then) == "new"
    assert seen == [("s1", [(0,)], [(0,)])]
    assert backend.query("SELECT count(*) FROM stories") == [(1,)]
    assert backend.query("SELECT note FROM side_rows") == [("index row",)]
    for outcome, url in (("sighting", "https://b.example/1"), ("seen", "https://b.example/1")):
        assert save(storage, "s1", url, "b", article("One"), rule="near_jaccard", then=then) == outcome
    assert len(seen) == 3 and backend.query("SELECT count(*) FROM side_rows") == [(3,)]


def test_a_failing_then_rolls_back_the_whole_save(storage: StoryStorage, backend: Backend) -> None:
    backend.script([SIDE_TABLE])

    def then() -> None:
        write_side_row(storage, "half")
        raise Failed("after the rows were written")

    with pytest.raises(Failed):
        save(storage, "s1", "https://a.example/1", "a", article("One"), then=then)
    assert storage.counts() == {"stories": 0, "sightings": 0} and storage.story("s1") is None
    nothing_of(backend, "https://a.example/1")

    # a sighting that would have become the primary item: the story stays as it was
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    with pytest.raises(Failed):
        save(storage, "s1", "https://b.example/1", "b", article("Longer", text="Long. " * 500),
             rule="near_jaccard", then=then)
    story = storage.story("s1")
    assert story is not None and (story.url, story.primary_reason) == ("https://a.example/1", "first_seen")
    assert storage.counts() == {"stories": 1, "sightings": 1}
    nothing_of(backend, "https://b.example/1")

    # a new version of a stored URL: no version kept, the text unchanged
    with pytest.raises(Failed):
        save(storage, "s1", "https://a.example/1", "a", article("One, revised", text="New."), text_hash="h2",
             then=then)
    assert storage.versions("s1") == [] and storage.stories()[0].title == "One"
    nothing_of(backend)
    assert save(storage, "s2", "https://a.example/2", "a", article("Two")) == "new"  # the next save works
    assert backend.query("SELECT count(*) FROM stories") == [(2,)]


def test_a_failure_between_the_story_and_its_sighting_leaves_neither(storage: StoryStorage,
                                                                    backend: Backend) -> None:
    backend.script([SIDE_TABLE])
    # The story row is inserted, then the sighting's fingerprint cannot be bound: the driver raises.
    with pytest.raises(backend.error):
        save(storage, "s1", "https://a.example/1", "a", article("One"), fingerprint=object(),  # type: ignore[arg-type]
             then=lambda: write_side_row(storage, "never"))
    assert storage.counts() == {"stories": 0, "sightings": 0}
    assert backend.query("SELECT count(*) FROM stories") == [(0,)]
    nothing_of(backend, "https://a.example/1")
    assert save(storage, "s1", "https://a.example/1", "a", article("One"), fingerprint=b"\x01") == "new"
    assert list(storage.fingerprints()) == [("s1", b"\x01")]


def test_a_save_aborted_for_a_conflict_runs_again_whole(postgres_url: str) -> None:  # noqa: F811
    """PostgreSQL aborts a transaction on a serialization failure; the save and its `then` run again from the
    start, and only the second run's rows remain."""
    from psycopg import errors

    storage = open_storage(postgres_url)
    backend = Backend("postgresql", postgres_url, Exception, Exception)
    backend.script([SIDE_TABLE])
    runs: list[int] = []

    def then() -> None:
        runs.append(len(runs))
        write_side_row(storage, "run %d" % len(runs))
        if len(runs) == 1:
            raise errors.SerializationFailure("could not serialize access")

    try:
        assert save(storage, "s1", "https://a.example/1", "a", article("One"), then=then) == "new"
        assert runs == [0, 1] and backend.query("SELECT note FROM side_rows") == [("run 2",)]
        assert storage.counts() == {"stories": 1, "sightings": 1}
    finally:
        storage.close()
