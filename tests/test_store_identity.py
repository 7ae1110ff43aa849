"""Which item of a story is its primary item across outlets: the pure decision (storage applying it is in
tests/test_store.py, once per backend)."""

from __future__ import annotations

from aggregator.store.identity import Candidate, choose_primary


def candidate(url: str, date: str | None = None, source: str | None = "jsonld", length: int = 1000,
              claim: str | None = None) -> Candidate:
    return Candidate(url=url, date_published=date, date_source=source, text_length=length, canonical_claim=claim)


def test_a_declared_canonical_url_decides_both_ways() -> None:
    original = candidate("https://a.example/1", "2026-11-20T10:00:00+00:00")
    copy = candidate("https://b.example/1", "2026-11-19T10:00:00+00:00", claim="https://a.example/1")
    assert choose_primary(original, copy) == (False, "declared_canonical")
    assert choose_primary(copy, original) == (True, "declared_canonical")


def test_earliest_trustworthy_date_then_most_complete_text() -> None:
    first = candidate("https://a.example/1", "2026-11-20T10:00:00+00:00")
    earlier = candidate("https://b.example/1", "2026-11-20T07:00:00+00:00")
    assert choose_primary(first, earlier) == (True, "earliest_date")
    assert choose_primary(earlier, first) == (False, "earliest_date")
    # minutes apart, or a date htmldate guessed: not evidence; then the clearly longer text wins
    close = candidate("https://b.example/1", "2026-11-20T09:40:00+00:00", length=1500)
    assert choose_primary(first, close) == (True, "most_complete")
    guessed = candidate("https://b.example/1", "2026-11-01T00:00:00+00:00", source="htmldate", length=1100)
    assert choose_primary(first, guessed) == (False, "first_seen")


def test_an_item_without_text_is_never_the_primary_item_over_one_with_text() -> None:
    video = candidate("https://a.example/video", "2026-11-20T07:00:00+00:00", length=0)
    article = candidate("https://b.example/1", "2026-11-20T10:00:00+00:00")
    assert choose_primary(article, video) == (False, "has_text")
    assert choose_primary(video, article) == (True, "has_text")
