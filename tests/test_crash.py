"""kill -9 at random moments of a crawl, then a rerun: the same stories and sightings as one clean crawl.

Two generated sites of 100 articles each, the second carrying 15 verbatim copies of the first's stories
(cross-source duplicates). One database is crawled cleanly; another is crawled by processes killed with
SIGKILL 20 times (a few while starting, most after a random number of further articles were stored), then
once to the end. Story ids depend on which copy is seen
first, which concurrency decides, so stories are compared as the sets of URLs they were seen at.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator.dedup.index import StoryIndex
from aggregator.testing.sitegen import SiteSpec, Story, generate_stories, write_site
from aggregator.testing.snapshot import render_template, serve_snapshot
from tests.conftest import FAST, PROJECT, run_cli

KILLS = 20
COPIES = 15
SOURCES = """
[sources.alpha]
name = "Alpha"
feed = "{{BASE:alpha}}/feed.rss"

[sources.beta]
name = "Beta"
feed = "{{BASE:beta}}/feed.rss"
"""
# A little politeness stretches the crawl to ~10 s, so each killed run stores a few articles. Extraction runs
# in the crawler (AGGREGATOR_WORKERS=0): worker processes only add start-up time to each of the 21 runs, and
# what is under test is the storage, which the workers never touch.
CRAWL = ["--set", "CONCURRENT_REQUESTS_PER_DOMAIN=2", "--set", "DOWNLOAD_DELAY=0.1", "--set",
         "RANDOMIZE_DOWNLOAD_DELAY=false", "--set", "AGGREGATOR_WORKERS=0", "--log-level", "WARNING"]


def _sites(root: Path) -> None:
    alpha = SiteSpec(name="alpha", stories=generate_stories(100, seed=21))
    beta_stories = generate_stories(100 - COPIES, seed=22, start=datetime(2026, 3, 1, tzinfo=UTC))
    for n, original in enumerate(alpha.stories[:COPIES]):
        beta_stories.append(Story(slug="syndicated-%d-%s" % (n, original.slug), title=original.title,
                                  paragraphs=list(original.paragraphs),
                                  published=original.published + timedelta(hours=3), author="Wire Service"))
    beta = SiteSpec(name="beta", stories=beta_stories, template=1, sitemap=False)
    for site in (alpha, beta):
        write_site(root, site, feed_size=len(site.stories))


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("crash")
    _sites(tmp / "sites")
    with serve_snapshot(tmp / "sites", first_host=70) as bases:
        registry = tmp / "sources.toml"
        registry.write_text(render_template(SOURCES, bases), "utf-8")
        yield registry


def _command(registry: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all", "--sources", str(registry), "--db", str(db),
            *FAST, *CRAWL]


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT count(*) FROM sightings").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not made yet
        return 0


def state(db: Path) -> dict[str, object]:
    """What a crawl stored, independent of which copy of a story happened to be seen first."""
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    stories = {story_id: url for story_id, url in con.execute("SELECT id, url FROM stories")}
    groups: dict[str, set[str]] = {}
    for story_id, url in con.execute("SELECT story_id, url FROM sightings"):
        groups.setdefault(story_id, set()).add(url)
    assert set(groups) == set(stories), "a story without sightings, or a sighting without its story"
    assert all(stories[story_id] in urls for story_id, urls in groups.items())
    missing = con.execute("SELECT count(*) FROM sightings WHERE fingerprint IS NULL OR text_hash = ''").fetchone()[0]
    assert missing == 0, "a half-written sighting"
    # The index the crawler persists beside the stories (dedup_* tables): it names exactly the stored
    # stories, and finds each story from its own text.
    indexed = {story_id for (story_id,) in con.execute("SELECT DISTINCT story_id FROM dedup_fingerprints")}
    assert indexed == set(stories), "the dedup index disagrees with the stored stories"
    index = StoryIndex(store="sqlite:///%s" % db)
    for story_id, text in con.execute("SELECT id, text FROM stories"):
        match = index.match(index.fingerprint(text))
        assert match is not None and match.story_id == story_id
    index.close()
    return {"sightings": sorted(url for urls in groups.values() for url in urls),
            "stories": sorted(sorted(urls) for urls in groups.values())}


def test_kill_9_at_random_moments_loses_and_doubles_nothing(sites: Path, tmp_path: Path) -> None:
    clean_db = tmp_path / "clean.db"
    env = {k: v for k, v in os.environ.items() if k not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")}
    # The clean crawl runs beside the killed ones (its own database), so the test takes the time of one.
    clean_run = subprocess.Popen(_command(sites, clean_db), cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    db = tmp_path / "killed.db"
    rng = random.Random(int(os.environ.get("CRASH_SEED", "5")))
    progress = []
    for kill in range(KILLS):
        process = subprocess.Popen(_command(sites, db), cwd=PROJECT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        if kill % 5 == 0:  # some while starting (schema, dedup index load, worker start-up)
            time.sleep(rng.uniform(0.2, 2.0))
        else:  # the rest in the middle of storing: after a random number of further stored articles
            target = stored(db) + rng.randint(1, 12)
            deadline = time.monotonic() + 20
            while process.poll() is None and stored(db) < target and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.15))
        alive = process.poll() is None
        process.kill()  # SIGKILL: no signal handler, no spider_closed, no flushing
        process.wait()
        if alive:
            progress.append(stored(db))
    mid_crawl = [count for count in progress if 0 < count < 200]
    print("sightings stored when each kill landed:", progress)
    assert len(mid_crawl) >= KILLS // 2, progress  # most kills landed while articles were being stored
    out, err = clean_run.communicate(timeout=60)
    assert clean_run.returncode == 0, out + err[-3000:]
    clean = state(clean_db)
    assert len(clean["sightings"]) == 200 and len(clean["stories"]) == 200 - COPIES  # type: ignore[arg-type]
    result = run_cli("crawl", "--all", "--sources", str(sites), "--db", str(db), *FAST, *CRAWL)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert state(db) == clean, progress


def test_two_crawls_started_at_once_on_one_database(sites: Path, tmp_path: Path) -> None:
    """The crawl lock: started together, one crawl waits (--wait) for the other; no corruption, no story
    stored twice. Without --wait the second refuses at once (exit 5) and touches nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")}
    clean_db = tmp_path / "clean.db"
    assert run_cli("crawl", "--all", "--sources", str(sites), "--db", str(clean_db), *FAST, *CRAWL).returncode == 0
    db = tmp_path / "both.db"
    both = [subprocess.Popen(_command(sites, db) + ["--wait"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3)  # both are past start-up: one crawling, one waiting
    refused = run_cli("crawl", "--all", "--sources", str(sites), "--db", str(db), *FAST, *CRAWL)
    results = [process.communicate(timeout=120) for process in both]
    assert [process.returncode for process in both] == [0, 0], [err[-2000:] for _, err in results]
    assert sum("Waiting for the crawl running on" in err for _, err in results) == 1
    assert refused.returncode == 5 and "another crawl is running" in refused.stderr
    assert state(db) == state(clean_db)
    runs = sqlite3.connect(db).execute("SELECT exit_status FROM runs ORDER BY id").fetchall()
    assert runs == [(0,), (0,)]  # the refused crawl never started a run
