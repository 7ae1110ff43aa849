"""Database URLs, parsed in one place: which backend each names, and the same answer from storage, the run
log and the crawl lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aggregator.store.backends import DatabaseURL, open_storage, parse_database_url, sqlite_path
from aggregator.store.lock import CrawlLock, LockBusy, PostgresCrawlLock, crawl_lock
from aggregator.store.runs import open_run_log
from aggregator.store.sqlite import SQLiteStorage
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.store_backends import article, save

UNSUPPORTED = ["mysql://u@h/db", "redis://localhost:6379/0", "sqlite://relative.db", "sqlite:///", "", "http://x/y"]


@pytest.mark.parametrize(("text", "parsed"), [
    ("stories.db", DatabaseURL("sqlite", "stories.db")),
    ("data/stories.db", DatabaseURL("sqlite", "data/stories.db")),
    ("/var/lib/aggregator/stories.db", DatabaseURL("sqlite", "/var/lib/aggregator/stories.db")),
    ("sqlite:///data/stories.db", DatabaseURL("sqlite", "data/stories.db")),
    ("sqlite:////var/lib/stories.db", DatabaseURL("sqlite", "/var/lib/stories.db")),
    ("sqlite:///:memory:", DatabaseURL("sqlite", ":memory:")),
    ("postgresql://news@db.example/news", DatabaseURL("postgresql", "postgresql://news@db.example/news")),
    ("postgres://news:pw@db.example:5433/news?sslmode=require",
     DatabaseURL("postgresql", "postgres://news:pw@db.example:5433/news?sslmode=require")),
])
def test_parse_database_url(text: str, parsed: DatabaseURL) -> None:
    assert parse_database_url(text) == parsed
    assert sqlite_path(text) == (parsed.location if parsed.kind == "sqlite" else None)


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_anything_else_is_refused_by_every_user_of_a_database_url(text: str) -> None:
    message = re.escape("unsupported database URL %r" % text)
    for use in (parse_database_url, sqlite_path, open_storage, open_run_log, crawl_lock):
        with pytest.raises(ValueError, match=message):
            use(text)


def test_a_path_and_its_sqlite_url_open_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "p.db"
    first = open_storage(str(path))
    save(first, "s1", "https://a.example/1", "a", article("One"))
    first.close()
    second = open_storage("sqlite:///" + str(path))
    assert isinstance(second, SQLiteStorage) and second.path == str(path)
    assert second.counts() == {"stories": 1, "sightings": 1}
    second.close()
    runs = open_run_log("sqlite:///" + str(path))
    run_id = runs.start(["a"])
    runs.close()
    runs = open_run_log(str(path))
    assert [run.id for run in runs.recent()] == [run_id]
    runs.close()
    lock = crawl_lock("sqlite:///" + str(path))
    assert isinstance(lock, CrawlLock) and lock.path == Path(str(path) + ".lock")


def test_postgresql_urls_and_connections(postgres_url: str) -> None:  # noqa: F811
    import psycopg

    from aggregator.store.postgres import PostgresStorage

    for url in (postgres_url, "postgres://" + postgres_url.removeprefix("postgresql://")):
        storage = open_storage(url)
        assert isinstance(storage, PostgresStorage) and storage.counts() == {"stories": 0, "sightings": 0}
        storage.close()
        runs = open_run_log(url)
        runs.start(["a"])
        runs.close()
        assert isinstance(crawl_lock(url), PostgresCrawlLock)
    runs = open_run_log(postgres_url)
    assert len(runs.recent()) == 2
    runs.close()
    with psycopg.connect(postgres_url) as connection, pytest.raises(ValueError, match="autocommit"):
        PostgresStorage(connection)
    with pytest.raises(ValueError, match="CrawlLock locks a SQLite file"):
        CrawlLock(postgres_url)


def test_a_busy_postgresql_lock_never_shows_the_password(postgres_url: str) -> None:  # noqa: F811
    secret_url = postgres_url + ("&" if "?" in postgres_url else "?") + "password=hunter2"
    with crawl_lock(secret_url):
        with pytest.raises(LockBusy) as refused:
            crawl_lock(secret_url).acquire()
    assert "hunter2" not in str(refused.value) and "password=***" in str(refused.value)
