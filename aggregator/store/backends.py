"""Database URLs, parsed in this one place, and the storage backend each names: SQLite (a path or
sqlite:///path) or PostgreSQL (postgresql:// or postgres://, any libpq URL)."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from aggregator.store.model import StoryStorage
from aggregator.store.sqlite import SQLiteStorage

logger = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_PREFIXES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class DatabaseURL:
    """What a database URL names: `location` is the SQLite file's path, or the libpq URL as given."""

    kind: Literal["sqlite", "postgresql"]
    location: str


def parse_database_url(text: str) -> DatabaseURL:
    """`path/to/file.db` and `sqlite:///path/to/file.db` (so `sqlite:////abs/file.db`) name a SQLite file;
    `postgresql://...` and `postgres://...` a PostgreSQL database. Anything else is a ValueError naming it."""
    if text.startswith(POSTGRESQL_PREFIXES):
        return DatabaseURL("postgresql", text)
    path = text.removeprefix(SQLITE_PREFIX)
    if not path or "://" in path:
        raise ValueError("unsupported database URL %r (supported: a file path, sqlite:///path or "
                         "postgresql://user@host/dbname)" % text)
    return DatabaseURL("sqlite", path)


def sqlite_path(db: str) -> str | None:
    """The path of the SQLite file database URL `db` names, or None when it names a PostgreSQL database."""
    parsed = parse_database_url(db)
    return parsed.location if parsed.kind == "sqlite" else None


def database_exists(db: str) -> bool:
    """Whether the database `db` names is there to read: the SQLite file exists, whichever way it is spelled
    (a path or sqlite:///path). A PostgreSQL URL counts as there: only connecting tells."""
    path = sqlite_path(db)
    return path is None or Path(path).is_file()


def database_errors() -> tuple[type[BaseException], ...]:
    """What opening or reading a database raises when it is unreachable, locked, refused or not a database:
    SQLite's errors, the file system's, and PostgreSQL's when psycopg is installed."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


def display_url(db: str) -> str:
    """`db` as it may be shown or logged: a URL's password replaced by `***`."""
    if "://" not in db or db.startswith(SQLITE_PREFIX):
        return db
    db = re.sub(r"(?i)(password=)[^&]*", r"\1***", db)
    try:
        parts = urlsplit(db)
        if parts.password is None:
            return db
        netloc = "%s:***@%s" % (parts.username or "", parts.netloc.rpartition("@")[2])
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return db.split("://", 1)[0] + "://***"


def open_storage(db: str, batch_size: int = 1, batch_seconds: float = 1.0, *,
                 read_only: bool = False) -> StoryStorage:
    """Open the backend named by `db`: a file path, `sqlite:///path` or `postgresql://user@host/dbname`.

    `batch_size`/`batch_seconds` batch SQLite saves (see `SQLiteStorage`). PostgreSQL commits every item:
    its users are distributed crawls, whose workers must see each other's stories at once. `read_only`
    opens an existing SQLite file for reading only (see `aggregator.store.sqlite.read_only_uri`)."""
    parsed = parse_database_url(db)
    if parsed.kind == "sqlite":
        return SQLiteStorage(parsed.location, batch_size, batch_seconds, read_only=read_only)
    from aggregator.store.postgres import PostgresStorage  # psycopg only when PostgreSQL is used

    return PostgresStorage.from_url(parsed.location)


def open_reader(db: str) -> StoryStorage:
    """The backend named by `db`, opened to be read only (exports, serve, explain, stats)."""
    return open_storage(db, read_only=True)
