"""JSON Feed 1.1 export, validated against the spec's rules."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from aggregator.extract.extractor import Article
from aggregator.publish.jsonfeed import VERSION, build_feed, dumps, rfc3339, summarize
from aggregator.store.sqlite import SQLiteStorage

RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$"


def assert_valid_json_feed(feed: dict[str, Any]) -> None:
    """The JSON Feed 1.1 rules (jsonfeed.org/version/1.1) that an export can break."""
    import re

    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    assert isinstance(feed.get("home_page_url", ""), str)
    assert isinstance(feed["items"], list)
    ids = [item["id"] for item in feed["items"]]
    assert len(ids) == len(set(ids)), "item ids must be unique"
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_text" in item or "content_html" in item
        for key in ("url", "title", "content_text", "summary", "language", "image"):
            assert isinstance(item.get(key, ""), str)
        for key in ("date_published", "date_modified"):
            if key in item:
                assert re.match(RFC3339, item[key]), item[key]
        for author in item.get("authors", []):
            assert set(author) <= {"name", "url", "avatar"} and author
        assert all(isinstance(tag, str) for tag in item.get("tags", []))
        assert all(key.startswith("_") for key in item if key not in {
            "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
            "banner_image", "date_published", "date_modified", "authors", "tags", "language", "attachments"})


def test_feed_items_carry_sightings_and_validate(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "f.db")
    text = "First sentence of the story. " * 20
    one = Article(text=text, title="Story one", authors=("Aida",), date_published="2026-11-20",
                  tags=("Trade",), language="en")
    two = Article(text="Other story. " * 30, title="Story two", date_published="2026-11-21T09:00:00+05:00")
    storage.save(story_id="s1", url="https://a.example/1", source="a", article=one, text_hash="h1",
                 similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="s1", url="https://b.example/1", source="b", article=one, text_hash="h1",
                 similarity=0.93, rule="near_jaccard", fingerprint=None)
    storage.save(story_id="s2", url="https://a.example/2", source="a", article=two, text_hash="h2",
                 similarity=None, rule=None, fingerprint=None)
    feed = json.loads(dumps(build_feed(storage, title="T", home_page_url="http://127.0.0.1:8080/")))
    assert_valid_json_feed(feed)
    assert feed["version"] == VERSION
    assert [item["id"] for item in feed["items"]] == ["s2", "s1"]
    first = feed["items"][1]
    assert first["url"] == "https://a.example/1"
    assert first["content_text"] == text
    assert first["summary"].startswith("First sentence of the story.") and len(first["summary"]) <= 281
    assert first["date_published"] == "2026-11-20T00:00:00+00:00"
    assert first["authors"] == [{"name": "Aida"}] and first["tags"] == ["Trade"] and first["language"] == "en"
    sightings = first["_aggregator"]["sightings"]
    assert first["_aggregator"]["source"] == "a"
    assert [(s["url"], s["source"]) for s in sightings] == [("https://a.example/1", "a"),
                                                           ("https://b.example/1", "b")]
    assert set(sightings[0]) >= {"url", "source", "title", "date_published", "first_seen"}
    assert sightings[1]["similarity"] == 0.93 and sightings[1]["rule"] == "near_jaccard"
    datetime.fromisoformat(sightings[0]["first_seen"])
    assert build_feed(storage, source="b")["items"][0]["id"] == "s1"
    assert [i["id"] for i in build_feed(storage, limit=1)["items"]] == ["s2"]


def test_rfc3339_and_summary() -> None:
    assert rfc3339("2026-11-20") == "2026-11-20T00:00:00+00:00"
    assert rfc3339("2026-11-20T10:00:00Z") == "2026-11-20T10:00:00+00:00"
    assert rfc3339("yesterday") is None and rfc3339(None) is None
    assert summarize("short text") == "short text"
    long = summarize("word " * 200)
    assert long.endswith("…") and len(long) <= 281
