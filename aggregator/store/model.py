"""What storage hands out and takes in, on every backend: `Story`, `Sighting` and the `StoryStorage` protocol.
Holds no SQL (`aggregator.store.sql` does)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

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


class StoryStorage(Protocol):
    """What the pipelines and exporters need from a storage backend."""

    def story_for_url(self, url: str) -> str | None: ...
    def source_updated(self, url: str) -> tuple[str, str | None] | None: ...
    def fingerprints(self) -> Iterator[tuple[str, bytes]]: ...
    def save(self, *, story_id: str, url: str, source: str, article: Any, text_hash: str,
             similarity: float | None, rule: str | None, fingerprint: bytes | None,
             source_updated: str | None = None, canonical_claim: str | None = None,
             then: Callable[[], None] | None = None) -> str: ...
    def story(self, story_id: str) -> Story | None: ...
    def sources_of(self, story_id: str) -> set[str]: ...
    def versions(self, story_id: str) -> list[dict[str, Any]]: ...
    def validators(self, url: str) -> tuple[str | None, str | None] | None: ...
    def save_validators(self, validators: dict[str, tuple[str | None, str | None]]) -> None: ...
    def stories(self, limit: int | None = None, since: datetime | str | None = None,
                source: str | None = None) -> list[Story]: ...
    def known_sources(self) -> set[str]: ...
    def sightings(self, story_ids: Sequence[str]) -> dict[str, list[Sighting]]: ...
    def counts(self) -> dict[str, int]: ...
    def source_totals(self) -> dict[str, dict[str, Any]]: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def commit_if_due(self) -> None: ...
    def close(self) -> None: ...


def story_from_row(row: Any) -> Story:
    return Story(
        id=row["id"], url=row["url"], source=row["source"], title=row["title"], text=row["text"],
        summary=row["summary"], authors=tuple(json.loads(row["authors"])), tags=tuple(json.loads(row["tags"])),
        language=row["language"], image=row["image"], date_published=row["date_published"],
        date_modified=row["date_modified"], first_seen=row["first_seen"], updated=row["updated"],
        date_source=row["date_source"], primary_reason=row["primary_reason"],
    )


def sighting_from_row(row: Any) -> Sighting:
    return Sighting(url=row["url"], source=row["source"], title=row["title"], date_published=row["date_published"],
                    first_seen=row["first_seen"], similarity=row["similarity"], rule=row["rule"])


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
