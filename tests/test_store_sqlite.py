"""SQLite only: saves batched in one transaction, each item in a savepoint of its own (with what its `then`
wrote), and the dedup index rows on the storage's connection joining the batch."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from aggregator.store.backends import open_storage
from aggregator.store.sqlite import SQLiteStorage
from tests.store_backends import article, save


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
    reopened = open_storage(str(path))
    assert sorted(s.id for s in reopened.stories()) == ["s1", "s3"]
    reopened.close()


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


def test_a_failing_then_in_a_batch_rolls_back_its_item_alone(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    storage = SQLiteStorage(path, batch_size=10, batch_seconds=3600)
    storage.db.execute("CREATE TABLE side_rows (note TEXT NOT NULL)")

    def then(note: str, fail: bool = False) -> None:
        storage.db.execute("INSERT INTO side_rows (note) VALUES (?)", (note,))
        if fail:
            raise RuntimeError("the index write failed")

    save(storage, "s1", "https://a.example/1", "a", article("One"), then=lambda: then("one"))
    with pytest.raises(RuntimeError):
        save(storage, "s2", "https://a.example/2", "a", article("Two"), then=lambda: then("two", fail=True))
    save(storage, "s3", "https://a.example/3", "a", article("Three"), then=lambda: then("three"))
    assert storage.db.in_transaction  # all in the one open batch
    storage.close()
    other = sqlite3.connect(path)
    try:
        assert other.execute("SELECT id FROM stories ORDER BY id").fetchall() == [("s1",), ("s3",)]
        assert other.execute("SELECT note FROM side_rows ORDER BY note").fetchall() == [("one",), ("three",)]
    finally:
        other.close()


@pytest.mark.parametrize("batch_size", [1, 10])
def test_dedup_index_rows_written_by_then_share_the_fate_of_their_story(tmp_path: Path, batch_size: int) -> None:
    from aggregator.dedup.index import StoryIndex
    from aggregator.dedup.sqlite_bands import SQLiteBandStore

    path = tmp_path / "i.db"
    storage = SQLiteStorage(path, batch_size=batch_size, batch_seconds=3600)
    index = StoryIndex(store=SQLiteBandStore(storage.db, cache_mb=None))
    for n, fails in ((1, False), (2, True), (3, False)):
        text = "A story about the harbour bridge number %d and the people who built it over years. " % n * 5
        fingerprint = index.fingerprint(text)

        def then(story_id: str = "s%d" % n, fails: bool = fails, fingerprint: Any = fingerprint) -> None:
            index.insert(story_id, fingerprint)
            if fails:
                raise RuntimeError("the story's save failed after its index rows")

        if fails:
            with pytest.raises(RuntimeError):
                save(storage, "s%d" % n, "https://a.example/%d" % n, "a", article("N", text=text), then=then)
        else:
            save(storage, "s%d" % n, "https://a.example/%d" % n, "a", article("N", text=text), then=then)
    index.close()
    storage.close()
    assert committed(path) == (2, 2)
