"""SQLite files as every store here opens them: WAL mode, so readers never block the crawl's writer."""

from __future__ import annotations

import sqlite3
import time


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
