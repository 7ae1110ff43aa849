"""SQLite files as every store here opens them: WAL mode, so readers never block the crawl's writer.

Owns how a connection to a SQLite file is made; runs no statement on the data."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def connect(path: str | Path, timeout: float = 30) -> sqlite3.Connection:
    """A connection to the SQLite file `path` (made, with its folder, if missing; ":memory:" for none), in WAL
    mode, in autocommit mode (transactions are begun explicitly), waiting up to `timeout` seconds for a lock."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        enable_wal(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def enable_wal(connection: sqlite3.Connection, attempts: int = 40) -> None:
    """Put a SQLite database in WAL mode (readers never block the writer). Switching the mode needs the
    database to itself, and SQLite answers "locked" at once, without waiting, when another process is
    opening it at the same moment, so this retries."""
    for attempt in range(attempts):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
