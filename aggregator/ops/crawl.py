"""Run one crawl in this process (Scrapy's CrawlerProcess) and summarise what it did.

Owns the mapping from CLI options and AGGREGATOR_* environment variables onto Scrapy settings, and the
crawl summary. Scrapy's reactor cannot restart: call `run_crawl` once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.settings import Settings

logger = logging.getLogger(__name__)

ENV_SETTINGS = ("AGGREGATOR_DB", "AGGREGATOR_SOURCES", "AGGREGATOR_DEDUP_THRESHOLD", "AGGREGATOR_WORKERS",
                "AGGREGATOR_DEDUP_WINDOW_DAYS",
                "AGGREGATOR_DEDUP_NUM_PERM", "AGGREGATOR_MIN_TEXT_CHARS", "AGGREGATOR_CONTACT_URL")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PARTIAL = 3  # the crawl finished and stored what it could, but some fetches or pages failed
EXIT_INTERRUPTED = 4  # stopped early by a signal (SIGINT/SIGTERM) or a limit; what was fetched is stored
EXIT_LOCKED = 5  # another crawl holds this database's lock (see --wait)
EXIT_DISK_FULL = 6  # a write failed for want of space: the crawl stopped there (see DISK_FULL)
FORCED = "shutdown_forced"  # the finish reason of a crawl stopped by a second SIGINT/SIGTERM
DISK_FULL = "disk_full"  # the finish reason of a crawl stopped by a full disk (or database quota)


def distributed_settings(redis_url: str, seed: bool) -> dict[str, Any]:
    """Scrapy settings for a worker sharing scrapy-redis's queue and seen-request filter at `redis_url`."""
    return {
        "REDIS_URL": redis_url,
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "SCHEDULER_QUEUE_CLASS": "aggregator.fetch.redis_queue.LeasedPriorityQueue",
        "SCHEDULER_QUEUE_KEY": "aggregator:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": "aggregator:%(spider)s:dupefilter",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,  # one worker closing must not flush the others' queue
        "AGGREGATOR_REDIS_SEED": seed,
    }


def start_workers_early(overrides: dict[str, Any] | None = None) -> None:
    """Start the extraction workers' forkserver before Scrapy is imported, so that it imports the extractor
    on another core meanwhile (a crawl's first articles are extracted ~0.3 s sooner); not when
    AGGREGATOR_WORKERS is 0 (extraction inline)."""
    workers = (overrides or {}).get("AGGREGATOR_WORKERS", os.environ.get("AGGREGATOR_WORKERS", "-1"))
    if str(workers).strip() != "0":
        from aggregator.extract.pool import start_forkserver

        start_forkserver()


def crawl_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Our settings module, then AGGREGATOR_* environment variables, then explicit overrides."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("aggregator.settings", priority="project")
    for name in ENV_SETTINGS:
        if os.environ.get(name):
            settings.set(name, os.environ[name], priority="cmdline")
    if settings.get("AGGREGATOR_CONTACT_URL"):
        settings.set("USER_AGENT", "news-aggregator/0.1 (+%s)" % settings.get("AGGREGATOR_CONTACT_URL"),
                     priority="project")
    for name, value in (overrides or {}).items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    return settings


def setting_problem(name: str, value: str) -> str | None:
    """What is wrong with `value` (text from `--set NAME=VALUE`) for the setting `name`, judged by the type of
    its current value (Scrapy's default or ours); None when Scrapy would read it. Settings of no known type
    (strings, new names) are taken as given."""
    from scrapy.settings import BaseSettings, Settings

    current = crawl_settings().get(name)
    try:
        trial = Settings({name: value})
        if isinstance(current, bool):
            trial.getbool(name)
        elif isinstance(current, int | float):
            trial.getfloat(name)  # an int setting read with getfloat takes "1.5" too
        elif isinstance(current, dict | BaseSettings):
            trial.getdict(name)
        else:
            return None
    except (ValueError, TypeError):
        kind = "true or false (or 1/0)" if isinstance(current, bool) else \
            "a number" if isinstance(current, int | float) else "a JSON object"
        shown = "" if isinstance(current, BaseSettings) else " (%s is %r)" % (name, current)
        return "expected %s%s" % (kind, shown)
    return None


@dataclass(frozen=True)
class CrawlSummary:
    pages_fetched: int
    articles_stored: int
    duplicates_collapsed: int
    already_stored: int
    no_article: int
    updated: int
    skipped_known: int
    not_modified: int
    repaired: int
    errors: int
    reason: str
    stats: dict[str, Any]

    @classmethod
    def from_stats(cls, stats: dict[str, Any]) -> CrawlSummary:
        errors = sum(v for k, v in stats.items() if k.startswith("aggregator/errors/"))
        return cls(
            pages_fetched=stats.get("downloader/response_count", 0),
            articles_stored=stats.get("aggregator/stored/new", 0),
            duplicates_collapsed=stats.get("aggregator/stored/sighting", 0),
            already_stored=stats.get("aggregator/stored/seen", 0),
            no_article=stats.get("aggregator/no_article", 0),
            updated=stats.get("aggregator/stored/updated", 0),
            skipped_known=stats.get("aggregator/articles/skipped_known", 0),
            not_modified=stats.get("aggregator/index/not_modified", 0),
            repaired=sum(v for k, v in stats.items() if k.startswith("aggregator/repaired/"))
            + stats.get("aggregator/feeds/guid_conflicts", 0),
            errors=errors + stats.get("spider_exceptions/count", 0),
            reason=str(stats.get("finish_reason", "unknown")),
            stats=stats,
        )

    @property
    def exit_code(self) -> int:
        if self.reason == DISK_FULL:
            return EXIT_DISK_FULL
        if self.reason != "finished":
            return EXIT_INTERRUPTED
        return EXIT_PARTIAL if self.errors else EXIT_OK

    def lines(self) -> list[str]:
        lines = [
            "finished:              %s" % self.reason,
            "pages fetched:         %d" % self.pages_fetched,
            "articles stored:       %d" % self.articles_stored,
            "duplicates collapsed:  %d" % self.duplicates_collapsed,
            "stories updated:       %d" % self.updated,
            "already stored:        %d (fetched again, unchanged)" % self.already_stored,
            "skipped as stored:     %d (not fetched)" % self.skipped_known,
            "feeds/lists unchanged: %d (304)" % self.not_modified,
            "pages without article: %d" % self.no_article,
            "repaired inputs:       %d (wrong charsets, GUID conflicts)" % self.repaired,
            "errors:                %d" % self.errors,
        ]
        lines += ["  %s: %s" % (k.removeprefix("aggregator/errors/"), v)
                  for k, v in sorted(self.stats.items()) if k.startswith("aggregator/errors/")]
        return lines


# Loggers that log a failed fetch with its traceback, although their message already says what failed.
NETWORK_ERROR_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt",)
NETWORK_ERROR_MODULES = ("twisted.internet.error", "twisted.web._newclient", "scrapy.exceptions")


class NoNetworkTracebacks(logging.Filter):
    """Keep the one-line message of a record about an unreachable host, refused connection or timeout, and
    drop its traceback (Scrapy's robots.txt middleware logs two per dead site): the crawl counts the failure
    by cause and names its URL, and a traceback in the log reads as a bug. Other tracebacks stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and _network_failure(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        return True


def _network_failure(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) or type(current).__module__.startswith(NETWORK_ERROR_MODULES):
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a write refused for want of space: ENOSPC/EDQUOT, SQLite's
    SQLITE_FULL ("database or disk is full"), PostgreSQL's disk_full (53100)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (28, 122):  # ENOSPC, EDQUOT
            return True
        if getattr(current, "sqlite_errorcode", None) == 13 or "database or disk is full" in str(current):
            return True
        if getattr(current, "sqlstate", None) == "53100":
            return True
        current = current.__cause__ or current.__context__
    return False


def _forced_stop(crawler: Any, signum: int, on_forced_stop: Callable[[CrawlSummary], None] | None) -> None:
    """The second SIGINT/SIGTERM: Scrapy's unclean shutdown still waited for every download and thread (30 s
    and more, then a traceback), so end here: what is committed stays (each item whole or not at all), the
    open batch is lost like after SIGKILL, `on_forced_stop` records the run, and the process exits 4."""
    stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    summary = CrawlSummary.from_stats({**stats, "finish_reason": FORCED})
    try:
        os.write(2, b"Received signal %d twice: stopping now\n" % signum)  # no logging in a signal handler
        _stop_children()
        if on_forced_stop is not None:
            on_forced_stop(summary)
    finally:
        os._exit(summary.exit_code)


def _stop_children() -> None:
    """Kill the extraction workers (and their forkserver): they would outlive os._exit, holding the
    terminal's or the caller's pipes open."""
    import multiprocessing
    import signal

    for child in multiprocessing.active_children():
        child.kill()
    from multiprocessing import forkserver

    server = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if server:
        try:
            os.kill(server, signal.SIGKILL)
        except OSError:
            pass


def run_crawl(sources: list[str], settings: Settings,
              on_forced_stop: Callable[[CrawlSummary], None] | None = None) -> CrawlSummary:
    """Crawl `sources` (ids; empty = all) with `settings`; blocks until the crawl ends.

    A full disk stops the crawl at the first item whose write fails for want of space (finish reason
    `disk_full`, exit 6) instead of failing every later page. A second SIGINT/SIGTERM calls
    `on_forced_stop` with the summary so far and exits 4 at once; it never returns."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from spiders.news import NewsSpider

    class Process(CrawlerProcess):
        def _signal_kill(self, signum: int, _: Any) -> None:
            _forced_stop(crawler, signum, on_forced_stop)

    def item_error(item: Any, response: Any, spider: Any, failure: Any) -> None:
        if disk_full(failure.value) and crawler.engine is not None:
            logger.error("The disk is full (%s): stopping the crawl", failure.value)
            crawler.engine.close_spider(spider, DISK_FULL)

    quiet = NoNetworkTracebacks()
    for name in NETWORK_ERROR_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    settings.set("AGGREGATOR_RECORD_RUN", False, priority="cmdline")  # our callers record their own run
    try:
        process = Process(settings)
        crawler = process.create_crawler(NewsSpider)
        crawler.signals.connect(item_error, signal=signals.item_error)
        process.crawl(crawler, sources=",".join(sources))
        process.start()
    finally:
        for name in NETWORK_ERROR_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)
    summary = CrawlSummary.from_stats(crawler.stats.get_stats() if crawler.stats else {})
    if summary.reason == DISK_FULL:
        # Closing the storage failed too (its last batch had no room), and CrawlResources.close stopped
        # there, before the extraction pool: its workers would outlive this process.
        _stop_children()
    return summary
