"""Atom 1.0 export: every JSON Feed field survives a round trip through feedparser; the CLI formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

from aggregator.publish.atom import AGG_NS, ATOM_NS, atom_id, build_atom, feed_updated, story_id
from aggregator.extract.extractor import Article
from aggregator.publish.jsonfeed import build_feed
from aggregator.store.sqlite import SQLiteStorage
from tests.conftest import run_cli

WATER = Article(
    text=("Kazakhstan and Uzbekistan signed a water-sharing deal on Monday.\n\nThe deal covers the Syr Darya. "
          * 5).strip(),
    title="Kazakhstan and Uzbekistan sign water deal",
    authors=("Aida Nurlanova", "Timur Bekov"),
    date_published="2026-11-20T10:00:00+05:00",
    date_modified="2026-11-21T08:30:00+00:00",
    language="en",
    description="Leaders agreed on how to share the Syr Darya.",
    image="https://astanatimes.com/img/water.jpg",
    tags=("Water", "Central Asia"),
)
WATER_ELSEWHERE = Article(text=WATER.text, title="Water deal signed in Tashkent",
                          date_published="2026-11-21")
# feedparser strips the whitespace around element text, as extracted article text has none either.
RAIL = Article(text=("A new rail link opened between Almaty and Tashkent. " * 8).strip(),
               title="Rail link opens — “Almaty ⇄ Tashkent” & more", date_published="2026-11-22")


def fill(path: Path) -> SQLiteStorage:
    storage = SQLiteStorage(path)
    storage.save(story_id="water", url="https://astanatimes.com/2026/11/water", source="astanatimes",
                 article=WATER, text_hash="h1", similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="water", url="https://timesca.com/water-deal", source="timesca",
                 article=WATER_ELSEWHERE, text_hash="h2", similarity=0.91, rule="near_jaccard", fingerprint=None)
    storage.save(story_id="rail", url="https://timesca.com/rail", source="timesca", article=RAIL,
                 text_hash="h3", similarity=None, rule=None, fingerprint=None)
    return storage


def sightings_from(entry: Any) -> list[dict[str, Any]]:
    """The sightings of a parsed entry, back in the JSON Feed `_aggregator.sightings` shape."""
    found = []
    for link in entry.links:
        if link.rel != "related":
            continue
        similarity = link.get("agg:similarity")
        found.append({"url": link.href, "source": link.get("agg:source"), "title": link.get("title"),
                      "date_published": link.get("agg:published"), "first_seen": link.get("agg:first-seen"),
                      "similarity": float(similarity) if similarity is not None else None,
                      "rule": link.get("agg:rule")})
    return found


def test_atom_round_trips_every_field_through_feedparser(tmp_path: Path) -> None:
    storage = fill(tmp_path / "a.db")
    feed = build_feed(storage, title="Central Asia news", home_page_url="http://127.0.0.1:8080/",
                      feed_url="http://127.0.0.1:8080/feed.atom")
    parsed = feedparser.parse(build_atom(feed).encode("utf-8"))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Central Asia news"
    assert parsed.feed.id == "http://127.0.0.1:8080/feed.atom"
    assert {(link.rel, link.href) for link in parsed.feed.links} == {
        ("alternate", "http://127.0.0.1:8080/"), ("self", "http://127.0.0.1:8080/feed.atom")}
    assert parsed.feed.updated == feed_updated(feed).isoformat()
    assert [story_id(entry.id) for entry in parsed.entries] == [item["id"] for item in feed["items"]]

    for item, entry in zip(feed["items"], parsed.entries):
        assert entry.id == atom_id(item["id"])
        assert entry.title == item["title"]
        assert entry.link == item["url"]
        assert entry.published == item["date_published"]
        assert entry.updated == item.get("date_modified", item["date_published"])
        assert [author.name for author in entry.get("authors", [])] == [a["name"] for a in item.get("authors", [])]
        assert entry.summary == item["summary"] and entry.summary_detail.type == "text/plain"
        assert entry.content[0].value == item["content_text"] and entry.content[0].type == "text/plain"
        assert [tag.term for tag in entry.get("tags", [])] == item.get("tags", [])
        assert sightings_from(entry) == item["_aggregator"]["sightings"]
        assert entry.agg_source == item["_aggregator"]["source"]
        assert entry["agg_first-seen"] == item["_aggregator"]["first_seen"]

    water = parsed.entries[1]
    assert water.title_detail.language == "en"
    assert water.media_thumbnail[0]["url"] == "https://astanatimes.com/img/water.jpg"
    assert [link.get("title") for link in water.links if link.rel == "related"] == [
        "Kazakhstan and Uzbekistan sign water deal", "Water deal signed in Tashkent"]
    assert [tag.term for tag in water.tags] == ["Water", "Central Asia"]
    assert parsed.entries[0].title == "Rail link opens — “Almaty ⇄ Tashkent” & more"


def test_atom_is_well_formed_and_keeps_only_http_links(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "x.db")
    odd = Article(text="Body with a control character \x0b here. " * 5, title="Bell \x07 <b>bold</b>",
                  date_published="2026-11-20")
    storage.save(story_id="odd", url="https://a.example/odd", source="a", article=odd, text_hash="h",
                 similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="odd", url="javascript:alert(1)", source="evil", article=odd, text_hash="h2",
                 similarity=0.9, rule="near_jaccard", fingerprint=None)
    text = build_atom(build_feed(storage))
    root = etree.fromstring(text.encode("utf-8"))
    assert root.tag == "{%s}feed" % ATOM_NS
    entry = root.find("{%s}entry" % ATOM_NS)
    assert entry.findtext("{%s}title" % ATOM_NS) == "Bell  <b>bold</b>"
    hrefs = [link.get("href") for link in entry.iter("{%s}link" % ATOM_NS)]
    assert hrefs == ["https://a.example/odd", "https://a.example/odd"]
    assert "javascript:" not in text
    assert entry.find("{%s}link[@rel='related']" % ATOM_NS).get("{%s}rule" % AGG_NS) == "first"


def test_empty_feed_is_valid_atom(tmp_path: Path) -> None:
    parsed = feedparser.parse(build_atom(build_feed(SQLiteStorage(tmp_path / "e.db"))).encode("utf-8"))
    assert not parsed.bozo and parsed.entries == [] and parsed.feed.title == "News aggregator"


def test_export_formats_atom_and_jsonl(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    storage = fill(db)
    items = build_feed(storage)["items"]
    storage.close()

    atom = run_cli("export", "--db", str(db), "--format", "atom")
    assert atom.returncode == 0, atom.stderr
    parsed = feedparser.parse(atom.stdout.encode("utf-8"))
    assert not parsed.bozo and [story_id(e.id) for e in parsed.entries] == ["rail", "water"]

    out = tmp_path / "items.jsonl"
    jsonl = run_cli("export", "--db", str(db), "--format", "jsonl", "-o", str(out), "--source", "astanatimes")
    assert jsonl.returncode == 0, jsonl.stderr
    lines = out.read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [item for item in items if item["id"] == "water"]

    every = run_cli("export", "--db", str(db), "--format", "jsonl")
    assert [json.loads(line)["id"] for line in every.stdout.splitlines()] == ["rail", "water"]
    assert run_cli("export", "--db", str(db), "--format", "rss").returncode == 2
