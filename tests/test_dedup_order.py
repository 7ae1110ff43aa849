"""Tests for dedup decisions that must not depend on arrival order: digests, bridges and merges, story ids, wire
additions and template furniture (aggregator.dedup.index, .groups, .digests, .fingerprint.article_text).

The texts are written for these tests, not taken from a benchmark.
"""

from __future__ import annotations

import itertools
import random

from aggregator.dedup.fingerprint import article_text
from aggregator.dedup.index import StoryIndex, dedup_corpus

FERRY = (
    "The harbour authority said on Tuesday that the night ferry between Ostrava Point and the northern islands "
    "will stop running from the first of March, after the operator lost two of its three crews to a rival line.\n"
    "Islanders who commute to the mainland hospital asked the council to fund a replacement boat, and the "
    "council agreed to hear their petition at its meeting next week.\n"
    "The operator said that the day crossings would keep their timetable and that tickets already sold for "
    "night sailings would be refunded in full within a month."
)
LIBRARY = (
    "The city library will open on Sundays again from April, the culture office announced, reversing a cut "
    "made three years ago when heating costs doubled across the old building on Market Street.\n"
    "Volunteers from the reading club will staff the lending desk in the afternoons, while the archive and the "
    "children's floor stay closed until the new roof is finished late in the summer."
)
ORCHARD = (
    "A late frost damaged about a third of the apricot blossom in the valley orchards last weekend, growers "
    "said, and the cooperative expects the smallest harvest since the drought of the previous decade.\n"
    "Some growers lit straw fires between the rows to keep the air moving, which saved the older trees on the "
    "slopes but not the young plantings near the river, where cold air gathered before dawn."
)
DIGEST = ("Morning briefing: what you need to know today\n" + FERRY + "\n" + LIBRARY + "\n"
          + ORCHARD.split("\n")[0])
WIRE_FERRY = (
    "Night ferry to northern islands to stop in March\n"
    "OSTRAVA POINT (Coastwire) - The harbour authority said on Tuesday that the night ferry between Ostrava "
    "Point and the northern islands will end from the first of March, after the operator lost two of its three "
    "crews to a rival line.\n"
    "Islanders who commute to the mainland hospital asked the council to fund a replacement boat, and the "
    "council agreed to hear their petition at its meeting next week.\n"
    "Read more: Library to open on Sundays again | Frost hits apricot blossom in the valley"
)


def words(rng: random.Random, count: int) -> str:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "da", "pe", "zo", "gu"]
    return " ".join("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(count))


def article(rng: random.Random, paragraphs: int = 5) -> list[str]:
    return [words(rng, rng.randint(45, 60)) + "." for _ in range(paragraphs)]


def stories_of(docs: list[dict]) -> dict[str, str]:
    return dict(dedup_corpus(docs, StoryIndex()))


def test_a_digest_that_reprints_a_short_story_whole_is_not_its_copy_in_any_order() -> None:
    docs = [{"id": "ferry", "text": FERRY}, {"id": "library", "text": LIBRARY},
            {"id": "orchard", "text": ORCHARD}, {"id": "digest", "text": DIGEST}]
    # The rule alone would take the ferry story for a copy of the digest: it is wholly inside it.
    index = StoryIndex()
    assert index.judge(index.fingerprint(FERRY), index.fingerprint(DIGEST)) is not None
    results = {tuple(sorted(stories_of(list(order)).items())) for order in itertools.permutations(docs)}
    assert results == {(("digest", "digest"), ("ferry", "ferry"), ("library", "library"), ("orchard", "orchard"))}


def test_the_index_keeps_a_digest_apart_once_it_holds_two_of_its_stories() -> None:
    texts = {"ferry": FERRY, "library": LIBRARY, "digest": DIGEST}
    index = StoryIndex()
    matches = {name: index.add(name, index.fingerprint(texts[name])) for name in ("ferry", "library", "digest")}
    assert matches == {"ferry": None, "library": None, "digest": None}


def one_at_a_time(index: StoryIndex, docs: list[dict]) -> dict[str, str]:
    """Each document through `StoryIndex.add` in turn, then `settle` as a crawl does at its end: doc -> story."""
    story_of: dict[str, str] = {}

    def merge(into: str, merged: tuple[str, ...]) -> None:
        for doc_id, story in story_of.items():
            if story in merged:
                story_of[doc_id] = into

    for doc in docs:
        match = index.add(doc["id"], index.fingerprint(doc["text"]))
        story_of[doc["id"]] = doc["id"] if match is None else match.story_id
        if match is not None:
            merge(match.story_id, match.merges)
    for match in index.settle():
        index.merge(match.story_id, match.merges)
        merge(match.story_id, match.merges)
    return story_of


def test_a_digest_waits_for_the_end_and_then_joins_none_of_its_stories() -> None:
    texts = {"ferry": FERRY, "library": LIBRARY, "orchard": ORCHARD, "digest": DIGEST}
    for order in itertools.permutations(texts):
        assert one_at_a_time(StoryIndex(), [{"id": name, "text": texts[name]} for name in order]) == {
            name: name for name in texts}
    index = StoryIndex()
    assert index.add("ferry", index.fingerprint(FERRY)) is None
    # With one of its stories known, a digest cannot be told from a longer copy: the pair waits ...
    assert index.add("digest", index.fingerprint(DIGEST)) is None
    # ... and a second story it reprints whole shows it for what it is before the crawl settles.
    assert index.add("library", index.fingerprint(LIBRARY)) is None
    assert index.settle() == []


def test_a_partial_copy_joins_when_the_index_settles_in_any_order() -> None:
    rng = random.Random(13)
    original = article(rng, 8)
    docs = [{"id": "b-original", "text": "\n".join(original)},
            {"id": "a-first-half", "text": "\n".join(original[:4])},  # half of it: maybe a digest's piece
            {"id": "c-other", "text": "\n".join(article(rng, 5))}]
    index = StoryIndex()
    assert index.judge(index.fingerprint(docs[1]["text"]), index.fingerprint(docs[0]["text"])) is not None
    for order in itertools.permutations(docs):
        index = StoryIndex()
        assert [index.add(doc["id"], index.fingerprint(doc["text"])) for doc in order] == [None, None, None]
        assert one_at_a_time(StoryIndex(), list(order)) == {"b-original": "a-first-half",
                                                             "a-first-half": "a-first-half", "c-other": "c-other"}


def test_copies_in_either_order_give_the_same_stories_and_ids() -> None:
    rng = random.Random(7)
    original = article(rng, 6)
    docs = [{"id": "u-original", "text": "\n".join(original)},
            {"id": "k-truncated", "text": "\n".join(original[:4])},
            {"id": "p-wrapped", "text": "\n".join(["Share this story", *original, "All rights reserved."])},
            {"id": "z-other", "text": "\n".join(article(rng, 6))}]
    expected = {"u-original": "k-truncated", "k-truncated": "k-truncated", "p-wrapped": "k-truncated",
                "z-other": "z-other"}
    for order in (docs, docs[::-1], [docs[2], docs[0], docs[3], docs[1]]):
        assert stories_of(order) == expected
    for order in (docs, docs[::-1]):  # one at a time, as a crawl sees them: the smallest id names the story
        index = StoryIndex()
        story_of = {}
        for doc in order:
            match = index.add(doc["id"], index.fingerprint(doc["text"]))
            if match is None:
                story_of[doc["id"]] = doc["id"]
                continue
            story_of[doc["id"]] = match.story_id
            for merged in match.merges:
                story_of = {key: match.story_id if value == merged else value for key, value in story_of.items()}
        assert story_of == expected


def test_a_copy_bridging_two_partial_stories_reports_a_merge() -> None:
    rng = random.Random(11)
    paragraphs = article(rng, 9)
    index = StoryIndex()
    assert index.add("b-head", index.fingerprint("\n".join(paragraphs[:6]))) is None
    assert index.add("c-tail", index.fingerprint("\n".join(paragraphs[3:]))) is None  # half shared: apart
    match = index.add("d-full", index.fingerprint("\n".join(paragraphs)))
    assert match is not None and match.story_id == "b-head" and match.merges == ("c-tail",)
    assert "c-tail" not in index and len(index.store.fingerprints("b-head")) == 3
    assert index.match(index.fingerprint("\n".join(paragraphs[4:]))).story_id == "b-head"  # type: ignore[union-attr]


def test_a_short_wire_copy_with_headline_dateline_and_read_more_still_matches() -> None:
    # The first two of three paragraphs (a 93-word story), an edited lead and what the desk adds around them.
    index = StoryIndex()
    match = index.judge(index.fingerprint(WIRE_FERRY), index.fingerprint(FERRY))
    assert match is not None
    stripped = article_text(WIRE_FERRY)
    assert not stripped.startswith("Night ferry") and "Coastwire" not in stripped and "Read more" not in stripped
    # A short item stays whole: nothing is taken from a text that would leave only a few words.
    assert article_text("Storm warning for the coast\nRoads closed.") == "Storm warning for the coast\nRoads closed."


def test_furniture_recurring_across_stories_does_not_hide_a_copy() -> None:
    rng = random.Random(3)
    furniture = {name: [words(rng, 35) + "." for _ in range(4)] for name in ("first", "second")}
    story = article(rng, 4)
    docs = [{"id": "copy-1", "text": "\n".join(story + furniture["first"])},
            {"id": "copy-2", "text": "\n".join(furniture["second"] + story)}]
    for template in ("first", "second"):  # other articles on each template, carrying the same furniture
        docs += [{"id": "%s-%d" % (template, n), "text": "\n".join(article(rng, 3) + furniture[template])}
                 for n in range(5)]
    index = StoryIndex()
    whole = [index.fingerprint(doc["text"]) for doc in docs[:2]]
    assert index.judge(*whole) is None  # each copy carries half its length of another template's furniture
    stories = stories_of(docs)
    assert stories["copy-1"] == stories["copy-2"] == "copy-1"
    assert sorted(set(stories.values())) == sorted({"copy-1", *(doc["id"] for doc in docs[2:])})


def test_an_update_quoting_another_story_is_still_a_copy_not_a_digest() -> None:
    rng = random.Random(5)
    story, other = article(rng, 5), article(rng, 5)
    docs = [{"id": "a-story", "text": "\n".join(story)}, {"id": "b-other", "text": "\n".join(other)},
            {"id": "c-update", "text": "\n".join([*story, "UPDATE: " + other[0], words(rng, 30) + "."])}]
    for order in (docs, docs[::-1]):
        assert stories_of(order) == {"a-story": "a-story", "b-other": "b-other", "c-update": "a-story"}
