"""The `aggregator` command line: crawl, sources, export, serve, demo, dedup, extract.

User errors are `click` exceptions with exit codes, so users see `Error: ...`, never a traceback.
Exit codes of `crawl` and `demo`: 0 clean; 2 bad usage, bad sources file, unknown source; 3 finished with
errors (counted in the summary); 4 stopped early (signal or limit); 5 another crawl holds the lock.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from aggregator.ops.crawl import EXIT_LOCKED, EXIT_USAGE, crawl_settings, run_crawl, start_workers_early
from aggregator.sources import RegistryError, load_registry
from aggregator.store.lock import LockBusy, crawl_lock
from aggregator.store.runs import open_run_log

logger = logging.getLogger(__name__)

DEFAULT_DB = "aggregator.db"
DEFAULT_HOME = "http://127.0.0.1:8080/"


def _exit_now(code: int) -> None:
    """End a finished crawl at once: everything is stored, closed and printed, and tearing down the
    interpreter's heap (every Scrapy object of the crawl) would only add ~0.2 s to each scheduled run.
    Invoked in-process (click's test runner swaps stdout), it exits the usual way."""
    if sys.stdout is not sys.__stdout__:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class ConfigError(click.ClickException):
    """A bad sources file, database URL or source id: exit code 2."""

    exit_code = EXIT_USAGE


class LockedError(click.ClickException):
    """Another crawl holds the database's lock: exit code 5."""

    exit_code = EXIT_LOCKED


def _registry(path: str | None) -> dict[str, Any]:
    try:
        return load_registry(path)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


def _settings_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter("expected NAME=VALUE, got %r" % pair, param_hint="--set")
        overrides[name.strip()] = value
    return overrides


sources_option = click.option("--sources", "sources_file", envvar="AGGREGATOR_SOURCES", default=None,
                              type=click.Path(dir_okay=False), help="Sources registry TOML file.")
db_option = click.option("--db", envvar="AGGREGATOR_DB", default=DEFAULT_DB, show_default=True,
                         help="SQLite database path (or sqlite:///path).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-aggregator")
def main() -> None:
    """A deduplicating news aggregator: crawl sources, collapse duplicate stories, export a JSON Feed."""


@main.command()
@click.argument("source_ids", nargs=-1)
@click.option("--all", "crawl_all", is_flag=True, help="Crawl every source in the registry.")
@sources_option
@db_option
@click.option("--refresh", is_flag=True, help="Re-fetch stored articles and feeds even if unchanged.")
@click.option("--wait", is_flag=True, help="If another crawl runs on this database, wait for it (default: exit 5).")
@click.option("--redis", "redis_url", envvar="AGGREGATOR_REDIS", default=None, metavar="URL",
              help="Distributed mode: seed the sources into the shared queue at redis://host:port/db and work on it "
                   "with any `aggregator worker`s.")
@click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE", help="Override a Scrapy setting.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def crawl(source_ids: tuple[str, ...], crawl_all: bool, sources_file: str | None, db: str, refresh: bool,
          wait: bool, redis_url: str | None, set_pairs: tuple[str, ...], log_level: str) -> None:
    """Crawl SOURCE_IDS (or --all) into the database and print a summary."""
    registry = _registry(sources_file)
    if not source_ids and not crawl_all:
        raise click.UsageError("name one or more sources, or use --all (known: %s)" % ", ".join(registry))
    unknown = [key for key in source_ids if key not in registry]
    if unknown:
        raise ConfigError("unknown source(s): %s; known sources: %s" % (", ".join(unknown), ", ".join(registry)))
    overrides: dict[str, Any] = {"AGGREGATOR_DB": db, "AGGREGATOR_SOURCES": sources_file or "",
                                 "LOG_LEVEL": log_level.upper(), "AGGREGATOR_REFRESH": refresh}
    if redis_url:
        from aggregator.fetch.redis_queue import start_distributed_run
        from aggregator.ops.crawl import distributed_settings

        overrides.update(distributed_settings(redis_url, seed=True))
        start_distributed_run(redis_url)
    overrides.update(_settings_overrides(set_pairs))
    start_workers_early(overrides)
    sources = [] if crawl_all else list(source_ids)
    try:
        with crawl_lock(db, wait=wait):
            runs = open_run_log(db)
            run_id = runs.start(sources)
            summary = None
            try:
                summary = run_crawl(sources, crawl_settings(overrides))
            finally:
                runs.finish(run_id, summary)  # a crawl that raised is recorded as crashed
                runs.close()
    except LockBusy as exc:
        raise LockedError(str(exc)) from None
    click.echo("Crawl %s (%s) into %s" % ("finished" if summary.reason == "finished" else "stopped: " + summary.reason,
                                           ", ".join(source_ids) or "all sources", db))
    for line in summary.lines():
        click.echo("  " + line)
    _exit_now(summary.exit_code)


@main.command()
@click.option("--redis", "redis_url", envvar="AGGREGATOR_REDIS", required=True, metavar="URL",
              help="The shared queue: redis://host:port/db.")
@sources_option
@db_option
@click.option("--exit-when-idle", "idle_seconds", type=click.FloatRange(min=0), default=0, metavar="SECONDS",
              help="Stop after SECONDS with nothing queued or in flight anywhere (default 0: run until stopped).")
@click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE", help="Override a Scrapy setting.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def worker(redis_url: str, sources_file: str | None, db: str, idle_seconds: float, set_pairs: tuple[str, ...],
           log_level: str) -> None:
    """A distributed worker: fetch, extract, dedup and store requests from the shared Redis queue."""
    from aggregator.ops.crawl import distributed_settings

    _registry(sources_file)
    overrides: dict[str, Any] = {"AGGREGATOR_DB": db, "AGGREGATOR_SOURCES": sources_file or "",
                                 "LOG_LEVEL": log_level.upper(), "AGGREGATOR_REDIS_IDLE_SECONDS": idle_seconds,
                                 **distributed_settings(redis_url, seed=False)}
    overrides.update(_settings_overrides(set_pairs))
    start_workers_early(overrides)
    summary = run_crawl([], crawl_settings(overrides))
    click.echo("Worker stopped (%s) on %s" % (summary.reason, redis_url))
    for line in summary.lines():
        click.echo("  " + line)
    sys.exit(summary.exit_code)


@main.command()
@sources_option
@db_option
@click.option("--every", "default_every", envvar="AGGREGATOR_SCHEDULE_EVERY", default="1h", show_default=True,
              help="Interval ('30m', '2h') or cron expression for sources without their own `every`.")
@click.option("--for", "duration", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Stop after this many seconds (default: run until SIGTERM/SIGINT).")
@click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE", help="Passed to every crawl.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.argument("source_ids", nargs=-1)
def schedule(sources_file: str | None, db: str, default_every: str, duration: float | None,
             set_pairs: tuple[str, ...], log_level: str, source_ids: tuple[str, ...]) -> None:
    """Crawl each source (or SOURCE_IDS) at its own interval until stopped; each crawl in a child process."""
    from aggregator.intervals import Every, ScheduleError
    from aggregator.ops.schedule import Scheduler, crawl_command

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    registry = _registry(sources_file)
    unknown = [key for key in source_ids if key not in registry]
    if unknown:
        raise ConfigError("unknown source(s): %s; known sources: %s" % (", ".join(unknown), ", ".join(registry)))
    try:
        default = Every.parse(default_every)
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    chosen = [registry[key] for key in source_ids] if source_ids else list(registry.values())
    schedules = {s.key: Every.parse(s.every) if s.every else default for s in chosen}
    extra = [arg for pair in set_pairs for arg in ("--set", pair)] + ["--log-level", log_level.upper()]
    scheduler = Scheduler(schedules, crawl_command(db, sources_file, extra))
    sys.exit(scheduler.run(duration))


@main.command()
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--source", default=None, metavar="KEY", help="Only runs of this source.")
def runs(db: str, limit: int, source: str | None) -> None:
    """The recent crawl runs, newest first."""
    from aggregator.store.runs import open_run_log

    _require_db(db)
    log = open_run_log(db)
    try:
        rows = log.recent(limit, source)
    finally:
        log.close()
    table = [("ID", "SOURCES", "STARTED", "FINISHED", "PAGES", "STORED", "DUPS", "UPDATED", "ERRORS", "EXIT",
              "REASON")]
    table += [(str(r.id), r.sources, r.started, r.finished or "running", *(str(v if v is not None else "")
               for v in (r.pages, r.stored, r.duplicates, r.updated, r.errors, r.exit_status)), r.reason or "")
              for r in rows]
    _print_table(table)


@main.command()
@db_option
def stats(db: str) -> None:
    """Totals per source: stored stories and sightings, and what its crawl runs did."""
    from aggregator.store.backends import open_storage
    from aggregator.store.runs import open_run_log

    _require_db(db)
    storage = open_storage(db)
    log = open_run_log(db)
    try:
        per_source = storage.source_totals()
        runs = {row["sources"]: row for row in log.totals()}
    finally:
        storage.close()
        log.close()
    table = [("SOURCE", "STORIES", "SIGHTINGS", "LAST SEEN", "RUNS", "FAILED", "PAGES", "ERRORS", "LAST RUN")]
    for key in sorted(set(per_source) | {k for k in runs if "," not in k}):
        counts = per_source.get(key, {})
        run = runs.get(key, {})
        table.append((key, str(counts.get("stories", 0)), str(counts.get("sightings", 0)),
                      counts.get("last_seen") or "", str(run.get("runs") or 0), str(run.get("failed") or 0),
                      str(run.get("pages") or 0), str(run.get("errors") or 0), run.get("last_run") or ""))
    _print_table(table)


def _require_db(db: str) -> None:
    if "://" not in db and not Path(db).exists():
        raise ConfigError("no database at %s (run `aggregator crawl` first)" % db)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(cell or "-" for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@main.command()
@click.argument("story_id")
@db_option
def explain(story_id: str, db: str) -> None:
    """Why a story is what it is: its canonical item and why, every sighting with the similarity and the
    rule that matched it, and its earlier versions."""
    from aggregator.store.backends import open_storage

    _require_db(db)
    storage = open_storage(db)
    try:
        story = storage.story(story_id)
        if story is None:
            raise ConfigError("no story %r in %s" % (story_id, db))
        sightings = storage.sightings([story_id])[story_id]
        versions = storage.versions(story_id)
    finally:
        storage.close()
    click.echo("Story %s: %s" % (story.id, story.title or "(untitled)"))
    click.echo("  canonical item: %s (%s) — chosen by %s" % (story.url, story.source, story.canonical_reason))
    click.echo("  published: %s (from %s); first seen %s" % (story.date_published or "-", story.date_source or "-",
                                                           story.first_seen))
    click.echo("Sightings (%d):" % len(sightings))
    table = [("SOURCE", "RULE", "SIMILARITY", "FIRST SEEN", "URL")]
    table += [(s.source, s.rule or "", "%.3f" % s.similarity if s.similarity is not None else "", s.first_seen,
               s.url) for s in sightings]
    _print_table(table)
    if versions:
        click.echo("Earlier versions (%d):" % len(versions))
        _print_table([("RECORDED", "URL", "TITLE")] + [(v["recorded_at"], v["url"], v["title"] or "")
                                                       for v in versions])


@main.command("sources")
@sources_option
def list_sources(sources_file: str | None) -> None:
    """Show the sources registry as a table."""
    registry = _registry(sources_file)
    rows = [("ID", "NAME", "KIND", "URLS")]
    rows += [(s.key, s.name, s.kind, " ".join(s.start_urls)) for s in registry.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["jsonfeed", "atom", "jsonl"]), default="jsonfeed",
              show_default=True, help="JSON Feed 1.1, Atom 1.0, or one JSON Feed item per line.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-",
              help="Output file (default: standard output).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N stories.")
@click.option("--since", default=None, metavar="DATE", help="Only stories published on or after DATE (ISO 8601).")
@click.option("--source", default=None, metavar="KEY", help="Only stories seen on this source.")
@click.option("--title", default="News aggregator", show_default=True, help="Feed title.")
@click.option("--home-page-url", envvar="AGGREGATOR_HOME_PAGE_URL", default=DEFAULT_HOME, show_default=True)
def export(db: str, fmt: str, output: str, limit: int | None, since: str | None, source: str | None,
           title: str, home_page_url: str) -> None:
    """Export stored stories, newest first."""
    from aggregator.publish.jsonfeed import build_feed, dumps
    from aggregator.store.backends import open_storage

    if since is not None:
        from aggregator.publish.jsonfeed import rfc3339

        if rfc3339(since) is None:
            raise click.BadParameter("not an ISO 8601 date: %r" % since, param_hint="--since")
    _require_db(db)
    storage = open_storage(db)
    try:
        feed = build_feed(storage, title=title, home_page_url=home_page_url, limit=limit, since=since,
                          source=source)
    finally:
        storage.close()
    if fmt == "atom":
        from aggregator.publish.atom import build_atom

        text = build_atom(feed)
    elif fmt == "jsonl":
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in feed["items"])
    else:
        text = dumps(feed)
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo("Wrote %d stories to %s" % (len(feed["items"]), output), err=True)


@main.command()
@db_option
@sources_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--title", default="News aggregator", show_default=True, help="Feed and page title.")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True, help="Worker threads.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(db: str, sources_file: str | None, host: str, port: int, title: str, threads: int,
          log_level: str) -> None:
    """Serve the reader page (/), /feed.json, /feed.atom and /healthz over HTTP (waitress)."""
    from aggregator.publish.serve import STORAGE_ERRORS, FeedApp, listening_urls, make_server
    from aggregator.store.backends import open_storage

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _require_db(db)
    try:
        open_storage(db).close()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except STORAGE_ERRORS as exc:  # still serve: /healthz answers 503 until the file is readable
        logger.warning("cannot read %s: %s", db, exc)
    names = {key: source.name for key, source in _registry(sources_file).items()}
    app = FeedApp(lambda: open_storage(db), title=title, source_names=names)
    server = make_server(app, host=host, port=port, threads=threads)
    click.echo("Serving %s from %s (Ctrl-C to stop)" % (" ".join(listening_urls(server)), db))
    sys.stdout.flush()
    server.run()


@main.command()
@click.option("--output-dir", type=click.Path(file_okay=False), default="demo-output", show_default=True)
def demo(output_dir: str) -> None:
    """Offline demo: serve the bundled snapshot sites on loopback, crawl them, write feed.json."""
    from aggregator.ops.demo import run_demo

    sys.exit(run_demo(Path(output_dir)))


@main.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--threshold", type=float, default=None, help="MinHashLSH candidate threshold.")
def dedup(file: Any, threshold: float | None) -> None:
    """Group the documents of a JSONL FILE ({"id", "text"} lines) into stories: prints {"id", "story"}."""
    from aggregator.dedup.index import StoryIndex, dedup_corpus

    def documents() -> Any:
        for number, line in enumerate(file, 1):
            if line.strip():
                try:
                    doc = json.loads(line)
                except ValueError as exc:
                    raise click.ClickException("line %d: not JSON: %s" % (number, exc)) from None
                if not isinstance(doc, dict) or "id" not in doc or not isinstance(doc.get("text"), str):
                    raise click.ClickException('line %d: expected {"id", "text"}' % number)
                yield doc

    index = StoryIndex(threshold=threshold) if threshold is not None else None
    for doc_id, story in dedup_corpus(documents(), index=index):
        click.echo(json.dumps({"id": doc_id, "story": story}, ensure_ascii=False))


@main.command()
@click.argument("file", type=click.File("rb"))
@click.option("--url", default=None, help="The URL the page was fetched from.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def extract(file: Any, url: str | None, fmt: str) -> None:
    """Extract the article from an HTML FILE (or - for standard input)."""
    from dataclasses import asdict

    from aggregator.extract.extractor import extract_article

    raw = file.read()
    html = raw.decode("utf-8", errors="replace")
    article = extract_article(html, url=url)
    if article is None:
        raise click.ClickException("no article body found")
    if fmt == "text":
        click.echo(article.text)
    else:
        click.echo(json.dumps(asdict(article), ensure_ascii=False, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
