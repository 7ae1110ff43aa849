"""Filter rules in storage, once per backend (SQLite and the real PostgreSQL server): a save writes its story's
rule outcome in the same unit of work and decides it again when the story is seen on another source; hidden
stories stay stored but leave the feeds; `reapply_rules` decides every story again in batches and writes only
what changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from aggregator.extract.extractor import Article
from aggregator.publish.atom import build_atom
from aggregator.publish.jsonfeed import build_feed
from aggregator.rules import RuleSet, parse_rules
from aggregator.sources import parse_document
from aggregator.store.model import StoryStorage
from tests.store_backends import Backend, article, backend_fixture, storage_fixture  # noqa: F401 (fixtures)

REGISTRY = """
[sources.a]
name = "A"
feed = "https://a.example/feed"

[sources.b]
name = "B"
feed = "https://b.example/feed"

[rules.no-sport]
action = "hide"
title = "football"

[rules.from-b]
action = "tag"
tag = "Seen on B"
source = "b"

[rules.trade]
action = "tag"
tag = "trade"
text = "tariff"
"""


def rule_set(extra: str = "") -> RuleSet:
    return parse_rules(parse_document(REGISTRY + extra, "r.toml"), "r.toml")


def save(storage: StoryStorage, story_id: str, url: str, source: str, art: Article, *, text_hash: str = "h",
         similarity: float | None = None, rule: str | None = None, rules: RuleSet | None = None,
         then: Callable[[], None] | None = None) -> str:
    return storage.save(story_id=story_id, url=url, source=source, article=art, text_hash=text_hash,
                        similarity=similarity, rule=rule, fingerprint=None, then=then, rules=rules)


def outcome(backend: Backend, story_id: str) -> tuple[int, list[str]]:
    """(hidden, rule tags) as stored, read past the storage class."""
    ((hidden, tags),) = backend.query("SELECT hidden, rule_tags FROM stories WHERE id = ?", (story_id,))
    return hidden, json.loads(tags)


def test_a_save_writes_its_storys_rule_outcome(storage: StoryStorage, backend: Backend) -> None:
    rules = rule_set()
    save(storage, "s1", "https://a.example/1", "a", article("Football results"), rules=rules)
    save(storage, "s2", "https://a.example/2", "a",
         replace(article("New tariff", text="A tariff on grain. " * 20), tags=("Trade",)), rules=rules)
    save(storage, "s3", "https://a.example/3", "a", article("Elections"), rules=rules)
    save(storage, "s4", "https://a.example/4", "a", article("Football without rules"))
    assert outcome(backend, "s1") == (1, [])
    assert outcome(backend, "s2") == (0, ["trade"])
    assert outcome(backend, "s3") == (0, []) and outcome(backend, "s4") == (0, [])

    # Hidden stories stay stored, and are read back marked, but no feed carries them.
    assert storage.counts()["stories"] == 4
    assert sorted(story.id for story in storage.stories()) == ["s2", "s3", "s4"]
    hidden = storage.story("s1")
    assert hidden is not None and hidden.hidden and hidden.rule_tags == ()
    assert sorted(s.id for s in storage.stories(include_hidden=True)) == ["s1", "s2", "s3", "s4"]
    assert [s.id for s in storage.stories(source="a", limit=10) if s.id == "s1"] == []
    feed = build_feed(storage)
    assert "s1" not in {item["id"] for item in feed["items"]}
    assert "Football results" not in build_atom(feed, feed_id="urn:x")
    # The rule tag joins the publisher's, once whatever its case.
    (tagged,) = [item for item in feed["items"] if item["id"] == "s2"]
    assert tagged["tags"] == ["Trade"]
    assert storage.story("s2").rule_tags == ("trade",)  # type: ignore[union-attr]


def test_a_story_seen_on_another_source_is_decided_again(storage: StoryStorage, backend: Backend) -> None:
    rules = rule_set()
    save(storage, "s1", "https://a.example/1", "a", replace(article("Budget"), tags=("Seen on b",)), rules=rules)
    assert outcome(backend, "s1") == (0, [])
    assert save(storage, "s1", "https://b.example/1", "b", article("Budget (copy)"), similarity=0.9,
                rule="near_jaccard", text_hash="h2", rules=rules) == "sighting"
    assert outcome(backend, "s1") == (0, ["Seen on B"])
    item = build_feed(storage)["items"][0]
    assert item["tags"] == ["Seen on b"]  # the publisher's spelling kept, no duplicate

    # A copy that becomes the primary item brings its title: the story is decided on it.
    save(storage, "s2", "https://a.example/2", "a", article("Match report", text="Short."), rules=rules)
    assert outcome(backend, "s2") == (0, [])
    assert save(storage, "s2", "https://b.example/2", "b", article("Football: match report", text="Longer. " * 40),
                similarity=0.9, rule="near_containment", text_hash="h3", rules=rules) == "sighting"
    assert storage.story("s2").title == "Football: match report"  # type: ignore[union-attr]
    assert outcome(backend, "s2") == (1, ["Seen on B"])

    # A save under rules that no longer hide it shows it again.
    save(storage, "s2", "https://b.example/2", "b", article("Football: match report", text="Longer. " * 40),
         text_hash="h3", rules=RuleSet())
    assert outcome(backend, "s2") == (0, [])


def test_a_failed_save_leaves_no_outcome(storage: StoryStorage, backend: Backend) -> None:
    def fail() -> None:
        raise RuntimeError("index down")

    with pytest.raises(RuntimeError):
        save(storage, "s1", "https://a.example/1", "a", article("Football"), rules=rule_set(), then=fail)
    storage.commit()
    assert backend.query("SELECT count(*) FROM stories") == [(0,)]


def test_reapply_decides_every_story_in_batches_and_writes_only_changes(storage: StoryStorage,
                                                                       backend: Backend) -> None:
    titles = ["Football %d" % n if n % 3 == 0 else "Politics %d" % n for n in range(10)]
    for n, title in enumerate(titles):
        save(storage, "s%02d" % n, "https://a.example/%d" % n, "a", article(title), text_hash="h%d" % n)
    save(storage, "s01", "https://b.example/1", "b", article("Politics 1"), similarity=0.9, rule="near_jaccard",
         text_hash="h1")
    backend.script(["UPDATE stories SET updated = 'before'"])
    rules = rule_set()

    dry = list(storage.reapply_rules(rules, dry_run=True, batch=3))
    assert [(c.story_id, c.was_hidden, c.hidden, c.tags_added) for c in dry] == [
        ("s00", False, True, ()), ("s01", False, False, ("Seen on B",)), ("s03", False, True, ()),
        ("s06", False, True, ()), ("s09", False, True, ())]
    assert dry[0].title == "Football 0"
    assert backend.query("SELECT count(*) FROM stories WHERE hidden = 1 OR rule_tags <> '[]'") == [(0,)]

    applied = list(storage.reapply_rules(rules, batch=3))
    assert applied == dry
    assert sorted(row[0] for row in backend.query("SELECT id FROM stories WHERE hidden = 1")) == [
        "s00", "s03", "s06", "s09"]
    assert outcome(backend, "s01") == (0, ["Seen on B"])
    changed = {row[0] for row in backend.query("SELECT id FROM stories WHERE updated <> 'before'")}
    assert changed == {"s00", "s01", "s03", "s06", "s09"}  # only what changed was written
    assert list(storage.reapply_rules(rules, batch=3)) == []

    # Rules edited: a story shown again, a tag removed and another added.
    edited = parse_rules(parse_document(REGISTRY.replace('title = "football"', 'title = "football [0369]$"')
                                        .replace('tag = "Seen on B"', 'tag = "B"'), "r.toml"), "r.toml")
    save(storage, "s10", "https://a.example/10", "a", article("Football 10"), text_hash="h10")
    again = {c.story_id: c for c in storage.reapply_rules(edited, batch=4)}
    assert set(again) == {"s01"}  # the football stories stay hidden; "Football 10" was never hidden
    assert (again["s01"].tags_added, again["s01"].tags_removed) == (("B",), ("Seen on B",))
    assert outcome(backend, "s01") == (0, ["B"])
    shown = parse_rules(parse_document(REGISTRY.replace('title = "football"', 'title = "football 9"'), "r.toml"),
                        "r.toml")
    back = {c.story_id: (c.was_hidden, c.hidden) for c in storage.reapply_rules(shown)}
    assert back == {"s00": (True, False), "s03": (True, False), "s06": (True, False), "s01": (False, False)}
    assert sorted(row[0] for row in backend.query("SELECT id FROM stories WHERE hidden = 1")) == ["s09"]


def test_a_merge_decides_the_surviving_story_again(storage: StoryStorage, backend: Backend) -> None:
    # A crawl settles partial copies at its end with `merge`, no save: the story it keeps must be decided over
    # the sightings it now has, or a hide-by-source rule misses the source the merged story brought.
    rules = rule_set('\n[rules.hide-b]\naction = "hide"\nsource = "b"\n')
    save(storage, "a-first", "https://a.example/1", "a", article("Harbour works", text="Works words. " * 30),
         rules=rules)
    save(storage, "z-copy", "https://b.example/1", "b", article("Harbour works", text="Works words. " * 20),
         text_hash="h2", rules=rules)
    assert outcome(backend, "a-first") == (0, []) and outcome(backend, "z-copy") == (1, ["Seen on B"])
    assert storage.merge("a-first", ["z-copy"], rule="partial", similarity=0.9, rules=rules) == ["z-copy"]
    storage.commit()
    assert outcome(backend, "a-first") == (1, ["Seen on B"])
    # without rules (a crawl whose registry has none) a merge leaves the outcome alone
    save(storage, "c-third", "https://a.example/2", "a", article("Ferry", text="Ferry words. " * 30), rules=rules)
    save(storage, "y-fourth", "https://b.example/2", "b", article("Ferry", text="Ferry words. " * 20),
         text_hash="h4", rules=rules)
    assert storage.merge("c-third", ["y-fourth"], rule="partial", similarity=0.9) == ["y-fourth"]
    storage.commit()
    assert outcome(backend, "c-third") == (0, [])
