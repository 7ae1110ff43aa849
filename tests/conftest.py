"""Shared test fixtures: loopback snapshot sites and a helper that runs the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from aggregator.testing.snapshot import render_template, serve_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).resolve().parent.parent
REDIS_ENV = "AGGREGATOR_TEST_REDIS"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n N`), each worker process gets a Redis database of its own (gw0 -> /1, gw1 -> /2,
    ...): tests flush their database, and the locks and indexes they make must not meet another worker's. The
    PostgreSQL tests make a database per test already."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get(REDIS_ENV)
    if url and worker.startswith("gw"):
        parts = urlsplit(url)
        os.environ[REDIS_ENV] = urlunsplit(parts._replace(path="/%d" % (1 + int(worker[2:]) % 15)))


# Loopback sites are ours: no politeness delays, so crawls take a second.
FAST = ["--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=false"]


@pytest.fixture(scope="session")
def seed_sites() -> Iterator[dict[str, str]]:
    """The seed-case sites (tests/fixtures/sites/*) served on 127.0.0.x; yields {site: base URL}."""
    with serve_snapshot(FIXTURES / "sites") as bases:
        yield bases


@pytest.fixture(scope="session")
def seed_expected() -> dict:
    return json.loads((FIXTURES / "sites_expected.json").read_text("utf-8"))


SEED_SOURCES = """
[sources.astanatimes]
name = "The Astana Times"
feed = "{{BASE:astanatimes}}/feed.rss"

[sources.commonspace]
name = "commonspace.eu"
listing = ["{{BASE:commonspace}}/news"]
article_links = "a.article-link"

[sources.timesca]
name = "The Times of Central Asia"
feed = "{{BASE:timesca}}/feed.rss"
"""


@pytest.fixture()
def seed_registry(seed_sites: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(render_template(SEED_SOURCES, seed_sites), "utf-8")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `aggregator ARGS...` as a user would, in its own process (Scrapy's reactor cannot restart)."""
    full_env = {**os.environ, **(env or {})}
    for name in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "aggregator.ops.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=PROJECT, input=stdin)
