"""Full-text search benchmark: query latency and index size per story over a generated corpus.

Writes N stories (default 100,000; about 300 words each, Zipf-distributed pseudo-words mixed with function words
and place names, as `aggregator.testing.sitegen` writes them; one story in ten also seen elsewhere under another
title) through the storage's real write path, which keeps the search rows in step; then runs each kind of query
(a word every story has, common, mid-frequency and rare words, two words, a phrase, a prefix) and prints, per
kind, how many stories match and the latency of `aggregator.store.search.search` (limit 20, snippets
included): median and p99. Then the size of the search tables per story.

    python bench/search.py [--stories 100000] [--words 300] [--queries 100] [--db PATH|postgresql://...] [--keep]

SQLite (a new file in a temporary folder) by default; `--db postgresql://...` names an empty PostgreSQL database
instead (every save commits there: give fewer stories).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.items import Article  # noqa: E402
from aggregator.store.backends import open_storage, parse_database_url  # noqa: E402
from aggregator.store.dialect import Statements  # noqa: E402
from aggregator.store.search import search  # noqa: E402
from aggregator.store.search_query import parse_query  # noqa: E402
from aggregator.testing.sitegen import FUNCTION_WORDS, PLACES, vocabulary  # noqa: E402

SOURCES = ["astanatimes", "timesca", "commonspace", "akipress", "kun", "trend"]
WORDS = vocabulary(20_000, seed=7)


class Corpus:
    """Stories drawn from one seeded generator: word ranks follow Zipf (weight 1 / (rank + 10))."""

    def __init__(self, seed: int) -> None:
        weights = 1.0 / (np.arange(len(WORDS)) + 10.0)
        self.cumulative = np.cumsum(weights / weights.sum())
        self.rng = np.random.default_rng(seed)
        self.fillers = np.array(FUNCTION_WORDS + PLACES, dtype=object)
        self.words = np.array(WORDS, dtype=object)

    def words_of(self, count: int) -> list[str]:
        ranks = np.searchsorted(self.cumulative, self.rng.random(count))
        words = self.words[np.minimum(ranks, len(WORDS) - 1)]
        filler = self.rng.random(count) < 0.4  # function words and places, as in running text
        words[filler] = self.fillers[self.rng.integers(0, len(self.fillers), int(filler.sum()))]
        return list(words.tolist())

    def text(self, count: int, sentence: int = 25) -> str:
        words = self.words_of(count)
        return " ".join(" ".join(words[at:at + sentence]) + "." for at in range(0, count, sentence))


def write(db: str, stories: int, words: int, seed: int) -> float:
    """Save `stories` stories (and a second sighting of one in ten); the seconds it took."""
    corpus = Corpus(seed)
    storage = open_storage(db, batch_size=1000)
    started = time.perf_counter()
    try:
        for n in range(stories):
            day = "2026-%02d-%02d" % (1 + n % 12, 1 + n % 28)
            body = corpus.text(words)
            article = Article(text=body, title=" ".join(corpus.words_of(8)).capitalize(), date_published=day,
                              language="en")
            storage.save(story_id="s%d" % n, url="https://%s.example/%d" % (SOURCES[n % 6], n), source=SOURCES[n % 6],
                         article=article, text_hash="h%d" % n, similarity=None, rule=None, fingerprint=None)
            if n % 10 == 0:
                copy = Article(text=body, title=" ".join(corpus.words_of(8)).capitalize(), date_published=day)
                storage.save(story_id="s%d" % n, url="https://%s.example/c%d" % (SOURCES[(n + 1) % 6], n),
                             source=SOURCES[(n + 1) % 6], article=copy, text_hash="c%d" % n, similarity=0.9,
                             rule="near_jaccard", fingerprint=None)
            if n % 10_000 == 9_999:
                print("  %d stories written, %.0f s" % (n + 1, time.perf_counter() - started), flush=True)
        storage.commit()
    finally:
        storage.close()
    return time.perf_counter() - started


def queries(count: int, seed: int, sample_texts: list[str]) -> dict[str, list[str]]:
    """`count` queries of each kind; phrases are two neighbouring words of `sample_texts` (stored texts)."""
    rng = random.Random(seed)
    pairs = [text.replace(".", "").split() for text in sample_texts]
    return {
        "in every story: 'the'": ["the"] * count,
        "common word (rank 1-20)": [rng.choice(WORDS[:20]) for _ in range(count)],
        "mid word (rank 500-1000)": [rng.choice(WORDS[500:1000]) for _ in range(count)],
        "rare word (rank 15k-20k)": [rng.choice(WORDS[15_000:]) for _ in range(count)],
        "two words, common + mid": ["%s %s" % (rng.choice(WORDS[:20]), rng.choice(WORDS[500:1000]))
                                    for _ in range(count)],
        "phrase of two words": ['"%s %s"' % tuple(words[i:i + 2]) for words in (rng.choice(pairs) for _ in
                                range(count)) for i in [rng.randrange(len(words) - 1)]],
        "prefix (3 letters)*": ["%s*" % rng.choice(WORDS[500:1000])[:3] for _ in range(count)],
    }


def matches(db: Statements, query: str) -> int:
    parsed = parse_query(query)
    if db.dialect.name == "sqlite":
        row = db.execute("SELECT count(*) FROM story_search WHERE story_search MATCH ?", (parsed.fts5(),)).fetchone()
        return row[0]
    return db.execute("SELECT count(*) AS n FROM story_search WHERE document @@ to_tsquery('aggregator_search', ?)",
                      (parsed.tsquery(),)).fetchone()["n"]


def measure(db: str, kinds: dict[str, list[str]]) -> list[tuple[str, float, float, float]]:
    """Per kind: (kind, median matching stories, median ms, p99 ms); one warm-up run of each query first."""
    storage: Any = open_storage(db, read_only=True)
    statements = Statements(storage.db, storage.dialect)
    rows = []
    try:
        everything: list[float] = []
        for kind, texts in kinds.items():
            for text in texts[:5]:
                search(storage, text, limit=20)
            times = []
            for text in texts:
                started = time.perf_counter()
                search(storage, text, limit=20)
                times.append((time.perf_counter() - started) * 1000)
            everything += times
            found = statistics.median(matches(statements, text) for text in texts[:20])
            rows.append((kind, found, statistics.median(times), percentile(times, 99)))
        rows.append(("all queries", float("nan"), statistics.median(everything), percentile(everything, 99)))
    finally:
        storage.close()
    return rows


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def sizes(db: str, stories: int) -> list[tuple[str, float]]:
    """(what, bytes per story) of the search tables, and of the stories table for comparison."""
    storage: Any = open_storage(db, read_only=True)
    try:
        if parse_database_url(db).kind == "sqlite":
            pages = {row[0]: row[1] for row in storage.db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
            index = sum(size for name, size in pages.items() if name.startswith("story_search")
                        and name != "story_search_content") + pages.get("sqlite_autoindex_story_search_rows_1", 0)
            content = pages.get("story_search_content", 0)
            out = [("search index (FTS5 segments, doc sizes, row map)", index),
                   ("search content (FTS5's copy of titles and text, for snippets)", content),
                   ("search total", index + content), ("stories table (for comparison)", pages.get("stories", 0))]
        else:
            row = storage.db.execute(
                "SELECT pg_table_size('story_search') AS search_table, pg_indexes_size('story_search') AS indexes,"
                " pg_total_relation_size('stories') AS stories").fetchone()
            out = [("search table (tsvectors, sighting titles)", row["search_table"]),
                   ("search indexes (GIN, primary key)", row["indexes"]),
                   ("search total", row["search_table"] + row["indexes"]),
                   ("stories table (for comparison)", row["stories"])]
    finally:
        storage.close()
    return [(what, size / stories) for what, size in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=300, help="words per story text")
    parser.add_argument("--queries", type=int, default=100, help="queries of each kind")
    parser.add_argument("--db", default=None, help="a new SQLite path, or an empty PostgreSQL database URL")
    parser.add_argument("--keep", action="store_true", help="keep the generated SQLite database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="search-bench-"))
    db = args.db or str(folder / "search.db")
    try:
        print("writing %d stories (%d words each) into %s" % (args.stories, args.words, db), flush=True)
        seconds = write(db, args.stories, args.words, args.seed)
        print("written in %.1f s (%.0f stories/s, search rows included)\n" % (seconds, args.stories / seconds))
        reader = open_storage(db, read_only=True)
        try:
            texts = [story.text[:400] for story in reader.stories(limit=200)]
        finally:
            reader.close()
        kinds = queries(args.queries, args.seed, texts)
        print("%-28s %10s %10s %10s" % ("query", "matches", "median ms", "p99 ms"))
        for kind, found, median, p99 in measure(db, kinds):
            print("%-28s %10s %10.2f %10.2f" % (kind, "" if found != found else "%.0f" % found, median, p99))
        print("\nbytes per story")
        for what, per_story in sizes(db, args.stories):
            print("  %-64s %10.0f" % (what, per_story))
    finally:
        if args.keep and not args.db:
            print("\nkept %s" % db)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
