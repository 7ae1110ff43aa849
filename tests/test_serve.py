"""`aggregator serve`: the real waitress server on a free loopback port, over a real SQLite file."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest

from aggregator.extract.extractor import Article
from aggregator.publish.atom import story_id
from aggregator.publish.serve import BadRequest, parse_query
from aggregator.store.sqlite import SQLiteStorage
from tests.conftest import PROJECT, run_cli
from tests.test_jsonfeed import assert_valid_json_feed

SOURCES = """
[sources.astanatimes]
name = "The Astana Times"
feed = "https://astanatimes.com/feed/"

[sources.commonspace]
name = "commonspace.eu"
listing = ["https://www.commonspace.eu/news"]

[sources.timesca]
name = "The Times of Central Asia"
feed = "https://timesca.com/feed/"
"""
WATER = Article(text=("Kazakhstan and Uzbekistan signed a water-sharing deal on Monday in Tashkent. "
                      "The agreement covers the Syr Darya and its reservoirs. ") * 4,
                title="Kazakhstan and Uzbekistan sign water deal", authors=("Aida Nurlanova",),
                date_published="2026-11-20T10:00:00+05:00", tags=("Water",), language="en")
RAIL = Article(text="A new rail link opened between Almaty and Bishkek on Friday morning. " * 6,
               title="Rail link opens between Almaty and Bishkek", date_published="2026-11-22")
EVIL = Article(text="A story whose title tries to run a script in the reader's browser. " * 6,
               title="<script>alert(1)</script> Hostile headline", date_published="2026-11-18")
EVIL_ELSEWHERE = Article(text=EVIL.text, title='<img src=x onerror="alert(2)"> elsewhere',
                         date_published="2026-11-18")


def fill(path: Path) -> None:
    storage = SQLiteStorage(path)
    save = storage.save
    save(story_id="water", url="https://astanatimes.com/2026/11/water", source="astanatimes", article=WATER,
         text_hash="h1", similarity=None, rule=None, fingerprint=None)
    save(story_id="water", url="https://timesca.com/water-deal", source="timesca", article=WATER,
         text_hash="h2", similarity=0.91, rule="near_jaccard", fingerprint=None)
    save(story_id="water", url="https://www.commonspace.eu/news/water", source="commonspace", article=WATER,
         text_hash="h3", similarity=0.87, rule="near_jaccard", fingerprint=None)
    save(story_id="rail", url="https://timesca.com/rail", source="timesca", article=RAIL, text_hash="h4",
         similarity=None, rule=None, fingerprint=None)
    save(story_id="evil", url="https://www.commonspace.eu/news/evil", source="commonspace", article=EVIL,
         text_hash="h5", similarity=None, rule=None, fingerprint=None)
    save(story_id="evil", url="javascript:alert(1)", source="astanatimes", article=EVIL_ELSEWHERE,
         text_hash="h6", similarity=0.95, rule="near_jaccard", fingerprint=None)
    storage.close()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Server:
    """A running `aggregator serve` subprocess and a tiny HTTP client for it."""

    def __init__(self, base: str) -> None:
        self.base = base
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


@contextmanager
def serving(db: Path, workdir: Path, *options: str) -> Iterator[Server]:
    """`aggregator serve` on a free loopback port over `db`, with extra command-line `options`."""
    sources = workdir / "sources.toml"
    sources.write_text(SOURCES, "utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")}
    with open(workdir / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "aggregator.ops.cli", "serve", "--db", str(db), "--sources", str(sources),
             "--host", "127.0.0.1", "--port", "0", *options],
            stdout=subprocess.PIPE, stderr=log, cwd=PROJECT, env=env, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("Serving http://127.0.0.1:"), (line, (workdir / "serve.log").read_text())
            yield Server(line.split()[1])
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve")
    fill(workdir / "news.db")
    with serving(workdir / "news.db", workdir) as running:
        yield running


def test_healthz_counts_stories(server: Server) -> None:
    reply = server.get("/healthz")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json() == {"status": "ok", "stories": 3, "sightings": 6}


def test_json_feed(server: Server) -> None:
    reply = server.get("/feed.json")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = reply.json()
    assert_valid_json_feed(feed)
    assert [item["id"] for item in feed["items"]] == ["rail", "water", "evil"]
    # Where the feed lives is the configured base URL (default http://127.0.0.1:8080/), not the port it got.
    assert feed["home_page_url"] == "http://127.0.0.1:8080/"
    assert feed["feed_url"] == "http://127.0.0.1:8080/feed.json"
    water = feed["items"][1]
    assert [s["source"] for s in water["_aggregator"]["sightings"]] == ["astanatimes", "timesca", "commonspace"]


def test_atom_feed(server: Server) -> None:
    reply = server.get("/feed.atom")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(reply.body)
    assert not parsed.bozo and parsed.version == "atom10"
    assert [story_id(entry.id) for entry in parsed.entries] == ["rail", "water", "evil"]
    water = parsed.entries[1]
    assert water.title == "Kazakhstan and Uzbekistan sign water deal" and water.link.endswith("/water")
    related = [link.href for link in water.links if link.rel == "related"]
    assert related == ["https://astanatimes.com/2026/11/water", "https://timesca.com/water-deal",
                       "https://www.commonspace.eu/news/water"]
    assert b"javascript:" not in reply.body


@pytest.mark.parametrize("path", ["/feed.json", "/feed.atom", "/"])
def test_conditional_get_answers_304(server: Server, path: str) -> None:
    first = server.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and last_modified.endswith("GMT")

    by_etag = server.get(path, {"If-None-Match": etag})
    assert by_etag.status == 304 and by_etag.body == b""
    assert by_etag.headers["ETag"] == etag and by_etag.headers["Last-Modified"] == last_modified
    assert server.get(path, {"If-None-Match": 'W/"other", ' + etag}).status == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    assert server.get(path, {"If-None-Match": '"stale"', "If-Modified-Since": last_modified}).status == 200

    assert server.get(path, {"If-Modified-Since": last_modified}).status == 304
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=365), usegmt=True)
    changed = server.get(path, {"If-Modified-Since": earlier})
    assert changed.status == 200 and changed.body == first.body
    assert server.get(path, {"If-Modified-Since": "not a date"}).status == 200


def test_validators_change_when_the_database_does(tmp_path: Path) -> None:
    fill(tmp_path / "live.db")
    with serving(tmp_path / "live.db", tmp_path) as running:
        before = running.get("/feed.json")
        storage = SQLiteStorage(tmp_path / "live.db")
        storage.save(story_id="rail", url="https://astanatimes.com/rail", source="astanatimes", article=RAIL,
                     text_hash="h9", similarity=0.9, rule="near_jaccard", fingerprint=None)
        storage.close()
        after = running.get("/feed.json", {"If-None-Match": before.headers["ETag"]})
        assert after.status == 200 and after.headers["ETag"] != before.headers["ETag"]
        rail = after.json()["items"][0]
        assert [s["url"] for s in rail["_aggregator"]["sightings"]][-1] == "https://astanatimes.com/rail"


def test_head_has_headers_without_body(server: Server) -> None:
    get, head = server.get("/feed.json"), server.get("/feed.json", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(get.body))


def test_filters(server: Server) -> None:
    def ids(query: str) -> list[str]:
        reply = server.get("/feed.json" + query)
        assert reply.status == 200, reply.body
        return [item["id"] for item in reply.json()["items"]]

    assert ids("?limit=1") == ["rail"]
    assert ids("?source=timesca") == ["rail", "water"]
    assert ids("?source=commonspace&limit=1") == ["water"]
    assert ids("?since=2026-11-19") == ["rail", "water"]
    assert ids("?since=2026-11-21T00:00:00%2B00:00") == ["rail"]
    assert ids("?since=2026-11-19&source=commonspace") == ["water"]
    assert ids("?since=9999-12-31T23:59:59-23:59") == []  # past datetime's range in UTC: not a 500
    entries = feedparser.parse(server.get("/feed.atom?source=astanatimes").body).entries
    assert [story_id(entry.id) for entry in entries] == ["water", "evil"]
    page = server.get("/?source=timesca").body.decode("utf-8")
    assert "seen on The Times of Central Asia" in page and "Hostile headline" not in page


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit must be a whole number"), ("limit=ten", "limit must be a whole number"),
    ("limit=-1", "limit must be a whole number"), ("limit=100000", "from 1 to 1000"),
    ("limit=1&limit=2", "give limit at most once"), ("since=yesterday", "since must be an ISO 8601"),
    ("since=", "since must be"), ("since=20261120x", "since must be"), ("since=Tue%2C%2024%20Nov%202026", "since must"),
    ("source=%3Cscript%3E", "source must be a source key"),
    ("source=nosuch", "unknown source 'nosuch'; known sources: astanatimes, commonspace, timesca"),
])
def test_bad_query_values_are_400(server: Server, query: str, message: str) -> None:
    for path in ("/feed.json", "/feed.atom", "/"):
        reply = server.get(path + "?" + query)
        assert reply.status == 400
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert message in reply.body.decode("utf-8") and len(reply.body) < 200
        assert b"<" not in reply.body


def test_parse_query_defaults() -> None:
    assert parse_query("", 50, 1000).limit == 50
    assert parse_query("utm_source=x&limit=7", 50, 1000).limit == 7
    with pytest.raises(BadRequest):
        parse_query("&".join("f%d=1" % n for n in range(100)), 50, 1000)


def test_unknown_paths_and_methods(server: Server) -> None:
    assert server.get("/nope").status == 404
    post = server.get("/feed.json", method="POST")
    assert post.status == 405 and post.headers["Allow"] == "GET, HEAD"


def test_reader_page(server: Server) -> None:
    reply = server.get("/")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    page = reply.body.decode("utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    doc = lxml.html.fromstring(page)
    stories = doc.cssselect("article.story")
    assert [story.cssselect("h2")[0].text_content() for story in stories] == [
        "Rail link opens between Almaty and Bishkek", "Kazakhstan and Uzbekistan sign water deal",
        "<script>alert(1)</script> Hostile headline"]
    water = stories[1]
    assert water.cssselect("h2 a")[0].get("href") == "https://astanatimes.com/2026/11/water"
    assert water.cssselect("time")[0].get("datetime") == "2026-11-20T10:00:00+05:00"
    assert "20 Nov 2026" in water.text_content() and "The Astana Times" in water.text_content()
    assert water.cssselect(".summary")[0].text_content().startswith("Kazakhstan and Uzbekistan signed")
    also = [(a.text_content(), a.get("href")) for a in water.cssselect(".also a")]
    assert also == [("The Times of Central Asia", "https://timesca.com/water-deal"),
                    ("commonspace.eu", "https://www.commonspace.eu/news/water")]
    assert not stories[0].cssselect(".also")


def test_hostile_title_and_sighting_url_are_inert(server: Server) -> None:
    page = server.get("/").body.decode("utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Hostile headline" in page
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    assert "<img" not in page and '&lt;img src=x onerror="alert(2)"&gt; elsewhere' in page
    doc = lxml.html.fromstring(page)
    assert not doc.xpath("//script | //img | //iframe | //object | //embed")
    assert not [name for element in doc.iter() for name in element.attrib if name.lower().startswith("on")]
    for anchor in doc.iter("a"):
        assert anchor.get("href", "").startswith(("https://", "http://", "feed.")), anchor.get("href")
    evil = doc.cssselect("article.story")[2]
    also = evil.cssselect(".also li")
    assert len(also) == 1 and not also[0].cssselect("a")  # the javascript: sighting is listed, unlinked
    assert "The Astana Times" in also[0].text_content()
    assert '<img src=x onerror="alert(2)"> elsewhere' in also[0].text_content()


def test_healthz_503_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a SQLite database, just some bytes " * 100)
    with serving(broken, tmp_path) as running:
        health = running.get("/healthz")
        assert health.status == 503
        assert health.json()["status"] == "unavailable"
        feed = running.get("/feed.json")
        assert feed.status == 503 and feed.body == b"database unavailable\n"


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    result = run_cli("serve", "--db", str(tmp_path / "none.db"), "--port", "0")
    assert result.returncode == 2 and "no database at" in result.stderr
    assert not (tmp_path / "none.db").exists()


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_reader_page_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    flags = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--user-data-dir=%s" % (tmp_path / "profile")]
    dom = subprocess.run([*flags, "--dump-dom", server.base], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    doc = lxml.html.fromstring(dom.stdout)
    # What a person sees: the rendered DOM holds the titles as text, the sightings as links, no script.
    titles = [h2.text_content() for h2 in doc.cssselect("article.story h2")]
    assert titles == ["Rail link opens between Almaty and Bishkek", "Kazakhstan and Uzbekistan sign water deal",
                      "<script>alert(1)</script> Hostile headline"]
    assert not doc.xpath("//script")
    water = doc.cssselect("article.story")[1]
    assert "Also reported by" in water.text_content()
    assert [a.text_content() for a in water.cssselect(".also a")] == ["The Times of Central Asia", "commonspace.eu"]

    screenshot = tmp_path / "reader.png"
    shot = subprocess.run([*flags, "--screenshot=%s" % screenshot, "--window-size=412,900", server.base],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (412, 900)
