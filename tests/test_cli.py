"""The command line as a user meets it: exit codes and messages.

Commands that do not crawl run in this process through click's `CliRunner`; a crawl, `scrapy crawl news`
and the installed console script run as real processes (Scrapy's reactor cannot restart in one process).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aggregator.ops.cli import main
from tests.conftest import FAST, PROJECT, run_cli

KNOWN = "known sources: astanatimes, commonspace, timesca"


def invoke(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """Run `aggregator ARGS...` in this process. The AGGREGATOR_* variables a user may have set are unset
    unless `env` names them; anything but a click error (a traceback for the user) fails the test."""
    clean: dict[str, str | None] = {"AGGREGATOR_DB": None, "AGGREGATOR_SOURCES": None,
                                    "AGGREGATOR_HOME_PAGE_URL": None}
    clean.update(env or {})
    return CliRunner().invoke(main, list(args), input=stdin, env=clean, catch_exceptions=False)


def test_sources_table_lists_the_registry() -> None:
    result = invoke("sources")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "KIND", "URLS"]
    assert any(line.startswith("astanatimes") and "https://astanatimes.com/feed/" in line for line in lines)
    assert any(line.startswith("commonspace") and "listing" in line for line in lines)
    assert [line.split()[0] for line in lines[1:]] == ["astanatimes", "commonspace", "timesca"]


def test_sources_reads_the_file_named_by_option_or_environment(tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text('[sources.city]\nname = "City News"\nfeed = "https://city.example/feed.xml"\n'
                        '[sources.river]\nname = "River"\nsitemap = "https://river.example/sitemap.xml"\n', "utf-8")
    by_option = invoke("sources", "--sources", str(registry))
    assert by_option.exit_code == 0, by_option.output
    assert by_option.stdout.splitlines()[1:] == [
        "city   City News  feed     https://city.example/feed.xml",
        "river  River      sitemap  https://river.example/sitemap.xml"]
    by_env = invoke("sources", env={"AGGREGATOR_SOURCES": str(registry)})
    assert by_env.stdout == by_option.stdout


def test_unknown_source_lists_the_known_ones(tmp_path: Path) -> None:
    result = invoke("crawl", "nosuch", "--db", str(tmp_path / "x.db"))
    assert result.exit_code == 2
    assert "Error: unknown source(s): nosuch; %s" % KNOWN in result.stderr
    assert not (tmp_path / "x.db").exists()
    scheduled = invoke("schedule", "timesca", "nosuch", "--db", str(tmp_path / "x.db"))
    assert scheduled.exit_code == 2 and "Error: unknown source(s): nosuch; %s" % KNOWN in scheduled.stderr
    assert not (tmp_path / "x.db").exists()


def test_bad_sources_file_names_file_source_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.broken]\nname = "Broken"\nfeed = "not a url"\n')
    message = "bad.toml: source 'broken', field 'feed': not an http(s) URL: 'not a url'"
    result = invoke("sources", "--sources", str(bad))
    assert result.exit_code == 2 and "Error: " in result.stderr and message in result.stderr
    by_env = invoke("crawl", "--all", env={"AGGREGATOR_SOURCES": str(bad)})
    assert by_env.exit_code == 2 and "field 'feed'" in by_env.stderr
    for command in (["schedule"], ["worker", "--redis", "redis://127.0.0.1:9/0"], ["serve", "--db", str(bad)]):
        refused = invoke(*command, "--sources", str(bad))
        assert refused.exit_code == 2 and message in refused.stderr, command
    unreadable = invoke("sources", "--sources", str(tmp_path / "none.toml"))
    assert unreadable.exit_code == 2 and "none.toml: cannot read" in unreadable.stderr


def test_crawl_needs_sources_or_all() -> None:
    result = invoke("crawl")
    assert result.exit_code == 2
    assert "name one or more sources, or use --all (known: astanatimes, commonspace, timesca)" in result.stderr


def test_bad_set_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for bad in ("DOWNLOAD_DELAY", "=0"):
        result = invoke("crawl", "timesca", "--db", str(db), "--set", "LOG_LEVEL=INFO", "--set", bad)
        assert result.exit_code == 2
        assert "Error: Invalid value for --set: expected NAME=VALUE, got %r" % bad in result.stderr
        worker = invoke("worker", "--redis", "redis://127.0.0.1:9/0", "--db", str(db), "--set", bad)
        assert worker.exit_code == 2 and "expected NAME=VALUE, got %r" % bad in worker.stderr
    assert not db.exists()


def test_schedule_refuses_a_bad_default_interval(tmp_path: Path) -> None:
    result = invoke("schedule", "--every", "sometimes", "--db", str(tmp_path / "x.db"))
    assert result.exit_code == 2
    assert "Error: Invalid value for --every: not an interval ('30m', '2h', '1d') or a cron expression: " \
           "'sometimes'" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_read_commands_without_database_are_a_clear_error(tmp_path: Path) -> None:
    none = str(tmp_path / "none.db")
    for command in (["export"], ["runs"], ["stats"], ["explain", "somestory"]):
        result = invoke(*command, "--db", none)
        assert result.exit_code == 2, command
        assert "Error: no database at %s (run `aggregator crawl` first)" % none in result.stderr
    by_env = invoke("export", env={"AGGREGATOR_DB": none})
    assert by_env.exit_code == 2 and "no database at %s" % none in by_env.stderr
    bad_since = invoke("export", "--db", none, "--since", "last week")
    assert bad_since.exit_code == 2 and "not an ISO 8601 date: 'last week'" in bad_since.stderr
    assert not Path(none).exists()


def test_unsupported_database_url_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where a URL misread as a file path would leave its directory
    for command in (["export"], ["runs"], ["stats"], ["explain", "somestory"]):
        result = invoke(*command, "--db", "mysql://host/news")
        assert result.exit_code == 2, (command, result.output)
        assert "Error: unsupported database URL 'mysql://host/news'" in result.stderr
    assert list(tmp_path.iterdir()) == []


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
    # Each failure is a one-line message: Scrapy's robots.txt middleware used to add two tracebacks per dead site.
    assert "Error downloading <GET http://127.0.0.1:9/feed.rss>: Connection was refused" in result.stderr
    assert "Traceback" not in result.stderr
    feed = json.loads(invoke("export", "--db", str(db)).stdout)
    assert feed["items"] and all(i["_aggregator"]["source"] == "timesca" for i in feed["items"])


def test_scrapy_crawl_runs_the_same_spider(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "scrapy.db"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "sources=timesca",
         "-s", "AGGREGATOR_SOURCES=%s" % seed_registry, "-s", "AGGREGATOR_DB=%s" % db,
         "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"],
        cwd=PROJECT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    feed = json.loads(invoke("export", "--db", str(db)).stdout)
    assert len(feed["items"]) >= 2
    assert {s["source"] for item in feed["items"] for s in item["_aggregator"]["sightings"]} == {"timesca"}
    # recorded in the run history like an `aggregator crawl` (issue 17: `scrapy crawl` recorded no run)
    from aggregator.store.runs import open_run_log

    log = open_run_log(str(db))
    [run] = log.recent()
    log.close()
    assert (run.sources, run.reason, run.exit_status, run.stored) == ("timesca", "finished", 0, len(feed["items"]))
    assert run.finished is not None


def test_console_script_reports_user_errors_with_exit_codes(tmp_path: Path) -> None:
    # The installed `aggregator` script, as a user runs it: its exit status is the command's.
    script = Path(sys.executable).parent / "aggregator"
    result = subprocess.run([str(script), "crawl", "nosuch", "--db", str(tmp_path / "x.db")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": str(script.parent), "HOME": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: unknown source(s): nosuch; %s" % KNOWN)
    assert "Traceback" not in result.stderr and not (tmp_path / "x.db").exists()


def test_dedup_command_groups_a_jsonl_corpus(tmp_path: Path) -> None:
    base = " ".join("Sentence %d of the council's report on the tram line and its costs." % n for n in range(40))
    other = " ".join("Paragraph %d about the harvest, grain prices and the export quota." % n for n in range(40))
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps(doc) for doc in (
        {"id": "a", "text": base},
        {"id": "b", "text": other},
        {"id": "c", "text": "ASTANA (Wire) — " + base + " Republished with permission.", "source": "wire"},
    )) + "\n", "utf-8")
    result = invoke("dedup", str(corpus))
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"id": "a", "story": "a"}, {"id": "b", "story": "b"}, {"id": "c", "story": "a"}]
    from_stdin = invoke("dedup", "-", stdin=corpus.read_text("utf-8"))
    assert from_stdin.exit_code == 0 and from_stdin.stdout == result.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', "utf-8")
    refused = invoke("dedup", str(bad))
    assert refused.exit_code == 1 and 'Error: line 1: expected {"id", "text"}' in refused.stderr
    bad.write_text('\n{"id": "x", "text": "fine"}\n{"id": \n', "utf-8")
    not_json = invoke("dedup", str(bad))
    assert not_json.exit_code == 1 and "Error: line 3: not JSON: " in not_json.stderr
    missing = invoke("dedup", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == 2 and "Invalid value for 'FILE'" in missing.stderr


def test_extract_command_prints_the_article(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html lang='en'><head><title>Tram line approved | City News</title>"
                    "<meta property='article:published_time' content='2026-11-20T09:00:00+00:00'></head><body>"
                    "<article><h1>Tram line approved</h1>%s</article></body></html>" % "".join(
                        "<p>The council approved the tram line after debate %d on costs and routes.</p>" % n
                        for n in range(15)), "utf-8")
    result = invoke("extract", str(page), "--url", "https://city.example/tram")
    assert result.exit_code == 0, result.output
    article = json.loads(result.stdout)
    assert article["title"] == "Tram line approved"
    assert article["date_published"] == "2026-11-20T09:00:00+00:00" and article["date_source"] == "meta"
    assert article["text"].startswith("The council approved the tram line after debate 0")
    text = invoke("extract", "-", "--format", "text", stdin=page.read_bytes())
    assert text.exit_code == 0 and text.stdout.startswith("The council approved")
    assert text.stdout == article["text"] + "\n"
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><nav>Home</nav></body></html>", "utf-8")
    nothing = invoke("extract", str(empty))
    assert nothing.exit_code == 1 and "Error: no article body found" in nothing.stderr
