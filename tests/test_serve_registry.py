"""`serve` and a registry that changes while it runs: a source `aggregator add` adds shows in `/health`, `?source=`
and the reader page at the next request; a registry that no longer parses keeps the last good one, logged once.
The real waitress server on a free loopback port, over a real SQLite file, and the real `aggregator add` against a
loopback fixture site."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aggregator.publish.registry_names import RegistryNames
from aggregator.publish.serve import FeedApp, listening_urls, make_server
from aggregator.sources import RegistryError, load_registry
from aggregator.store.backends import open_reader
from tests.test_cli import invoke
from tests.test_serve import SOURCES, Server, fill, serving

KNOWN = ["astanatimes", "commonspace", "timesca"]
NAMES_LOGGER = "aggregator.publish.registry_names"


@contextmanager
def serving_app(db: Path, registry: Path) -> Iterator[Server]:
    """`FeedApp` as `serve` makes it, with the registry's names live, served by waitress on a free loopback port."""
    app = FeedApp(lambda: open_reader(str(db)), source_names=RegistryNames(str(registry)))
    server = make_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Server(listening_urls(server)[0])
    finally:
        server.close()
        thread.join(10)


def health_sources(server: Server) -> list[str]:
    reply = server.get("/health")
    assert reply.status == 200, reply.body
    return [source["source"] for source in reply.json()["sources"]]


def added_key(registry: Path, site: str) -> str:
    """`aggregator add` the loopback site's feed to `registry`; the key it chose."""
    result = invoke("add", site + "/feed.rss", "--sources", str(registry))
    assert result.exit_code == 0, result.output
    return next(line.split()[1] for line in result.output.splitlines() if line.startswith("Key: "))


def test_a_source_added_while_serving_shows_and_a_broken_registry_keeps_the_last_good_one(
        seed_sites: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fill(tmp_path / "news.db")
    registry = tmp_path / "sources.toml"
    registry.write_text(SOURCES, "utf-8")
    caplog.set_level(logging.INFO, logger=NAMES_LOGGER)
    with serving_app(tmp_path / "news.db", registry) as server:
        assert sorted(health_sources(server)) == KNOWN
        key = added_key(registry, seed_sites["timesca"])
        assert sorted(health_sources(server)) == sorted([*KNOWN, key])
        assert server.get("/feed.json?source=%s" % key).status == 200  # was: 400, unknown source
        page = server.get("/?source=%s" % key)
        name = load_registry(str(registry))[key].name  # the feed's title, as `add` took it
        assert page.status == 200 and ("seen on %s" % name).encode() in page.body

        good = registry.read_text("utf-8")
        registry.write_text(good + "\n[sources.half-written\nname = \n", "utf-8")
        assert [sorted(health_sources(server)) for _ in range(3)] == [sorted([*KNOWN, key])] * 3
        errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert len(errors) == 1 and "still showing the 4 sources read before" in errors[0].getMessage()

        registry.write_text(good.replace("[sources.commonspace]", "[sources.commonspace-eu]"), "utf-8")
        assert sorted(health_sources(server)) == sorted(["astanatimes", "commonspace-eu", "timesca", key])
        registry.unlink()  # gone: the last good names, told once
        assert [len(health_sources(server)) for _ in range(2)] == [4, 4]
        assert len([record for record in caplog.records if record.levelno >= logging.ERROR]) == 2


def test_the_registry_is_read_once_and_only_again_when_it_changes(tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    registry.write_text(SOURCES, "utf-8")
    names = RegistryNames(str(registry))
    first = names()
    assert sorted(first) == KNOWN and first["timesca"] == "The Times of Central Asia"
    assert names() is first  # unchanged file: not read again
    registry.write_text(SOURCES.replace("The Astana Times", "Astana Times"), "utf-8")  # one byte shorter
    assert names()["astanatimes"] == "Astana Times"
    (tmp_path / "bad.toml").write_text("[sources.a\n", "utf-8")
    with pytest.raises(RegistryError):  # no last good registry to keep: refused when made
        RegistryNames(str(tmp_path / "bad.toml"))


def test_the_serve_command_shows_a_source_added_while_it_runs(seed_sites: dict[str, str], tmp_path: Path) -> None:
    fill(tmp_path / "news.db")
    with serving(tmp_path / "news.db", tmp_path) as server:  # serves tmp_path/sources.toml, written with SOURCES
        assert sorted(health_sources(server)) == KNOWN
        key = added_key(tmp_path / "sources.toml", seed_sites["timesca"])
        assert sorted(health_sources(server)) == sorted([*KNOWN, key])
