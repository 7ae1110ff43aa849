"""Story merges in storage (aggregator.store.merges), once per backend: sightings and versions move to the
surviving story, the primary item is chosen again, the merge is recorded for `explain`, and the feeds never show
the merged-away story again."""

from __future__ import annotations

import pytest

from aggregator.publish.jsonfeed import build_feed
from aggregator.store.model import StoryStorage
from aggregator.store.search import search
from tests.store_backends import Backend, article, backend_fixture, save, storage_fixture
from tests.test_cli import invoke

__all__ = ["backend_fixture", "storage_fixture"]

EARLY = "2026-11-01T00:00:00+00:00"


def seen_early(backend: Backend, story_id: str) -> None:
    """Make `story_id` first seen well before the saves of the test (they happen within one second)."""
    backend.script(["UPDATE stories SET first_seen = '%s' WHERE id = '%s'" % (EARLY, story_id),
                    "UPDATE sightings SET first_seen = '%s' WHERE story_id = '%s'" % (EARLY, story_id)])


def bridge(storage: StoryStorage, story_id: str, url: str, text: str, merges: tuple[str, ...]) -> str:
    return storage.save(story_id=story_id, url=url, source="c", article=article("Bridge", text=text),
                        text_hash="hc", similarity=0.91, rule="near_jaccard", fingerprint=None, merges=merges)


def test_a_bridge_merges_the_stories_into_its_own(storage: StoryStorage, backend: Backend) -> None:
    save(storage, "s-old", "https://a.example/1", "a", article("Old", text="First words. " * 30), text_hash="h1")
    save(storage, "s-old", "https://a.example/1", "a", article("Old, edited", text="Edited words. " * 30),
         text_hash="h1b")  # an earlier version to carry along
    save(storage, "t-other", "https://b.example/1", "b", article("Other", text="Other words. " * 30), text_hash="h2")
    seen_early(backend, "s-old")
    # The bridge would start "a-new", the smallest id: the story takes that name and the others fold into it.
    assert bridge(storage, "a-new", "https://c.example/1", "Bridge words. " * 30, ("s-old", "t-other")) == "sighting"
    assert storage.story("s-old") is None and storage.story("t-other") is None
    story = storage.story("a-new")
    assert story is not None and story.url == "https://a.example/1"  # the first seen stays primary
    assert story.first_seen == EARLY and story.title == "Old, edited"
    sightings = storage.sightings(["a-new"])["a-new"]
    assert sorted((s.url, s.rule) for s in sightings) == [
        ("https://a.example/1", "first"), ("https://b.example/1", "near_jaccard"),
        ("https://c.example/1", "near_jaccard")]
    assert [version["text_hash"] for version in storage.versions("a-new")] == ["h1"]
    assert storage.story_for_url("https://b.example/1") == "a-new"
    assert storage.counts() == {"stories": 1, "sightings": 3}
    [first, second] = storage.merged_from(["a-new"])["a-new"]
    assert (first.merged_id, second.merged_id) == ("s-old", "t-other")
    assert (first.into_id, first.rule, first.similarity, first.url) == ("a-new", "near_jaccard", 0.91,
                                                                         "https://c.example/1")
    assert "https://c.example/1 bridged them (near_jaccard 0.910)" == first.why()
    assert [merge.into_id for merge in storage.merged_into("t-other")] == ["a-new"]
    assert storage.merged_into("a-new") == []
    storage.commit()
    # Search follows: the merged stories' titles find the survivor, and nothing finds them any more.
    assert [hit.story.id for hit in search(storage, "other")] == ["a-new"]


def test_the_primary_item_is_chosen_again(storage: StoryStorage, backend: Backend) -> None:
    save(storage, "b-short", "https://a.example/1", "a", article("Short", text="Words. " * 20), text_hash="h1")
    seen_early(backend, "b-short")
    save(storage, "c-long", "https://b.example/1", "b", article("Long", text="Longer words here. " * 40),
         text_hash="h2")
    assert storage.merge("b-short", ["c-long"], rule="near_containment", similarity=0.86) == ["c-long"]
    story = storage.story("b-short")
    assert story is not None and (story.url, story.title, story.primary_reason) == (
        "https://b.example/1", "Long", "most_complete")
    assert story.first_seen == EARLY
    [merge] = storage.merged_into("c-long")
    assert merge.url is None and merge.why() == "a partial copy, settled at the end of a crawl (near_containment 0.860)"
    assert storage.merge("b-short", ["c-long", "nosuch", "b-short"], rule="x", similarity=None) == []


def test_a_merge_and_what_runs_with_it_are_one_unit(storage: StoryStorage) -> None:
    save(storage, "a", "https://a.example/1", "a", article("A"), text_hash="h1")
    save(storage, "b", "https://b.example/1", "b", article("B"), text_hash="h2")

    def fail() -> None:
        raise RuntimeError("the index could not follow")

    with pytest.raises(RuntimeError):
        storage.merge("a", ["b"], rule="near_containment", similarity=0.9, then=fail)
    storage.commit()
    assert storage.story("b") is not None and storage.merged_into("b") == []
    assert storage.story_for_url("https://b.example/1") == "b"


def test_merges_chain_and_explain_follows_them(storage: StoryStorage, backend: Backend) -> None:
    save(storage, "c", "https://c.example/1", "c", article("C"), text_hash="h3")
    save(storage, "b", "https://b.example/1", "b", article("B"), text_hash="h2")
    storage.merge("b", ["c"], rule="near_containment", similarity=0.84)
    bridge(storage, "a", "https://a.example/1", "Bridge words. " * 30, ("b",))
    assert [(merge.merged_id, merge.into_id) for merge in storage.merged_into("c")] == [("c", "b"), ("b", "a")]
    storage.commit()
    result = invoke("explain", "c", "--db", backend.db)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Story c was merged into b on ") and lines[0].endswith(
        ": a partial copy, settled at the end of a crawl (near_containment 0.840)")
    assert lines[1].startswith("Story b was merged into a on ") and lines[1].endswith(
        ": https://a.example/1 bridged them (near_jaccard 0.910)")
    assert lines[2].startswith("Story a: ") and "Sightings (3):" in lines
    survivor = invoke("explain", "a", "--db", backend.db)
    assert survivor.exit_code == 0 and "Stories merged into it (1):" in survivor.stdout
    assert any(line.split()[:1] == ["b"] and "bridged them" in line for line in survivor.stdout.splitlines())


def test_the_feed_shows_only_the_surviving_story_and_names_the_merged(storage: StoryStorage,
                                                                      backend: Backend) -> None:
    save(storage, "b", "https://b.example/1", "b", article("B", "2026-11-20T10:00:00+00:00"), text_hash="h2")
    seen_early(backend, "b")
    save(storage, "z", "https://z.example/1", "z", article("Z", "2026-11-20T11:00:00+00:00"), text_hash="h9")
    bridge(storage, "a", "https://a.example/1", "Bridge words. " * 20, ("b",))  # no more complete than b's
    storage.commit()
    feed = build_feed(storage)
    assert [item["id"] for item in feed["items"]] == ["z", "a"]  # "a" shows b's item, published before z's
    assert feed["items"][1]["url"] == "https://b.example/1"
    assert feed["items"][1]["_aggregator"]["merged_from"] == ["b"]
    assert "merged_from" not in feed["items"][0]["_aggregator"]
