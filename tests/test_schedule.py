"""The scheduler, the crawl lock and the run history, with real child processes and loopback sites."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.store.lock import CrawlLock, LockBusy
from aggregator.intervals import Every, ScheduleError
from tests.conftest import FAST, PROJECT, run_cli


def test_every_parses_intervals_and_cron() -> None:
    now = datetime(2026, 11, 27, 10, 7, tzinfo=UTC)
    half_hour = Every.parse("30m")
    assert half_hour.first(now) == now
    assert half_hour.after(now) == datetime(2026, 11, 27, 10, 37, tzinfo=UTC)
    assert Every.parse("2h").seconds == 7200 and Every.parse("1d").seconds == 86400
    quarter = Every.parse("*/15 * * * *")
    assert quarter.first(now) == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
    assert quarter.after(datetime(2026, 11, 27, 10, 15, tzinfo=UTC)) == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    for bad in ("often", "0m", "61 * * * *", "* * *"):
        with pytest.raises(ScheduleError):
            Every.parse(bad)


def test_bad_every_in_registry_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.x]\nname = "X"\nfeed = "https://x.example/feed"\nevery = "sometimes"\n')
    result = run_cli("sources", "--sources", str(bad))
    assert result.returncode == 2 and "source 'x', field 'every'" in result.stderr


def test_lock_refuses_or_waits(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    holder = CrawlLock(str(db))
    holder.acquire()
    try:
        with pytest.raises(LockBusy, match="another crawl is running"):
            CrawlLock(str(db)).acquire()
        refused = run_cli("crawl", "timesca", "--sources", str(seed_registry), "--db", str(db), *FAST)
        assert refused.returncode == 5
        assert "Error: another crawl is running on %s (pid " % db in refused.stderr
        assert "--wait" in refused.stderr
        threading.Timer(2.0, holder.release).start()
        started = time.monotonic()
        waited = run_cli("crawl", "timesca", "--wait", "--sources", str(seed_registry), "--db", str(db), *FAST)
        assert waited.returncode == 0, waited.stderr[-2000:]
        assert time.monotonic() - started >= 2.0
        assert "Waiting for the crawl running on" in waited.stderr
    finally:
        holder.release()
    runs = run_cli("runs", "--db", str(db))
    lines = runs.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "SOURCES", "STARTED"]
    assert len(lines) == 2 and " timesca " in lines[1] and lines[1].split()[-2:] == ["0", "finished"]


def _schedule(registry: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aggregator.ops.cli", "schedule", "--sources", str(registry),
                             "--db", str(db), *args], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_scheduler_crawls_each_source_at_its_interval(seed_sites: dict[str, str], tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(
        '[sources.timesca]\nname = "Times"\nfeed = "%s/feed.rss"\nevery = "2s"\n'
        '[sources.astanatimes]\nname = "Astana"\nfeed = "%s/feed.rss"\nevery = "1h"\n'
        '[sources.dead]\nname = "Dead"\nfeed = "http://127.0.0.1:9/feed.rss"\nevery = "2s"\n'
        % (seed_sites["timesca"], seed_sites["astanatimes"]), "utf-8")
    db = tmp_path / "scheduled.db"
    # Extraction inline (AGGREGATOR_WORKERS=0): these crawls are a few pages, and pool start-up would
    # make each take longer than the 2 s interval under test.
    scheduler = _schedule(registry, db, "--for", "15", "--set", "DOWNLOAD_DELAY=0", "--set", "RETRY_TIMES=0",
                          "--set", "AGGREGATOR_WORKERS=0")
    out, err = scheduler.communicate(timeout=120)
    assert scheduler.returncode == 0, err[-3000:]
    con = sqlite3.connect(db)
    runs = con.execute("SELECT sources, exit_status, reason FROM runs ORDER BY id").fetchall()
    by_source = {key: [r for r in runs if r[0] == key] for key in ("timesca", "astanatimes", "dead")}
    assert len(by_source["astanatimes"]) == 1  # every 1h: once, at the start
    assert len(by_source["timesca"]) >= 2  # every 2s, for 15 s, each crawl taking a second or two
    assert all(r[1:] == (0, "finished") for r in by_source["timesca"] + by_source["astanatimes"])
    assert len(by_source["dead"]) >= 2 and all(r[1] == 3 for r in by_source["dead"])  # failing, never fatal
    assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == 4  # timesca 2 + astanatimes 3, 1 shared
    stats = run_cli("stats", "--db", str(db)).stdout.splitlines()
    assert stats[0].split()[:3] == ["SOURCE", "STORIES", "SIGHTINGS"]
    dead = next(line for line in stats if line.startswith("dead"))
    assert dead.split()[1:4] == ["0", "0", "-"] and int(dead.split()[5]) >= 2  # no stories; failed runs counted


def test_sigterm_stops_the_running_crawl_cleanly(tmp_path: Path) -> None:
    from aggregator.testing.sitegen import SiteSpec, generate_stories, write_site
    from aggregator.testing.snapshot import serve_snapshot

    root = tmp_path / "sites"
    write_site(root, SiteSpec(name="slow", stories=generate_stories(60, seed=5)), feed_size=60)
    with serve_snapshot(root) as bases:
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.slow]\nname = "Slow"\nfeed = "%s/feed.rss"\n' % bases["slow"], "utf-8")
        db = tmp_path / "slow.db"
        # 0.2 s between requests: the crawl of 60 articles takes ~12 s, so SIGTERM lands mid-crawl.
        scheduler = _schedule(registry, db, "--every", "1h", "--set", "DOWNLOAD_DELAY=0.2",
                              "--set", "AUTOTHROTTLE_ENABLED=false", "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if db.exists():
                try:
                    stored = sqlite3.connect(db).execute("SELECT count(*) FROM stories").fetchone()[0]
                except sqlite3.OperationalError:
                    continue
                if stored >= 5:
                    break
        # A manual crawl started while the scheduler's crawl runs meets the lock.
        overlapping = run_cli("crawl", "slow", "--sources", str(registry), "--db", str(db), *FAST)
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=60)
    assert overlapping.returncode == 5 and "another crawl is running on" in overlapping.stderr
    assert scheduler.returncode == 0, err[-3000:]
    con = sqlite3.connect(db)
    (run,) = con.execute("SELECT finished, exit_status, reason, stored FROM runs").fetchall()
    assert run[0] is not None and run[1] == 4 and run[2] == "shutdown"
    stories = con.execute("SELECT count(*) FROM stories").fetchone()[0]
    assert 5 <= stories < 60 and run[3] == stories
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    orphans = con.execute("SELECT count(*) FROM sightings WHERE story_id NOT IN (SELECT id FROM stories)")
    assert orphans.fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM sightings").fetchone()[0] == stories
    assert "Stopping (SIGTERM)" in err
