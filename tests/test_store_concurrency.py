"""Storage under concurrent writers, once per backend: processes saving the same URLs and stories at once
make one story each and lose no sighting; a crawl into PostgreSQL stores and exports what one into SQLite does."""

from __future__ import annotations

import json
import multiprocessing
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from aggregator.store.backends import open_storage
from tests.conftest import FAST, run_cli
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.store_backends import Backend, article, backend_fixture, save  # noqa: F401 (fixtures)

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
    check_concurrent_saves(Backend("postgresql", url, psycopg.IntegrityError, psycopg.Error))


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
            # Same-length texts, no dates: the item seen first stays the primary item (aggregator.store.identity).
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
                        story.date_source, story.primary_reason),
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
