"""Opens the storage backend a database URL names: SQLite (a path or sqlite:///path) or PostgreSQL."""

from __future__ import annotations

from aggregator.store.model import StoryStorage
from aggregator.store.sqlite import SQLiteStorage


def open_storage(db: str, batch_size: int = 1, batch_seconds: float = 1.0) -> StoryStorage:
    """Open the backend named by `db`: a file path, `sqlite:///path` or `postgresql://user@host/dbname`.

    `batch_size`/`batch_seconds` batch SQLite saves (see `SQLiteStorage`). PostgreSQL commits every item:
    its users are distributed crawls, whose workers must see each other's stories at once."""
    if db.startswith("sqlite:///"):
        return SQLiteStorage(db.removeprefix("sqlite:///"), batch_size, batch_seconds)
    if db.startswith(("postgresql://", "postgres://")):
        from aggregator.store.postgres import PostgresStorage  # psycopg only when PostgreSQL is used

        return PostgresStorage.from_url(db)
    if "://" in db:
        raise ValueError("unsupported database URL %r (supported: a file path, sqlite:///path or "
                         "postgresql://user@host/dbname)" % db)
    return SQLiteStorage(db, batch_size, batch_seconds)
