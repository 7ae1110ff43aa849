"""What storage hands out and takes in, on every backend: `Story`, `Sighting`, the `StoryStorage` protocol,
and the SQL both backends share for reading them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

SAME_SOURCE_RULE = "same_source_update"  # a later version of the story from the outlet that ran it
SCHEMA_VERSION = 1


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
    """A stored story: its canonical item's content and metadata."""

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
    canonical_reason: str = "first_seen"  # why this item stands for the story (aggregator.store.identity)


class StoryStorage(Protocol):
    """What the pipelines and exporters need from a storage backend."""

    def story_for_url(self, url: str) -> str | None: ...
    def source_updated(self, url: str) -> tuple[str, str | None] | None: ...
    def fingerprints(self) -> Iterator[tuple[str, bytes]]: ...
    def save(self, *, story_id: str, url: str, source: str, article: Any, text_hash: str,
             similarity: float | None, rule: str | None, fingerprint: bytes | None,
             source_updated: str | None = None, canonical_claim: str | None = None) -> str: ...
    def story(self, story_id: str) -> Story | None: ...
    def sources_of(self, story_id: str) -> set[str]: ...
    def versions(self, story_id: str) -> list[dict[str, Any]]: ...
    def validators(self, url: str) -> tuple[str | None, str | None] | None: ...
    def save_validators(self, validators: dict[str, tuple[str | None, str | None]]) -> None: ...
    def stories(self, limit: int | None = None, since: str | None = None,
                source: str | None = None) -> list[Story]: ...
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
        date_source=row["date_source"], canonical_reason=row["canonical_reason"],
    )


def stories_query(limit: int | None, since: str | None, source: str | None,
                  placeholder: str = "?") -> tuple[str, list[Any]]:
    """The SQL and arguments of `stories()`, for either backend (`placeholder` is its parameter mark)."""
    sql = "SELECT * FROM stories"
    where: list[str] = []
    args: list[Any] = []
    if since:
        where.append("coalesce(date_published, first_seen) >= ?")
        args.append(since)
    if source:
        where.append("id IN (SELECT story_id FROM sightings WHERE source = ?)")
        args.append(source)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY coalesce(date_published, first_seen) DESC, id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql.replace("?", placeholder), args


def sighting_from_row(row: Any) -> Sighting:
    return Sighting(url=row["url"], source=row["source"], title=row["title"], date_published=row["date_published"],
                    first_seen=row["first_seen"], similarity=row["similarity"], rule=row["rule"])


def source_totals_of(db: Any) -> dict[str, dict[str, Any]]:
    """Per source: stories whose canonical item it holds, sightings, last sighting time (any DB-API
    connection with `execute`; the SQL is the same on SQLite and PostgreSQL)."""
    totals: dict[str, dict[str, Any]] = {}
    for source, sightings, last_seen in db.execute(
            "SELECT source, count(*), max(last_seen) FROM sightings GROUP BY source"):
        totals[source] = {"sightings": sightings, "last_seen": last_seen, "stories": 0}
    for source, stories in db.execute("SELECT source, count(*) FROM stories GROUP BY source"):
        totals.setdefault(source, {"sightings": 0, "last_seen": None})["stories"] = stories
    return totals


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
