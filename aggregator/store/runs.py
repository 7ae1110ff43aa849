"""The run history: one row per crawl run (start, end, sources, pages, stored, duplicates, errors, exit status).

Kept in the same database as the stories, in a `runs` table of its own (made by
`aggregator.store.migrations`, version 3); `aggregator runs` and `aggregator stats` read it. A finished run also
leaves one `source_runs` row per source (`aggregator.store.source_runs`). Writes nothing else.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

from aggregator.sqlitefile import connect
from aggregator.store.backends import parse_database_url
from aggregator.store.dialect import POSTGRESQL, SQLITE, Statements
from aggregator.store.migrations import migrate
from aggregator.store.model import utc_now
from aggregator.store.source_runs import record_source_runs
from aggregator.store.sqlite import connect_read_only

logger = logging.getLogger(__name__)


ALL = "all"  # how runs recorded before a --all run named its sources; matches every source
UNRECORDED = "ended_unrecorded"  # a run whose process ended without recording how (SIGKILL, a full disk)


def _alive(pid: int | None) -> bool:
    """Whether process `pid` runs on this machine (a run without a pid counts as alive: left alone)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def crawled(sources: str, source: str) -> bool:
    """Whether a run recorded over `sources` (comma-separated ids) crawled `source`."""
    names = sources.split(",")
    return source in names or names == [ALL]


class CrawlSummary(Protocol):
    """What a finished run records (`aggregator.ops.crawl.CrawlSummary` is one)."""

    @property
    def pages_fetched(self) -> int: ...
    @property
    def articles_stored(self) -> int: ...
    @property
    def duplicates_collapsed(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def exit_code(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def stats(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Run:
    id: int
    sources: str
    started: str
    finished: str | None
    pages: int | None
    stored: int | None
    duplicates: int | None
    updated: int | None
    errors: int | None
    exit_status: int | None
    reason: str | None


class RunLog:
    """Start and finish runs in the stories' database (`db`: a SQLite path or URL, or a PostgreSQL URL)."""

    def __init__(self, db: str, read_only: bool = False) -> None:
        parsed = parse_database_url(db)
        if parsed.kind == "sqlite":
            self.connection: Any = connect_read_only(parsed.location) if read_only else connect(parsed.location)
            self.statements = Statements(self.connection, SQLITE)
        else:
            import psycopg  # only when PostgreSQL is used

            self.connection = psycopg.connect(parsed.location, autocommit=True)
            self.statements = Statements(self.connection, POSTGRESQL)
        try:  # the DSN names a PostgreSQL database without its password
            migrate(self.statements, repr(parsed.location if parsed.kind == "sqlite" else self.connection.info.dsn))
        except BaseException:
            self.connection.close()
            raise

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.statements.execute(sql, args)

    def start(self, sources: list[str]) -> int:
        """Record a run starting over `sources`, the ids of every source it crawls (a `--all` run names them
        all, so it counts for each of them). Runs left open by a process that is gone (killed, or unable to
        record its end on a full disk) are closed first, as `ended_unrecorded`."""
        self.close_abandoned()
        cursor = self.execute("INSERT INTO runs (sources, started, pid) VALUES (?, ?, ?) RETURNING id",
                              (",".join(sources) or ALL, utc_now(), os.getpid()))
        return int(cursor.fetchone()[0])

    def close_abandoned(self) -> int:
        """Close the runs still open whose process is no longer alive on this machine; how many."""
        rows = self.execute("SELECT id, pid FROM runs WHERE finished IS NULL").fetchall()
        gone = [row[0] for row in rows if not _alive(row[1])]
        for run_id in gone:
            self.execute("UPDATE runs SET finished = ?, reason = ? WHERE id = ? AND finished IS NULL",
                         (utc_now(), UNRECORDED, run_id))
        return len(gone)

    def finish(self, run_id: int, summary: CrawlSummary | None) -> None:
        """Record how run `run_id` ended; None means the crawl raised (recorded as crashed, exit 1)."""
        if summary is None:
            values: tuple[Any, ...] = (0, 0, 0, 0, 1, 1, "crashed")
        else:
            values = (summary.pages_fetched, summary.articles_stored, summary.duplicates_collapsed,
                      summary.updated, summary.errors, summary.exit_code, summary.reason)
        self.execute("UPDATE runs SET finished = ?, pages = ?, stored = ?, duplicates = ?, updated = ?,"
                     " errors = ?, exit_status = ?, reason = ? WHERE id = ?", (utc_now(), *values, run_id))
        if summary is not None:  # a crawl that raised counted nothing per source worth judging it by
            row = self.execute("SELECT sources FROM runs WHERE id = ?", (run_id,)).fetchone()
            named = [key for key in (row[0] if row else "").split(",") if key and key != ALL]
            record_source_runs(self, run_id, named, summary.stats)

    def recent(self, limit: int = 20, source: str | None = None) -> list[Run]:
        """The newest `limit` runs; with `source`, those that crawled it (alone or with others)."""
        cursor = self.execute("SELECT id, sources, started, finished, pages, stored, duplicates, updated, errors,"
                              " exit_status, reason FROM runs ORDER BY id DESC")
        found: list[Run] = []
        # The sources are a comma-separated list, not rows: filtered here, where a key's '_' is no wildcard.
        while len(found) < limit and (row := cursor.fetchone()) is not None:
            if source is None or crawled(row[1], source):
                found.append(Run(*row))
        return found

    def totals(self) -> list[dict[str, Any]]:
        """Per source: runs that crawled it (alone or with others), failed runs, and those runs' pages,
        stored, duplicates and errors (a run over several sources counts whole for each), and the last start.
        Runs recorded before runs named their sources (`all`) count under `all`."""
        rows = self.execute("SELECT sources, exit_status, pages, stored, duplicates, errors, started"
                            " FROM runs ORDER BY id").fetchall()
        totals: dict[str, dict[str, Any]] = {}
        for sources, exit_status, pages, stored, duplicates, errors, started in rows:
            for key in dict.fromkeys(sources.split(",")):
                total = totals.setdefault(key, {"sources": key, "runs": 0, "failed": 0, "pages": 0, "stored": 0,
                                                "duplicates": 0, "errors": 0, "last_run": None})
                total["runs"] += 1
                total["failed"] += 1 if exit_status not in (None, 0) else 0
                for name, value in (("pages", pages), ("stored", stored), ("duplicates", duplicates),
                                    ("errors", errors)):
                    total[name] += value or 0
                total["last_run"] = max(filter(None, (total["last_run"], started)))
        return [totals[key] for key in sorted(totals)]

    def close(self) -> None:
        self.connection.close()


def open_run_log(db: str) -> RunLog:
    return RunLog(db)


def open_run_reader(db: str) -> RunLog:
    """The run history, opened to be read only (`runs`, `stats`)."""
    return RunLog(db, read_only=True)
