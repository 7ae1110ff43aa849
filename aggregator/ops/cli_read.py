"""The commands that read what is stored or configured: `runs`, `stats`, `explain`, `sources`, `export` and
`serve`. They never crawl nor write stories (`cli_crawl`); storage and exporters are imported when a
command runs, so that the CLI starts fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from aggregator.instants import parse_instant
from aggregator.ops.cli_options import (
    ConfigError,
    database_trouble,
    db_option,
    load_sources,
    log_level_option,
    open_existing,
    require_database,
    sources_option,
    write_atomically,
)
from aggregator.publish.jsonfeed import DEFAULT_BASE_URL
from aggregator.text import clean_text

if TYPE_CHECKING:
    from aggregator.store.model import StoryStorage

logger = logging.getLogger(__name__)

base_url_option = click.option(
    "--base-url", "--home-page-url", "base_url", envvar=["AGGREGATOR_BASE_URL", "AGGREGATOR_HOME_PAGE_URL"],
    default=DEFAULT_BASE_URL, show_default=True, callback=lambda ctx, param, value: _check_base_url(value),
    help="Where the feeds live: their home page, links and Atom <id> (the same for export and serve).")


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter("not an absolute http(s) URL: %r" % value, param_hint="--base-url")
    return value if value.endswith("/") else value + "/"


def _since(value: str | None) -> datetime | None:
    """`--since` as an instant; anything that is not an ISO 8601 date or date-time is a usage error."""
    if value is None:
        return None
    instant = parse_instant(value)
    if instant is None:
        raise click.BadParameter("not an ISO 8601 date: %r (e.g. 2026-11-20 or 2026-11-20T06:00:00Z)" % value,
                                 param_hint="--since")
    return instant


def _check_source(source: str | None, sources_file: str | None, stored: Callable[[], set[str]]) -> None:
    """Refuse a `--source` that is neither in the registry nor among the stored stories' sources."""
    if source is None:
        return
    registry = load_sources(sources_file)
    if source in registry:
        return
    known = set(registry) | stored()
    if source not in known:
        raise ConfigError("unknown source %r; known sources: %s" % (source, ", ".join(sorted(known))))


def shown(value: object) -> str:
    """Text from a feed, a page or the database as it may reach a terminal: no escape sequence (ESC, CSI and
    the other C0/C1 controls), no bidi override, on one line."""
    return " ".join(clean_text(str(value)).split("\n")).replace("\t", " ")


def _echo(template: str, *values: object) -> None:
    click.echo(template % tuple(shown(value) for value in values))


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns; an empty cell shows as "-". Every cell goes through `shown`."""
    cells = [[shown(cell) or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command()
@db_option
@sources_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--source", default=None, metavar="KEY", help="Only runs that crawled this source.")
def runs(db: str, sources_file: str | None, limit: int, source: str | None) -> None:
    """The recent crawl runs, newest first."""
    from aggregator.store.runs import open_run_reader

    log = open_existing(open_run_reader, db)
    try:
        with database_trouble(db):
            _check_source(source, sources_file, lambda: {row["sources"] for row in log.totals()})
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
    from aggregator.store.backends import open_reader
    from aggregator.store.runs import open_run_reader

    storage = open_existing(open_reader, db)
    try:
        log = open_existing(open_run_reader, db)
    except BaseException:
        storage.close()
        raise
    try:
        with database_trouble(db):
            per_source = storage.source_totals()
            runs = {row["sources"]: row for row in log.totals()}
    finally:
        storage.close()
        log.close()
    table: list[tuple[str, ...]] = [("SOURCE", "STORIES", "SIGHTINGS", "LAST SEEN", "RUNS", "FAILED", "PAGES",
                                     "ERRORS", "LAST RUN")]
    for key in sorted(set(per_source) | set(runs)):
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
    the similarity and the rule that matched it, its earlier versions and the stories merged into it. A story
    merged into another is explained as that one, after when and why it was merged."""
    from aggregator.store.backends import open_reader

    storage = open_existing(open_reader, db)
    try:
        with database_trouble(db):
            story = storage.story(story_id)
            chain = storage.merged_into(story_id) if story is None else []
            if chain:
                story = storage.story(chain[-1].into_id)
            if story is None:
                raise ConfigError("no story %r in %s" % (story_id, db))
            sightings = storage.sightings([story.id])[story.id]
            versions = storage.versions(story.id)
            merged = storage.merged_from([story.id])[story.id]
    finally:
        storage.close()
    for merge in chain:
        _echo("Story %s was merged into %s on %s: %s", merge.merged_id, merge.into_id, merge.merged_at, merge.why())
    _echo("Story %s: %s", story.id, story.title or "(untitled)")
    _echo("  primary item: %s (%s) — chosen by %s", story.url, story.source, story.primary_reason)
    _echo("  published: %s (from %s); first seen %s", story.date_published or "-", story.date_source or "-",
          story.first_seen)
    if story.hidden:
        click.echo("  hidden: by a filter rule (stored, but left out of the feeds and the reader page)")
    if story.rule_tags:
        _echo("  rule tags: %s", ", ".join(story.rule_tags))
    click.echo("Sightings (%d):" % len(sightings))
    table: list[tuple[str, ...]] = [("SOURCE", "RULE", "SIMILARITY", "FIRST SEEN", "URL")]
    table += [(s.source, s.rule or "", "%.3f" % s.similarity if s.similarity is not None else "", s.first_seen,
               s.url) for s in sightings]
    _print_table(table)
    if versions:
        click.echo("Earlier versions (%d):" % len(versions))
        _print_table([("RECORDED", "URL", "TITLE")] + [(v["recorded_at"], v["url"], v["title"] or "")
                                                       for v in versions])
    if merged:
        click.echo("Stories merged into it (%d):" % len(merged))
        _print_table([("STORY", "MERGED", "WHY")] + [(m.merged_id, m.merged_at, m.why()) for m in merged])


@click.command("sources")
@sources_option
def list_sources(sources_file: str | None) -> None:
    """Show the sources registry as a table."""
    registry = load_sources(sources_file)
    rows = [("ID", "NAME", "KIND", "URLS")]
    rows += [(shown(s.key), shown(s.name), shown(s.kind), shown(" ".join(s.start_urls))) for s in registry.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


@click.command()
@db_option
@sources_option
@click.option("--format", "fmt", type=click.Choice(["jsonfeed", "atom", "jsonl"]), default="jsonfeed",
              show_default=True, help="JSON Feed 1.1, Atom 1.0, or one JSON Feed item per line.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-",
              help="Output file, replaced whole or left as it was (default: standard output).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N stories.")
@click.option("--since", default=None, metavar="DATE",
              help="Only stories published (else first seen) at or after DATE (ISO 8601; no offset: UTC).")
@click.option("--source", default=None, metavar="KEY", help="Only stories seen on this source.")
@click.option("--title", default="News aggregator", show_default=True, help="Feed title.")
@base_url_option
def export(db: str, sources_file: str | None, fmt: str, output: str, limit: int | None, since: str | None,
           source: str | None, title: str, base_url: str) -> None:
    """Export stored stories, newest first."""
    from aggregator.publish.atom import build_atom, feed_id
    from aggregator.publish.jsonfeed import build_feed, dumps
    from aggregator.store.backends import open_reader

    since_instant = _since(since)
    if output != "-" and not Path(output).parent.is_dir():  # before any work, as well as when writing
        raise click.BadParameter("no folder %s to write %s in" % (Path(output).parent, Path(output).name),
                                 param_hint="--output")
    storage = open_existing(open_reader, db)
    try:
        with database_trouble(db):
            _check_source(source, sources_file, storage.known_sources)
            feed = build_feed(storage, title=title, home_page_url=base_url, limit=limit, since=since_instant,
                              source=source)
    finally:
        storage.close()
    if fmt == "atom":
        text = build_atom(feed, feed_id=feed_id(base_url, source))
    elif fmt == "jsonl":
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in feed["items"])
    else:
        text = dumps(feed)
    if output == "-":
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)
        click.echo("Wrote %d stories to %s" % (len(feed["items"]), output), err=True)


@click.command()
@db_option
@sources_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--title", default="News aggregator", show_default=True, help="Feed and page title.")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True, help="Worker threads.")
@click.option("--idle-timeout", type=click.IntRange(min=1), default=30, show_default=True,
              help="Close a connection that sends nothing (and awaits no answer) for this many seconds.")
@click.option("--request-timeout", type=click.IntRange(min=1), default=15, show_default=True,
              help="Close a connection whose request has not arrived whole this many seconds after it began.")
@click.option("--connection-limit", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Open connections at once; more wait in the listen backlog.")
@base_url_option
@log_level_option
def serve(db: str, sources_file: str | None, host: str, port: int, title: str, threads: int, idle_timeout: int,
          request_timeout: int, connection_limit: int, base_url: str, log_level: str) -> None:
    """Serve the reader page (/), /feed.json, /feed.atom and /healthz over HTTP (waitress)."""
    from aggregator.publish.registry_names import RegistryNames
    from aggregator.publish.serve import STORAGE_ERRORS, FeedApp, listening_urls, make_server
    from aggregator.store.backends import database_exists, display_url, open_reader, sqlite_path

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    require_database(db)
    load_sources(sources_file)  # a bad registry is refused here, exit 2; once serving, the last good one is kept
    names = RegistryNames(sources_file)  # read again at a request when the file has changed (`aggregator add`)
    try:
        open_reader(db).close()
    except STORAGE_ERRORS as exc:  # still serve: /healthz answers 503 until the database is readable
        logger.warning("cannot read %s: %s", display_url(db), exc)
    path = sqlite_path(db)

    def file_identity() -> object:
        """The SQLite file as it is now, so that a replaced one is re-opened (FileNotFoundError: none)."""
        stat = os.stat(path or db)
        return stat.st_dev, stat.st_ino

    def open_current() -> StoryStorage:
        if not database_exists(db):  # never create an empty database where the old one was removed
            raise FileNotFoundError("no database at %s" % db)
        return open_reader(db)

    app = FeedApp(open_current, title=title, source_names=names, base_url=base_url,
                  database_identity=file_identity if path is not None else None)
    try:
        _allow_descriptors(connection_limit + 64)
        server = make_server(app, host=host, port=port, threads=threads, idle_timeout=idle_timeout,
                             request_timeout=request_timeout, connection_limit=connection_limit)
    except (OSError, ValueError) as exc:  # the port is taken, the address is not ours or not an address
        raise ConfigError("cannot listen on %s port %d: %s" % (host, port, _socket_problem(exc))) from None
    click.echo("Serving %s from %s (Ctrl-C to stop)" % (" ".join(listening_urls(server)), db))
    sys.stdout.flush()
    server.run()


def _allow_descriptors(wanted: int) -> None:
    """Raise this process's soft limit on open files towards `wanted` (up to the hard limit), so that the
    connection limit, not EMFILE, is what turns clients away."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            logger.warning("only %d open files allowed: fewer connections than --connection-limit", target)


def _socket_problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__
