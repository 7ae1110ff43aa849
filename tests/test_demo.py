"""The offline demo: the bundled snapshot sites crawled end to end into SQLite and a JSON Feed."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import run_cli
from tests.test_jsonfeed import assert_valid_json_feed


def test_demo_builds_the_expected_stories(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", "--output-dir", str(out))
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "JSON Feed: %s" % (out / "feed.json").resolve() in result.stdout
    expected = json.loads(resources.files("aggregator").joinpath("demo/expected.json").read_text("utf-8"))
    feed = json.loads((out / "feed.json").read_text("utf-8"))
    assert_valid_json_feed(feed)
    got = sorted(sorted((s["source"], urlsplit(s["url"]).path) for s in item["_aggregator"]["sightings"])
                 for item in feed["items"])
    assert got == sorted(sorted(tuple(s) for s in story["sightings"]) for story in expected["stories"])
    texts = "\n".join(item["content_text"] for item in feed["items"])
    for phrase in expected["forbidden_in_bodies"]:
        assert phrase.lower() not in texts.lower(), phrase
    stories = sqlite3.connect(out / "aggregator.db").execute("SELECT count(*) FROM stories").fetchone()[0]
    assert stories == len(expected["stories"])
    # The demo's crawl is in the run history like any crawl, under each source it crawled.
    runs = sqlite3.connect(out / "aggregator.db").execute("SELECT sources, exit_status, reason FROM runs").fetchall()
    assert runs == [("astanatimes,commonspace,timesca", 0, "finished")]
    # A second demo run starts from a fresh database: same result, not doubled.
    again = run_cli("demo", "--output-dir", str(out))
    assert again.returncode == 0
    assert len(json.loads((out / "feed.json").read_text("utf-8"))["items"]) == len(expected["stories"])
