"""What SQL differs between SQLite and PostgreSQL for the story tables: parameter marks, row locks, the
per-URL lock of a save and the lock of a schema change. Owns no statement of the write path itself
(`aggregator.store.sql` writes each once, with `?` marks) and opens no connection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# PostgreSQL advisory lock keys are 64-bit hashes of these prefixes (plus a URL); a collision only makes two
# saves wait for each other.
SCHEMA_LOCK_KEY = "news-aggregator:schema"
URL_LOCK_PREFIX = "news-aggregator:url:"


@dataclass(frozen=True)
class Dialect:
    """One backend's SQL particulars. Statements are written with `?` marks; `sql()` makes them this
    backend's. The upsert (`INSERT ... ON CONFLICT`) is the same on both (SQLite >= 3.24), so it is not here."""

    name: str  # "sqlite" or "postgresql": the key of per-backend DDL in `aggregator.store.migrations`
    placeholder: str
    row_lock: str  # appended to a SELECT of a story row the save is about to change
    url_lock: str | None  # run first in a save with the URL's lock key: saves of one URL queue; None: no need
    begin_schema_change: tuple[str, ...]  # opens the one transaction that may change the schema
    table_exists: str  # one row when the table named by the argument exists
    instant: str  # `instant % expression`: an ISO 8601 text column or mark as a comparable point in time
    strip_nul: bool = False  # the backend refuses NUL in text: it is dropped from every text argument

    def args(self, values: Sequence[Any]) -> Sequence[Any]:
        """`values` as this backend takes them: without NUL in text where `strip_nul`."""
        if not self.strip_nul or not any(isinstance(value, str) and "\x00" in value for value in values):
            return values
        return [value.replace("\x00", "") if isinstance(value, str) else value for value in values]

    def sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


# SQLite: one writer at a time per file, so BEGIN IMMEDIATE already serializes saves and schema changes.
SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    row_lock="",
    url_lock=None,
    begin_schema_change=("BEGIN IMMEDIATE",),
    table_exists="SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    instant="julianday(%s)",  # reads the offset (+05:00, Z), so instants compare, not spellings
)

# PostgreSQL: many writers. Saves of one URL queue on a transaction-level advisory lock (READ COMMITTED then
# shows the holder's row); concurrent sightings of one story decide one after the other on its row lock;
# one process at a time changes the schema (concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog).
POSTGRESQL = Dialect(
    name="postgresql",
    placeholder="%s",
    row_lock=" FOR NO KEY UPDATE",
    url_lock="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
    # READ COMMITTED whatever the server's default, so what is read after the lock wait is what the previous
    # holder committed (a serializable snapshot would date from before the wait).
    begin_schema_change=("BEGIN ISOLATION LEVEL READ COMMITTED",
                         "SELECT pg_advisory_xact_lock(hashtextextended('%s', 0))" % SCHEMA_LOCK_KEY),
    table_exists="SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
    instant="(%s)::timestamptz",
    # Text enters through aggregator.text.clean_text, which drops NUL; this is the last guard for anything
    # else (a URL, an HTTP validator, a row written by an older version's code path) that would make
    # PostgreSQL refuse the whole save ("A string literal cannot contain NUL (0x00) characters").
    strip_nul=True,
)


class Statements:
    """A DB-API connection or cursor that takes statements written with `?` marks, whatever its backend's."""

    def __init__(self, target: Any, dialect: Dialect) -> None:
        self.target = target
        self.dialect = dialect

    def execute(self, statement: str, args: Sequence[Any] = ()) -> Any:
        return self.target.execute(self.dialect.sql(statement), self.dialect.args(args))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.target.executemany(self.dialect.sql(statement), [self.dialect.args(row) for row in rows])
