"""Source health: the state rules over runs recorded through the real run log in a real SQLite file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aggregator.store.health import FAILING_AFTER, read_source_health, source_health
from aggregator.store.runs import RunLog, open_run_log
from aggregator.store.source_runs import counts_from_stats, source_stat


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


def test_counts_are_read_back_per_source() -> None:
    stats = {**counters("a", index_ok=2, entries_new=5, error=("timeout", "http://a.example/x")),
             **counters("b", index_failed=1), "aggregator/errors/timeout": 1, "downloader/response_count": 9}
    counts = counts_from_stats(stats)
    assert set(counts) == {"a", "b"}
    assert (counts["a"].index_ok, counts["a"].entries_new, counts["a"].errors) == (2, 5, 1)
    assert counts["a"].last_error == "timeout: http://a.example/x"
    assert counts["b"].index_failed == 1 and counts["b"].errors == 0


def test_a_source_fails_after_consecutive_failed_runs_and_recovers(tmp_path: Path) -> None:
    db = str(tmp_path / "health.db")
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
    assert after_stop["never"].state == "ok" and after_stop["never"].reason == "no run recorded yet"
    assert after_stop["news"].stories_per_day == pytest.approx(3 / 7, abs=0.01)
    # read back from the file by another reader, as `aggregator health` does
    reread = {h.source: h for h in read_source_health(db)}
    assert reread["dies"].state == "failing" and reread["news"].state == "ok"
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
