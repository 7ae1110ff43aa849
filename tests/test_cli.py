"""The command line as a user meets it: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FAST, run_cli


def test_sources_table_lists_the_registry() -> None:
    result = run_cli("sources")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "KIND", "URLS"]
    assert any(line.startswith("astanatimes") and "https://astanatimes.com/feed/" in line for line in lines)
    assert any(line.startswith("commonspace") and "listing" in line for line in lines)


def test_unknown_source_lists_the_known_ones(tmp_path: Path) -> None:
    result = run_cli("crawl", "nosuch", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "Error: unknown source(s): nosuch; known sources: astanatimes, commonspace, timesca" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_bad_sources_file_names_file_source_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.broken]\nname = "Broken"\nfeed = "not a url"\n')
    result = run_cli("sources", "--sources", str(bad))
    assert result.returncode == 2
    assert "bad.toml: source 'broken', field 'feed': not an http(s) URL: 'not a url'" in result.stderr
    by_env = run_cli("crawl", "--all", env={"AGGREGATOR_SOURCES": str(bad)})
    assert by_env.returncode == 2 and "field 'feed'" in by_env.stderr


def test_crawl_needs_sources_or_all() -> None:
    result = run_cli("crawl")
    assert result.returncode == 2 and "--all" in result.stderr


def test_export_without_database_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("export", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 2 and "no database at" in result.stderr
    bad_since = run_cli("export", "--db", str(tmp_path / "none.db"), "--since", "last week")
    assert bad_since.returncode == 2 and "not an ISO 8601 date" in bad_since.stderr


def test_dead_source_is_counted_and_the_others_still_stored(seed_sites: dict[str, str], tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(
        '[sources.dead]\nname = "Dead"\nfeed = "http://127.0.0.1:9/feed.rss"\n'
        '[sources.missing]\nname = "Missing"\nfeed = "%s/no-such-feed.rss"\n'
        '[sources.timesca]\nname = "Times"\nfeed = "%s/feed.rss"\n' % (seed_sites["timesca"], seed_sites["timesca"]))
    db = tmp_path / "d.db"
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST,
                     "--set", "RETRY_TIMES=0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "http_404: 1" in result.stdout and "connection_refused: 1" in result.stdout
    assert "no-such-feed.rss" in result.stderr
    feed = json.loads(run_cli("export", "--db", str(db)).stdout)
    assert feed["items"] and all(i["_aggregator"]["source"] == "timesca" for i in feed["items"])


def test_scrapy_crawl_runs_the_same_spider(seed_registry: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import PROJECT

    db = tmp_path / "scrapy.db"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "sources=timesca",
         "-s", "AGGREGATOR_SOURCES=%s" % seed_registry, "-s", "AGGREGATOR_DB=%s" % db,
         "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"],
        cwd=PROJECT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    feed = json.loads(run_cli("export", "--db", str(db)).stdout)
    assert len(feed["items"]) >= 2
    assert {s["source"] for item in feed["items"] for s in item["_aggregator"]["sightings"]} == {"timesca"}


def test_dedup_command_groups_a_jsonl_corpus(tmp_path: Path) -> None:
    base = " ".join("Sentence %d of the council's report on the tram line and its costs." % n for n in range(40))
    other = " ".join("Paragraph %d about the harvest, grain prices and the export quota." % n for n in range(40))
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps(doc) for doc in (
        {"id": "a", "text": base},
        {"id": "b", "text": other},
        {"id": "c", "text": "ASTANA (Wire) — " + base + " Republished with permission.", "source": "wire"},
    )) + "\n", "utf-8")
    result = run_cli("dedup", str(corpus))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"id": "a", "story": "a"}, {"id": "b", "story": "b"}, {"id": "c", "story": "a"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', "utf-8")
    refused = run_cli("dedup", str(bad))
    assert refused.returncode == 1 and 'line 1: expected {"id", "text"}' in refused.stderr


def test_extract_command_prints_the_article(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html lang='en'><head><title>Tram line approved | City News</title>"
                    "<meta property='article:published_time' content='2026-11-20T09:00:00+00:00'></head><body>"
                    "<article><h1>Tram line approved</h1>%s</article></body></html>" % "".join(
                        "<p>The council approved the tram line after debate %d on costs and routes.</p>" % n
                        for n in range(15)), "utf-8")
    result = run_cli("extract", str(page), "--url", "https://city.example/tram")
    assert result.returncode == 0, result.stderr
    article = json.loads(result.stdout)
    assert article["title"] == "Tram line approved"
    assert article["date_published"] == "2026-11-20T09:00:00+00:00" and article["date_source"] == "meta"
    assert article["text"].startswith("The council approved the tram line after debate 0")
    text = run_cli("extract", "-", "--format", "text", stdin=page.read_text("utf-8"))
    assert text.returncode == 0 and text.stdout.startswith("The council approved")
