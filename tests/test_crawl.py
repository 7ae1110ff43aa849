"""The seed case: the real spider and pipelines crawl three loopback news sites into SQLite.

Each story must be exactly one item with the right sightings; bodies carry no boilerplate; a second
crawl changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import FAST, run_cli


def stored(db: Path) -> dict[str, list[tuple[str, str]]]:
    """{story id: sorted [(source, url path)]} read straight from the database file."""
    stories: dict[str, list[tuple[str, str]]] = {}
    for story_id, source, url in sqlite3.connect(db).execute("SELECT story_id, source, url FROM sightings"):
        stories.setdefault(story_id, []).append((source, urlsplit(url).path))
    return {key: sorted(value) for key, value in stories.items()}


@pytest.fixture()
def crawled(seed_registry: Path, tmp_path: Path) -> Path:
    db = tmp_path / "seed.db"
    result = run_cli("crawl", "--all", "--sources", str(seed_registry), "--db", str(db), *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "articles stored:" in result.stdout
    return db


def test_each_story_is_one_item_with_its_sightings(crawled: Path, seed_expected: dict) -> None:
    expected = sorted(sorted(tuple(s) for s in story["sightings"]) for story in seed_expected["stories"])
    assert sorted(stored(crawled).values()) == expected


def test_bodies_carry_no_boilerplate(crawled: Path, seed_expected: dict) -> None:
    texts = [row[0] for row in sqlite3.connect(crawled).execute("SELECT text FROM stories")]
    assert len(texts) == len(seed_expected["stories"])
    for phrase in seed_expected["forbidden_in_bodies"]:
        leaks = [text[:60] for text in texts if phrase.lower() in text.lower()]
        assert not leaks, "%r leaked into %s" % (phrase, leaks)
    joined = "\n".join(texts)
    for key, sentence in seed_expected["required_in_bodies"].items():
        assert sentence in joined, "%s: body sentence missing" % key


def test_second_crawl_changes_nothing(crawled: Path, seed_registry: Path) -> None:
    def snapshot() -> list[tuple]:
        db = sqlite3.connect(crawled)
        return (db.execute("SELECT id, url, title, text FROM stories ORDER BY id").fetchall()
                + db.execute("SELECT story_id, url, source, rule FROM sightings ORDER BY url").fetchall())

    before = snapshot()
    again = run_cli("crawl", "--all", "--sources", str(seed_registry), "--db", str(crawled), *FAST)
    assert again.returncode == 0, again.stderr
    assert "articles stored:       0" in again.stdout
    assert "duplicates collapsed:  0" in again.stdout
    assert snapshot() == before


def test_story_seen_today_on_one_source_and_tomorrow_on_another(seed_registry: Path, tmp_path: Path,
                                                               seed_expected: dict) -> None:
    db = tmp_path / "days.db"
    for source in ("timesca", "astanatimes", "commonspace"):
        result = run_cli("crawl", source, "--sources", str(seed_registry), "--db", str(db), *FAST)
        assert result.returncode == 0, result.stderr
    expected = sorted(sorted(tuple(s) for s in story["sightings"]) for story in seed_expected["stories"])
    assert sorted(stored(db).values()) == expected


def test_export_after_crawl(crawled: Path, seed_expected: dict, tmp_path: Path) -> None:
    from tests.test_jsonfeed import assert_valid_json_feed

    out = tmp_path / "feed.json"
    result = run_cli("export", "--db", str(crawled), "-o", str(out))
    assert result.returncode == 0, result.stderr
    feed = json.loads(out.read_text("utf-8"))
    assert_valid_json_feed(feed)
    assert len(feed["items"]) == len(seed_expected["stories"])
    dates = [item["date_published"] for item in feed["items"]]
    assert dates == sorted(dates, reverse=True)
    by_places = {len(item["_aggregator"]["sightings"]) for item in feed["items"]}
    assert by_places == {1, 2}
    only_timesca = run_cli("export", "--db", str(crawled), "--source", "timesca")
    assert {s["source"] for item in json.loads(only_timesca.stdout)["items"]
            for s in item["_aggregator"]["sightings"]} >= {"timesca"}
    assert len(json.loads(only_timesca.stdout)["items"]) == sum(
        any(s[0] == "timesca" for s in story["sightings"]) for story in seed_expected["stories"])


def test_explain_shows_each_sighting_with_its_similarity_and_rule(crawled: Path) -> None:
    con = sqlite3.connect(crawled)
    story_id = con.execute("SELECT story_id FROM sightings GROUP BY story_id HAVING count(*) = 2 "
                           "ORDER BY story_id LIMIT 1").fetchone()[0]
    rows = con.execute("SELECT source, rule, similarity FROM sightings WHERE story_id = ?", (story_id,)).fetchall()
    result = run_cli("explain", story_id, "--db", str(crawled))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Story %s: " % story_id)
    assert "Sightings (2):" in result.stdout
    for source, rule, similarity in rows:
        line = next(line for line in result.stdout.splitlines() if line.startswith(source + " "))
        assert rule in line
        if similarity is not None:
            assert "%.3f" % similarity in line
    missing = run_cli("explain", "nosuchstory", "--db", str(crawled))
    assert missing.returncode == 2 and "no story 'nosuchstory'" in missing.stderr
