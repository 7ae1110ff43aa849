"""Adaptive polling: the policy on recorded runs, and the real scheduler choosing, saving and resuming intervals."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.ops.polling import Bounds, duration, next_interval
from aggregator.store.source_runs import SourceCounts, SourceRun
from tests.conftest import PROJECT, run_cli

HOUR = 3600.0


def run(run_id: int, **counts: int) -> SourceRun:
    return SourceRun(run_id, "src", "2026-11-27T10:00:00+00:00", "2026-11-27T10:01:00+00:00", "finished",
                     SourceCounts("src", **counts))  # type: ignore[arg-type]  # the int columns, by name


READ = {"index_ok": 1}
DEAD = {"index_failed": 1}


def history(*newest_first: dict[str, int]) -> list[SourceRun]:
    return [run(len(newest_first) - i, **counts) for i, counts in enumerate(newest_first)]


def test_default_bounds_and_spelled_durations() -> None:
    hourly = Bounds.of(HOUR)
    assert (hourly.start, hourly.low, hourly.high) == (HOUR, HOUR / 4, 8 * HOUR)
    daily = Bounds.of(86400)
    assert (daily.low, daily.high) == (21600, 86400)  # at most a day, never under every
    weekly = Bounds.of(7 * 86400)
    assert weekly.high == weekly.start == 7 * 86400
    assert Bounds.of(HOUR, min_interval=2 * HOUR).start == 2 * HOUR  # every below min_interval starts at it
    assert Bounds.of(HOUR, max_interval=600).start == 600
    assert (Bounds.of(HOUR, max_interval=600).low, Bounds.of(HOUR, min_interval=10 * HOUR).high) == (600, 10 * HOUR)
    with pytest.raises(ValueError, match="every must be positive"):
        Bounds.of(0)
    assert [duration(s) for s in (45, 1800, 5400, 86400 + 7200, 2.4)] == ["45s", "30m", "1h30m", "1d2h", "2s"]


def test_new_entries_shrink_known_entries_grow_within_bounds() -> None:
    bounds = Bounds.of(HOUR, min_interval=20 * 60, max_interval=2 * HOUR)
    first = next_interval(None, history({**READ, "entries_new": 20}), bounds)
    assert (first.seconds, first.reason) == (HOUR, "first run: starting at its every: 1h")
    busy = next_interval(HOUR, history({**READ, "entries_new": 8, "entries_known": 2}, READ), bounds)
    assert busy.seconds == HOUR / 2 and busy.reason == "8 of 10 listed entries new (80%), shorter: 30m"
    floor = next_interval(HOUR / 2, history({**READ, "entries_new": 10}, READ), bounds)
    assert floor.seconds == 20 * 60 and floor.reason.endswith("20m (its min_interval)")
    quiet = next_interval(HOUR, history({**READ, "entries_new": 1, "entries_known": 19}, READ), bounds)
    assert quiet.seconds == 1.5 * HOUR and "1 of 20 listed entries new (5%), longer" in quiet.reason
    ceiling = next_interval(1.5 * HOUR, history({**READ, "entries_known": 20}, READ), bounds)
    assert ceiling.seconds == 2 * HOUR and ceiling.reason.endswith("(its max_interval)")
    steady = next_interval(HOUR, history({**READ, "entries_new": 3, "entries_known": 7}, READ), bounds)
    assert (steady.seconds, steady.reason) == (HOUR, "3 of 10 listed entries new (30%): kept at 1h")
    unchanged = next_interval(HOUR, history({**READ, "index_not_modified": 1}, READ), bounds)
    assert unchanged.seconds == 1.5 * HOUR and unchanged.reason.startswith("every index page unchanged (304)")
    stopped = next_interval(HOUR, history({}, READ), bounds)  # a run stopped before it reached the source
    assert stopped.seconds == HOUR and "did not reach the source" in stopped.reason


def test_failed_runs_back_off_and_recovery_returns_to_every() -> None:
    bounds = Bounds.of(HOUR, max_interval=6 * HOUR)
    refused = {**DEAD}
    one = next_interval(HOUR / 2, history(refused, READ), bounds)
    assert one.seconds == 2 * HOUR and one.reason.startswith("1 failed run in a row")
    two = next_interval(one.seconds, history(refused, refused, READ), bounds)
    assert two.seconds == 4 * HOUR
    three = next_interval(two.seconds, history(refused, refused, refused, READ), bounds)
    assert three.seconds == 6 * HOUR and three.reason.endswith("(its max_interval)")
    defaults = next_interval(HOUR, history(refused, refused, refused, refused, READ), Bounds.of(HOUR))
    assert (defaults.seconds, defaults.reason) == (8 * HOUR, "4 failed runs in a row (no index page could be read), "
                                                   "backing off: 8h (the longest without a max_interval)")
    back = next_interval(three.seconds, history({**READ, "entries_new": 5}, refused, refused, refused, READ), bounds)
    assert back.seconds == HOUR and back.reason == "read again after failed runs: back to its every: 1h"
    # every article page failing is a failed run too
    articles = next_interval(HOUR, history({**READ, "articles_failed": 4}, READ), bounds)
    assert articles.seconds == 2 * HOUR


def _schedule(registry: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aggregator.ops.cli", "schedule", "--sources", str(registry),
                           "--db", str(db), "--log-level", "INFO", "--set", "DOWNLOAD_DELAY=0", "--set",
                           "RETRY_TIMES=0", "--set", "AGGREGATOR_WORKERS=0", *args],
                          cwd=PROJECT, capture_output=True, text=True, timeout=180)


def test_scheduler_adapts_saves_and_resumes_intervals(seed_sites: dict[str, str], tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(
        '[sources.timesca]\nname = "Times"\nfeed = "%s/feed.rss"\nevery = "2s"\n'
        '[sources.dead]\nname = "Dead"\nfeed = "http://127.0.0.1:9/feed.rss"\nevery = "2s"\nmax_interval = "6s"\n'
        % seed_sites["timesca"], "utf-8")
    db = tmp_path / "polled.db"
    first = _schedule(registry, db, "--for", "22")
    assert first.returncode == 0, first.stderr[-3000:]
    con = sqlite3.connect(db)
    saved = {row[0]: row[1:] for row in con.execute("SELECT source, interval_seconds, reason, next_due"
                                                     " FROM source_polling")}
    runs = {key: con.execute("SELECT count(*) FROM source_runs WHERE source = ?", (key,)).fetchone()[0]
            for key in ("timesca", "dead")}
    assert runs["timesca"] >= 2 and runs["dead"] >= 2, first.stderr[-3000:]
    # timesca: its feed unchanged after the first run, so it is polled less often; dead backs off to its max
    assert saved["timesca"][0] > 2 and saved["timesca"][1].startswith("every index page unchanged (304), longer")
    assert saved["dead"][0] == 6 and "failed runs in a row (connection_refused), backing off" in saved["dead"][1]
    assert "Source dead: next crawl in" in first.stderr

    shown = run_cli("health", "--db", str(db), "--sources", str(registry))
    assert shown.returncode in (0, 1), shown.stderr
    dead_row = next(line for line in shown.stdout.splitlines() if line.startswith("dead "))
    assert " 6s " in dead_row
    assert "  dead: next crawl at %s; %s" % (saved["dead"][2], saved["dead"][1]) in shown.stdout

    # A restarted scheduler resumes each saved interval and due time instead of crawling everything at once.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    con.execute("UPDATE source_polling SET next_due = ? WHERE source = 'dead'", (later,))
    con.commit()
    second = _schedule(registry, db, "--for", "4")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Source dead: resuming at every 6s" in second.stderr
    assert "Source dead: every 6s, first crawl at %s" % later in second.stderr
    after = con.execute("SELECT count(*) FROM source_runs WHERE source = 'dead'").fetchone()[0]
    assert after == runs["dead"]  # not due for an hour: not crawled
