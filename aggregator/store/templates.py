"""Each source's learned page template, kept with the stories: one `source_templates` row per source (made by
`aggregator.store.migrations`), holding the model's bytes as `aggregator.extract.templates.TemplateModel`
writes them (line hashes and counts, never article text), the pages it was learned from and when.

Stores bytes only: what they mean is the extract stage's. Writes nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aggregator.sqlitefile import connect
from aggregator.store.backends import parse_database_url
from aggregator.store.dialect import POSTGRESQL, SQLITE, Dialect, Statements
from aggregator.store.migrations import migrate
from aggregator.store.model import StoryStorage, utc_now
from aggregator.store.sqlite import SQLiteStorage, connect_read_only

logger = logging.getLogger(__name__)

TEMPLATE_LOCK_PREFIX = "news-aggregator:template:"
MAX_MODEL_BYTES = 4 * 1024 * 1024  # a model's bytes are bounded by its rules; anything bigger is refused


@dataclass(frozen=True)
class StoredTemplate:
    """What is known of one source's stored model without reading it."""

    source: str
    pages: int
    size: int
    updated: str


class TemplateStore:
    """`load(source)` and `save(source, model, pages)` on a connection of the stories' database. The
    connection is closed by `close()` only when `owns` (a SQLite storage's own connection is shared, so a
    model saved during a crawl joins the open batch and never waits for the crawl's own write lock)."""

    def __init__(self, connection: Any, dialect: Dialect, owns: bool = True) -> None:
        self.connection = connection
        self.dialect = dialect
        self.statements = Statements(connection, dialect)
        self.owns = owns

    def load(self, source: str) -> bytes | None:
        row = self.statements.execute("SELECT model FROM source_templates WHERE source = ?", (source,)).fetchone()
        return bytes(_first(row)) if row is not None else None

    def save(self, source: str, model: bytes, pages: int) -> None:
        if len(model) > MAX_MODEL_BYTES:
            raise ValueError("the template model of %r is %d bytes, over %d" % (source, len(model), MAX_MODEL_BYTES))
        self.statements.execute(
            "INSERT INTO source_templates (source, model, pages, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET model = excluded.model, pages = excluded.pages,"
            " updated = excluded.updated", (source, model, pages, utc_now()))

    def update(self, source: str, merge: Callable[[bytes | None], tuple[bytes, int]]) -> None:
        """Store `merge(the source's stored model or None)`, which gives (model, pages), with no other save of
        the source in between: the workers of a distributed crawl merge their learning instead of overwriting
        each other's."""
        if self.dialect.url_lock is not None:  # PostgreSQL: a transaction holding the source's advisory lock
            with self.connection.transaction():
                self.statements.execute(self.dialect.url_lock, (TEMPLATE_LOCK_PREFIX + source,))
                self.save(source, *merge(self.load(source)))
            return
        if self.connection.in_transaction:  # a crawl's open batch already holds the SQLite file's write lock
            self.save(source, *merge(self.load(source)))
            return
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            self.save(source, *merge(self.load(source)))
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def forget(self, source: str) -> bool:
        """Drop a source's model (after a redesign, say): it is learned again from the next pages."""
        cursor = self.statements.execute("DELETE FROM source_templates WHERE source = ?", (source,))
        return bool(cursor.rowcount)

    def stored(self) -> list[StoredTemplate]:
        rows = self.statements.execute("SELECT source, pages, length(model), updated FROM source_templates"
                                       " ORDER BY source").fetchall()
        return [StoredTemplate(*(_row(row))) for row in rows]

    def close(self) -> None:
        if self.owns:
            self.connection.close()


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _row(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def open_template_store(db: str, storage: StoryStorage | None = None, *, read_only: bool = False) -> TemplateStore:
    """The template store of database `db` (a SQLite path or URL, or a PostgreSQL URL). On SQLite, the
    connection of `storage` when it is that file's (shared, not closed here); PostgreSQL always gets a
    connection of its own (the storage's runs transactions from other threads)."""
    parsed = parse_database_url(db)
    if parsed.kind == "sqlite":
        if isinstance(storage, SQLiteStorage) and storage.path == parsed.location:
            return TemplateStore(storage.db, SQLITE, owns=False)
        connection: Any = connect_read_only(parsed.location) if read_only else connect(parsed.location)
        dialect = SQLITE
    else:
        import psycopg  # only when PostgreSQL is used

        connection = psycopg.connect(parsed.location, autocommit=True)
        dialect = POSTGRESQL
    try:
        migrate(Statements(connection, dialect), repr(parsed.location if parsed.kind == "sqlite"
                                                      else connection.info.dsn))
    except BaseException:
        connection.close()
        raise
    return TemplateStore(connection, dialect)
