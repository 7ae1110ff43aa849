"""The commands that read what is stored or configured: `runs`, `stats`, `explain`, `sources`, `export` and
`serve`. They never crawl nor write stories (`cli_crawl`); storage and exporters are imported when a
command runs, so that the CLI starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from aggregator.ops.cli_options import (
    DEFAULT_HOME,
    ConfigError,
    db_option,
    load_sources,
    log_level_option,
    sources_option,
)

logger = logging.getLogger(__name__)

Opened = TypeVar("Opened")


def _require_db(db: str) -> None:
    if "://" not in db and not Path(db).exists():
        raise ConfigError("no database at %s (run `aggregator crawl` first)" % db)


def _open(opener: Callable[[str], Opened], db: str) -> Opened:
    """`opener(db)` on a database that exists; a URL naming no backend we have is the user's error (exit 2),
    not a traceback. The opener is passed in so that storage is imported only when a command runs."""
    _require_db(db)
    try:
        return opener(db)
    except ValueError as exc:  # the backends' word for an unsupported URL
        raise ConfigError(str(exc)) from None


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns; an empty cell shows as "-"."""
    cells = [[cell or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command()
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--source", default=None, metavar="KEY", help="Only runs of this source.")
def runs(db: str, limit: int, source: str | None) -> None:
    """The recent crawl runs, newest first."""
    from aggregator.store.runs import open_run_log

    log = _open(open_run_log, db)
    try:
        rows = log.recent(limit, source)
    finally:
        log.close()
    table: list[tuple[str, ...]] = [("ID", "SOURCES", "STARTED", "FINISHED", "PAGES", "STORED", "DUPS", "UPDATED",
                                     "ERRORS", "EXIT", "REASON")]
    table += [(str(r.id), r.sources, r.started, r.finished or "running", *(str(v if v is not None else "")
               for v in (r.pages, r.stored, r.duplicates, r.updated, r.errors, r.exit_status)), r.reason or "")
              for r in rows]
    _print_table(table)


@click.command()
@db_option
def stats(db: str) -> None:
    """Totals per source: stored stories and sightings, and what its crawl runs did."""
    from aggregator.store.backends import open_storage
    from aggregator.store.runs import open_run_log

    storage = _open(open_storage, db)
    log = _open(open_run_log, db)
    try:
        per_source = storage.source_totals()
        runs = {row["sources"]: row for row in log.totals()}
    finally:
        storage.close()
        log.close()
    table: list[tuple[str, ...]] = [("SOURCE", "STORIES", "SIGHTINGS", "LAST SEEN", "RUNS", "FAILED", "PAGES",
                                     "ERRORS", "LAST RUN")]
    for key in sorted(set(per_source) | {k for k in runs if "," not in k}):
        counts = per_source.get(key, {})
        run = runs.get(key, {})
        table.append((key, str(counts.get("stories", 0)), str(counts.get("sightings", 0)),
                      counts.get("last_seen") or "", str(run.get("runs") or 0), str(run.get("failed") or 0),
                      str(run.get("pages") or 0), str(run.get("errors") or 0), run.get("last_run") or ""))
    _print_table(table)


@click.command()
@click.argument("story_id")
@db_option
def explain(story_id: str, db: str) -> None:
    """Why a story is what it is: its primary item (the copy that stands for it) and why, every sighting with
    the similarity and the rule that matched it, and its earlier versions."""
    from aggregator.store.backends import open_storage

    storage = _open(open_storage, db)
    try:
        story = storage.story(story_id)
        if story is None:
            raise ConfigError("no story %r in %s" % (story_id, db))
        sightings = storage.sightings([story_id])[story_id]
        versions = storage.versions(story_id)
    finally:
        storage.close()
    click.echo("Story %s: %s" % (story.id, story.title or "(untitled)"))
    click.echo("  primary item: %s (%s) — chosen by %s" % (story.url, story.source, story.primary_reason))
    click.echo("  published: %s (from %s); first seen %s" % (story.date_published or "-", story.date_source or "-",
                                                           story.first_seen))
    click.echo("Sightings (%d):" % len(sightings))
    table: list[tuple[str, ...]] = [("SOURCE", "RULE", "SIMILARITY", "FIRST SEEN", "URL")]
    table += [(s.source, s.rule or "", "%.3f" % s.similarity if s.similarity is not None else "", s.first_seen,
               s.url) for s in sightings]
    _print_table(table)
    if versions:
        click.echo("Earlier versions (%d):" % len(versions))
        _print_table([("RECORDED", "URL", "TITLE")] + [(v["recorded_at"], v["url"], v["title"] or "")
                                                       for v in versions])


@click.command("sources")
@sources_option
def list_sources(sources_file: str | None) -> None:
    """Show the sources registry as a table."""
    registry = load_sources(sources_file)
    rows = [("ID", "NAME", "KIND", "URLS")]
    rows += [(s.key, s.name, s.kind, " ".join(s.start_urls)) for s in registry.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


@click.command()
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
    storage = _open(open_storage, db)
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


@click.command()
@db_option
@sources_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--title", default="News aggregator", show_default=True, help="Feed and page title.")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True, help="Worker threads.")
@log_level_option
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
    names = {key: source.name for key, source in load_sources(sources_file).items()}
    app = FeedApp(lambda: open_storage(db), title=title, source_names=names)
    server = make_server(app, host=host, port=port, threads=threads)
    click.echo("Serving %s from %s (Ctrl-C to stop)" % (" ".join(listening_urls(server)), db))
    sys.stdout.flush()
    server.run()
