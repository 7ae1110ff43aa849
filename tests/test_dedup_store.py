"""Tests for aggregator.dedup.bands through StoryIndex: memory and SQLite band stores agree, persist, window, remove."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator.dedup.bands import MemoryBandStore
from aggregator.dedup.index import StoryIndex, dedup_corpus
from aggregator.dedup.sqlite_bands import SQLiteBandStore
from aggregator.dedup.stores import open_band_store
from tests.test_dedup import BOILERPLATE_BOTTOM, BOILERPLATE_TOP, edit_words, join, make_article, make_vocabulary


@pytest.fixture
def vocabulary() -> list[str]:
    return make_vocabulary(random.Random(5))


@pytest.fixture
def articles(vocabulary: list[str]) -> list[list[str]]:
    rng = random.Random(6)
    return [make_article(rng, vocabulary) for _ in range(8)]


def corpus(articles: list[list[str]], vocabulary: list[str]) -> list[dict]:
    docs = [{"id": "orig-%d" % n, "text": join(paragraphs)} for n, paragraphs in enumerate(articles)]
    docs += [
        {"id": "trunc-0", "text": join(articles[0][:4])},
        {"id": "boiler-1", "text": join(BOILERPLATE_TOP + articles[1] + BOILERPLATE_BOTTOM)},
        {"id": "edited-2", "text": edit_words(random.Random(1), join(articles[2]), vocabulary, 0.06)},
        {"id": "exact-3", "text": join(articles[3]).upper()},
        {"id": "roundup", "text": join([articles[4][0], articles[5][0], articles[6][0]])},
        {"id": "empty", "text": ""},
        {"id": "empty-again", "text": "  "},
    ]
    return docs


STORES: dict[str, Callable[[Path], object]] = {
    "memory": lambda tmp: MemoryBandStore(65),
    "sqlite": lambda tmp: SQLiteBandStore(tmp / "index.db"),
    "sqlite-batched": lambda tmp: SQLiteBandStore(tmp / "index.db", batch_size=100),
}


def test_backends_give_the_same_matches(tmp_path: Path, articles: list[list[str]], vocabulary: list[str]) -> None:
    docs = corpus(articles, vocabulary)
    results = {name: list(dedup_corpus(docs, StoryIndex(store=make(tmp_path / name))))  # type: ignore[arg-type]
               for name, make in STORES.items()}
    assert results["memory"] == results["sqlite"] == results["sqlite-batched"]
    stories = dict(results["memory"])
    # A story is named by its smallest document id, whichever came first.
    assert stories["trunc-0"] == "orig-0" and stories["boiler-1"] == stories["orig-1"] == "boiler-1"
    assert stories["edited-2"] == stories["orig-2"] == "edited-2" and stories["exact-3"] == "exact-3"
    assert stories["roundup"] == "roundup" and stories["empty-again"] == "empty"


def test_sqlite_index_persists_across_reopen(tmp_path: Path, articles: list[list[str]]) -> None:
    path = tmp_path / "aggregator.db"
    index = StoryIndex(store=SQLiteBandStore(path, batch_size=50))
    index.insert_many(("story-%d" % n, index.fingerprint(join(p)), "2026-01-0%dT00:00:00Z" % (n + 1))
                      for n, p in enumerate(articles))
    index.close()
    reopened = StoryIndex(store=SQLiteBandStore(path))
    assert reopened.store._db.in_transaction is False  # type: ignore[attr-defined]
    match = reopened.match(reopened.fingerprint(join(articles[5][:4])))
    assert match is not None and match.story_id == "story-5"
    assert "story-5" in reopened and len(reopened) == len(articles)
    reopened.close()


def test_opening_reads_nothing_eagerly(tmp_path: Path, articles: list[list[str]]) -> None:
    path = tmp_path / "aggregator.db"
    index = StoryIndex(store=SQLiteBandStore(path))
    for n, paragraphs in enumerate(articles):
        index.insert("story-%d" % n, index.fingerprint(join(paragraphs)))
    index.close()
    connection = sqlite3.connect(path)
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    StoryIndex(store=SQLiteBandStore(connection))
    assert not [s for s in statements if "dedup_fingerprints" in s and s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in statements if "dedup_bands" in s and s.lstrip().upper().startswith("SELECT")]


def test_sqlite_store_shares_the_stories_database(tmp_path: Path, articles: list[list[str]]) -> None:
    connection = sqlite3.connect(tmp_path / "aggregator.db", isolation_level=None)
    connection.execute("CREATE TABLE stories (id TEXT PRIMARY KEY)")
    index = StoryIndex(store=SQLiteBandStore(connection))
    index.insert("s", index.fingerprint(join(articles[0])))
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"stories", "dedup_meta", "dedup_bands", "dedup_fingerprints"} <= tables
    assert not connection.in_transaction  # batch_size=1: every insert is committed


def test_layout_mismatch_is_refused(tmp_path: Path) -> None:
    StoryIndex(store=SQLiteBandStore(tmp_path / "index.db")).close()
    with pytest.raises(ValueError, match="layout"):
        StoryIndex(store=SQLiteBandStore(tmp_path / "index.db"), bands=32, rows=8)


@pytest.mark.parametrize("name", sorted(STORES))
def test_remove(tmp_path: Path, articles: list[list[str]], name: str) -> None:
    index = StoryIndex(store=STORES[name](tmp_path))  # type: ignore[arg-type]
    for n, paragraphs in enumerate(articles[:3]):
        index.insert("story-%d" % n, index.fingerprint(join(paragraphs)))
    index.insert("story-1", index.fingerprint(join(articles[1][:3])))
    index.remove("story-1")
    assert "story-1" not in index and len(index) == 2
    assert index.match(index.fingerprint(join(articles[1]))) is None
    assert index.match(index.fingerprint(join(articles[1][:3]))) is None
    assert index.match(index.fingerprint(join(articles[2]))).story_id == "story-2"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        index.remove("story-1")
    if isinstance(index.store, SQLiteBandStore):
        index.flush()
        assert index.store._db.execute("SELECT count(*) FROM dedup_bands").fetchone()[0] == 2 * 65
        passages = sum(len(index.fingerprint(join(paragraphs)).passages) for paragraphs in (articles[0], articles[2]))
        assert index.store._db.execute("SELECT count(*) FROM dedup_passages").fetchone()[0] == passages > 0


@pytest.mark.parametrize("name", sorted(STORES))
def test_window_ignores_older_fingerprints(tmp_path: Path, articles: list[list[str]], name: str) -> None:
    index = StoryIndex(store=STORES[name](tmp_path))  # type: ignore[arg-type]
    index.insert("old", index.fingerprint(join(articles[0])), when="2026-01-01T00:00:00+00:00")
    index.insert("new", index.fingerprint(join(articles[1])), when="2026-03-01T12:00:00+02:00")
    index.insert("undated", index.fingerprint(join(articles[2])))
    cutoff = "2026-02-01T00:00:00Z"
    assert index.match(index.fingerprint(join(articles[0][:4])), not_before=cutoff) is None
    assert index.match(index.fingerprint(join(articles[0][:4]))).story_id == "old"  # type: ignore[union-attr]
    assert index.match(index.fingerprint(join(articles[1])), not_before=cutoff).story_id == "new"  # type: ignore
    assert index.match(index.fingerprint(join(articles[2])), not_before=cutoff).story_id == "undated"  # type: ignore
    with pytest.raises(ValueError, match="yesterday"):
        index.match(index.fingerprint(join(articles[0])), not_before="yesterday")


def test_batched_insert_is_visible_before_and_durable_after_flush(tmp_path: Path, articles: list[list[str]]) -> None:
    path = tmp_path / "index.db"
    index = StoryIndex(store=SQLiteBandStore(path, batch_size=1000))
    for n, paragraphs in enumerate(articles):
        index.insert("story-%d" % n, index.fingerprint(join(paragraphs)))
    assert index.store._db.in_transaction  # type: ignore[attr-defined]  # nothing committed yet (< batch_size inserts)
    assert index.match(index.fingerprint(join(articles[3][:4]))).story_id == "story-3"  # type: ignore[union-attr]
    index.flush()
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(DISTINCT story_id) FROM dedup_fingerprints").fetchone()[0] == len(articles)
    assert index.insert_many([]) == 0


def test_same_text_twice_is_stored_once(tmp_path: Path, articles: list[list[str]]) -> None:
    index = StoryIndex(store=SQLiteBandStore(tmp_path / "index.db"))
    fp = index.fingerprint(join(articles[0]))
    index.insert("s", fp)
    index.insert("s", fp)
    assert index.store.fingerprints("s") == [fp.to_bytes()]


@pytest.mark.parametrize(("config", "kind"), [
    (None, MemoryBandStore), ("memory://", MemoryBandStore), ({"type": "memory"}, MemoryBandStore),
])
def test_open_band_store(config: object, kind: type) -> None:
    assert isinstance(open_band_store(config, 65), kind)  # type: ignore[arg-type]


def test_open_band_store_sqlite_url(tmp_path: Path) -> None:
    store = open_band_store("sqlite:///%s" % (tmp_path / "x.db"), 65)
    assert isinstance(store, SQLiteBandStore)
    store.close()


@pytest.mark.parametrize(("config", "bad"), [
    ("ftp://x", "'ftp://x'"), ({"type": "nope"}, "'nope'"),
])
def test_open_band_store_rejects_unknown(config: object, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        open_band_store(config, 65)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "bad"), [({"batch_size": 0}, "0"), ({"cache_mb": -1}, "-1"),
                                             ({"db": ""}, "''")])
def test_sqlite_store_rejects_bad_arguments(tmp_path: Path, kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        SQLiteBandStore(**{"db": tmp_path / "x.db", **kwargs})


@pytest.mark.parametrize(("kwargs", "bad"), [({"bands": 0}, "0"), ({"bands": 100, "rows": 4}, "100"),
                                             ({"rows": 0}, "0")])
def test_index_rejects_bad_band_layout(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        StoryIndex(**kwargs)


def test_index_takes_a_store_config_or_url(tmp_path: Path) -> None:
    index = StoryIndex(store={"type": "sqlite", "db": str(tmp_path / "a.db"), "batch_size": 10})
    assert isinstance(index.store, SQLiteBandStore) and index.store.batch_size == 10
    index.close()
    assert isinstance(StoryIndex(store="sqlite:///%s" % (tmp_path / "a.db")).store, SQLiteBandStore)
    assert isinstance(StoryIndex(store="memory://").store, MemoryBandStore)
