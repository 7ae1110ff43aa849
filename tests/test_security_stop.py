"""A crawl ends promptly and recorded however it is stopped (issue 18, item 10): a second Ctrl-C or SIGTERM
exits 4 at once, without a traceback, and the run history says so; a full disk stops the crawl at the first
failed write with exit 6, recorded too."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.store.runs import RunLog
from aggregator.testing.sitegen import SiteSpec, make_story, render_article
from tests.conftest import FAST, PROJECT, run_cli
from tests.faultserver import FaultServer, hang, page, serve_faults
from tests.hostile_site import NOW, rss


@contextmanager
def busy_site(host: str, articles: int, slow: bool) -> Iterator[FaultServer]:
    """A feed of `articles` pages: each answered at once, or (`slow`) never within the crawl's patience."""
    with serve_faults(host) as site:
        base = site.base_url
        items = []
        for number in range(articles):
            story = make_story(random.Random(number), number, NOW - timedelta(hours=2))
            story.slug = "story-%d" % number
            path = "/news/story-%d" % number
            site.routes[path] = hang(60) if slow else page(
                render_article(SiteSpec(name="Busy"), story, []).replace("{{BASE}}", base))
            items.append((story.title, base + path, path))
        site.routes["/feed.rss"] = page(rss(base, items), "application/rss+xml")
        yield site


def crawl_process(registry: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")}
    return subprocess.Popen([sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all", "--sources", str(registry),
                             "--db", str(db), *FAST, *extra], cwd=PROJECT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def runs_rows(db: Path) -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute("SELECT finished, exit_status, reason FROM runs ORDER BY id").fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_exits_4_promptly_and_recorded(tmp_path: Path, signum: int) -> None:
    with busy_site("127.0.0.72", 8, slow=True) as site:
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.busy]\nname = "Busy"\nfeed = "%s/feed.rss"\n' % site.base_url, "utf-8")
        db = tmp_path / "stop.db"
        crawl = crawl_process(registry, db, "--set", "DOWNLOAD_TIMEOUT=60")
        deadline = time.monotonic() + 60
        while not any(hit.startswith("/news/") for hit in site.hits):  # the crawl is waiting on its pages
            assert time.monotonic() < deadline and crawl.poll() is None, crawl.communicate()
            time.sleep(0.1)
        crawl.send_signal(signum)
        time.sleep(0.5)
        crawl.send_signal(signum)
        stopped = time.monotonic()
        out, err = crawl.communicate(timeout=60)
        took = time.monotonic() - stopped
    assert crawl.returncode == 4, (out, err[-3000:])
    assert took < 5, took  # was 30 s: Scrapy's unclean shutdown, then the threads' teardown
    assert "Traceback" not in err, err[-3000:]
    assert "stopped: shutdown_forced" in out
    ((finished, exit_status, reason),) = runs_rows(db)
    assert finished is not None and (exit_status, reason) == (4, "shutdown_forced")


FULL_DISK = ('mount -t tmpfs -o size="$SIZE" tmpfs "$DST" && "$@"; code=$?; cp -a "$DST"/. "$OUT"/; exit $code')


def test_a_full_disk_stops_the_crawl_at_the_first_failed_write(tmp_path: Path) -> None:
    """The database lives on a 560 KB tmpfs (an empty database is 150 KB), mounted in a mount namespace of the crawl's own (`unshare -m`):
    the disk fills up mid-crawl, and the crawl stops there with exit 6 instead of failing every later page."""
    view, out = tmp_path / "disk", tmp_path / "after"
    view.mkdir()
    out.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(view)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % probe.stderr.strip())
    with busy_site("127.0.0.74", 150, slow=False) as site:
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.busy]\nname = "Busy"\nfeed = "%s/feed.rss"\n' % site.base_url, "utf-8")
        env = {**{k: v for k, v in os.environ.items() if k not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")},
               "SIZE": "560k", "DST": str(view), "OUT": str(out)}
        crawl = subprocess.run(
            ["unshare", "-m", "sh", "-c", FULL_DISK, "sh", sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all",
             "--sources", str(registry), "--db", str(view / "full.db"), *FAST,
             "--set", "AGGREGATOR_STORE_BATCH_SIZE=5"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=180)
        fetched = sum(hit.startswith("/news/") for hit in site.hits)
    assert crawl.returncode == 6, (crawl.stdout, crawl.stderr[-3000:])
    assert "stopped: disk_full" in crawl.stdout
    assert "The disk is full" in crawl.stderr
    stored = sqlite3.connect(out / "full.db").execute("SELECT count(*) FROM stories").fetchone()[0]
    assert 0 < stored < 150 and fetched < 150, (stored, fetched)
    # the run is recorded as ended, then or (when even that write had no room) by the next run
    runs = run_cli("runs", "--db", str(out / "full.db"))
    assert runs.returncode == 0, runs.stderr
    ((finished, exit_status, reason),) = runs_rows(out / "full.db")
    if finished is None:
        log = RunLog(str(out / "full.db"))
        log.start(["busy"])
        log.close()
        ((finished, exit_status, reason), _) = runs_rows(out / "full.db")
        assert reason == "ended_unrecorded"
    else:
        assert (exit_status, reason) == (6, "disk_full")


def test_a_run_left_open_by_a_dead_process_is_closed_by_the_next(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    gone = subprocess.Popen(["true"])
    gone.wait()
    log = RunLog(db)
    log.execute("INSERT INTO runs (sources, started, pid) VALUES ('a', '2026-11-20T00:00:00+00:00', ?)", (gone.pid,))
    log.execute("INSERT INTO runs (sources, started, pid) VALUES ('b', '2026-11-20T00:00:00+00:00', ?)",
                (os.getpid(),))  # alive: a crawl still running, left alone
    log.finish(log.start(["c"]), None)
    log.close()
    rows = runs_rows(tmp_path / "runs.db")
    assert rows[0][0] is not None and rows[0][2] == "ended_unrecorded"
    assert rows[1][0] is None and rows[2][0] is not None
