"""Every command with each bad input a user can give it: the documented exit code, one `Error:` line naming
the problem, and never a traceback.

In this process through click's `CliRunner` (an uncaught exception fails the test); the last test runs a few
of the same as real processes, where what a user sees is the process's own output and exit status.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.items import Article
from aggregator.store.backends import open_storage
from tests.conftest import run_cli
from tests.test_cli import KNOWN, invoke

UNSUPPORTED = "unsupported database URL 'mysql://host/news' (supported: a file path, sqlite:///path or " \
              "postgresql://user@host/dbname)"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture()
def dbs(tmp_path: Path) -> dict[str, str]:
    """A real database with one story, a file that is not SQLite, and a path where there is no database."""
    good = tmp_path / "good.db"
    storage = open_storage(str(good))
    storage.save(story_id="s1", url="https://a.example/1", source="timesca",
                 article=Article(text="A text of a few words. " * 20, title="One", date_published="2026-11-20"),
                 text_hash="h1", similarity=None, rule=None, fingerprint=None)
    storage.close()
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("these are my notes, not a database\n" * 20, "utf-8")
    return {"good": str(good), "not_sqlite": str(not_sqlite), "missing": str(tmp_path / "missing.db")}


def assert_user_error(args: list[str], code: int, message: str, stdin: str | bytes | None = None,
                      env: dict[str, str] | None = None) -> None:
    result = invoke(*args, stdin=stdin, env=env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == code, (args, result.exit_code, result.output)
    assert len(errors) == 1 and message in errors[0], (args, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, args


READERS = (["export"], ["runs"], ["stats"], ["explain", "s1"])


def test_a_file_that_is_not_sqlite(dbs: dict[str, str]) -> None:
    for command in READERS:
        for spelling in (dbs["not_sqlite"], "sqlite:///" + dbs["not_sqlite"]):
            assert_user_error([*command, "--db", spelling], 2,
                              "cannot use the database %s: file is not a database" % spelling)
    assert_user_error(["crawl", "timesca", "--db", dbs["not_sqlite"]], 2, "file is not a database")


def test_a_missing_database_either_spelling(dbs: dict[str, str]) -> None:
    for command in (*READERS, ["serve"]):
        for spelling in (dbs["missing"], "sqlite:///" + dbs["missing"]):
            assert_user_error([*command, "--db", spelling], 2,
                              "no database at %s (run `aggregator crawl` first)" % spelling)
    assert not Path(dbs["missing"]).exists()  # sqlite:///path used to create it, empty, and exit 0


def test_an_unreachable_postgresql_database(dbs: dict[str, str]) -> None:
    url = "postgresql://news:secret@127.0.0.1:%d/news" % closed_port()
    shown = "postgresql://news:***@127.0.0.1:"  # the password never reaches the terminal
    for command in (*READERS, ["crawl", "timesca"]):
        assert_user_error([*command, "--db", url], 2, "cannot use the database %s" % shown)
        assert "secret" not in invoke(*command, "--db", url).stderr


def test_an_unsupported_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    redis = os.environ.get("AGGREGATOR_TEST_REDIS")
    commands = [*READERS, ["serve"], ["crawl", "timesca"], ["schedule"]]
    commands += [["worker", "--redis", redis]] if redis else []
    for command in commands:
        assert_user_error([*command, "--db", "mysql://host/news"], 2, UNSUPPORTED)
    assert list(tmp_path.iterdir()) == []


def test_export_output_folder_missing(dbs: dict[str, str]) -> None:
    assert_user_error(["export", "--db", dbs["good"], "-o", "/no/such/dir/f.json"], 2,
                      "Invalid value for --output: no folder /no/such/dir to write f.json in")


def test_unknown_source_and_bad_since(dbs: dict[str, str]) -> None:
    for command in ("export", "runs"):
        assert_user_error([command, "--db", dbs["good"], "--source", "nosuch"], 2,
                          "unknown source 'nosuch'; %s" % KNOWN)
    for bad in ("last week", "2026-W47x", "Tue, 24 Nov 2026 10:00:00 GMT", "2026-11-31"):
        assert_user_error(["export", "--db", dbs["good"], "--since", bad], 2,
                          "Invalid value for --since: not an ISO 8601 date: %r" % bad)


def test_a_since_at_the_ends_of_the_calendar(dbs: dict[str, str]) -> None:
    # valid dates whose UTC falls outside datetime's range: after every story, before them all; no traceback
    for since, count in (("9999-12-31T23:59:59-23:59", 0), ("0001-01-01T00:00:00+14:00", 1)):
        result = invoke("export", "--db", dbs["good"], "--since", since)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        assert len(json.loads(result.stdout)["items"]) == count


def test_serve_on_a_busy_port_or_a_bad_host(dbs: dict[str, str], busy_port: int) -> None:
    assert_user_error(["serve", "--db", dbs["good"], "--port", str(busy_port)], 2,
                      "cannot listen on 127.0.0.1 port %d: Address already in use" % busy_port)
    assert_user_error(["serve", "--db", dbs["good"], "--host", "999.1.1.1", "--port", "0"], 2,
                      "cannot listen on 999.1.1.1 port 0")
    assert_user_error(["serve", "--db", dbs["good"], "--base-url", "news.example"], 2,
                      "Invalid value for --base-url: not an absolute http(s) URL: 'news.example'")


def test_dedup_bad_ids_threshold_and_bytes() -> None:
    text = "The council approved the tram line after a long debate on costs."
    assert_user_error(["dedup", "-"], 1, 'line 1: "id" must be a non-empty string, got 5',
                      stdin=json.dumps({"id": 5, "text": text}) + "\n")
    assert_user_error(["dedup", "-"], 1, 'line 2: "id" must be a non-empty string, got ""',
                      stdin=json.dumps({"id": "a", "text": text}) + "\n" + json.dumps({"id": "", "text": text}))
    twice = json.dumps({"id": "a", "text": text}) + "\n"
    assert_user_error(["dedup", "-"], 1, 'line 3: id "a" is already the id of line 1', stdin=twice + "\n" + twice)
    assert_user_error(["dedup", "-", "--threshold", "2"], 2,
                      "Invalid value for '--threshold': 2.0 is not in the range 0<x<=1")
    assert_user_error(["dedup", "-", "--threshold", "0"], 2, "Invalid value for '--threshold'")
    latin1 = (json.dumps({"id": "a", "text": text}) + "\n").encode() + b'{"id": "b", "text": "caf\xe9"}\n'
    assert_user_error(["dedup", "-"], 1, "line 2: not UTF-8 (byte 25)", stdin=latin1)


def test_redis_down_for_crawl_and_worker(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:%d/0" % closed_port()
    db = tmp_path / "x.db"
    assert_user_error(["crawl", "timesca", "--db", str(db), "--redis", url], 2,
                      "cannot reach Redis at %s: Error 111 connecting" % url)
    assert_user_error(["worker", "--db", str(db), "--redis", url], 2, "cannot reach Redis at %s" % url)
    assert_user_error(["worker", "--db", str(db), "--redis", "http://127.0.0.1/0"], 2,
                      "Invalid value for --redis: not a Redis URL")
    assert not db.exists()


def test_set_with_a_value_of_the_wrong_type(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for pair, problem in (("DOWNLOAD_DELAY=abc", "expected a number (DOWNLOAD_DELAY is 0.25)"),
                          ("AUTOTHROTTLE_ENABLED=maybe", "expected true or false"),
                          ("ITEM_PIPELINES=x", "expected a JSON object")):
        assert_user_error(["crawl", "timesca", "--db", str(db), "--set", pair], 2,
                          "Invalid value for --set: %s: %s" % (pair, problem))
        assert_user_error(["worker", "--redis", "redis://127.0.0.1:9/0", "--db", str(db), "--set", pair], 2,
                          "Invalid value for --set: %s" % pair)
        assert_user_error(["schedule", "--db", str(db), "--set", pair], 2, "Invalid value for --set: %s" % pair)
    assert not db.exists()


@pytest.mark.parametrize("args, message", [
    (["crawl", "timesca", "--set", "DOWNLOAD_DELAY=abc"], "DOWNLOAD_DELAY=abc: expected a number"),
    (["export", "--db", "postgresql://news@127.0.0.1:%d/news" % closed_port()], "cannot use the database"),
    (["crawl", "timesca", "--db", "postgresql://news@127.0.0.1:%d/news" % closed_port()],
     "cannot use the database"),
    (["dedup", "-", "--threshold", "2"], "2.0 is not in the range"),
])
def test_as_a_real_process(args: list[str], message: str, tmp_path: Path) -> None:
    # The crawl used to print nothing and exit 4 here; the others printed a traceback and exited 1.
    extra = ["--db", str(tmp_path / "x.db")] if args[0] == "crawl" and "--db" not in args else []
    result = run_cli(*args, *extra, stdin="", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
