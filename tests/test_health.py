"""Source health: the state rules over runs recorded through the real run log in a real SQLite file, then real
crawls of loopback sites (one dies, one is redesigned), `aggregator health`, `serve`'s /health and the reader
page in headless Chromium."""

from __future__ import annotations

import html
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from aggregator.store.health import FAILING_AFTER, read_source_health, source_health, storage_health
from aggregator.store.runs import RunLog, open_run_log
from aggregator.store.source_runs import Polling, counts_from_stats, save_polling, source_stat
from aggregator.testing.sitegen import SiteSpec, generate_stories, write_site
from aggregator.testing.snapshot import render_template, serve_snapshot
from tests.conftest import FAST, run_cli
from tests.store_backends import Backend, backend_fixture  # noqa: F401 (fixtures)
from tests.test_serve import CHROMIUM, serving


@dataclass(frozen=True)
class Finished:
    """What a finished crawl hands the run log (the fields of aggregator.ops.crawl.CrawlSummary it reads)."""

    stats: dict[str, Any] = field(default_factory=dict)
    pages_fetched: int = 0
    articles_stored: int = 0
    duplicates_collapsed: int = 0
    updated: int = 0
    errors: int = 0
    exit_code: int = 0
    reason: str = "finished"


def counters(source: str, **values: Any) -> dict[str, Any]:
    """Stats as a crawl of `source` counts them: `index_ok=1` is `aggregator/source/<source>/feeds/parsed`."""
    names = {"index_ok": "feeds/parsed", "index_failed": "index/failed", "entries_new": "articles/requested",
             "entries_known": "articles/skipped_known", "articles_fetched": "articles/fetched",
             "articles_extracted": "extracted", "stories_new": "stored/new"}
    stats: dict[str, Any] = {source_stat(source, names[name]): value for name, value in values.items()
                             if name in names}
    if "error" in values:
        cause, message = values["error"]
        stats[source_stat(source, "errors/" + cause)] = 1
        stats[source_stat(source, "last_error")] = "%s: %s" % (cause, message)
    return stats


def record(log: RunLog, sources: list[str], stats: dict[str, Any], reason: str = "finished") -> int:
    run_id = log.start(sources)
    log.finish(run_id, Finished(stats=stats, reason=reason))
    return run_id


def test_every_option_of_the_command_says_what_it_does() -> None:
    from click.testing import CliRunner

    from aggregator.ops.cli import main
    from aggregator.ops.cli_health import health

    assert all(option.help for option in health.params if option.name != "help"), [
        option.name for option in health.params if not getattr(option, "help", None)]
    shown = CliRunner().invoke(main, ["health", "--help"]).output
    assert "one JSON document (what `serve` answers at /health)" in " ".join(shown.split())


def test_counts_are_read_back_per_source() -> None:
    stats = {**counters("a", index_ok=2, entries_new=5, error=("timeout", "http://a.example/x")),
             **counters("b", index_failed=1), "aggregator/errors/timeout": 1, "downloader/response_count": 9}
    counts = counts_from_stats(stats)
    assert set(counts) == {"a", "b"}
    assert (counts["a"].index_ok, counts["a"].entries_new, counts["a"].errors) == (2, 5, 1)
    assert counts["a"].last_error == "timeout: http://a.example/x"
    assert counts["b"].index_failed == 1 and counts["b"].errors == 0


def test_a_source_fails_after_consecutive_failed_runs_and_recovers(backend: Backend) -> None:
    db = backend.db
    log = open_run_log(db)
    try:
        record(log, ["news", "dies"], {**counters("news", index_ok=1, entries_new=3, articles_fetched=3,
                                                  articles_extracted=3, stories_new=3),
                                       **counters("dies", index_ok=1, stories_new=1)})
        states = []
        for _ in range(FAILING_AFTER):
            record(log, ["news", "dies"], {**counters("news", index_ok=1, entries_known=3),
                                           **counters("dies", index_failed=1,
                                                      error=("connection_refused", "http://dies.example/feed"))})
            states.append({h.source: h for h in source_health(log, ["news", "dies"])})
        # A run stopped before it reached the source counts neither way.
        record(log, ["dies"], {}, reason="shutdown")
        save_polling(log, Polling("dies", 7200.0, "3 failed runs in a row, backing off: 2h",
                                  "2026-11-27T12:00:00+00:00", "2026-11-27T10:00:00+00:00"))
        after_stop = {h.source: h for h in source_health(log, ["news", "dies", "never"])}
    finally:
        log.close()
    assert [s["dies"].state for s in states] == ["degraded", "degraded", "failing"]
    assert [s["dies"].consecutive_failures for s in states] == [1, 2, 3]
    assert all(s["news"].state == "ok" and s["news"].consecutive_failures == 0 for s in states)
    dies = after_stop["dies"]
    assert dies.state == "failing" and dies.consecutive_failures == FAILING_AFTER
    assert dies.last_error == "connection_refused: http://dies.example/feed"
    assert dies.last_error_cause == "connection_refused" and dies.last_success is not None
    assert (dies.interval_seconds, dies.next_due) == (7200.0, "2026-11-27T12:00:00+00:00")
    assert after_stop["never"].state == "ok" and after_stop["never"].reason == "no run recorded yet"
    assert after_stop["news"].stories_per_day == pytest.approx(3 / 7, abs=0.01)
    # read back by another reader, as `aggregator health` does, and on the storage's own connection (PostgreSQL
    # storage hands out dict rows), as `serve` does
    reread = {h.source: h for h in read_source_health(db)}
    assert reread["dies"].state == "failing" and reread["news"].state == "ok"
    storage = backend.open()
    try:
        assert {h.source: h.state for h in storage_health(storage)} == {"news": "ok", "dies": "failing"}
    finally:
        storage.close()
    log = open_run_log(db)
    try:
        record(log, ["dies"], counters("dies", index_ok=1))
        assert {h.source: h.state for h in source_health(log)}["dies"] == "ok"
    finally:
        log.close()


def test_a_dropping_article_share_is_degraded(tmp_path: Path) -> None:
    log = open_run_log(str(tmp_path / "share.db"))
    try:
        record(log, ["site"], counters("site", index_ok=1, entries_new=6, articles_fetched=6,
                                       articles_extracted=6, stories_new=6))
        assert source_health(log, ["site"])[0].state == "ok"
        record(log, ["site"], counters("site", index_ok=1, entries_new=4, articles_fetched=4,
                                       articles_extracted=0))
        (site,) = source_health(log, ["site"])
    finally:
        log.close()
    assert site.state == "degraded" and site.consecutive_failures == 0
    assert site.article_share == 0 and site.article_pages == 4 and site.article_share_before == 1.0
    assert "0% of 4 fetched pages gave an article (100% of 6 before)" in site.reason


# --- end to end: real crawls of loopback sites, `aggregator health`, and `serve` -----------------------------

REDESIGNED = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} | Redesign</title>"
              "</head><body><div id=\"app\"></div><noscript>This site needs JavaScript.</noscript></body></html>")
SOURCES = """
[sources.steady]
name = "Steady News"
feed = "{{BASE:steady}}/feed.rss"

[sources.redesign]
name = "Redesign Daily"
feed = "{{BASE:redesign}}/feed.rss"

[sources.dies]
name = "Dies Weekly"
feed = "{{BASE:dies}}/feed.rss"
"""


def _crawl(registry: Path, db: Path) -> None:
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST,
                     "--set", "RETRY_TIMES=0", "--set", "AGGREGATOR_WORKERS=0")
    assert result.returncode in (0, 3), result.stderr[-3000:]


def _health(registry: Path, db: Path) -> tuple[int, dict[str, dict[str, Any]], dict[str, Any]]:
    result = run_cli("health", "--db", str(db), "--sources", str(registry), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    return result.returncode, {health["source"]: health for health in document["sources"]}, document


def test_dead_and_redesigned_sites_over_real_crawls_then_serve(tmp_path: Path) -> None:
    sites, doomed = tmp_path / "sites", tmp_path / "doomed"
    stories = generate_stories(8, seed=3)
    write_site(sites, SiteSpec(name="steady", stories=generate_stories(4, seed=4), sitemap=False))
    write_site(sites, SiteSpec(name="redesign", stories=stories[:4], sitemap=False))
    write_site(doomed, SiteSpec(name="dies", stories=generate_stories(3, seed=5), sitemap=False))
    registry, db = tmp_path / "sources.toml", tmp_path / "health.db"
    with serve_snapshot(sites) as bases:
        with serve_snapshot(doomed, first_host=20) as dying:
            registry.write_text(render_template(SOURCES, {**bases, **dying}), "utf-8")
            _crawl(registry, db)
            code, first, _ = _health(registry, db)
        # The dying site is gone (connection refused); the redesigned one publishes 4 new articles whose
        # pages no longer hold one.
        write_site(sites, SiteSpec(name="redesign", stories=stories, sitemap=False))
        for story in stories[4:]:
            (sites / "redesign" / "news" / (story.slug + ".html")).write_text(
                REDESIGNED.format(title=html.escape(story.title)), "utf-8")
        _crawl(registry, db)
        _, second, _ = _health(registry, db)
        _crawl(registry, db)
        _crawl(registry, db)
        final_code, final, document = _health(registry, db)
        table = run_cli("health", "--db", str(db), "--sources", str(registry))

    assert code == 0 and {key: h["state"] for key, h in first.items()} == {
        "steady": "ok", "redesign": "ok", "dies": "ok"}
    assert first["redesign"]["article_share"] == 1.0 and first["redesign"]["article_pages"] == 4
    assert first["steady"]["stories_per_day"] == round(4 / 7, 2)

    assert second["dies"]["state"] == "degraded" and second["dies"]["consecutive_failures"] == 1
    assert second["redesign"]["state"] == "degraded", second["redesign"]
    assert (second["redesign"]["article_share"], second["redesign"]["article_pages"]) == (0, 4)
    assert second["redesign"]["article_share_before"] == 1.0
    assert second["redesign"]["reason"] == "only 0% of 4 fetched pages gave an article (100% of 4 before)"
    assert second["steady"]["state"] == "ok"

    assert final_code == 1 and document["status"] == "failing" and document["failing"] == ["dies"]
    dies = final["dies"]
    assert dies["state"] == "failing" and dies["consecutive_failures"] == FAILING_AFTER
    assert dies["last_error_cause"] == "connection_refused" and "/feed.rss" in dies["last_error"]
    assert dies["last_success"] is not None and dies["reason"] == "3 failed runs in a row (connection_refused)"
    assert final["redesign"]["state"] == "degraded"  # runs that fetched no article page do not clear it
    assert final["steady"]["state"] == "ok"
    assert table.returncode == 1
    header, *rows = table.stdout.split("\n\n")[0].splitlines()
    assert header.split()[:3] == ["SOURCE", "STATE", "FAILED"]
    assert [row.split()[:3] for row in rows] == [["steady", "ok", "0"], ["redesign", "degraded", "0"],
                                                 ["dies", "failing", "3"]]
    assert "Last errors:\n  dies (" in table.stdout and "connection_refused: http://127.0.0.20:" in table.stdout

    workdir = tmp_path / "serve"  # serving() writes its own sources.toml there; ours is given after it
    workdir.mkdir()
    with serving(db, workdir, "--sources", str(registry)) as server:
        served = server.get("/health")
        page = server.get("/")
        dom = _chromium_dom(server.base, tmp_path) if CHROMIUM else None
    assert served.status == 200 and served.json()["failing"] == ["dies"]
    assert {h["source"]: h["state"] for h in served.json()["sources"]} == {
        "steady": "ok", "redesign": "degraded", "dies": "failing"}
    assert b'class="failing-sources"' in page.body
    if dom is None:
        pytest.skip("chromium is not installed: the page's markup was checked, not its rendering")
    notice = dom.cssselect("p.failing-sources")
    assert len(notice) == 1 and notice[0].text_content() == (
        "Failing: Dies Weekly (3 failed runs in a row (connection_refused)). Their newest stories may be missing.")
    marked = {span.text_content() for span in dom.cssselect("article.story .meta .source.failing")}
    plain = {span.text_content() for span in dom.cssselect("article.story .meta .source:not(.failing)")}
    assert marked == {"Dies Weekly"} and plain == {"Steady News", "Redesign Daily"}
    assert len(dom.cssselect("article.story .meta .source.failing")) == 3  # its three stories


def _chromium_dom(url: str, tmp_path: Path) -> Any:
    """The reader page as headless Chromium renders it (the flags tests/test_serve.py uses)."""
    flags = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--user-data-dir=%s" % (tmp_path / "profile")]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return lxml.html.fromstring(dom.stdout)
