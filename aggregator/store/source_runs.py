"""What each crawl run did per source: the `aggregator/source/<key>/...` counters a crawl keeps, the
`source_runs` rows they become when the run is recorded, and the `source_polling` rows the scheduler keeps.

Owns how the per-source counters are kept (the spider and the pipelines count through `count_source` and
`source_error`, under the crawl's own counter names) and every statement on `source_runs` and `source_polling` (made by
`aggregator.store.migrations`). Judges nothing: health states live in `aggregator.store.health`, intervals in
`aggregator.ops.polling`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

PREFIX = "aggregator/source/"
LAST_ERROR = "last_error"  # the one counter that holds text: "cause: message" of the source's latest error
MAX_ERROR_CHARS = 500

# The columns of source_runs, each from the source's counters (the crawl's own names, after
# `aggregator/source/<key>/`): the sum of the first tuple, less the sum of the second.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # feeds, sitemaps and listing pages read, a 304 included (a homepage or robots.txt counts through the
    # feeds or sitemaps it names)
    "index_ok": (("feeds/parsed", "listings/parsed", "sitemaps/parsed", "index/not_modified"), ()),
    "index_not_modified": (("index/not_modified",), ()),  # of those, unchanged since the last finished crawl
    "index_failed": (("index/failed",), ()),  # not downloaded, or unusable (not a feed, not HTML, no sitemap)
    "entries_listed": (("entries/listed",), ()),  # article links and entries the index pages gave
    "entries_new": (("articles/requested",), ("articles/changed",)),  # of those, not stored yet: fetched
    "entries_known": (("articles/skipped_known",), ()),  # stored and unchanged: not fetched
    "entries_changed": (("articles/changed",), ()),  # stored, but said changed since: fetched again
    "articles_fetched": (("articles/fetched",), ()),  # article pages downloaded as text
    "articles_failed": (("articles/failed",), ()),  # article requests that failed, whatever the cause
    "articles_extracted": (("extracted",), ()),  # article pages that gave an article
    "stories_new": (("stored/new",), ()),  # new stories stored
}
ERRORS = "errors/"


class Stats(Protocol):
    """The part of Scrapy's stats collector the counters use."""

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...
    def set_value(self, key: str, value: Any) -> None: ...


class Executes(Protocol):
    """A connection, `Statements` or `RunLog`: runs a statement written with `?` marks."""

    def execute(self, sql: str, args: tuple[Any, ...] = (), /) -> Any: ...


def source_stat(source: str, name: str) -> str:
    """The stats key of counter `name` (e.g. "feeds/parsed") for `source`."""
    return "%s%s/%s" % (PREFIX, source, name)


def _key(source: Any) -> str | None:
    """A `Source`'s key, or the key itself; None for anything else (a request from another worker's queue
    that carries no source counts for none)."""
    key = getattr(source, "key", source)
    return key if isinstance(key, str) else None


def count_source(stats: Stats, source: Any, name: str, count: int = 1) -> None:
    """Count `name` for `source` (a `Source` or its key)."""
    if (key := _key(source)) is not None:
        stats.inc_value(source_stat(key, name), count)


def source_error(stats: Stats, source: Any, cause: str, message: str, failed: str | None = None) -> None:
    """Count an error of `source` by cause and keep it as the source's latest error; `failed` ("index" or
    "articles") says which of its requests the error cost."""
    if (key := _key(source)) is None:
        return
    stats.inc_value(source_stat(key, ERRORS + cause))
    stats.set_value(source_stat(key, LAST_ERROR), ("%s: %s" % (cause, message))[:MAX_ERROR_CHARS])
    if failed is not None:
        stats.inc_value(source_stat(key, failed + "/failed"))


@dataclass(frozen=True)
class SourceCounts:
    """One source's counts in one run (each column of `COLUMNS`, its errors by cause, its latest error)."""

    source: str
    index_ok: int = 0
    index_not_modified: int = 0
    index_failed: int = 0
    entries_listed: int = 0
    entries_new: int = 0
    entries_known: int = 0
    entries_changed: int = 0
    articles_fetched: int = 0
    articles_failed: int = 0
    articles_extracted: int = 0
    stories_new: int = 0
    error_causes: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None

    @property
    def errors(self) -> int:
        return sum(self.error_causes.values())

    def column_values(self) -> tuple[int, ...]:
        return tuple(getattr(self, column) for column in COLUMNS)


def counts_from_stats(stats: Mapping[str, Any]) -> dict[str, SourceCounts]:
    """Every source's counts among a crawl's stats."""
    raw: dict[str, dict[str, int]] = {}
    causes: dict[str, dict[str, int]] = {}
    last: dict[str, str] = {}
    for key, value in stats.items():
        if not key.startswith(PREFIX):
            continue
        source, _, name = key[len(PREFIX):].partition("/")
        counters = raw.setdefault(source, {})
        if name == LAST_ERROR:
            last[source] = str(value)
        elif name.startswith(ERRORS):
            causes.setdefault(source, {})[name[len(ERRORS):]] = int(value)
        else:
            counters[name] = int(value)
    found = {}
    for source, counters in raw.items():
        columns = {column: max(0, sum(counters.get(name, 0) for name in plus)
                               - sum(counters.get(name, 0) for name in minus))
                   for column, (plus, minus) in COLUMNS.items()}
        found[source] = SourceCounts(source, **columns, error_causes=causes.get(source, {}),
                                     last_error=last.get(source))
    return found


def record_source_runs(db: Executes, run_id: int, sources: Iterable[str], stats: Mapping[str, Any]) -> None:
    """One `source_runs` row per source of run `run_id`: each of `sources` (those it set out to crawl) and
    any other the stats count (a distributed worker's sources)."""
    counts = counts_from_stats(stats)
    for source in dict.fromkeys([*sources, *counts]):
        found = counts.get(source, SourceCounts(source))
        columns = list(COLUMNS)
        db.execute("INSERT INTO source_runs (run_id, source, %s, errors, error_causes, last_error) VALUES (?, ?, %s)"
                   " ON CONFLICT (run_id, source) DO NOTHING"
                   % (", ".join(columns), ", ".join("?" * (len(columns) + 3))),
                   (run_id, source, *found.column_values(), found.errors,
                    json.dumps(found.error_causes, sort_keys=True), found.last_error))


@dataclass(frozen=True)
class SourceRun:
    """One source's share of one recorded run, with the run's times and how it ended."""

    run_id: int
    source: str
    started: str
    finished: str | None
    reason: str | None
    counts: SourceCounts


def _row(row: Any) -> tuple[Any, ...]:
    """A row as a tuple, whatever the connection's row factory (tuples, sqlite3.Row, psycopg's dict_row)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def source_runs(db: Executes, source: str, limit: int = 200) -> list[SourceRun]:
    """`source`'s recorded runs, newest first (finished runs only: an open run has no counts yet)."""
    columns = list(COLUMNS)
    rows = db.execute("SELECT r.id, r.started, r.finished, r.reason, s.error_causes, s.last_error, %s"
                      " FROM source_runs s JOIN runs r ON r.id = s.run_id WHERE s.source = ?"
                      " ORDER BY s.run_id DESC LIMIT ?" % ", ".join("s." + c for c in columns),
                      (source, limit)).fetchall()
    found = []
    for row in map(_row, rows):
        run_id, started, finished, reason, causes, last_error, *values = row
        counts = SourceCounts(source, **dict(zip(columns, (int(v or 0) for v in values))),
                              error_causes=json.loads(causes or "{}"), last_error=last_error)
        found.append(SourceRun(int(run_id), source, started, finished, reason, counts))
    return found


def recorded_sources(db: Executes) -> list[str]:
    """Every source with a recorded run, sorted."""
    return sorted(_row(row)[0] for row in db.execute("SELECT DISTINCT source FROM source_runs").fetchall())


@dataclass(frozen=True)
class Polling:
    """The interval the scheduler chose for a source, why, and when it is next due."""

    source: str
    interval_seconds: float
    reason: str
    next_due: str | None
    decided: str


def save_polling(db: Executes, polling: Polling) -> None:
    db.execute("INSERT INTO source_polling (source, interval_seconds, reason, next_due, decided)"
               " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET interval_seconds ="
               " excluded.interval_seconds, reason = excluded.reason, next_due = excluded.next_due,"
               " decided = excluded.decided",
               (polling.source, polling.interval_seconds, polling.reason, polling.next_due, polling.decided))


def polling_states(db: Executes, sources: Sequence[str] = ()) -> dict[str, Polling]:
    """The saved polling state of `sources` (all when empty)."""
    rows = db.execute("SELECT source, interval_seconds, reason, next_due, decided FROM source_polling").fetchall()
    found = {values[0]: Polling(values[0], float(values[1]), values[2], values[3], values[4])
             for values in map(_row, rows)}
    return {key: value for key, value in found.items() if not sources or key in sources}
