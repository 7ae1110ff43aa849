"""The `search` command: full-text search over the stored stories, printed as a table (snippet matches in
`[...]`) or as JSON lines (the search JSON Feed's items). Reads storage through `aggregator.store.search`;
never writes it.
"""

from __future__ import annotations

import json
import logging

import click

from aggregator.ops.cli_options import database_trouble, db_option, open_existing, sources_option
from aggregator.ops.cli_read import _check_source, _since, shown

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000  # aggregator.store.search.MAX_LIMIT (not imported: the CLI starts without storage)


@click.command()
@click.argument("query", nargs=-1, required=True)
@db_option
@sources_option
@click.option("--source", default=None, metavar="KEY", help="Only stories seen on this source.")
@click.option("--since", default=None, metavar="DATE",
              help="Only stories published (else first seen) at or after DATE (ISO 8601; no offset: UTC).")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True, help="At most N stories.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True,
              help="A table with snippets, or one JSON Feed item per line (with `_search`: rank, score, snippet).")
def search(query: tuple[str, ...], db: str, sources_file: str | None, source: str | None, since: str | None,
           limit: int, fmt: str) -> None:
    """Find stories by the words of their titles (any sighting's) and texts, best match first.

    QUERY is words (a story must have all of them), "quoted phrases" and prefix* words; the words of several
    arguments are joined. Start with `--` to search for something that begins with a dash."""
    from aggregator.publish.search_feed import build_search_feed
    from aggregator.store.backends import open_reader
    from aggregator.store.search import search as find
    from aggregator.store.search_query import SearchQueryError, parse_query

    try:
        parsed = parse_query(" ".join(query))
    except SearchQueryError as exc:
        raise click.BadParameter(str(exc), param_hint="QUERY") from None
    since_instant = _since(since)
    storage = open_existing(open_reader, db)
    try:
        with database_trouble(db):
            _check_source(source, sources_file, storage.known_sources)
            hits = find(storage, parsed, limit=limit, since=since_instant, source=source)
            feed = build_search_feed(storage, hits, title="search") if fmt == "jsonl" else None
    finally:
        storage.close()
    if feed is not None:
        for item in feed["items"]:
            click.echo(json.dumps(item, ensure_ascii=False))
        return
    if not hits:
        click.echo("No story matches %s." % shown(" ".join(query)), err=True)
        return
    rows = [(hit.story.id, (hit.story.date_published or hit.story.first_seen)[:10], hit.story.source,
             hit.story.title or hit.story.url) for hit in hits]
    cells = [[shown(cell) or "-" for cell in row] for row in [("ID", "DATE", "SOURCE", "TITLE"), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    indent = " " * (sum(widths) + 2 * len(widths))
    click.echo("  ".join(cell.ljust(width) for cell, width in zip(cells[0], widths)) + "  " + cells[0][3])
    for row, hit in zip(cells[1:], hits):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
        if hit.snippet.text:
            click.echo(indent + shown(hit.snippet.marked("[", "]")))
