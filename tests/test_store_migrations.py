"""Numbered migrations, once per backend: a database an earlier release wrote (schema version 1) is brought
forward on open with its data; an up-to-date one opens without a lock; a newer one is refused; a failed
step leaves the database as it was; concurrent opens migrate once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from aggregator.store.migrations import (
    MIGRATIONS,
    RUNS_TABLE,
    SCHEMA_VERSION,
    V1_POSTGRESQL_SCHEMA,
    V1_SQLITE_SCHEMA,
    SchemaTooNew,
)
from aggregator.store.runs import open_run_log
from tests.store_backends import Backend, article, backend_fixture, save  # noqa: F401 (fixtures)

FINGERPRINT = bytes(range(256))


def write_v1_database(backend: Backend, with_runs: bool) -> None:
    """A database as the release before numbered migrations left it: its schema (the frozen version 1 DDL,
    and the runs table its run log made), two stories, their sightings, a version and HTTP validators."""
    if backend.name == "sqlite":
        statements = [s for s in V1_SQLITE_SCHEMA.split(";") if s.strip()]
        runs = RUNS_TABLE % "INTEGER"
    else:
        statements, runs = list(V1_POSTGRESQL_SCHEMA), RUNS_TABLE % "BIGSERIAL"
    backend.script(statements + [runs] * with_runs + ["INSERT INTO meta (key, value) VALUES ('schema_version', '1')"])
    columns = ("id, url, source, title, text, summary, authors, tags, language, image, date_published, date_modified,"
               " date_source, text_hash, canonical_claim, canonical_reason, first_seen, updated")
    rows: list[tuple[str, tuple[Any, ...]]] = [
        ("INSERT INTO stories (%s) VALUES (%s)" % (columns, ", ".join("?" * 18)),
         ("s1", "https://orig.example/1", "orig", "Original", "Text one.", "Sum.", '["A. Writer"]', '["x"]', "en",
          None, "2026-11-20T08:00:00+00:00", None, "meta", "h1", None, "earliest_date", "2026-11-20T09:00:00+00:00",
          "2026-11-20T10:00:00+00:00")),
        ("INSERT INTO stories (%s) VALUES (%s)" % (columns, ", ".join("?" * 18)),
         ("s2", "https://copy.example/2", "copy", "Two", "Text two.", None, "[]", "[]", None, None,
          "2026-11-21T12:00:00+00:00", None, "jsonld", "h2", None, "first_seen", "2026-11-21T12:00:00+00:00",
          "2026-11-21T12:00:00+00:00")),
    ]
    sighting = ("INSERT INTO sightings (story_id, url, source, title, date_published, first_seen, last_seen,"
                " similarity, rule, text_hash, source_updated, fingerprint) VALUES (%s)" % ", ".join("?" * 12))
    rows += [
        (sighting, ("s1", "https://copy.example/1", "copy", "Copy", None, "2026-11-20T09:00:00+00:00",
                    "2026-11-20T09:00:00+00:00", None, "first", "h0", None, FINGERPRINT)),
        (sighting, ("s1", "https://orig.example/1", "orig", "Original", "2026-11-20T08:00:00+00:00",
                    "2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00+00:00", 0.8, "near_jaccard", "h1", None, None)),
        (sighting, ("s2", "https://copy.example/2", "copy", "Two", "2026-11-21T12:00:00+00:00",
                    "2026-11-21T12:00:00+00:00", "2026-11-21T12:00:00+00:00", None, "first", "h2", None, b"\x02")),
        ("INSERT INTO story_versions (story_id, url, title, text, text_hash, date_modified, recorded_at)"
         " VALUES (?, ?, ?, ?, ?, ?, ?)", ("s1", "https://orig.example/1", "Old", "Old text.", "h9", None,
                                           "2026-11-20T10:00:00+00:00")),
        ("INSERT INTO http_validators (url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?)",
         ("https://orig.example/feed", '"e1"', None, "2026-11-20T10:00:00+00:00")),
    ]
    if with_runs:
        rows.append(("INSERT INTO runs (sources, started, finished, exit_status, reason, pid) VALUES"
                     " (?, ?, ?, ?, ?, ?)", ("orig", "2026-11-20T09:00:00+00:00", "2026-11-20T09:05:00+00:00", 0,
                                             "finished", 1)))
    for statement, args in rows:
        backend.query(statement, args)


def version_of(backend: Backend) -> int:
    return int(backend.query("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])


@pytest.mark.parametrize("with_runs", [True, False])
def test_a_version_1_database_is_migrated_with_its_data(backend: Backend, with_runs: bool) -> None:
    write_v1_database(backend, with_runs)
    storage = backend.open()
    try:
        assert version_of(backend) == SCHEMA_VERSION == len(MIGRATIONS)
        assert "primary_reason" in backend.columns("stories") and "canonical_reason" not in backend.columns("stories")
        s1, s2 = storage.story("s1"), storage.story("s2")
        assert s1 is not None and s2 is not None
        assert (s1.url, s1.source, s1.title, s1.summary, s1.authors, s1.tags, s1.primary_reason) == (
            "https://orig.example/1", "orig", "Original", "Sum.", ("A. Writer",), ("x",), "earliest_date")
        assert s2.primary_reason == "first_seen" and [s.id for s in storage.stories()] == ["s2", "s1"]
        assert [(s.url, s.rule, s.similarity) for s in storage.sightings(["s1"])["s1"]] == [
            ("https://copy.example/1", "first", None), ("https://orig.example/1", "near_jaccard", 0.8)]
        assert list(storage.fingerprints()) == [("s1", FINGERPRINT), ("s2", b"\x02")]
        assert [v["text"] for v in storage.versions("s1")] == ["Old text."]
        assert storage.validators("https://orig.example/feed") == ('"e1"', None)

        # The renamed column is written and read: an earlier original of story 2 becomes its primary item.
        assert save(storage, "s2", "https://orig.example/2", "orig",
                    article("Two, original", "2026-11-21T07:00:00+00:00", date_source="meta"),
                    rule="near_jaccard") == "sighting"
        s2 = storage.story("s2")
        assert s2 is not None and (s2.url, s2.primary_reason) == ("https://orig.example/2", "earliest_date")
        assert save(storage, "s3", "https://a.example/3", "a", article("Three")) == "new"
        assert backend.query("SELECT primary_reason FROM stories WHERE id = 's3'") == [("first_seen",)]
    finally:
        storage.close()
    runs = open_run_log(backend.db)
    try:
        run_id = runs.start(["a"])
        assert [run.sources for run in runs.recent()] == ["a", "orig"][:1 + with_runs]
        assert runs.recent()[0].id == run_id
    finally:
        runs.close()
    backend.open().close()  # opened again: nothing left to do
    assert version_of(backend) == SCHEMA_VERSION


def test_a_database_newer_than_the_code_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.query("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    message = "schema version %d, newer than this aggregator's %d" % (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    with pytest.raises(SchemaTooNew, match=message):
        backend.open()
    with pytest.raises(SchemaTooNew, match=message):
        open_run_log(backend.db)
    assert version_of(backend) == SCHEMA_VERSION + 1


def test_a_failed_step_leaves_the_database_as_it_was(backend: Backend) -> None:
    write_v1_database(backend, with_runs=False)
    # A hand-made column in the way of version 2's rename.
    backend.script(["ALTER TABLE stories ADD COLUMN primary_reason TEXT"])
    with pytest.raises(backend.error, match="primary_reason"):
        backend.open()
    assert version_of(backend) == 1 and "runs" not in backend.tables()
    assert "canonical_reason" in backend.columns("stories")
    assert backend.query("SELECT count(*) FROM stories") == [(2,)]


def test_an_up_to_date_database_opens_without_waiting_for_a_writer(backend: Backend) -> None:
    """Opening takes no lock when there is nothing to migrate: a reader opens while another process holds
    the write lock (SQLite) or the schema lock (PostgreSQL)."""
    backend.open().close()
    db = backend.db
    if backend.name == "sqlite":
        import sqlite3

        holder: Any = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        holder = psycopg.connect(db, autocommit=True)
        holder.execute("SELECT pg_advisory_lock(hashtextextended('news-aggregator:schema', 0))")
        db += "?options=-c%20statement_timeout%3D3000"  # waiting for the lock would fail after 3 s
    try:
        started = time.monotonic()
        from aggregator.store.backends import open_storage

        storage = open_storage(db)
        assert storage.counts() == {"stories": 0, "sightings": 0}
        storage.close()
        open_run_log(db).close()
        assert time.monotonic() - started < 3
    finally:
        holder.close()


def test_concurrent_opens_migrate_once(backend: Backend) -> None:
    write_v1_database(backend, with_runs=False)
    opens = 6
    barrier, failures = threading.Barrier(opens), []

    def open_at_once() -> None:
        try:
            barrier.wait(30)
            storage = backend.open()
            storage.counts()
            storage.close()
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=open_at_once) for _ in range(opens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert version_of(backend) == SCHEMA_VERSION and "runs" in backend.tables()
    assert backend.query("SELECT count(*) FROM stories") == [(2,)]
