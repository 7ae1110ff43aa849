"""The commands that crawl: `crawl` (one run, under the database's lock, recorded in the run history),
`worker` (a distributed worker on the shared Redis queue) and `schedule` (a crawl per source at its interval,
each in a child process).

A crawl starts the extraction workers' forkserver before Scrapy is imported (`start_workers_early`); keep
that order. Does not read stored stories (`cli_read`).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from aggregator.ops.cli_options import (
    LockedError,
    check_database_file,
    check_known,
    check_redis,
    checked_overrides,
    database_trouble,
    db_option,
    load_sources,
    log_level_option,
    set_option,
    sources_option,
)
from aggregator.ops.crawl import CrawlSummary, crawl_settings, run_crawl, start_workers_early
from aggregator.ops.notify import failing_before, load_notifier_config, notify_after_run
from aggregator.store.lock import LockBusy, crawl_lock
from aggregator.store.runs import RunLog, open_run_log

logger = logging.getLogger(__name__)


def _exit_now(code: int) -> None:
    """End a finished crawl at once: everything is stored, closed and printed, and tearing down the
    interpreter's heap (every Scrapy object of the crawl) would only add ~0.2 s to each scheduled run.
    Invoked in-process (click's test runner swaps stdout) or without a console, it exits the usual way."""
    if sys.__stdout__ is None or sys.stdout is not sys.__stdout__:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.command()
@click.argument("source_ids", nargs=-1)
@click.option("--all", "crawl_all", is_flag=True, help="Crawl every source in the registry.")
@sources_option
@db_option
@click.option("--refresh", is_flag=True, help="Re-fetch stored articles and feeds even if unchanged.")
@click.option("--wait", is_flag=True, help="If another crawl runs on this database, wait for it (default: exit 5).")
@click.option("--redis", "redis_url", envvar="AGGREGATOR_REDIS", default=None, metavar="URL",
              help="Distributed mode: seed the sources into the shared queue at redis://host:port/db and work on it "
                   "with any `aggregator worker`s.")
@set_option
@log_level_option
def crawl(source_ids: tuple[str, ...], crawl_all: bool, sources_file: str | None, db: str, refresh: bool,
          wait: bool, redis_url: str | None, set_pairs: tuple[str, ...], log_level: str) -> None:
    """Crawl SOURCE_IDS (or --all) into the database and print a summary."""
    registry = load_sources(sources_file)
    notifiers = load_notifier_config(sources_file)
    if not source_ids and not crawl_all:
        raise click.UsageError("name one or more sources, or use --all (known: %s)" % ", ".join(registry))
    check_known(registry, source_ids)
    overrides: dict[str, Any] = {"AGGREGATOR_DB": db, "AGGREGATOR_SOURCES": sources_file or "",
                                 "LOG_LEVEL": log_level.upper(), "AGGREGATOR_REFRESH": refresh}
    overrides.update(checked_overrides(set_pairs))
    check_database_file(db)  # before the lock makes its <file>.lock beside a file that is no database
    with database_trouble(db):
        lock = crawl_lock(db, wait=wait)
    if redis_url:
        from aggregator.ops.crawl import distributed_settings

        check_redis(redis_url)
        overrides = {**distributed_settings(redis_url, seed=True), **overrides}
    # The run is recorded under every source it crawls, so `runs --source X` and `stats` count --all runs.
    sources = list(registry) if crawl_all else list(source_ids)
    try:
        with database_trouble(db):
            lock.acquire()
    except LockBusy as exc:
        raise LockedError(str(exc)) from None
    try:
        with database_trouble(db):  # an unreadable or unreachable database: Error:, exit 2, nothing started
            runs = open_run_log(db)
            run_id = runs.start(sources)
        failing = failing_before(notifiers, runs, sources)
        summary = None
        try:
            if redis_url:
                from aggregator.fetch.redis_queue import start_distributed_run

                start_distributed_run(redis_url)
            start_workers_early(overrides)

            def forced(summary: CrawlSummary) -> None:  # in a signal handler: plain writes, then os._exit
                _record(runs, run_id, summary)
                os.write(1, "".join(line + "\n" for line in _report(summary, source_ids, db)).encode())

            summary = run_crawl([] if crawl_all else sources, crawl_settings(overrides), forced)
        finally:
            _record(runs, run_id, summary)  # a crawl that raised is recorded as crashed
            runs.close()
    finally:
        lock.release()
    for line in _report(summary, source_ids, db):
        click.echo(line)
    # After the lock is released: a slow receiver delays no other crawl, and changes no exit code.
    notified = notify_after_run(db, notifiers, run_id, sources, failing)
    if notified is not None:
        click.echo("  " + notified.line())
    _exit_now(summary.exit_code)


def _report(summary: CrawlSummary, source_ids: tuple[str, ...], db: str) -> list[str]:
    state = "finished" if summary.reason == "finished" else "stopped: " + summary.reason
    return ["Crawl %s (%s) into %s" % (state, ", ".join(source_ids) or "all sources", db)] + [
        "  " + line for line in summary.lines()]


def _record(runs: RunLog, run_id: int, summary: CrawlSummary | None) -> None:
    """Record how the run ended; a database that cannot take it (a full disk) is told, not a traceback: the
    next run closes the run it left open (`RunLog.start`)."""
    from aggregator.store.backends import database_errors

    try:
        runs.finish(run_id, summary)
    except database_errors() as exc:
        logger.error("cannot record the end of run %d: %s", run_id, exc)


@click.command()
@click.option("--redis", "redis_url", envvar="AGGREGATOR_REDIS", required=True, metavar="URL",
              help="The shared queue: redis://host:port/db.")
@sources_option
@db_option
@click.option("--exit-when-idle", "idle_seconds", type=click.FloatRange(min=0), default=0, metavar="SECONDS",
              help="Stop after SECONDS with nothing queued or in flight anywhere (default 0: run until stopped).")
@set_option
@log_level_option
def worker(redis_url: str, sources_file: str | None, db: str, idle_seconds: float, set_pairs: tuple[str, ...],
           log_level: str) -> None:
    """A distributed worker: fetch, extract, dedup and store requests from the shared Redis queue."""
    from aggregator.ops.crawl import distributed_settings

    load_sources(sources_file)
    overrides: dict[str, Any] = {"AGGREGATOR_DB": db, "AGGREGATOR_SOURCES": sources_file or "",
                                 "LOG_LEVEL": log_level.upper(), "AGGREGATOR_REDIS_IDLE_SECONDS": idle_seconds,
                                 **distributed_settings(redis_url, seed=False)}
    overrides.update(checked_overrides(set_pairs))
    check_redis(redis_url)
    with database_trouble(db):  # opened here, so a bad database is an Error: before the worker starts
        from aggregator.store.backends import open_storage

        open_storage(db).close()
    start_workers_early(overrides)
    summary = run_crawl([], crawl_settings(overrides))
    click.echo("Worker stopped (%s) on %s" % (summary.reason, redis_url))
    for line in summary.lines():
        click.echo("  " + line)
    sys.exit(summary.exit_code)


@click.command()
@sources_option
@db_option
@click.option("--every", "default_every", envvar="AGGREGATOR_SCHEDULE_EVERY", default="1h", show_default=True,
              help="Interval ('30m', '2h') or cron expression for sources without their own `every`.")
@click.option("--for", "duration", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Stop after this many seconds (default: run until SIGTERM/SIGINT).")
@click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE", help="Passed to every crawl.")
@log_level_option
@click.argument("source_ids", nargs=-1)
def schedule(sources_file: str | None, db: str, default_every: str, duration: float | None,
             set_pairs: tuple[str, ...], log_level: str, source_ids: tuple[str, ...]) -> None:
    """Crawl each source (or SOURCE_IDS) at its own interval until stopped; each crawl in a child process."""
    from aggregator.intervals import Every, ScheduleError
    from aggregator.ops.polling import Bounds
    from aggregator.ops.schedule import Scheduler, crawl_command

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    registry = load_sources(sources_file)
    load_notifier_config(sources_file)
    check_known(registry, source_ids)
    checked_overrides(set_pairs)  # refused once here, not again by every scheduled crawl
    with database_trouble(db):
        from aggregator.store.backends import parse_database_url

        parse_database_url(db)
    try:
        default = Every.parse(default_every)
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    chosen = [registry[key] for key in source_ids] if source_ids else list(registry.values())
    schedules = {s.key: Every.parse(s.every) if s.every else default for s in chosen}
    extra = [arg for pair in set_pairs for arg in ("--set", pair)] + ["--log-level", log_level.upper()]
    # Interval sources are polled adaptively from their `every`, within their min_interval/max_interval.
    bounds = {s.key: Bounds.of(every.seconds, s.min_interval, s.max_interval)
              for s in chosen if (every := schedules[s.key]).seconds is not None}
    scheduler = Scheduler(schedules, crawl_command(db, sources_file, extra), db=db, bounds=bounds)
    sys.exit(scheduler.run(duration))

