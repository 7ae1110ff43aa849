"""SQLite storage: stories with sightings, idempotent saves, filters and order."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from aggregator.extract.extractor import Article
from aggregator.store.backends import open_storage
from aggregator.store.sqlite import SQLiteStorage


def article(title: str, date: str | None = None, text: str = "Body text. " * 30) -> Article:
    return Article(text=text, title=title, authors=("A. Writer",), date_published=date, tags=("x",),
                   language="en")


def save(storage: SQLiteStorage, story_id: str, url: str, source: str, art: Article, **kw: object) -> str:
    return storage.save(story_id=story_id, url=url, source=source, article=art, text_hash="h",
                        similarity=kw.get("similarity"), rule=kw.get("rule"),  # type: ignore[arg-type]
                        fingerprint=kw.get("fingerprint"))  # type: ignore[arg-type]


def test_new_story_then_sighting_then_seen(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "a.db")
    assert save(storage, "s1", "https://a.example/1", "a", article("One"), fingerprint=b"\x01") == "new"
    assert save(storage, "s1", "https://b.example/1", "b", article("One (copy)"), similarity=0.9,
                rule="near_jaccard", fingerprint=b"\x02") == "sighting"
    assert save(storage, "s1", "https://b.example/1", "b", article("One (copy)")) == "seen"
    assert storage.counts() == {"stories": 1, "sightings": 2}
    assert storage.story_for_url("https://b.example/1") == "s1"
    assert storage.story_for_url("https://c.example/1") is None
    (story,) = storage.stories()
    assert story.title == "One" and story.source == "a" and story.authors == ("A. Writer",)
    sightings = storage.sightings(["s1"])["s1"]
    assert [(s.url, s.rule, s.similarity) for s in sightings] == [
        ("https://a.example/1", "first", None), ("https://b.example/1", "near_jaccard", 0.9)]
    assert list(storage.fingerprints()) == [("s1", b"\x01"), ("s1", b"\x02")]


def test_persists_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "p.db"
    first = open_storage(str(path))
    save(first, "s1", "https://a.example/1", "a", article("One"))
    first.close()
    second = open_storage("sqlite:///" + str(path))
    assert second.counts() == {"stories": 1, "sightings": 1}
    row = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert row == ("1",)


def test_newest_first_with_limit_since_and_source(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "f.db")
    save(storage, "old", "https://a.example/old", "a", article("Old", "2026-11-01T00:00:00+00:00"))
    save(storage, "new", "https://a.example/new", "a", article("New", "2026-11-20T00:00:00+00:00"))
    save(storage, "mid", "https://b.example/mid", "b", article("Mid", "2026-11-10T00:00:00+00:00"))
    save(storage, "old", "https://b.example/old-copy", "b", article("Old copy"))
    assert [s.id for s in storage.stories()] == ["new", "mid", "old"]
    assert [s.id for s in storage.stories(limit=2)] == ["new", "mid"]
    assert [s.id for s in storage.stories(since="2026-11-05")] == ["new", "mid"]
    assert [s.id for s in storage.stories(source="b")] == ["mid", "old"]


def test_a_failed_save_leaves_nothing_half_written(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "t.db")
    broken = Article(text=None, title="No text")  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        save(storage, "s1", "https://a.example/1", "a", broken)
    assert storage.counts() == {"stories": 0, "sightings": 0}


def test_unsupported_database_url() -> None:
    with pytest.raises(ValueError, match="unsupported database URL 'mysql://x'"):
        open_storage("mysql://x")


def committed(path: Path) -> tuple[int, int]:
    """(stories, dedup fingerprints) another connection sees: what a crash would leave."""
    other = sqlite3.connect(path)
    try:
        stories = other.execute("SELECT count(*) FROM stories").fetchone()[0]
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexed = other.execute("SELECT count(*) FROM dedup_fingerprints").fetchone()[0] \
            if "dedup_fingerprints" in tables else 0
        return stories, indexed
    finally:
        other.close()


def test_batched_saves_commit_together_when_the_batch_is_full(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    storage = SQLiteStorage(path, batch_size=3, batch_seconds=3600)
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    save(storage, "s2", "https://a.example/2", "a", article("Two"))
    assert storage.counts() == {"stories": 2, "sightings": 2}  # the writer sees its open batch
    assert committed(path) == (0, 0)
    save(storage, "s3", "https://a.example/3", "a", article("Three"))
    assert committed(path) == (3, 0)
    save(storage, "s4", "https://a.example/4", "a", article("Four"))
    storage.close()  # closing commits the partial batch
    assert committed(path) == (4, 0)


def test_an_old_batch_commits_on_the_timer_check(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    storage = SQLiteStorage(path, batch_size=100, batch_seconds=0.05)
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    storage.commit_if_due()
    assert committed(path) == (0, 0)
    time.sleep(0.06)
    storage.commit_if_due()
    assert committed(path) == (1, 0)


def test_a_failing_save_in_a_batch_rolls_back_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    storage = SQLiteStorage(path, batch_size=10)
    save(storage, "s1", "https://a.example/1", "a", article("One"))
    with pytest.raises(AttributeError):
        save(storage, "s2", "https://a.example/2", "a", None)  # type: ignore[arg-type]
    save(storage, "s3", "https://a.example/3", "a", article("Three"))
    storage.close()
    assert committed(path) == (2, 0)
    assert sorted(s.id for s in open_storage(str(path)).stories()) == ["s1", "s3"]


def test_dedup_index_rows_join_the_storage_batch(tmp_path: Path) -> None:
    from aggregator.dedup.index import StoryIndex
    from aggregator.dedup.sqlite_bands import SQLiteBandStore

    path = tmp_path / "d.db"
    storage = SQLiteStorage(path, batch_size=2, batch_seconds=3600)
    index = StoryIndex(store=SQLiteBandStore(storage.db))
    for n in (1, 2):
        storage.begin()
        text = "A story about the harbour bridge number %d and the people who built it over years. " % n * 5
        index.insert("s%d" % n, index.fingerprint(text))
        assert committed(path) == (0, 0)  # the index rows wait for the item's story
        save(storage, "s%d" % n, "https://a.example/%d" % n, "a", article("N%d" % n, text=text))
    assert committed(path) == (2, 2)
    index.close()
    storage.close()
