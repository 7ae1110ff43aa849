"""Distributed mode on real Redis and PostgreSQL: several workers, one shared queue, one dedup index.

A 300-article loopback site of two sources with planted cross-source copies is crawled by a seeding
crawl plus worker processes; the stories and sightings must be exactly those of a single-process crawl,
also when one worker is killed mid-crawl (its leased requests go back to the queue).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.testing.snapshot import ServedSites, render_template, serve_snapshot
from tests.conftest import FAST, PROJECT, run_cli

REDIS = os.environ.get("AGGREGATOR_TEST_REDIS")
pytestmark = pytest.mark.skipif(not REDIS or not os.environ.get("AGGREGATOR_TEST_PG"),
                                reason="needs AGGREGATOR_TEST_REDIS and AGGREGATOR_TEST_PG (scripts/services.sh)")
sys.path.insert(0, str(PROJECT / "bench"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedSites, Path, int]]:
    import throughput

    root = tmp_path_factory.mktemp("dist") / "sites"
    files, copies = throughput.build_sites(root, 300)
    with serve_snapshot(root) as bases:
        registry = root.parent / "sources.toml"
        registry.write_text(render_template(throughput.SOURCES, bases), "utf-8")
        yield bases, registry, copies


def groups_sqlite(db: Path) -> set[frozenset[str]]:
    rows = sqlite3.connect(db).execute("SELECT story_id, url FROM sightings").fetchall()
    return _groups(rows)


def groups_pg(url: str) -> set[frozenset[str]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return _groups(connection.execute("SELECT story_id, url FROM sightings").fetchall())


def _groups(rows: list[tuple[str, str]]) -> set[frozenset[str]]:
    by_story: dict[str, set[str]] = {}
    for story_id, url in rows:
        by_story.setdefault(story_id, set()).add(url.rsplit("/", 1)[1])
    return {frozenset(urls) for urls in by_story.values()}


@pytest.fixture(scope="module")
def reference(site: tuple[ServedSites, Path, int], tmp_path_factory: pytest.TempPathFactory) -> set[frozenset[str]]:
    _, registry, copies = site
    db = tmp_path_factory.mktemp("ref") / "ref.db"
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    groups = groups_sqlite(db)
    assert len(groups) == 300 - copies and sum(len(g) for g in groups) == 300
    return groups


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS or "")
    client.flushdb()
    client.close()


def _command(kind: str, registry: Path, db: str, *extra: str) -> list[str]:
    base = [sys.executable, "-m", "aggregator.ops.cli", kind, "--redis", REDIS or "", "--sources", str(registry),
            "--db", db, *FAST, "--set", "AGGREGATOR_WORKERS=0", "--log-level", "WARNING"]
    return base + list(extra)


def _run(registry: Path, db: str, workers: int, kill_one: bool = False) -> list[int]:
    _flush_redis()
    seed = subprocess.Popen(_command("crawl", registry, db, "--all", "--set", "AGGREGATOR_REDIS_IDLE_SECONDS=6",
                                     "--set", "AGGREGATOR_REDIS_LEASE_SECONDS=4"), cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    others = [subprocess.Popen(_command("worker", registry, db, "--exit-when-idle", "6",
                                        "--set", "AGGREGATOR_REDIS_LEASE_SECONDS=4",
                                        "--set", "CONCURRENT_REQUESTS=4"),
                               cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(workers - 1)]
    if kill_one:
        time.sleep(random.uniform(5.0, 7.0))  # the workers are fetching by now
        others[0].send_signal(signal.SIGKILL)
    codes = []
    try:
        for process in [seed, *others]:
            out, err = process.communicate(timeout=180)
            codes.append(process.returncode)
            if process.returncode not in (0, -signal.SIGKILL):
                pytest.fail("worker failed (%d): %s %s" % (process.returncode, out, err[-2000:]))
    finally:
        for process in [seed, *others]:  # a hung crawl must not outlive the test
            if process.poll() is None:
                process.kill()
                process.wait()
    return codes


def test_three_workers_give_the_single_process_result(site: tuple[ServedSites, Path, int],
                                                      reference: set[frozenset[str]]) -> None:
    from tests.pgserver import fresh_database

    bases, registry, _ = site
    with fresh_database(os.environ["AGGREGATOR_TEST_PG"]) as db:
        bases.reset_hits()
        codes = _run(registry, db, workers=3)
        assert codes == [0, 0, 0]
        assert groups_pg(db) == reference
        pages = [p for paths in bases.hits.values() for p in paths if p.startswith("/news/")]
        assert len(pages) == len(set(pages)) == 300  # each article fetched once, by some worker


def test_a_killed_worker_loses_nothing(site: tuple[ServedSites, Path, int], reference: set[frozenset[str]]) -> None:
    from tests.pgserver import fresh_database

    bases, registry, _ = site
    with fresh_database(os.environ["AGGREGATOR_TEST_PG"]) as db:
        codes = _run(registry, db, workers=3, kill_one=True)
        assert codes[1] == -signal.SIGKILL
        assert groups_pg(db) == reference


def test_a_retry_of_a_leased_request_ends_its_parents_lease() -> None:
    """A retried or redirected request is queued again carrying its parent's lease; queuing it must end
    that lease, or the crawl would look unfinished forever (the bug: a hang after a retry)."""
    import redis
    from scrapy import Request
    from scrapy.settings import Settings
    from scrapy.signalmanager import SignalManager

    from aggregator.fetch.redis_queue import LeasedPriorityQueue

    class Crawler:
        signals = SignalManager()
        settings = Settings({"AGGREGATOR_REDIS_LEASE_SECONDS": 60})

    class Spider:
        name = "lease-test"
        crawler = Crawler()

    client = redis.Redis.from_url(REDIS or "")
    client.flushdb()
    queue = LeasedPriorityQueue(client, Spider(), "test:%(spider)s:requests")
    queue.push(Request("http://127.0.0.1:9/a"))
    popped = queue.pop()
    assert popped is not None and popped.meta["lease"] and queue.in_flight() == 1 and len(queue) == 0
    retry = popped.replace(dont_filter=True)  # what RetryMiddleware and RedirectMiddleware do
    queue.push(retry)
    assert queue.in_flight() == 0 and len(queue) == 1 and not queue.held
    again = queue.pop()
    assert again is not None and again.url == "http://127.0.0.1:9/a" and queue.in_flight() == 1
    queue.ack(again)
    assert queue.in_flight() == 0 and len(queue) == 0
    client.close()
