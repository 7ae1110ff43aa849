"""The extraction worker pool: real worker processes, results in any order, a crash costs one page."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aggregator.extract.extractor import Article
from aggregator.extract.pool import ExtractionPool, WorkerCrashed

PAGE = ("<html><body><article><h1>Tram line approved</h1>%s</article></body></html>" % "".join(
    "<p>The regional council approved the new tram line after debate number %d about costs, routes and "
    "the timetable for building it through the old town.</p>" % n for n in range(20))).encode("utf-8")


def crash_on_boom(body: bytes, content_type: str | None, url: str,
                  hints: dict) -> tuple[Article | None, bytes | None, str | None]:
    """A page that kills its worker process, as a segfault in a C parser would."""
    if "boom" in url:
        os._exit(1)
    return Article(text="%s %d characters" % (url, len(body))), None, None


def loaded(*modules: str) -> list[str]:
    """Which of `modules` this process has imported (run in a worker)."""
    return [module for module in modules if module in sys.modules]


def test_pages_are_extracted_and_signed_in_worker_processes() -> None:
    pool = ExtractionPool(2, {"num_perm": 64})

    async def run() -> tuple[list, list]:
        results = await asyncio.gather(*(pool.run(PAGE, "text/html", "https://news.example/%d" % i, {})
                                         for i in range(6)))
        return results, await pool.call(loaded, "trafilatura", "datasketch", "scipy")

    try:
        results, worker_modules = asyncio.run(run())
    finally:
        pool.close()
    # a worker only signs: datasketch (and scipy, ~50 MB a process) is never imported there
    assert worker_modules == ["trafilatura"]
    assert len(results) == 6
    for article, fingerprint, problem in results:
        assert problem is None
        assert article is not None and article.text.startswith("The regional council approved")
        assert fingerprint is not None and len(fingerprint.hashvalues) == 64


def test_a_worker_crash_costs_only_the_page_that_caused_it() -> None:
    pool = ExtractionPool(2, {"num_perm": 64}, task=crash_on_boom)
    urls = ["https://news.example/%d" % i for i in range(16)]
    urls.insert(3, "https://news.example/boom")
    urls.insert(11, "https://news.example/boom-again")  # a second crash while the retries run

    async def run() -> list:
        return await asyncio.gather(*(pool.run(PAGE, None, url, {}) for url in urls), return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        pool.close()
    failed = [url for url, result in zip(urls, results) if isinstance(result, Exception)]
    assert failed == ["https://news.example/boom", "https://news.example/boom-again"]
    assert isinstance(results[3], WorkerCrashed) and isinstance(results[11], WorkerCrashed)
    assert [r[0].text.split()[0] for r in results if not isinstance(r, Exception)] == [
        u for u in urls if "boom" not in u]
    assert pool.restarts >= 1


def test_inline_mode_and_bad_arguments() -> None:
    pool = ExtractionPool(0, {"num_perm": 64})
    article, fingerprint, problem = asyncio.run(pool.run(PAGE, "text/html; charset=windows-1251",
                                                        "https://news.example/a", {}))
    assert article is not None and fingerprint is not None
    assert problem is None  # ASCII is valid windows-1251
    with pytest.raises(ValueError, match="workers must be >= 0, got -2"):
        ExtractionPool(-2, {})


def test_the_crawler_process_imports_neither_the_extractor_nor_scipy() -> None:
    # workers import trafilatura and friends; the crawler only unpickles plain Articles (aggregator.items),
    # and a SQLite dedup index needs no datasketch (which imports scipy, ~50 MB a process)
    code = """
import asyncio, sys, tempfile
import aggregator.ops.cli, spiders.news, pipelines.extract, pipelines.dedup, pipelines.store, pipelines.canonicalize
from aggregator.dedup.index import StoryIndex
from aggregator.extract.pool import ExtractionPool
pool = ExtractionPool(1, {"num_perm": 64})
article, fingerprint, _ = asyncio.run(pool.run(%r, None, "https://news.example/a", {}))
pool.close()
index = StoryIndex(store="sqlite:///" + tempfile.mkdtemp() + "/i.db", num_perm=64)
index.insert("s", fingerprint)
assert article.text.startswith("The regional council"), article
print(sorted(m for m in ("trafilatura", "htmldate", "aggregator.extract.extractor", "datasketch", "scipy")
             if m in sys.modules))
""" % PAGE
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_call_runs_any_task_in_a_worker_and_brings_its_errors_back() -> None:
    from aggregator.fetch.feeds import FeedError, parse_feed

    rss = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><item><title>A</title>"
           b"<link>https://news.example/a</link></item></channel></rss>")
    pool = ExtractionPool(1, {"num_perm": 64})

    async def run() -> tuple:
        worker_pid = await pool.call(os.getpid)
        feed = await pool.call(parse_feed, rss, "https://news.example/feed", None, what="parsing the feed",
                               own_process=True)
        with pytest.raises(FeedError):
            await pool.call(parse_feed, b"<html>not a feed</html>", "https://news.example/feed", "text/html")
        once_pids = [await pool.call(os.getpid, own_process=True) for _ in range(2)]
        return worker_pid, feed, once_pids

    try:
        worker_pid, feed, once_pids = asyncio.run(run())
    finally:
        pool.close()
    assert worker_pid != os.getpid()
    assert [entry.link for entry in feed.entries] == ["https://news.example/a"]
    # a one-off task runs in a process of its own, which is gone afterwards (its memory with it)
    assert len({worker_pid, *once_pids}) == 3
    for pid in once_pids:
        for _ in range(100):
            if not Path("/proc/%d" % pid).exists() or "State:\tZ" in Path("/proc/%d/status" % pid).read_text():
                break
            time.sleep(0.05)
        else:
            raise AssertionError("one-off process %d still running" % pid)
