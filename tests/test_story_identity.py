"""Story identity over time: later versions, and the canonical item chosen across outlets."""

from __future__ import annotations

from pathlib import Path

from aggregator.extract.extractor import Article
from aggregator.store.model import SAME_SOURCE_RULE
from aggregator.store.sqlite import SQLiteStorage
from aggregator.store.identity import Candidate, choose_canonical

TEXT = "The regional council approved the new tram line after a long debate. " * 12


def candidate(url: str, date: str | None = None, source: str | None = "jsonld", length: int = 1000,
              claim: str | None = None) -> Candidate:
    return Candidate(url=url, date_published=date, date_source=source, text_length=length, canonical_claim=claim)


def test_declared_canonical_wins_both_ways() -> None:
    original = candidate("https://a.example/1", "2026-11-20T10:00:00+00:00")
    copy = candidate("https://b.example/1", "2026-11-19T10:00:00+00:00", claim="https://a.example/1")
    assert choose_canonical(original, copy) == (False, "declared_canonical")
    assert choose_canonical(copy, original) == (True, "declared_canonical")


def test_earliest_trustworthy_date_then_most_complete_text() -> None:
    first = candidate("https://a.example/1", "2026-11-20T10:00:00+00:00")
    earlier = candidate("https://b.example/1", "2026-11-20T07:00:00+00:00")
    assert choose_canonical(first, earlier) == (True, "earliest_date")
    assert choose_canonical(earlier, first) == (False, "earliest_date")
    # minutes apart, or a date htmldate guessed: not evidence; then the clearly longer text wins
    close = candidate("https://b.example/1", "2026-11-20T09:40:00+00:00", length=1500)
    assert choose_canonical(first, close) == (True, "most_complete")
    guessed = candidate("https://b.example/1", "2026-11-01T00:00:00+00:00", source="htmldate", length=1100)
    assert choose_canonical(first, guessed) == (False, "first_seen")


def article(title: str, text: str = TEXT, date: str | None = None, date_source: str | None = None) -> Article:
    return Article(text=text, title=title, date_published=date, date_source=date_source)


def save(storage: SQLiteStorage, url: str, source: str, art: Article, rule: str | None = None,
         claim: str | None = None) -> str:
    return storage.save(story_id="s1", url=url, source=source, article=art, text_hash=str(hash(art.text)),
                        similarity=0.9 if rule else None, rule=rule, fingerprint=None, canonical_claim=claim)


def test_a_later_version_from_the_same_outlet_updates_the_story(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "v.db")
    assert save(storage, "https://a.example/tram-line-approved", "a", article("Tram line approved")) == "new"
    edited = article("Council approves tram line", TEXT + "An earlier version misnamed the council.")
    outcome = save(storage, "https://a.example/council-approves-tram-line", "a", edited, rule=SAME_SOURCE_RULE)
    assert outcome == "updated"
    story = storage.story("s1")
    assert story is not None and story.title == "Council approves tram line"
    assert story.url == "https://a.example/council-approves-tram-line" and story.text.endswith("council.")
    (version,) = storage.versions("s1")
    assert version["title"] == "Tram line approved" and version["url"] == "https://a.example/tram-line-approved"
    assert storage.counts() == {"stories": 1, "sightings": 2}
    assert storage.story_for_url("https://a.example/tram-line-approved") == "s1"


def test_an_earlier_original_from_another_outlet_becomes_canonical(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "c.db")
    save(storage, "https://copy.example/1", "copy", article("Copy", date="2026-11-20T12:00:00+00:00",
                                                            date_source="jsonld"))
    original = article("Original", date="2026-11-20T08:00:00+00:00", date_source="meta")
    assert save(storage, "https://orig.example/1", "orig", original, rule="near_jaccard") == "sighting"
    story = storage.story("s1")
    assert story is not None
    assert (story.url, story.source, story.title, story.canonical_reason) == (
        "https://orig.example/1", "orig", "Original", "earliest_date")
    assert storage.versions("s1") == []  # another outlet's item is not a version of this one


def test_a_copy_naming_the_original_does_not_replace_it(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "d.db")
    save(storage, "https://orig.example/1", "orig", article("Original"))
    save(storage, "https://copy.example/1", "copy", article("Copy", TEXT * 2), rule="near_containment",
         claim="https://orig.example/1")
    story = storage.story("s1")
    assert story is not None and story.url == "https://orig.example/1"
    assert story.canonical_reason == "declared_canonical"
