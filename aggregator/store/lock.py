"""The crawl lock: at most one crawl writes to a database at a time.

For SQLite a file lock (`flock`) on `<database>.lock` beside the database file; other backends take an
advisory lock of their own through `CrawlLock` subclasses. The lock dies with its process, so a
crashed crawl never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from aggregator.store.backends import display_url, parse_database_url

logger = logging.getLogger(__name__)


class LockBusy(RuntimeError):
    """Another crawl holds the lock on this database."""


class CrawlLock:
    """`with CrawlLock(db, wait=False):` — raises LockBusy at once (or waits, with wait=True). `db` names a
    SQLite file: a path or sqlite:///path."""

    def __init__(self, db: str, wait: bool = False, poll_seconds: float = 0.5) -> None:
        parsed = parse_database_url(db)
        if parsed.kind != "sqlite":
            raise ValueError("CrawlLock locks a SQLite file, not %r: use crawl_lock()" % db)
        self.path = Path(parsed.location + ".lock")
        self.db = db
        self.wait = wait
        self.poll_seconds = poll_seconds
        self._file: int | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text("utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not self.wait:
                    os.close(fd)
                    raise LockBusy("another crawl is running on %s (%s); use --wait to wait for it"
                                   % (self.db, self.holder())) from None
                if not announced:
                    logger.warning("Waiting for the crawl running on %s (%s)", self.db, self.holder())
                    announced = True
                time.sleep(self.poll_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, ("pid %d since %s" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%S%z"))).encode())
        self._file = fd

    def release(self) -> None:
        if self._file is not None:
            os.ftruncate(self._file, 0)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None

    def __enter__(self) -> CrawlLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


class PostgresCrawlLock(CrawlLock):
    """The same contract on PostgreSQL: a session-level advisory lock held by a connection of its own."""

    KEY = 0x6E657773  # "news": one lock per database, whatever the schema holds

    def __init__(self, db: str, wait: bool = False, poll_seconds: float = 0.5) -> None:
        self.db = db
        self.wait = wait
        self.poll_seconds = poll_seconds
        self._connection: object | None = None

    def holder(self) -> str:
        return "an advisory lock holder"

    def acquire(self) -> None:
        import psycopg

        connection = psycopg.connect(self.db, autocommit=True)
        announced = False
        while connection.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,)).fetchone() != (True,):
            if not self.wait:
                connection.close()
                raise LockBusy("another crawl is running on %s; use --wait to wait for it" % display_url(self.db))
            if not announced:
                logger.warning("Waiting for the crawl running on %s", display_url(self.db))
                announced = True
            time.sleep(self.poll_seconds)
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # type: ignore[attr-defined]  # closing the session frees the lock
            self._connection = None


def crawl_lock(db: str, wait: bool = False) -> CrawlLock:
    """The lock for database `db` (a path, sqlite:///path or postgresql://...)."""
    if parse_database_url(db).kind == "postgresql":
        return PostgresCrawlLock(db, wait=wait)
    return CrawlLock(db, wait=wait)
