"""Tests for aggregator.dedup.partial and the passages of the band stores: pairs that wait for the crawl to settle
(partial copies, two templates around one article), digests told by their lines, and the memory, SQLite and
Redis stores answering the same.

The texts are written for these tests, not taken from a benchmark.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aggregator.dedup.bands import BandStore, MemoryBandStore
from aggregator.dedup.fingerprint import MAX_PASSAGES, Fingerprint, passages_of
from aggregator.dedup.index import StoryIndex
from aggregator.dedup.partial import HOLDERS_PER_PASSAGE
from aggregator.dedup.sqlite_bands import SQLiteBandStore
from tests.test_dedup_order import article, one_at_a_time, words

REDIS = os.environ.get("AGGREGATOR_TEST_REDIS")


@pytest.fixture(params=["memory", "sqlite", "sqlite-batched", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BandStore]:
    if request.param == "memory":
        yield MemoryBandStore(65)
    elif request.param.startswith("sqlite"):
        opened = SQLiteBandStore(tmp_path / "index.db", batch_size=100 if request.param.endswith("batched") else 1)
        yield opened
        opened.close()
    else:
        if not REDIS:
            pytest.skip("AGGREGATOR_TEST_REDIS is not set (run `scripts/services.sh start && . .services/env`)")
        from aggregator.dedup.redis_bands import RedisBandStore
        from aggregator.redis_client import redis_params

        # A database other tests do not flush, and keys of this test's own.
        prefix = "test-partial-%s" % uuid.uuid4().hex[:8]
        shared = RedisBandStore(65, redis_params(REDIS.rsplit("/", 1)[0] + "/10"), prefix=prefix)
        yield shared
        for key in shared.client.scan_iter(prefix + "*"):
            shared.client.delete(key)
        shared.close()


def test_passages_are_the_long_lines_first_and_last(tmp_path: Path) -> None:
    text = "\n".join(["A headline", *("line %d " % n + words(random.Random(n), 9) for n in range(60))])
    passages = passages_of(text)
    assert len(passages) == MAX_PASSAGES and all(count >= 8 for _, count in passages)
    every = passages_of(text.replace("\n", "\n\n"))  # blank lines change nothing
    assert every == passages
    keys = [key for key, _ in passages_of("\n".join("line %d " % n + words(random.Random(n), 9) for n in range(60)))]
    assert [key for key, _ in passages] == keys[:32] + keys[-16:]
    # The same line in any case and punctuation is the same passage; a short line is none.
    assert passages_of("THE SAME LINE, READ TWICE: ONE TWO THREE FOUR") == passages_of(
        "the same line read twice one two three four")
    assert passages_of("Too short a line.") == ()


def test_stores_answer_who_holds_a_passage(store: BandStore) -> None:
    index = StoryIndex(store=store)
    rng = random.Random(2)
    shared = words(rng, 20) + "."
    texts = {"a": "\n".join([shared, *article(rng, 3)]), "b": "\n".join([*article(rng, 3), shared])}
    for story_id, text in texts.items():
        index.insert(story_id, index.fingerprint(text))
    index.flush()
    key = passages_of(shared)[0][0]
    own = passages_of(texts["a"])[1][0]
    held = store.holders([key, own, 12345], HOLDERS_PER_PASSAGE)
    assert sorted(held) == sorted([key, own])  # a passage held by none is left out
    assert sorted(candidate.story_id for candidate in held[key] or []) == ["a", "b"]
    assert [candidate.story_id for candidate in held[own] or []] == ["a"]
    assert store.holders([key], 2) == {key: None}  # held by the limit or more: furniture, fingerprints unread
    index.remove("a")
    index.flush()
    assert [candidate.story_id for candidate in store.holders([key], 32)[key] or []] == ["b"]
    assert store.holders([own], 32) == {}
    index.merge("c", ["b"])  # merged: its passages follow it
    assert [candidate.story_id for candidate in store.holders([key], 32)[key] or []] == ["c"]


def test_stores_keep_deferred_pairs_until_taken(store: BandStore) -> None:
    assert store.take_deferred() == []
    store.defer([("aa", "bb", 0.9), ("cc", "dd", 0.85)])
    store.defer([("aa", "bb", 0.95)])  # the same pair again: kept once
    store.flush()
    assert sorted(store.take_deferred()) == [("aa", "bb", 0.95), ("cc", "dd", 0.85)]
    assert store.take_deferred() == []


def test_deferred_pairs_survive_a_reopen(tmp_path: Path) -> None:
    rng = random.Random(17)
    original = article(rng, 8)
    index = StoryIndex(store=SQLiteBandStore(tmp_path / "index.db"))
    assert index.add("a-original", index.fingerprint("\n".join(original))) is None
    assert index.add("b-half", index.fingerprint("\n".join(original[:4]))) is None  # a partial copy: it waits
    index.close()  # the crawl ends without settling (killed)
    reopened = StoryIndex(store=SQLiteBandStore(tmp_path / "index.db"))
    [match] = reopened.settle()  # the next crawl to settle decides it
    assert (match.story_id, match.merges, match.rule) == ("a-original", ("b-half",), "near_containment")
    assert reopened.settle() == []


def test_a_digest_with_short_pieces_is_told_by_its_lines_in_any_order() -> None:
    rng = random.Random(23)
    stories = {name: article(rng, 6) for name in ("first", "second", "third")}
    short = article(rng, 2)  # a short item, reprinted whole
    # A round-up: the short item whole and the lead of each long story, which MinHash bands do not surface.
    roundup = "\n".join(["Evening briefing", *short, *(paragraphs[0] for paragraphs in stories.values())])
    docs = [{"id": name, "text": "\n".join(paragraphs)} for name, paragraphs in stories.items()]
    docs += [{"id": "short", "text": "\n".join(short)}, {"id": "roundup", "text": roundup}]
    index = StoryIndex()
    assert index.judge(index.fingerprint(docs[3]["text"]), index.fingerprint(roundup)) is not None
    for name in stories:  # its other pieces share no band with it
        fp, other = index.fingerprint(roundup), index.fingerprint("\n".join(stories[name]))
        assert not set(index.band_hashes(fp)) & set(index.band_hashes(other))
    for order in itertools.permutations(docs):
        assert one_at_a_time(StoryIndex(), list(order)) == {doc["id"]: doc["id"] for doc in docs}


def templated(body: list[str], furniture: list[str]) -> str:
    return "\n".join(body + furniture)


def test_one_article_in_two_templates_joins_when_their_furniture_shows_in_any_order() -> None:
    rng = random.Random(29)
    furniture = {name: [words(rng, 30) + "." for _ in range(3)] for name in ("left", "right")}
    story = article(rng, 3)
    copies = [{"id": "copy-left", "text": templated(story, furniture["left"])},
              {"id": "copy-right", "text": templated(story, furniture["right"])}]
    others = [{"id": "%s-%d" % (name, n), "text": templated(article(rng, 3), furniture[name])}
              for name in furniture for n in range(4)]
    index = StoryIndex()
    whole = [index.fingerprint(doc["text"]) for doc in copies]
    assert index.judge(*whole) is None  # half of each copy is its template's furniture
    expected = {doc["id"]: doc["id"] for doc in others} | {"copy-left": "copy-left", "copy-right": "copy-left"}
    for seed in range(6):
        order = copies + others
        random.Random(seed).shuffle(order)
        assert one_at_a_time(StoryIndex(), order) == expected
    # With too few other stories on the templates, their lines are not furniture: the copies stay apart.
    few = copies + [doc for doc in others if doc["id"].endswith(("-0", "-1"))]
    assert one_at_a_time(StoryIndex(), few)["copy-right"] == "copy-right"


def test_different_articles_on_one_template_stay_apart() -> None:
    rng = random.Random(31)
    furniture = [words(rng, 30) + "." for _ in range(6)]  # more template than article
    docs = [{"id": "page-%d" % n, "text": templated(article(rng, 2), furniture)} for n in range(7)]
    for order in (docs, docs[::-1]):
        assert one_at_a_time(StoryIndex(), order) == {doc["id"]: doc["id"] for doc in docs}


def test_settle_skips_texts_no_longer_stored() -> None:
    rng = random.Random(37)
    original = article(rng, 8)
    index = StoryIndex()
    index.add("a", index.fingerprint("\n".join(original)))
    half: Callable[[], Fingerprint] = lambda: index.fingerprint("\n".join(original[:4]))  # noqa: E731
    decision = index.decide(half())
    assert decision.match is None and [item.story_id for item in decision.partial] == ["a"]
    index.defer(half(), decision.partial)  # deferred, but its save rolled back: never inserted
    assert index.settle() == []
