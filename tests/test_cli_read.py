"""`aggregator runs`, `stats`, `explain` and `export`, in this process, over a database written by the real
storage and run log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import feedparser
import pytest

from aggregator.items import Article
from aggregator.ops.crawl import CrawlSummary
from aggregator.publish.atom import story_id
from aggregator.store.backends import open_storage
from aggregator.store.runs import open_run_log
from tests.test_cli import invoke


def _article(title: str, published: str, words: str) -> Article:
    text = " ".join("%s sentence %d." % (words, n) for n in range(30))
    return Article(text=text, title=title, date_published=published, date_source="meta")


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    """Three stories: `rail` (astanatimes, updated once, then seen on timesca), `grain` (astanatimes) and
    `water` (timesca); and five runs: two of timesca, one of a dead source, one of two sources, one running."""
    path = tmp_path / "news.db"
    storage = open_storage(str(path))
    rail = _article("Rail line opens", "2026-11-20T09:00:00+00:00", "The rail line")
    storage.save(story_id="rail", url="https://astanatimes.example/rail", source="astanatimes", article=rail,
                 text_hash="r1", similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="rail", url="https://astanatimes.example/rail", source="astanatimes",
                 article=_article("Rail line opens on time", "2026-11-20T09:00:00+00:00", "The new rail line"),
                 text_hash="r2", similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="rail", url="https://timesca.example/rail-copy", source="timesca",
                 article=_article("Rail line opens", "2026-11-20T15:00:00+00:00", "The rail line"),
                 text_hash="r3", similarity=0.912345, rule="near_jaccard", fingerprint=None)
    storage.save(story_id="grain", url="https://astanatimes.example/grain", source="astanatimes",
                 article=_article("Grain quota", "2026-11-19T08:00:00+00:00", "The grain quota"),
                 text_hash="g1", similarity=None, rule=None, fingerprint=None)
    storage.save(story_id="water", url="https://timesca.example/water", source="timesca",
                 article=_article("Water talks", "2026-11-18T12:00:00+00:00", "The water talks"),
                 text_hash="w1", similarity=None, rule=None, fingerprint=None)
    storage.close()
    runs = open_run_log(str(path))
    finished = {"finish_reason": "finished", "downloader/response_count": 7, "aggregator/stored/new": 2}
    runs.finish(runs.start(["timesca"]), CrawlSummary.from_stats(finished))
    runs.finish(runs.start(["dead"]), CrawlSummary.from_stats(
        {"finish_reason": "finished", "downloader/response_count": 1, "aggregator/errors/connection_refused": 1}))
    runs.finish(runs.start(["astanatimes", "timesca"]), CrawlSummary.from_stats(finished))
    runs.finish(runs.start(["timesca"]), None)  # a crawl that raised
    runs.start(["astanatimes"])
    runs.close()
    return path


def test_runs_lists_the_recent_runs_newest_first(db: Path) -> None:
    result = invoke("runs", "--db", str(db))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "SOURCES", "STARTED", "FINISHED", "PAGES", "STORED", "DUPS", "UPDATED",
                                "ERRORS", "EXIT", "REASON"]
    rows = [line.split() for line in lines[1:]]
    assert [row[:2] for row in rows] == [["5", "astanatimes"], ["4", "timesca"], ["3", "astanatimes,timesca"],
                                         ["2", "dead"], ["1", "timesca"]]
    assert rows[0][3:] == ["running", "-", "-", "-", "-", "-", "-", "-"]
    assert rows[1][4:] == ["0", "0", "0", "0", "1", "1", "crashed"]
    assert rows[3][4:] == ["1", "0", "0", "0", "1", "3", "finished"]
    assert rows[4][4:] == ["7", "2", "0", "0", "0", "0", "finished"]
    # columns line up: each header starts where its values do
    assert lines[1].index("running") == lines[0].index("FINISHED")
    only = invoke("runs", "--db", str(db), "--source", "timesca", "--limit", "1")
    assert [line.split()[:2] for line in only.stdout.splitlines()[1:]] == [["4", "timesca"]]
    astana = invoke("runs", "--db", str(db), "--source", "astanatimes")  # the two-source run is one of its
    assert [line.split()[:2] for line in astana.stdout.splitlines()[1:]] == [["5", "astanatimes"],
                                                                           ["3", "astanatimes,timesca"]]
    assert invoke("runs", "--db", "sqlite:///%s" % db).stdout == result.stdout
    assert invoke("runs", env={"AGGREGATOR_DB": str(db)}).stdout == result.stdout
    zero = invoke("runs", "--db", str(db), "--limit", "0")
    assert zero.exit_code == 2 and "Invalid value for '--limit'" in zero.stderr


def test_stats_totals_each_source(db: Path) -> None:
    result = invoke("stats", "--db", str(db))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "STORIES", "SIGHTINGS", "LAST", "SEEN", "RUNS", "FAILED", "PAGES",
                                "ERRORS", "LAST", "RUN"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == ["astanatimes", "dead", "timesca"]
    astana, dead, times = rows["astanatimes"], rows["dead"], rows["timesca"]
    # The two-source run counts for each of its sources; the running run has no status yet.
    assert astana[1:3] == ["2", "2"] and astana[4:8] == ["2", "0", "7", "0"]
    assert dead[1:4] == ["0", "0", "-"] and dead[4:8] == ["1", "1", "1", "1"]
    assert times[1:3] == ["1", "2"] and times[4:8] == ["3", "1", "14", "1"]  # the crashed run counts 1 error
    con = sqlite3.connect(db)
    last_seen = con.execute("SELECT max(last_seen) FROM sightings WHERE source = 'timesca'").fetchone()[0]
    last_run = con.execute("SELECT max(started) FROM runs WHERE sources = 'timesca'").fetchone()[0]
    assert times[3] == last_seen and times[8] == last_run


def test_explain_shows_the_sightings_rules_and_earlier_versions(db: Path) -> None:
    result = invoke("explain", "rail", "--db", str(db))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    storage = open_storage(str(db))
    story = storage.story("rail")
    storage.close()
    assert story is not None
    assert lines[0] == "Story rail: %s" % story.title
    assert lines[1].startswith("  primary item: %s (%s) — chosen by " % (story.url, story.source))
    assert lines[1].split(" — chosen by ")[1]
    assert lines[2] == "  published: %s (from meta); first seen %s" % (story.date_published, story.first_seen)
    assert lines[3] == "Sightings (2):"
    assert lines[4].split() == ["SOURCE", "RULE", "SIMILARITY", "FIRST", "SEEN", "URL"]
    first, copy = lines[5].split(), lines[6].split()
    assert first[:3] == ["astanatimes", "first", "-"] and first[4] == "https://astanatimes.example/rail"
    assert copy[:3] == ["timesca", "near_jaccard", "0.912"] and copy[4] == "https://timesca.example/rail-copy"
    assert lines[7] == "Earlier versions (1):"
    assert lines[8].split() == ["RECORDED", "URL", "TITLE"]
    assert lines[9].split()[1:] == ["https://astanatimes.example/rail", "Rail", "line", "opens"]
    assert len(lines) == 10
    plain = invoke("explain", "water", "--db", str(db))
    assert plain.exit_code == 0 and "Sightings (1):" in plain.stdout and "Earlier versions" not in plain.stdout
    missing = invoke("explain", "nosuchstory", "--db", str(db))
    assert missing.exit_code == 2 and "Error: no story 'nosuchstory' in %s" % db in missing.stderr


def test_export_writes_json_feed_atom_or_json_lines(db: Path, tmp_path: Path) -> None:
    result = invoke("export", "--db", str(db))
    assert result.exit_code == 0, result.output
    feed = json.loads(result.stdout)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "News aggregator" and feed["home_page_url"] == "http://127.0.0.1:8080/"
    assert [item["id"] for item in feed["items"]] == ["rail", "grain", "water"]
    assert [s["source"] for s in feed["items"][0]["_aggregator"]["sightings"]] == ["astanatimes", "timesca"]

    def ids(*args: str, env: dict[str, str] | None = None) -> list[str]:
        export = invoke("export", "--db", str(db), *args, env=env)
        assert export.exit_code == 0, export.output
        return [item["id"] for item in json.loads(export.stdout)["items"]]

    assert ids("--source", "timesca") == ["rail", "water"]
    assert ids("--limit", "1") == ["rail"]
    assert ids("--since", "2026-11-19") == ["rail", "grain"]
    assert ids("--since", "2027-01-01") == []

    titled = json.loads(invoke("export", "--db", str(db), "--title", "Steppe news",
                               env={"AGGREGATOR_HOME_PAGE_URL": "https://news.example/"}).stdout)
    assert titled["title"] == "Steppe news" and titled["home_page_url"] == "https://news.example/"

    out = tmp_path / "out" / "feed.json"
    out.parent.mkdir()
    written = invoke("export", "--db", str(db), "-o", str(out))
    assert written.exit_code == 0 and written.stdout == ""
    assert written.stderr == "Wrote 3 stories to %s\n" % out
    assert json.loads(out.read_text("utf-8")) == feed

    atom = invoke("export", "--db", str(db), "--format", "atom")
    assert atom.exit_code == 0, atom.output
    parsed = feedparser.parse(atom.stdout.encode("utf-8"))
    assert not parsed.bozo and [story_id(entry.id) for entry in parsed.entries] == ["rail", "grain", "water"]

    jsonl = invoke("export", "--db", str(db), "--format", "jsonl", "--source", "astanatimes")
    assert [json.loads(line) for line in jsonl.stdout.splitlines()] == feed["items"][:2]

    unknown = invoke("export", "--db", str(db), "--format", "rss")
    assert unknown.exit_code == 2 and "Invalid value for '--format'" in unknown.stderr
