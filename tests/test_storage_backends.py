"""Every storage backend behaves alike: the same tests against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aggregator.extract.extractor import Article
from aggregator.store.backends import open_storage
from aggregator.store.model import SAME_SOURCE_RULE, SCHEMA_VERSION, StoryStorage
from tests.conftest import FAST, run_cli
from tests.pgserver import fresh_database, postgres_url, server_url  # noqa: F401 (postgres_url: a fixture)

TABLES = {"meta", "stories", "sightings", "story_versions", "http_validators"}


@dataclass(frozen=True)
class Backend:
    """One storage backend under test: what `--db` names, and a look at the database behind the backend."""

    name: str
    db: str
    integrity_error: type[Exception]

    def open(self) -> StoryStorage:
        return open_storage(self.db)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of `sql` run straight on the database, past the storage class."""
        if self.name == "sqlite":
            if not Path(self.db).exists():
                return []
            with sqlite3.connect(self.db) as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.db) as db:
            return db.execute(sql).fetchall()

    def tables(self) -> set[str]:
        if self.name == "sqlite":
            return {row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {row[0] for row in tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "stories.db"), sqlite3.IntegrityError)
        return
    import psycopg

    with fresh_database(server_url()) as url:
        yield Backend("postgresql", url, psycopg.IntegrityError)


@pytest.fixture()
def storage(backend: Backend) -> Iterator[StoryStorage]:
    opened = backend.open()
    yield opened
    opened.close()


def article(title: str, date: str | None = None, text: str = "Body text. " * 30, **kw: Any) -> Article:
    return Article(text=text, title=title, authors=("A. Writer",), date_published=date, tags=("x",),
                   language="en", **kw)


def save(storage: StoryStorage, story_id: str, url: str, source: str, art: Article, *, text_hash: str = "h",
         similarity: float | None = None, rule: str | None = None, fingerprint: bytes | None = None,
         source_updated: str | None = None, canonical_claim: str | None = None) -> str:
    return storage.save(story_id=story_id, url=url, source=source, article=art, text_hash=text_hash,
                        similarity=similarity, rule=rule, fingerprint=fingerprint, source_updated=source_updated,
                        canonical_claim=canonical_claim)


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


def test_the_canonical_item_is_chosen_and_recorded(storage: StoryStorage) -> None:
    save(storage, "s1", "https://copy.example/1", "copy",
         article("Copy", "2026-11-20T12:00:00+00:00", date_source="jsonld", description="Copy summary."))
    assert save(storage, "s1", "https://orig.example/1", "orig",
                article("Original", "2026-11-20T08:00:00+00:00", date_source="meta"), rule="near_jaccard",
                similarity=0.8) == "sighting"
    story = storage.story("s1")
    assert story is not None
    assert (story.url, story.source, story.title, story.date_source, story.canonical_reason, story.summary) == (
        "https://orig.example/1", "orig", "Original", "meta", "earliest_date", None)
    assert storage.versions("s1") == []
    # A copy that names the original as canonical never replaces it, however long it is.
    save(storage, "s1", "https://third.example/1", "third", article("Third", text="Long. " * 500),
         rule="near_containment", canonical_claim="https://orig.example/1")
    story = storage.story("s1")
    assert story is not None and story.url == "https://orig.example/1"
    assert story.canonical_reason == "declared_canonical"
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


def test_sightings_of_several_stories(storage: StoryStorage) -> None:
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    save(storage, "s2", "https://a.example/2", "a", article("Two"))
    save(storage, "s1", "https://b.example/1", "b", article("One"), similarity=1.0, rule="exact_text")
    found = storage.sightings(["s2", "s1", "unknown"])
    assert list(found) == ["s2", "s1", "unknown"]
    assert [s.url for s in found["s1"]] == ["https://a.example/1", "https://b.example/1"]
    assert [s.url for s in found["s2"]] == ["https://a.example/2"] and found["unknown"] == []
    assert storage.sightings([]) == {}
    assert found["s1"][1].similarity == 1.0 and isinstance(found["s1"][1].similarity, float)


def test_fingerprints_round_trip(storage: StoryStorage, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend.name == "postgresql":
        monkeypatch.setattr("aggregator.store.postgres.FINGERPRINT_BATCH", 2)  # read in several batches
    stored = [("s%d" % (n % 3), bytes(range(256)) * (n + 1) + b"\x00") for n in range(5)]
    for n, (story_id, fingerprint) in enumerate(stored):
        save(storage, story_id, "https://a.example/%d" % n, "a", article("T"), fingerprint=fingerprint)
    save(storage, "s9", "https://a.example/none", "a", article("No fingerprint"))
    assert list(storage.fingerprints()) == stored
    assert all(type(fingerprint) is bytes for _, fingerprint in storage.fingerprints())


def test_schema_is_made_on_first_use_and_data_persists(backend: Backend) -> None:
    assert backend.tables() == set()
    first = backend.open()
    assert backend.tables() == TABLES
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


def test_postgresql_urls_and_connections(postgres_url: str) -> None:  # noqa: F811
    import psycopg

    from aggregator.store.postgres import PostgresStorage

    storage = open_storage("postgres://" + postgres_url.removeprefix("postgresql://"))
    assert isinstance(storage, PostgresStorage) and storage.counts() == {"stories": 0, "sightings": 0}
    storage.close()
    with psycopg.connect(postgres_url) as connection, pytest.raises(ValueError, match="autocommit"):
        PostgresStorage(connection)
    with pytest.raises(ValueError, match="unsupported database URL 'mysql://x'"):
        open_storage("mysql://x")


WORKERS = 6
ROUNDS = 25


def hammer(db: str, worker: int, barrier: Any, results: Any) -> None:
    """One of WORKERS processes: open the (maybe new) database at the same moment as the others, then save
    round after round the same shared URL and the same new story ids as they do, then all rewrite the
    shared URLs at once."""
    try:
        barrier.wait(60)
        storage = open_storage(db)
        saved: list[tuple[str, str, str]] = []
        barrier.wait(60)
        for n in range(ROUNDS):
            places = [("https://shared.example/%d" % n, "shared"), ("https://w%d.example/%d" % (worker, n),
                                                                    "w%d" % worker)]
            for url, source in places if worker % 2 else reversed(places):
                outcome = save(storage, "s%d" % n, url, source, article(url), fingerprint=url.encode())
                saved.append(("s%d" % n, url, outcome))
        barrier.wait(60)
        for n in range(ROUNDS):
            url, rewritten = "https://shared.example/%d" % n, article("v", text="v%d" % worker)
            saved.append(("s%d" % n, url, save(storage, "s%d" % n, url, "shared", rewritten,
                                               text_hash="h%d" % worker)))
        storage.close()
        results.put((worker, saved))
    except BaseException:
        results.put((worker, traceback.format_exc()))
        barrier.abort()  # the others stop waiting for this worker
        raise


def test_concurrent_saves_make_one_story_and_lose_no_sighting(backend: Backend) -> None:
    check_concurrent_saves(backend)


def test_concurrent_saves_retry_under_serializable_isolation(postgres_url: str) -> None:  # noqa: F811
    """A server whose transactions are SERIALIZABLE aborts some concurrent saves: they must be retried."""
    import psycopg

    url = postgres_url + "?options=-c%20default_transaction_isolation%3Dserializable"
    check_concurrent_saves(Backend("postgresql", url, psycopg.IntegrityError))


def check_concurrent_saves(backend: Backend) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=hammer, args=(backend.db, n, barrier, results)) for n in range(WORKERS)]
    for process in workers:
        process.start()
    outcomes = dict(results.get(timeout=240) for _ in workers)
    for process in workers:
        process.join(30)
    errors = {worker: outcome for worker, outcome in outcomes.items() if isinstance(outcome, str)}
    assert not errors, "\n".join(errors.values())
    saved = [entry for outcome in outcomes.values() for entry in outcome]

    storage = backend.open()
    try:
        assert storage.counts() == {"stories": ROUNDS, "sightings": ROUNDS * (WORKERS + 1)}
        stories = {story.id: story for story in storage.stories()}
        sightings = storage.sightings(list(stories))
        for n in range(ROUNDS):
            story_id, shared = "s%d" % n, "https://shared.example/%d" % n
            of_story = Counter(result for sid, url, result in saved if sid == story_id)
            assert of_story["new"] == 1, (story_id, of_story)
            # The shared URL: stored once, then seen by the other workers, then rewritten by each.
            shared_results = Counter(result for sid, url, result in saved if url == shared)
            assert shared_results["new"] + shared_results["sighting"] == 1, (story_id, shared_results)
            assert (shared_results["seen"], shared_results["updated"]) == (WORKERS - 1, WORKERS)
            places = sightings[story_id]
            assert len({s.url for s in places}) == WORKERS + 1
            # Same-length texts, no dates: the item seen first stays canonical (aggregator.store.identity).
            assert [s.url for s in places if s.rule == "first"] == [stories[story_id].url]
            # Every rewrite of the shared URL is either the story's text now or one of its versions.
            texts = [version["text"] for version in storage.versions(story_id)] + [stories[story_id].text]
            if stories[story_id].url == shared:
                assert sorted(texts) == sorted(["Body text. " * 30] + ["v%d" % w for w in range(WORKERS)])
            else:
                assert texts == ["Body text. " * 30]
        assert len(list(storage.fingerprints())) == ROUNDS * (WORKERS + 1)
    finally:
        storage.close()


def snapshot(db: str) -> dict[str, Any]:
    """What a crawl stored, minus the clock: {story id: (story fields, its sightings)}."""
    storage = open_storage(db)
    try:
        stories = storage.stories()
        sightings = storage.sightings([story.id for story in stories])
        return {
            story.id: ((story.url, story.source, story.title, story.text, story.summary, story.authors,
                        story.tags, story.language, story.date_published, story.date_modified,
                        story.date_source, story.canonical_reason),
                       sorted((s.url, s.source, s.title, s.date_published, s.similarity, s.rule)
                              for s in sightings[story.id]))
            for story in stories
        }
    finally:
        storage.close()


def without_clock(feed: dict[str, Any]) -> dict[str, Any]:
    for item in feed["items"]:
        item["_aggregator"].pop("first_seen")
        for sighting in item["_aggregator"]["sightings"]:
            sighting.pop("first_seen")
    return feed


# One request at a time, feeds parsed and pages extracted in the crawler itself: which copy of a syndicated
# story comes first (and so the story's id) is then the same in both crawls, whatever the timing of
# worker processes.
ONE_AT_A_TIME = ["--set", "CONCURRENT_REQUESTS=1", "--set", "AGGREGATOR_WORKERS=0"]


def test_crawl_and_export_with_postgresql_match_sqlite(seed_registry: Path, tmp_path: Path,
                                                       postgres_url: str) -> None:  # noqa: F811
    from tests.test_jsonfeed import assert_valid_json_feed

    sqlite_db = str(tmp_path / "seed.db")
    for db in (sqlite_db, postgres_url):
        result = run_cli("crawl", "--all", "--sources", str(seed_registry), "--db", db, *FAST, *ONE_AT_A_TIME)
        assert result.returncode == 0, result.stdout + result.stderr
    stored = snapshot(postgres_url)
    assert stored == snapshot(sqlite_db) and len(stored) > 1

    again = run_cli("crawl", "--all", "--sources", str(seed_registry), *FAST, env={"AGGREGATOR_DB": postgres_url})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "articles stored:       0" in again.stdout
    assert snapshot(postgres_url) == stored

    feeds = []
    for db in (sqlite_db, postgres_url):
        out = tmp_path / "feed.json"
        result = run_cli("export", "--db", db, "-o", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        feeds.append(json.loads(out.read_text("utf-8")))
    assert_valid_json_feed(feeds[1])
    assert without_clock(feeds[1]) == without_clock(feeds[0])
    assert len(feeds[1]["items"]) == len(stored)
