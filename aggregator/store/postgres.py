"""Story storage in PostgreSQL, safe for many concurrent writers: the connection and its transactions; the
SQL is `aggregator.store.sql`'s.

Each save is one transaction, run again from the start when PostgreSQL aborts it for a serialization
failure or a deadlock. Knows nothing of Scrapy or of how duplicates are decided.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from aggregator.store.dialect import POSTGRESQL, Statements
from aggregator.store.migrations import migrate
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors after which the whole transaction can simply run again.
RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
RETRIES = 10


class PostgresStorage(SQLStorage):
    """Stories in a PostgreSQL database; the storage owns (and closes) the connection it is given."""

    dialect = POSTGRESQL

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        if not db.autocommit:
            raise ValueError("PostgresStorage needs an autocommit connection (psycopg.connect(url, "
                             "autocommit=True)), got one with autocommit=%r" % db.autocommit)
        self.db = db
        migrate(Statements(db, POSTGRESQL), repr(db.info.dsn))  # the DSN without its password
        db.row_factory = dict_row  # after migrating, whose reads index rows by position

    @classmethod
    def from_url(cls, url: str) -> PostgresStorage:
        """Connect to `postgresql://user@host:port/dbname` (any libpq URL)."""
        connection = psycopg.connect(url, autocommit=True)
        try:
            return cls(connection)
        except BaseException:
            connection.close()
            raise

    def _unit(self, work: Callable[[Statements], T]) -> T:
        """Run `work` in one transaction, again from the start if PostgreSQL aborted it for a conflict."""
        for attempt in range(1, RETRIES + 1):
            try:
                with self.db.transaction(), self.db.cursor() as cursor:
                    return work(Statements(cursor, POSTGRESQL))
            except RETRYABLE as exc:
                if attempt == RETRIES:
                    raise
                logger.info("transaction aborted (%s), retrying (%d/%d)", exc.sqlstate, attempt, RETRIES)
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2 ** attempt)))
        raise AssertionError("unreachable")

    def begin(self) -> None:
        """Every save commits on its own here (workers must see each other's stories at once)."""

    def commit(self) -> None:
        pass

    def commit_if_due(self) -> None:
        pass

    def close(self) -> None:
        self.db.close()
