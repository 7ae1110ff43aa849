"""The test PostgreSQL server (started by scripts/services.sh): a fresh database per test, dropped after it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_ENV = "AGGREGATOR_TEST_PG"


def server_url() -> str:
    """The maintenance database URL from AGGREGATOR_TEST_PG; skips the test when it is unset."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip("%s is not set (run `scripts/services.sh start && . .services/env`)" % PG_ENV)
    return url


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Create an empty database on the server of `url`; yield its URL; drop it (and its connections) after."""
    import psycopg
    from psycopg import sql

    name = "test_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as admin:
        try:  # a linguistic collation, as production databases have ('a' < 'B'), not the test server's C
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                                  " LOCALE 'C.UTF-8'").format(sql.Identifier(name)))
        except psycopg.Error:  # a server built without ICU, or older than PostgreSQL 15
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A `postgresql://` URL of an empty database of its own for this test."""
    with fresh_database(server_url()) as url:
        yield url
