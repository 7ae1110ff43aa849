"""What storage hands out and takes in, on every backend: `Story`, `Sighting`, `Merge` and the `StoryStorage`
protocol. Holds no SQL (`aggregator.store.sql` does).

Every text read back is passed through `aggregator.text.clean_text`: rows stored by older versions (which
did not clean what entered) may hold lone surrogates (JSON-escaped in `authors`/`tags`), NUL, terminal escapes
or bidi overrides, and every reader (the feeds, the reader page, the terminal) gets them from here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aggregator.text import clean_text

if TYPE_CHECKING:
    from aggregator.store.rule_outcomes import RuleChange, StoryRules

SAME_SOURCE_RULE = "same_source_update"  # a later version of the story from the outlet that ran it


@dataclass(frozen=True)
class Sighting:
    """One place a story was seen."""

    url: str
    source: str
    title: str | None
    date_published: str | None
    first_seen: str
    similarity: float | None
    rule: str | None


@dataclass(frozen=True)
class Story:
    """A stored story: its primary item's content and metadata."""

    id: str
    url: str
    source: str
    title: str | None
    text: str
    summary: str | None
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    language: str | None
    image: str | None
    date_published: str | None
    date_modified: str | None
    first_seen: str
    updated: str
    date_source: str | None = None
    primary_reason: str = "first_seen"  # why this item is the story's primary item (aggregator.store.identity)
    hidden: bool = False  # a filter rule hides it: stored, but left out of every feed and page
    rule_tags: tuple[str, ...] = ()  # tags the filter rules added (kept apart from the publisher's `tags`)


@dataclass(frozen=True)
class Merge:
    """One story merged into another: when, under which rule and similarity, and the URL whose arrival showed it
    (None for a merge settled at a crawl's end)."""

    merged_id: str
    into_id: str
    merged_at: str
    rule: str | None
    similarity: float | None
    url: str | None

    def why(self) -> str:
        """In words, for `explain` and logs."""
        how = self.rule or "a match"
        if self.similarity is not None:
            how += " %.3f" % self.similarity
        if self.url:
            return "%s bridged them (%s)" % (self.url, how)
        return "a partial copy, settled at the end of a crawl (%s)" % how


class StoryStorage(Protocol):
    """What the pipelines and exporters need from a storage backend."""

    def story_for_url(self, url: str) -> str | None: ...
    def source_updated(self, url: str) -> tuple[str, str | None] | None: ...
    def fingerprints(self) -> Iterator[tuple[str, bytes]]: ...
    def save(self, *, story_id: str, url: str, source: str, article: Any, text_hash: str,
             similarity: float | None, rule: str | None, fingerprint: bytes | None,
             source_updated: str | None = None, canonical_claim: str | None = None,
             then: Callable[[], None] | None = None, rules: StoryRules | None = None,
             merges: Sequence[str] = ()) -> str: ...
    def merge(self, story_id: str, merged: Sequence[str], *, rule: str | None, similarity: float | None,
              then: Callable[[], None] | None = None, rules: StoryRules | None = None) -> list[str]: ...
    def merged_into(self, story_id: str) -> list[Merge]: ...
    def merged_from(self, story_ids: Sequence[str]) -> dict[str, list[Merge]]: ...
    def story(self, story_id: str) -> Story | None: ...
    def sources_of(self, story_id: str) -> set[str]: ...
    def versions(self, story_id: str) -> list[dict[str, Any]]: ...
    def validators(self, url: str) -> tuple[str | None, str | None] | None: ...
    def save_validators(self, validators: dict[str, tuple[str | None, str | None]]) -> None: ...
    def stories(self, limit: int | None = None, since: datetime | str | None = None,
                source: str | None = None, include_hidden: bool = False) -> list[Story]: ...
    def reapply_rules(self, rules: StoryRules, *, dry_run: bool = False,
                      batch: int = ...) -> Iterator[RuleChange]: ...
    def known_sources(self) -> set[str]: ...
    def sightings(self, story_ids: Sequence[str]) -> dict[str, list[Sighting]]: ...
    def counts(self) -> dict[str, int]: ...
    def source_totals(self) -> dict[str, dict[str, Any]]: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def commit_if_due(self) -> None: ...
    def close(self) -> None: ...


def clean(value: Any) -> Any:
    """A stored value as it may be shown: text through `clean_text`, anything else as it is."""
    return clean_text(value) if isinstance(value, str) else value


def _names(stored: str | None) -> tuple[str, ...]:
    """A JSON list of names (authors, tags), cleaned, empty names left out."""
    values = json.loads(stored) if stored else []
    return tuple(text for text in (clean_text(value).strip() for value in values if isinstance(value, str)) if text)


def story_from_row(row: Any) -> Story:
    return Story(
        id=clean(row["id"]), url=clean(row["url"]), source=clean(row["source"]), title=clean(row["title"]),
        text=clean(row["text"]), summary=clean(row["summary"]), authors=_names(row["authors"]),
        tags=_names(row["tags"]), language=clean(row["language"]), image=clean(row["image"]),
        date_published=clean(row["date_published"]), date_modified=clean(row["date_modified"]),
        first_seen=clean(row["first_seen"]), updated=clean(row["updated"]), date_source=clean(row["date_source"]),
        primary_reason=clean(row["primary_reason"]), hidden=bool(row["hidden"]), rule_tags=_names(row["rule_tags"]),
    )


def sighting_from_row(row: Any) -> Sighting:
    return Sighting(url=clean(row["url"]), source=clean(row["source"]), title=clean(row["title"]),
                    date_published=clean(row["date_published"]), first_seen=clean(row["first_seen"]),
                    similarity=row["similarity"], rule=clean(row["rule"]))


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
