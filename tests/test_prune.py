"""Retention: `aggregator prune` and `aggregator.store.prune` on a real SQLite file and the test PostgreSQL server,
and real crawls of the loopback fixture sites after a prune (dedup of the stories that remain unaffected, a
pruned story's URL crawled again a new story)."""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from aggregator.ops.cli import main
from aggregator.store.prune import prune
from aggregator.store.search import delete_search_rows, search
from aggregator.store.sql import SQLStorage
from tests.conftest import FAST, run_cli
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.store_backends import Backend, article, backend_fixture, save  # noqa: F401

OLD = "2026-01-01T00:00:00+00:00"


def search_rows(backend: Backend) -> set[str]:
    table = "story_search_rows" if backend.name == "sqlite" else "story_search"
    return {row[0] for row in backend.query("SELECT story_id FROM %s" % table)}


def fill(backend: Backend, old: int, recent: int) -> None:
    """`old` stories last seen at OLD (one with a version), `recent` seen now, and one old story seen again now
    on another source (kept: last seen is its latest sighting)."""
    storage = backend.open()
    try:
        for number in range(old):
            save(storage, "old%02d" % number, "https://a.example/old/%d" % number, "a", article("Old %d" % number),
                 text_hash="o%d" % number)
            save(storage, "old%02d" % number, "https://b.example/old/%d" % number, "b", article("Copy %d" % number),
                 text_hash="c%d" % number, similarity=0.9, rule="near_jaccard")
        save(storage, "old00", "https://a.example/old/0", "a", article("Old 0, edited", text="Edited. " * 40),
             text_hash="o0-edited")
        for number in range(recent):
            save(storage, "new%02d" % number, "https://a.example/new/%d" % number, "a", article("New %d" % number),
                 text_hash="n%d" % number)
        save(storage, "kept", "https://a.example/kept", "a", article("Kept"), text_hash="k")
        save(storage, "kept", "https://b.example/kept", "b", article("Kept again"), text_hash="k2",
             similarity=0.95, rule="near_jaccard")
    finally:
        storage.close()
    backend.script(["UPDATE sightings SET last_seen = '%s' WHERE story_id LIKE 'old%%'" % OLD,
                    "UPDATE sightings SET last_seen = '%s' WHERE url = 'https://a.example/kept'" % OLD])


def test_prune_in_batches_on_each_backend(backend: Backend) -> None:
    fill(backend, old=5, recent=3)
    assert backend.query("SELECT count(*) FROM story_versions") == [(1,)]
    assert len(search_rows(backend)) == 9
    storage = backend.open()
    assert isinstance(storage, SQLStorage)
    try:
        cutoff = datetime.now(UTC) - timedelta(days=90)
        counted = prune(storage, cutoff, dry_run=True, batch=2)
        assert (counted.stories, counted.sightings, counted.versions, counted.batches) == (5, 10, 1, 3)
        assert backend.query("SELECT count(*) FROM stories") == [(9,)]  # a dry run removes nothing
        done = prune(storage, cutoff, batch=2, search_rows=delete_search_rows)
        assert (done.stories, done.sightings, done.versions, done.batches) == (5, 10, 1, 3)
        assert prune(storage, cutoff, batch=2).stories == 0  # nothing left that old
        # every text says "Body text": what the search finds is what is left
        assert sorted(hit.story.id for hit in search(storage, "body", limit=50)) == ["kept", "new00", "new01", "new02"]
    finally:
        storage.close()
    remaining = {row[0] for row in backend.query("SELECT id FROM stories")}
    assert remaining == {"new00", "new01", "new02", "kept"}
    assert {row[0] for row in backend.query("SELECT DISTINCT story_id FROM sightings")} == remaining
    assert backend.query("SELECT count(*) FROM sightings") == [(5,)]
    assert backend.query("SELECT count(*) FROM story_versions") == [(0,)]
    assert search_rows(backend) == remaining


def test_the_prune_command_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    backend = Backend("postgresql", postgres_url, Exception, Exception)
    fill(backend, old=2, recent=1)
    parts = urlsplit(postgres_url)  # the test server trusts loopback: any password is accepted, and never shown
    with_password = parts._replace(netloc="%s:s3cret@%s" % (parts.username, parts.netloc.rsplit("@", 1)[-1])).geturl()
    result = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--db", with_password])
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output and ":***@" in result.output
    assert "  stories:              2\n  sightings:            4\n  versions:             1\n" in result.output
    assert "(the index is rebuilt from the sightings at each crawl)" in result.output
    assert "kept for reuse by PostgreSQL" in result.output
    assert {row[0] for row in backend.query("SELECT id FROM stories")} == {"new00", "kept"}


def test_the_prune_command_on_a_sqlite_file_reclaims_the_space(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    backend = Backend("sqlite", str(db), sqlite3.IntegrityError, sqlite3.Error)
    fill(backend, old=300, recent=5)
    files = [db, Path(str(db) + "-wal")]

    def size() -> int:
        return sum(path.stat().st_size for path in files if path.exists())

    dry = run_cli("prune", "--older-than", "90d", "--dry-run", "--db", str(db))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Would remove the stories last seen before ")
    assert "  stories:              300\n  sightings:            600\n  versions:             1\n" in dry.stdout
    assert backend.query("SELECT count(*) FROM stories") == [(306,)]
    before = size()
    done = run_cli("prune", "--older-than", "12w", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Removed the stories last seen before ")
    assert "  stories:              300\n" in done.stdout
    space = re.search(r"space: +(\d+) bytes reclaimed \(VACUUM: (\d+) bytes before, (\d+) after\)", done.stdout)
    assert space is not None, done.stdout
    reclaimed, was, now = map(int, space.groups())
    assert was == before and now == size() and reclaimed == before - now > 100_000
    assert backend.query("SELECT count(*) FROM stories") == [(6,)]
    assert backend.query("PRAGMA integrity_check") == [("ok",)]


def test_prune_refuses_bad_ages_a_missing_database_and_a_running_crawl(tmp_path: Path) -> None:
    from aggregator.store.lock import crawl_lock

    db = tmp_path / "news.db"
    for age in ("0d", "soon", "-3d", "90x", "999999d", "99999999999d"):  # the last two: before the year 1
        result = CliRunner().invoke(main, ["prune", "--older-than", age, "--db", str(db)])
        assert result.exit_code == 2 and "Invalid value for --older-than" in result.output, result.output
    missing = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--db", str(db)])
    assert missing.exit_code == 2 and "no database at %s" % db in missing.output
    assert not db.exists()
    fill(Backend("sqlite", str(db), sqlite3.IntegrityError, sqlite3.Error), old=1, recent=1)
    with crawl_lock(str(db)):
        busy = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--db", str(db)])
        assert busy.exit_code == 5 and "another crawl is running on %s" % db in busy.output
        dry = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--dry-run", "--db", str(db)])
        assert dry.exit_code == 0 and "  stories:              1\n" in dry.output  # counting needs no lock


def story_of(db: Path) -> dict[str, str]:
    """{url path: story id} of every sighting."""
    rows = sqlite3.connect(db).execute("SELECT url, story_id FROM sightings")
    return {urlsplit(url).path: story_id for url, story_id in rows}


def crawl(registry: Path, db: Path, *args: str) -> str:
    result = run_cli("crawl", *args, "--sources", str(registry), "--db", str(db), *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "errors:                0" in result.stdout
    return result.stdout


def test_crawls_after_a_prune_still_collapse_copies_and_take_pruned_urls_as_new_stories(
        seed_registry: Path, tmp_path: Path, seed_expected: dict) -> None:
    db = tmp_path / "news.db"
    crawl(seed_registry, db, "commonspace", "timesca")
    timesca = {path: story for path, story in story_of(db).items() if path.endswith(".html")}
    assert len(timesca) == 2
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("UPDATE sightings SET last_seen = ? WHERE source = 'timesca'", (OLD,))
    pruned = run_cli("prune", "--older-than", "90d", "--db", str(db))
    assert "  stories:              2\n" in pruned.stdout and "  dedup index entries:  2\n" in pruned.stdout
    assert connection.execute("SELECT count(*) FROM dedup_fingerprints WHERE story_id IN (?, ?)",
                              tuple(timesca.values())).fetchone() == (0,)

    # The outlet that copies a kept story (commonspace's Lviv story) and a pruned one (timesca's trade centre):
    # the first copy joins its story, the second starts a story of its own, not the pruned one.
    astana = crawl(seed_registry, db, "astanatimes")
    assert "articles stored:       2" in astana and "duplicates collapsed:  1" in astana
    stories = story_of(db)
    lviv = "/2026/11/lviv-names-square-in-memory-of-andriy-parubiy.html"
    assert stories[lviv] == stories["/news/lviv-names-square-after-andriy-parubiy"]
    astana_trade = "/2026/11/kazakh-uzbek-industrial-cooperation-centre-opens-first-phase.html"
    assert stories[astana_trade] not in timesca.values()

    # timesca's pruned URLs crawled again: its copy of the trade centre story joins astanatimes' story, the
    # other is a new story; in the end the same stories and sightings as one crawl of the three sites.
    again = crawl(seed_registry, db, "timesca", "--refresh")
    assert "articles stored:       1" in again and "duplicates collapsed:  1" in again
    stories = story_of(db)
    assert stories["/news/first-phase-of-kazakh-uzbek-trade-centre-opens.html"] == stories[astana_trade]
    grouped: dict[str, list[tuple[str, str]]] = {}
    for story_id, source, url in sqlite3.connect(db).execute("SELECT story_id, source, url FROM sightings"):
        grouped.setdefault(story_id, []).append((source, urlsplit(url).path))
    expected = sorted(sorted(tuple(s) for s in story["sightings"]) for story in seed_expected["stories"])
    assert sorted(sorted(sightings) for sightings in grouped.values()) == expected



def test_prune_forgets_the_entries_of_a_redis_index(postgres_url: str) -> None:  # noqa: F811
    import redis

    from aggregator.dedup.index import StoryIndex

    shared = os.environ.get("AGGREGATOR_TEST_REDIS")
    if not shared:
        pytest.skip("AGGREGATOR_TEST_REDIS is not set (run `scripts/services.sh start && . .services/env`)")
    url = shared.rsplit("/", 1)[0] + "/9"  # a database of its own: other tests flush database 0
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        backend = Backend("postgresql", postgres_url, Exception, Exception)
        fill(backend, old=2, recent=1)
        index = StoryIndex(store=url)
        for story_id in ("old00", "old01", "new00", "kept"):
            index.insert(story_id, index.fingerprint("The story %s, told in a few words of its own." % story_id))
        index.close()
        result = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--db", postgres_url, "--redis", url])
        assert result.exit_code == 0, result.output
        assert "  stories:              2\n" in result.output and "  dedup index entries:  2\n" in result.output
        after = StoryIndex(store=url)
        assert ("old00" in after, "old01" in after, "new00" in after, "kept" in after) == (False, False, True, True)
        after.close()
    finally:
        client.flushdb()
        client.close()


def test_a_dry_run_counts_a_database_on_a_read_only_file_system(tmp_path: Path) -> None:
    from tests.test_security_readonly import check_mount_works, run_read_only

    check_mount_works(tmp_path)
    source, view = tmp_path / "data", tmp_path / "ro"
    source.mkdir()
    view.mkdir()
    fill(Backend("sqlite", str(source / "news.db"), sqlite3.IntegrityError, sqlite3.Error), old=2, recent=1)
    dry = run_read_only(source, view, "prune", "--older-than", "90d", "--dry-run", "--db", str(view / "news.db"))
    out, err = dry.communicate(timeout=120)
    assert dry.returncode == 0, err
    assert "  stories:              2\n  sightings:            4\n" in out
    removing = run_read_only(source, view, "prune", "--older-than", "90d", "--db", str(view / "news.db"))
    out, err = removing.communicate(timeout=120)
    assert removing.returncode == 2 and err.startswith("Error: ") and "Traceback" not in err, err
    assert sorted(path.name for path in source.iterdir()) == ["news.db"]


def test_sources_and_db_as_for_crawl(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    fill(Backend("sqlite", str(db), sqlite3.IntegrityError, sqlite3.Error), old=1, recent=1)
    registry = tmp_path / "sources.toml"
    registry.write_text('[sources.a]\nname = "A"\nfeed = "https://a.example/feed"\n')
    named = CliRunner().invoke(main, ["prune", "--older-than", "90d", "--dry-run", "--db", str(db),
                                      "--sources", str(registry)])
    assert named.exit_code == 0 and "  stories:              1\n" in named.output, named.output
    registry.write_text(registry.read_text() + '\n[rules.energy]\naction = "hide"\ntitle = "(oil"\n')
    env = {"AGGREGATOR_DB": str(db), "AGGREGATOR_SOURCES": str(registry)}
    refused = CliRunner().invoke(main, ["prune", "--older-than", "90d"], env=env)
    assert refused.exit_code == 2 and "rule 'energy', field 'title': bad regular expression" in refused.output
    assert Backend("sqlite", str(db), sqlite3.IntegrityError, sqlite3.Error).query(
        "SELECT count(*) FROM stories") == [(3,)]  # old00, new00, kept: nothing removed


def test_prune_removes_the_merges_that_lead_to_its_stories_and_counts_search_rows(backend: Backend) -> None:
    from tests.test_cli import invoke

    storage = backend.open()
    assert isinstance(storage, SQLStorage)
    try:
        for story_id in ("a", "b", "c", "k", "x"):
            save(storage, story_id, "https://%s.example/1" % story_id, story_id, article(story_id.upper()),
                 text_hash="h" + story_id)
        storage.merge("b", ["c"], rule="near_containment", similarity=0.84)
        storage.merge("a", ["b"], rule="near_jaccard", similarity=0.91)  # c -> b -> a: a goes, so does the chain
        storage.merge("k", ["x"], rule="near_jaccard", similarity=0.93)  # x -> k: k stays, so does its merge
        storage.commit()
    finally:
        storage.close()
    backend.script(["UPDATE sightings SET last_seen = '%s' WHERE story_id = 'a'" % OLD])
    assert invoke("explain", "c", "--db", backend.db).stdout.startswith("Story c was merged into b on ")
    dry = invoke("prune", "--older-than", "90d", "--dry-run", "--db", backend.db)
    counts = ("  stories:              1\n  sightings:            3\n  versions:             0\n"
              "  search rows:          1\n  merges into them:     2\n")
    assert dry.exit_code == 0 and counts in dry.output, dry.output
    assert len(backend.query("SELECT merged_id FROM story_merges")) == 3  # a dry run removes nothing
    done = invoke("prune", "--older-than", "90d", "--db", backend.db)
    assert done.exit_code == 0 and counts in done.output, done.output
    assert backend.query("SELECT merged_id, into_id FROM story_merges") == [("x", "k")]
    assert search_rows(backend) == {"k"}
    gone = invoke("explain", "c", "--db", backend.db)  # was: "merged into b", then b into a, a story that is gone
    assert gone.exit_code == 2 and "no story 'c'" in gone.output, gone.output
    kept = invoke("explain", "x", "--db", backend.db)
    assert kept.exit_code == 0 and kept.stdout.startswith("Story x was merged into k on ")
