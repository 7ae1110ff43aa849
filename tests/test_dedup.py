"""Tests for aggregator.dedup.index: fingerprints, the copy/not-a-copy rule, the story index and corpus dedup."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from aggregator.dedup.fingerprint import Fingerprint, normalize_text, shingle_hashes, text_hash
from aggregator.dedup.index import Match, StoryIndex, dedup_corpus

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "pe", "zo", "gu", "fa", "hi", "jo", "be"]
BOILERPLATE_TOP = [
    "Share on Facebook Share on X Share by email",
    "We use cookies to give you the best experience on our site. Accept all cookies or manage settings",
]
BOILERPLATE_BOTTOM = [
    "Sign up for our morning newsletter and get the day's top stories delivered to your inbox",
    "Related articles: Markets rally as rates hold; Council approves new budget; Storm closes coastal roads",
    "© 2025 All rights reserved. Terms Privacy Contact",
]


def make_vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_article(rng: random.Random, vocabulary: list[str], paragraphs: int = 6) -> list[str]:
    """Paragraphs of pseudo-words with a Zipf-ish skew, like real text."""
    weights = [1.0 / (rank + 10) for rank in range(len(vocabulary))]
    return [" ".join(rng.choices(vocabulary, weights, k=rng.randint(40, 70))) + "."
            for _ in range(paragraphs)]


def join(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def edit_words(rng: random.Random, text: str, vocabulary: list[str], rate: float) -> str:
    words = text.split()
    for _ in range(int(len(words) * rate)):
        position = rng.randrange(len(words))
        operation = rng.choice(("delete", "insert", "substitute"))
        if operation == "delete" and len(words) > 1:
            del words[position]
        elif operation == "insert":
            words.insert(position, rng.choice(vocabulary))
        else:
            words[position] = rng.choice(vocabulary)
    return " ".join(words)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20250101)


@pytest.fixture
def vocabulary(rng: random.Random) -> list[str]:
    return make_vocabulary(rng)


@pytest.fixture
def articles(rng: random.Random, vocabulary: list[str]) -> list[list[str]]:
    return [make_article(rng, vocabulary) for _ in range(6)]


@pytest.fixture
def index(articles: list[list[str]]) -> StoryIndex:
    index = StoryIndex()
    for number, paragraphs in enumerate(articles):
        index.insert("story-%d" % number, index.fingerprint(join(paragraphs)))
    return index


def test_normalize_text_and_text_hash() -> None:
    assert normalize_text("  Hello,   WORLD!\n\nＡＢＣ — ok ") == "hello world abc ok"
    assert text_hash("Hello, world!") == text_hash("hello   WORLD")
    assert text_hash("Hello, world!") != text_hash("Hello, there!")
    assert len(text_hash("x")) == 40 and int(text_hash("x"), 16) >= 0


def test_exact_copy_matches_by_text_hash(index: StoryIndex, articles: list[list[str]]) -> None:
    copy = join(articles[0]).upper().replace("\n\n", "\n")
    match = index.match(index.fingerprint(copy))
    assert match == Match(story_id="story-0", similarity=1.0, rule="text_hash")


def test_truncated_copy_matches(index: StoryIndex, articles: list[list[str]]) -> None:
    match = index.match(index.fingerprint(join(articles[1][:4])))
    assert match is not None and match.story_id == "story-1"


def test_original_matches_its_truncated_copy_seen_first(articles: list[list[str]]) -> None:
    index = StoryIndex()
    index.insert("truncated", index.fingerprint(join(articles[1][:4])))
    match = index.match(index.fingerprint(join(articles[1])))
    assert match is not None and match.story_id == "truncated"


def test_wire_copy_matches(index: StoryIndex, articles: list[list[str]]) -> None:
    paragraphs = list(articles[2][:-1])
    paragraphs[0] = "LONDON (Reuters) - " + paragraphs[0]
    paragraphs.append("Reporting by Jane Doe; Editing by John Roe")
    match = index.match(index.fingerprint(join(paragraphs)))
    assert match is not None and match.story_id == "story-2"


def test_boilerplate_wrapped_copy_matches(index: StoryIndex, articles: list[list[str]]) -> None:
    match = index.match(index.fingerprint(join(BOILERPLATE_TOP + articles[3] + BOILERPLATE_BOTTOM)))
    assert match is not None and match.story_id == "story-3"


@pytest.mark.parametrize("rate", [0.03, 0.05, 0.08])
def test_lightly_edited_copy_matches(index: StoryIndex, articles: list[list[str]], vocabulary: list[str],
                                     rate: float) -> None:
    edited = edit_words(random.Random(int(rate * 100)), join(articles[4]), vocabulary, rate)
    match = index.match(index.fingerprint(edited))
    assert match is not None and match.story_id == "story-4"
    assert match.rule == "near_jaccard"


def test_follow_up_does_not_match(index: StoryIndex, articles: list[list[str]]) -> None:
    follow_up = join([articles[0][2], articles[1][3], articles[2][1], articles[3][4]])
    assert index.match(index.fingerprint(follow_up)) is None


def test_follow_up_quoting_most_of_a_short_article_does_not_match(rng: random.Random,
                                                                  vocabulary: list[str]) -> None:
    short = [" ".join(rng.choices(vocabulary, k=70)), " ".join(rng.choices(vocabulary, k=30))]
    others = [make_article(rng, vocabulary, paragraphs=1)[0] for _ in range(3)]
    index = StoryIndex()
    index.insert("short", index.fingerprint(join(short)))
    assert index.match(index.fingerprint(join([short[0], *others]))) is None


def test_round_up_does_not_match(index: StoryIndex, articles: list[list[str]]) -> None:
    round_up = join([articles[0][0], articles[1][0], articles[2][0]])
    assert index.match(index.fingerprint(round_up)) is None


def test_unrelated_text_does_not_match(index: StoryIndex, articles: list[list[str]], rng: random.Random,
                                       vocabulary: list[str]) -> None:
    assert index.match(index.fingerprint(join(make_article(rng, vocabulary)))) is None
    assert index.match(index.fingerprint("")) is None


def test_fingerprint_round_trips_through_bytes(index: StoryIndex, articles: list[list[str]]) -> None:
    fp = index.fingerprint(join(articles[0]))
    data = fp.to_bytes()
    assert len(fp.passages) == len(articles[0])  # one per paragraph: 10 bytes each
    assert isinstance(data, bytes) and len(data) < 4 * index.num_perm + 64 + 10 * len(fp.passages)
    restored = Fingerprint.from_bytes(data)
    assert restored == fp
    assert restored.text_hash == fp.text_hash and restored.size == fp.size and restored.passages == fp.passages
    assert np.array_equal(restored.hashvalues, fp.hashvalues)
    assert index.match(restored) == index.match(fp)
    # Stored before passages (version 1: no passage count): still read, without passages.
    header = 4 + 1 + 4 + 4 + 1 + 20 + 4 * index.num_perm
    old = Fingerprint.from_bytes(data[:4] + bytes([1]) + data[5:header])
    assert old.passages == () and np.array_equal(old.hashvalues, fp.hashvalues) and old.size == fp.size


@pytest.mark.parametrize("data", [b"", b"junk", b"NAFP" + bytes(20)])
def test_fingerprint_from_bytes_rejects_garbage(data: bytes) -> None:
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(data)


def test_fingerprint_is_immutable(index: StoryIndex) -> None:
    fp = index.fingerprint("some words to fingerprint here")
    with pytest.raises(ValueError):
        fp.hashvalues[0] = 1


def test_signature_is_datasketch_compatible() -> None:
    index = StoryIndex(num_perm=64, seed=7)
    text = "one two three four five six seven eight nine ten one two three"
    reference = MinHash(num_perm=64, seed=7, hashfunc=int)
    reference.update_batch(shingle_hashes(text, index.shingle_size).tolist())
    fp = index.fingerprint(text)
    assert np.array_equal(fp.hashvalues, reference.hashvalues)
    assert fp.size == len(shingle_hashes(text, index.shingle_size)) == 10  # 11 shingles, one repeated


@pytest.mark.parametrize(("kwargs", "bad"), [
    ({"threshold": 0.0}, "0.0"),
    ({"threshold": 1.5}, "1.5"),
    ({"threshold": "0.5"}, "'0.5'"),
    ({"num_perm": 0}, "0"),
    ({"num_perm": 8}, "8"),
    ({"num_perm": 12.5}, "12.5"),
    ({"shingle_size": 0}, "0"),
    ({"shingle_size": True}, "True"),
    ({"jaccard_threshold": -0.1}, "-0.1"),
    ({"containment_threshold": 2}, "2"),
    ({"coverage_threshold": 0}, "0"),
    ({"seed": -1}, "-1"),
])
def test_constructor_rejects_bad_arguments(kwargs: dict, bad: str) -> None:
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        StoryIndex(**kwargs)


def test_match_rejects_fingerprint_of_other_num_perm(index: StoryIndex) -> None:
    with pytest.raises(ValueError, match="64"):
        index.match(StoryIndex(num_perm=64).fingerprint("a b c d e f"))


def test_insert_remove_contains_len(index: StoryIndex, articles: list[list[str]]) -> None:
    assert len(index) == 6 and "story-1" in index and "nope" not in index
    index.insert("story-1", index.fingerprint(join(articles[1][:3])))  # a second version: still one story
    assert len(index) == 6
    index.remove("story-1")
    assert len(index) == 5 and "story-1" not in index
    assert index.match(index.fingerprint(join(articles[1]))) is None
    assert index.match(index.fingerprint(join(articles[1][:3]))) is None
    assert index.match(index.fingerprint(join(articles[2]))).story_id == "story-2"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        index.remove("story-1")


def test_several_versions_per_story(articles: list[list[str]]) -> None:
    index = StoryIndex()
    index.insert("s", index.fingerprint(join(articles[0][:4])))
    index.insert("s", index.fingerprint(join(articles[0])))
    # the last paragraphs only appear in the second version
    match = index.match(index.fingerprint(join(articles[0][1:])))
    assert match is not None and match.story_id == "s"


def test_dedup_corpus_groups_copies(articles: list[list[str]], vocabulary: list[str]) -> None:
    docs = [
        {"id": "a", "text": join(articles[0])},
        {"id": "b", "text": join(articles[1]), "url": "https://example.org/b", "title": "B"},
        {"id": "a-truncated", "text": join(articles[0][:4])},
        {"id": "b-boilerplate", "text": join(BOILERPLATE_TOP + articles[1] + BOILERPLATE_BOTTOM)},
        {"id": "roundup", "text": join([articles[0][0], articles[1][0], articles[2][0]])},
        {"id": "a-edited", "text": edit_words(random.Random(3), join(articles[0]), vocabulary, 0.05)},
        {"id": "a-exact", "text": join(articles[0])},
        {"id": "empty", "text": ""},
    ]
    assert list(dedup_corpus(docs)) == [
        ("a", "a"), ("b", "b"), ("a-truncated", "a"), ("b-boilerplate", "b"), ("roundup", "roundup"),
        ("a-edited", "a"), ("a-exact", "a"), ("empty", "empty"),
    ]


def test_dedup_corpus_uses_given_index(articles: list[list[str]]) -> None:
    index = StoryIndex()
    docs = [{"id": "b-full", "text": join(articles[5])}, {"id": "a-part", "text": join(articles[5][:5])}]
    assert list(dedup_corpus(docs, index)) == [("b-full", "a-part"), ("a-part", "a-part")]
    assert "a-part" in index and "b-full" in index  # every document under its own id

