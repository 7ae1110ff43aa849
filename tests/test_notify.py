"""Webhook notifications: the `[notify.<name>]` tables, one delivery against a real HTTP receiver on 127.0.0.1
(signature, retries, Retry-After, redirects, deadline), and the notifications of real crawls (`aggregator crawl`
and `scrapy crawl` of the loopback fixture sites; the outbox on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.notify import Notifier, parse_notifiers
from aggregator.ops.cli import main
from aggregator.ops.notify import notify_after_run
from aggregator.publish import webhooks
from aggregator.sources import RegistryError
from aggregator.store.health import FAILING_AFTER
from aggregator.store.runs import open_run_log
from tests.conftest import FAST, PROJECT, run_cli
from tests.store_backends import Backend, article, backend_fixture, save  # noqa: F401

SECRET = "s3cret-for-tests"
SECRET_ENV = "AGGREGATOR_TEST_WEBHOOK_SECRET"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Aggregator-Signature", ""), expected)

    def feed(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records each POST, answers with the next of `answers` (then 200)."""

    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiving(*answers: tuple[int, dict[str, str]]) -> Iterator[Receiver]:
    receiver = Receiver(deque(answers))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            status, headers = receiver.answers.popleft() if receiver.answers else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = "http://127.0.0.1:%d/hook" % server.server_address[1]
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The registry's [notify.*] tables.

def notify_table(body: str) -> str:
    return '[sources.a]\nname = "A"\nfeed = "https://a.example/feed"\n\n[notify.team]\n' + body


def test_a_notifier_is_read_with_its_defaults() -> None:
    notifiers = parse_notifiers(notify_table('webhook = "https://hooks.example/x"\n'), "my.toml")
    assert notifiers == {"team": Notifier("team", "https://hooks.example/x", ("new_story",), None, 100)}
    full = parse_notifiers(notify_table('webhook = "http://127.0.0.1:9000/h"\non = ["new_story", "source_failing"]\n'
                                        'secret_env = "HOOK_SECRET"\nmax_items = 5\n'), "my.toml")
    assert full["team"] == Notifier("team", "http://127.0.0.1:9000/h", ("new_story", "source_failing"),
                                    "HOOK_SECRET", 5)
    assert parse_notifiers('[sources.a]\nname = "A"\nfeed = "https://a.example/feed"\n', "my.toml") == {}


@pytest.mark.parametrize(("body", "message"), [
    ('webhook = "https://h.example/x"\ncolour = "red"\n', "my.toml: notifier 'team', field 'colour': unknown field"),
    ('webhook = "ftp://h.example/x"\n', "my.toml: notifier 'team', field 'webhook': not an http(s) URL: 'ftp://"),
    ('webhook = "hooks.example/x"\n', "my.toml: notifier 'team', field 'webhook': not an http(s) URL"),
    ('on = ["new_story"]\n', "my.toml: notifier 'team', field 'webhook': required"),
    ('webhook = "https://u:pw@h.example:8443/x"\n', "my.toml: notifier 'team', field 'webhook': credentials in the"
     " URL are not supported (requests are signed with the secret named by secret_env), got 'https://***@h.example:8443/x'"),
    ('webhook = "https://h.example/x"\non = ["new_story", "story_deleted"]\n',
     "my.toml: notifier 'team', field 'on': unknown event 'story_deleted' (known: new_story, source_failing)"),
    ('webhook = "https://h.example/x"\non = []\n', "my.toml: notifier 'team', field 'on': expected a list"),
    ('webhook = "https://h.example/x"\nsecret_env = "hunter2 is my secret"\n',
     "my.toml: notifier 'team', field 'secret_env': expected the name of an environment variable"),
    ('webhook = "https://h.example/x"\nmax_items = 0\n', "my.toml: notifier 'team', field 'max_items'"),
])
def test_a_bad_notifier_is_refused_naming_file_notifier_and_field(body: str, message: str) -> None:
    with pytest.raises(RegistryError) as refused:
        parse_notifiers(notify_table(body), "my.toml")
    assert str(refused.value).startswith(message), str(refused.value)


def test_crawl_and_schedule_refuse_a_bad_notify_table_with_exit_2(tmp_path: Path) -> None:
    registry = tmp_path / "bad.toml"
    registry.write_text(notify_table('webhook = "https://h.example/x"\non = ["everything"]\n'), "utf-8")
    for command in (["crawl", "--all"], ["schedule", "--for", "0"]):
        result = CliRunner().invoke(main, [*command, "--sources", str(registry), "--db", str(tmp_path / "x.db")])
        assert result.exit_code == 2, result.output
        assert "Error: %s: notifier 'team', field 'on': unknown event 'everything'" % registry in result.output
    assert not (tmp_path / "x.db").exists()


# One delivery against a real receiver.

def test_a_delivery_is_signed_over_the_exact_body() -> None:
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": []}).encode()
    with receiving() as receiver:
        outcome = webhooks.post(receiver.url, body, {"X-Aggregator-Signature": webhooks.sign(body, SECRET.encode()),
                                                     "X-Aggregator-Event": "new_story"},
                                deadline=time.monotonic() + 10)
    assert outcome == webhooks.Outcome(True, 1, 200)
    [got] = receiver.requests
    assert got.path == "/hook" and got.body == body and got.signed_with(SECRET)
    assert not got.signed_with("another secret")
    assert got.headers["X-Aggregator-Event"] == "new_story"
    assert got.headers["Content-Type"] == "application/json"


def test_5xx_429_and_refused_connections_are_retried_with_back_off_and_retry_after() -> None:
    with receiving((503, {"Retry-After": "1"}), (500, {}), (429, {}), (200, {})) as receiver:
        started = time.monotonic()
        outcome = webhooks.post(receiver.url, b"{}", {}, deadline=started + 20, backoff=0.2)
        took = time.monotonic() - started
    assert outcome.delivered and outcome.tries == 4 and len(receiver.requests) == 4
    assert 1.0 + 0.4 + 0.8 <= took < 5, took  # Retry-After: 1 s, then back-off 0.4 s and 0.8 s
    refused = webhooks.post("http://127.0.0.1:%d/" % free_port(), b"{}", {}, deadline=time.monotonic() + 20,
                            backoff=0.05, tries=3)
    assert (refused.delivered, refused.tries) == (False, 3)
    assert "ConnectionRefusedError" in (refused.error or "")


def test_a_refusal_is_not_retried_and_a_long_retry_after_gives_up_at_the_deadline() -> None:
    with receiving((400, {}), (503, {"Retry-After": "3600"})) as receiver:
        refused = webhooks.post(receiver.url, b"{}", {}, deadline=time.monotonic() + 20)
        assert (refused.delivered, refused.tries, refused.status) == (False, 1, 400)
        started = time.monotonic()
        later = webhooks.post(receiver.url, b"{}", {}, deadline=started + 5, retry_after_max=600)
        assert time.monotonic() - started < 2  # the hour asked for does not fit before the deadline: no sleep
    assert (later.delivered, later.tries, later.status) == (False, 1, 503)
    assert len(receiver.requests) == 2


def test_redirects_are_followed_on_the_same_host_only() -> None:
    with receiving() as other:
        elsewhere = other.url.replace("127.0.0.1", "localhost")  # another host name, the same server
        with receiving((307, {"Location": "/moved"}), (200, {}), (308, {"Location": elsewhere})) as receiver:
            outcome = webhooks.post(receiver.url, b'{"a": 1}', {}, deadline=time.monotonic() + 10)
            assert outcome.delivered and [r.path for r in receiver.requests] == ["/hook", "/moved"]
            assert receiver.requests[1].body == b'{"a": 1}'  # the same POST, body and all
            refused = webhooks.post(receiver.url, b"{}", {}, deadline=time.monotonic() + 10)
    assert not refused.delivered and "redirect not followed" in (refused.error or "")
    assert other.requests == []


# The notifications of real runs.

def crawl_registry(seed_registry: Path, tmp_path: Path, notify: str) -> Path:
    path = tmp_path / "notify.toml"
    path.write_text(seed_registry.read_text("utf-8") + "\n" + notify, "utf-8")
    return path


def stored_ids(db: Path) -> set[str]:
    return {row[0] for row in sqlite3.connect(db).execute("SELECT id FROM stories")}


def test_a_crawl_posts_its_new_stories_once_signed_and_nothing_when_nothing_is_new(
        seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    with receiving() as receiver:
        registry = crawl_registry(seed_registry, tmp_path, '[notify.team]\nwebhook = "%s"\nsecret_env = "%s"\n'
                                  % (receiver.url, SECRET_ENV))
        env = {SECRET_ENV: SECRET}
        first = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST, env=env)
        assert first.returncode == 0, first.stderr
        assert "notifications:         1 queued, 1 delivered, 0 failed" in first.stdout
        [got] = receiver.requests
        assert got.signed_with(SECRET) and got.headers["X-Aggregator-Event"] == "new_story"
        assert got.headers["X-Aggregator-Delivery"] == "run-1-new_story-0"
        timesca = stored_ids(db)
        assert {item["id"] for item in got.feed()["items"]} == timesca and len(timesca) == 2
        assert all(item["_aggregator"]["sightings"] for item in got.feed()["items"])
        first_urls = {row[0] for row in sqlite3.connect(db).execute("SELECT url FROM sightings")}

        second = run_cli("crawl", "timesca", "astanatimes", "--sources", str(registry), "--db", str(db), *FAST,
                         env=env)
        assert second.returncode == 0, second.stderr
        assert len(receiver.requests) == 2
        # only the stories first seen in the second run: astanatimes' copy of a timesca story is no new story
        # (even when it renamed that story to the smaller id of its copies)
        seen_before = {row[0] for row in sqlite3.connect(db).execute("SELECT story_id, url FROM sightings")
                       if row[1] in first_urls}
        assert {item["id"] for item in receiver.requests[1].feed()["items"]} == stored_ids(db) - seen_before
        assert receiver.requests[1].headers["X-Aggregator-Delivery"] == "run-2-new_story-0"

        again = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST, env=env)
        assert again.returncode == 0 and "articles stored:       0" in again.stdout
        assert "notifications:         0 queued, 0 delivered" in again.stdout
        assert len(receiver.requests) == 2  # nothing new: nothing sent
    assert sqlite3.connect(db).execute("SELECT count(*) FROM notifications").fetchone() == (0,)


def test_an_unreachable_receiver_changes_no_exit_code_and_gets_the_stories_after_the_next_run(
        seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    port = free_port()
    registry = crawl_registry(seed_registry, tmp_path, '[notify.team]\nwebhook = "http://127.0.0.1:%d/hook"\n'
                              'max_items = 1\n' % port)
    down = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST)
    assert down.returncode == 0, down.stderr
    # two stories at one a request: two queued; the first fails after its retries, the second waits
    assert "notifications:         2 queued, 0 delivered, 1 failed, 1 waiting" in down.stdout
    assert "not delivered after 4 tries: ConnectionRefusedError" in down.stderr
    assert len(stored_ids(db)) == 2
    waiting = sqlite3.connect(db).execute("SELECT run_id, part, attempts FROM notifications ORDER BY id").fetchall()
    assert waiting == [(1, 0, 4), (1, 1, 0)]

    with receiving() as receiver:
        registry.write_text(registry.read_text("utf-8").replace(":%d/" % port, ":%s/" % receiver.url.split(":")[2]
                                                                .split("/")[0]), "utf-8")
        up = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST)
    assert up.returncode == 0, up.stderr
    assert "notifications:         0 queued, 2 delivered, 0 failed, 0 waiting" in up.stdout
    assert [r.headers["X-Aggregator-Delivery"] for r in receiver.requests] == ["run-1-new_story-0",
                                                                              "run-1-new_story-1"]
    assert {item["id"] for r in receiver.requests for item in r.feed()["items"]} == stored_ids(db)
    assert all("X-Aggregator-Signature" not in r.headers for r in receiver.requests)  # no secret_env: unsigned


def test_a_missing_secret_is_a_logged_error_and_the_notification_waits(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    with receiving() as receiver:
        registry = crawl_registry(seed_registry, tmp_path, '[notify.team]\nwebhook = "%s"\nsecret_env = "%s"\n'
                                  % (receiver.url, SECRET_ENV))
        result = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST)
        assert result.returncode == 0, result.stderr
        assert "the environment variable %s (its signing secret) is not set" % SECRET_ENV in result.stderr
        assert "Traceback" not in result.stderr
        assert receiver.requests == []  # never sent unsigned
        later = run_cli("crawl", "timesca", "--sources", str(registry), "--db", str(db), *FAST,
                        env={SECRET_ENV: SECRET})
        assert "notifications:         0 queued, 1 delivered" in later.stdout, later.stdout + later.stderr
    [got] = receiver.requests
    assert got.signed_with(SECRET) and len(got.feed()["items"]) == 2


def test_scrapy_crawl_notifies_too(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "scrapy.db"
    with receiving() as receiver:
        registry = crawl_registry(seed_registry, tmp_path, '[notify.team]\nwebhook = "%s"\nsecret_env = "%s"\n'
                                  % (receiver.url, SECRET_ENV))
        result = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "sources=timesca",
             "-s", "AGGREGATOR_SOURCES=%s" % registry, "-s", "AGGREGATOR_DB=%s" % db,
             "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"],
            cwd=PROJECT, capture_output=True, text=True, timeout=180, env={**os.environ, SECRET_ENV: SECRET})
    assert result.returncode == 0, result.stderr[-2000:]
    [got] = receiver.requests
    assert got.signed_with(SECRET) and {item["id"] for item in got.feed()["items"]} == stored_ids(db)


def test_a_source_that_turns_failing_is_told_once(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    with receiving() as receiver:
        registry = crawl_registry(seed_registry, tmp_path, '[sources.gone]\nname = "Gone"\nfeed = '
                                  '"http://127.0.0.1:%d/feed.rss"\n\n[notify.ops]\nwebhook = "%s"\n'
                                  'on = ["source_failing"]\n' % (free_port(), receiver.url))
        for run in range(1, FAILING_AFTER + 2):  # failing at the FAILING_AFTER-th failed run, and still after it
            result = run_cli("crawl", "gone", "timesca", "--sources", str(registry), "--db", str(db), *FAST,
                             "--set", "RETRY_TIMES=0")
            assert result.returncode == 3, result.stderr  # the failed fetches, not the notifications
            assert len(receiver.requests) == (1 if run >= FAILING_AFTER else 0), run
    [got] = receiver.requests
    assert got.headers["X-Aggregator-Event"] == "source_failing"
    [item] = got.feed()["items"]  # timesca, read every time, is no failing source
    assert item["_aggregator"]["source"] == "gone" and item["_aggregator"]["consecutive_failures"] == FAILING_AFTER
    assert item["_aggregator"]["state"] == "failing" and item["_aggregator"]["run"] == FAILING_AFTER


def test_the_outbox_on_each_backend(backend: Backend) -> None:
    storage = backend.open()
    try:
        log = open_run_log(backend.db)
        run_id = log.start(["a"])
        save(storage, "s1", "https://a.example/1", "a", article("One"), text_hash="h1")
        save(storage, "s2", "https://a.example/2", "a", article("Two"), text_hash="h2")
        log.finish(run_id, None)
        log.close()
    finally:
        storage.close()
    with receiving((500, {}), (500, {}), (500, {})) as receiver:
        team = {"team": Notifier("team", receiver.url, max_items=1)}
        first = notify_after_run(backend.db, team, run_id, ["a"], budget=0.5)
        assert first is not None and (first.queued, first.delivered, first.failed, first.waiting) == (2, 0, 1, 1)
        again = notify_after_run(backend.db, team, run_id, ["a"], budget=10)  # the same run: nothing queued twice
        assert again is not None and (again.queued, again.delivered) == (0, 2)
    assert [item["id"] for r in receiver.requests[-2:] for item in r.feed()["items"]] == ["s1", "s2"]
    assert backend.query("SELECT count(*) FROM notifications") == [(0,)]
