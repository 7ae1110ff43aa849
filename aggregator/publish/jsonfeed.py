"""JSON Feed 1.1 export of stored stories (https://jsonfeed.org/version/1.1), newest first.

Each item carries the `_aggregator` extension: the story's `source`, `first_seen` and its `sightings`, one
per place the story was seen (itself included), and `merged_from`, the ids of stories merged into it. A story
without a known date has no `date_published`. A story kept for its metadata alone (no readable body) has its
description as `content_text` and `metadata_only`. A story a filter rule hides is not in the feed; the tags
rules added are in its `tags`, after the publisher's. Reads storage; never writes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aggregator.store.model import Sighting, Story, StoryStorage

logger = logging.getLogger(__name__)

VERSION = "https://jsonfeed.org/version/1.1"
# Where the feeds say they live unless configured (`--base-url`): their links and the Atom feed's <id>.
DEFAULT_BASE_URL = "http://127.0.0.1:8080/"
SUMMARY_CHARS = 280


def rfc3339(value: str | None) -> str | None:
    """An ISO 8601 date or datetime as RFC 3339 (a date alone becomes midnight UTC); None if unparsable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentences of `text`, cut at a word boundary."""
    first = " ".join(text.split())
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _sighting(sighting: Sighting) -> dict[str, Any]:
    return {
        "url": sighting.url,
        "source": sighting.source,
        "title": sighting.title,
        "date_published": rfc3339(sighting.date_published),
        "first_seen": rfc3339(sighting.first_seen),
        "similarity": sighting.similarity,
        "rule": sighting.rule,
    }


def _tags(story: Story) -> list[str]:
    """The publisher's tags, then those the filter rules added; a tag is given once, whatever its case."""
    tags: dict[str, str] = {}
    for tag in story.tags + story.rule_tags:
        tags.setdefault(tag.casefold(), tag)
    return list(tags.values())


def story_item(story: Story, sightings: list[Sighting], merged_from: Sequence[str] = ()) -> dict[str, Any]:
    """One story as a JSON Feed item; ``merged_from``: the ids of stories merged into it, which a reader that
    showed them may take for this item."""
    item: dict[str, Any] = {
        "id": story.id,
        "url": story.url,
        "title": story.title,
        # a metadata-only story (a video story: no readable body) stands for its text with its description
        "content_text": story.text or story.summary or story.title,
        "summary": story.summary or summarize(story.text),
        # A story without a date has none here (JSON Feed allows it): its first sighting is no publication date.
        "date_published": rfc3339(story.date_published),
        "date_modified": rfc3339(story.date_modified),
        "authors": [{"name": name} for name in story.authors],
        "tags": _tags(story),
        "language": story.language,
        "image": story.image,
        "_aggregator": {
            "source": story.source,
            "first_seen": rfc3339(story.first_seen),
            "sightings": [_sighting(s) for s in sightings],
        },
    }
    if not story.text:
        item["_aggregator"]["metadata_only"] = True
    if merged_from:
        item["_aggregator"]["merged_from"] = list(merged_from)
    return {key: value for key, value in item.items() if value not in (None, [], "")}


def build_feed(storage: StoryStorage, *, title: str = "News aggregator", home_page_url: str | None = None,
               feed_url: str | None = None, limit: int | None = None, since: datetime | None = None,
               source: str | None = None) -> dict[str, Any]:
    """The JSON Feed document for the stored stories matching the filters, newest first (by published date,
    else first seen). `since` is an instant: stories published (else first seen) at or after it."""
    stories = storage.stories(limit=limit, since=since, source=source)
    sightings = storage.sightings([story.id for story in stories])
    merged = storage.merged_from([story.id for story in stories])
    feed: dict[str, Any] = {"version": VERSION, "title": title}
    if home_page_url:
        feed["home_page_url"] = home_page_url
    if feed_url:
        feed["feed_url"] = feed_url
    feed["items"] = [story_item(story, sightings[story.id], [merge.merged_id for merge in merged[story.id]])
                     for story in stories]
    return feed


def dumps(feed: dict[str, Any]) -> str:
    return json.dumps(feed, ensure_ascii=False, indent=2) + "\n"
