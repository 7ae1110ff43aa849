"""The storage backends under test (SQLite and the test PostgreSQL server), the `backend` fixture that runs a
test once per backend (import `backend_fixture`, and `storage_fixture` for `storage`: an opened backend), and
the article and save helpers the storage tests share."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aggregator.extract.extractor import Article
from aggregator.store.backends import open_storage
from aggregator.store.model import StoryStorage
from tests.pgserver import fresh_database, server_url


@dataclass(frozen=True)
class Backend:
    """One storage backend under test: what `--db` names, and a look at the database behind the backend."""

    name: str
    db: str
    integrity_error: type[Exception]
    error: type[Exception]  # what the database driver raises

    def open(self) -> StoryStorage:
        return open_storage(self.db)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of `sql` run (and committed) straight on the database, past the storage class, on a connection
        of its own: what another process sees."""
        if self.name == "sqlite":
            if not Path(self.db).exists():
                return []
            connection = sqlite3.connect(self.db)
            try:
                with connection:
                    return connection.execute(sql, args).fetchall()
            finally:
                connection.close()
        import psycopg

        with psycopg.connect(self.db) as db:
            cursor = db.execute(sql.replace("?", "%s"), args)
            return cursor.fetchall() if cursor.description else []

    def script(self, statements: list[str] | tuple[str, ...]) -> None:
        """Run `statements` in one transaction on a connection of their own."""
        if self.name == "sqlite":
            connection = sqlite3.connect(self.db)
            try:
                with connection:
                    for statement in statements:
                        connection.execute(statement)
            finally:
                connection.close()
            return
        import psycopg

        with psycopg.connect(self.db) as db:
            for statement in statements:
                db.execute(statement)

    def tables(self) -> set[str]:
        if self.name == "sqlite":
            return {row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {row[0] for row in tables}

    def columns(self, table: str) -> list[str]:
        if self.name == "sqlite":
            return [row[1] for row in self.query("SELECT * FROM pragma_table_info(?)", (table,))]
        return [row[0] for row in self.query("SELECT column_name FROM information_schema.columns WHERE"
                                             " table_name = ? ORDER BY ordinal_position", (table,))]


def sqlite_backend(path: Path) -> Backend:
    return Backend("sqlite", str(path), sqlite3.IntegrityError, sqlite3.Error)


@pytest.fixture(name="backend", params=["sqlite", "postgresql"])
def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path / "stories.db")
        return
    import psycopg

    with fresh_database(server_url()) as url:
        yield Backend("postgresql", url, psycopg.IntegrityError, psycopg.Error)


@pytest.fixture(name="storage")
def storage_fixture(backend: Backend) -> Iterator[StoryStorage]:
    opened = backend.open()
    yield opened
    opened.close()


def article(title: str, date: str | None = None, text: str = "Body text. " * 30, **kw: Any) -> Article:
    return Article(text=text, title=title, authors=("A. Writer",), date_published=date, tags=("x",),
                   language="en", **kw)


def save(storage: StoryStorage, story_id: str, url: str, source: str, art: Article, *, text_hash: str = "h",
         similarity: float | None = None, rule: str | None = None, fingerprint: bytes | None = None,
         source_updated: str | None = None, canonical_claim: str | None = None,
         then: Callable[[], None] | None = None) -> str:
    return storage.save(story_id=story_id, url=url, source=source, article=art, text_hash=text_hash,
                        similarity=similarity, rule=rule, fingerprint=fingerprint, source_updated=source_updated,
                        canonical_claim=canonical_claim, then=then)
