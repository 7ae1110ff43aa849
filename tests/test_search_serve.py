"""Search over HTTP: `/search?q=` (a JSON Feed of the hits) and the reader page's search box, on the real
`aggregator serve` over a real SQLite file; the box is typed into and submitted in headless Chromium, driven
through its DevTools pipe (no script on the page, and its CSP must let the form reach the page itself)."""

from __future__ import annotations

import base64
import json
import os
import select
import sqlite3
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from aggregator.extract.extractor import Article
from aggregator.store.sqlite import SQLiteStorage
from tests.test_jsonfeed import assert_valid_json_feed
from tests.test_serve import CHROMIUM, Server, fill, serving

HIDDEN = Article(text="A story a filter rule hid: the secret water tariff. " * 5, title="Hidden water tariff",
                 date_published="2026-11-21")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The serve tests' three stories, and a fourth that a filter rule hides (`stories.hidden` = 1)."""
    workdir = tmp_path_factory.mktemp("search")
    fill(workdir / "news.db")
    storage = SQLiteStorage(workdir / "news.db")
    storage.save(story_id="hidden", url="https://timesca.com/hidden", source="timesca", article=HIDDEN,
                 text_hash="h9", similarity=None, rule=None, fingerprint=None)
    storage.close()
    with sqlite3.connect(workdir / "news.db") as db:
        db.execute("UPDATE stories SET hidden = 1 WHERE id = 'hidden'")
    with serving(workdir / "news.db", workdir) as running:
        yield running


def found(server: Server, query: str) -> list[str]:
    reply = server.get("/search?" + query)
    assert reply.status == 200, reply.body
    return [item["id"] for item in reply.json()["items"]]


def test_search_answers_a_json_feed_of_the_hits(server: Server) -> None:
    reply = server.get("/search?q=water+deal")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = reply.json()
    assert_valid_json_feed(feed)
    assert feed["feed_url"] == "http://127.0.0.1:8080/search?q=water+deal"
    (item,) = feed["items"]
    assert item["id"] == "water" and item["title"] == "Kazakhstan and Uzbekistan sign water deal"
    assert [s["source"] for s in item["_aggregator"]["sightings"]] == ["astanatimes", "timesca", "commonspace"]
    assert item["_search"]["rank"] == 1
    snippet, spans = item["_search"]["snippet"], item["_search"]["highlights"]
    assert [snippet[start:end].lower() for start, end in spans] == ["water", "deal"] * (len(spans) // 2)
    assert found(server, "q=%22water-sharing%22") == ["water"]
    assert found(server, "q=bish*&limit=5") == ["rail"]
    assert found(server, "q=%3Cscript%3E") == ["evil"]  # the hostile title's word, as text
    # a query with controls and a bidi override: searched without them, and the feed's title has none
    odd = server.get("/search?q=wa%00ter%1b%E2%80%AE+deal").json()
    assert odd["title"] == "News aggregator: water deal" and [i["id"] for i in odd["items"]] == ["water"]


def test_hidden_stories_are_never_found(server: Server) -> None:
    assert server.get("/healthz").json()["stories"] == 4
    assert found(server, "q=tariff") == [] and found(server, "q=secret+water") == []
    assert "water" in found(server, "q=water") and "hidden" not in found(server, "q=water&limit=1000")
    page = server.get("/?q=tariff").body.decode("utf-8")
    assert "Hidden water tariff" not in page and "No story matches tariff." in page


def test_search_takes_the_feed_filters(server: Server) -> None:
    assert found(server, "q=water") == ["water"]
    assert found(server, "q=water&source=timesca") == ["water"]
    assert found(server, "q=water&since=2026-11-21") == []
    assert found(server, "q=bishkek&source=astanatimes") == []


@pytest.mark.parametrize("query, message", [
    ("", "give q, what to search for"), ("q=", "no words to search for"), ("q=-%3A%28", "no words to search for"),
    ("q=a&q=b", "give q at most once"), ("q=water&limit=0", "limit must be a whole number"),
    ("q=water&since=yesterday", "since must be an ISO 8601"), ("q=water&source=nosuch", "unknown source 'nosuch'"),
    ("q=" + "w" * 600, "too long"),
])
def test_bad_search_values_are_400(server: Server, query: str, message: str) -> None:
    reply = server.get("/search?" + query)
    assert reply.status == 400 and reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert message in reply.body.decode("utf-8") and b"<" not in reply.body


@pytest.mark.parametrize("path", ["/search?q=water", "/?q=water"])
def test_search_answers_conditional_requests(server: Server, path: str) -> None:
    first = server.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert server.get(path, {"If-None-Match": etag}).status == 304
    assert server.get(path, {"If-Modified-Since": last_modified}).status == 304
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=365), usegmt=True)
    assert server.get(path, {"If-Modified-Since": earlier}).body == first.body
    head = server.get(path, method="HEAD")
    assert head.status == 200 and head.body == b"" and head.headers["ETag"] == etag
    other = server.get(path.replace("water", "rail"))
    assert other.status == 200 and other.headers["ETag"] != etag


def test_the_reader_page_shows_hits_with_marked_snippets(server: Server) -> None:
    reply = server.get("/?q=syr+darya")
    assert "form-action 'self'" in reply.headers["Content-Security-Policy"]
    doc = lxml.html.fromstring(reply.body)
    assert [h2.text_content() for h2 in doc.cssselect("article.story h2")] == [
        "Kazakhstan and Uzbekistan sign water deal"]
    assert [mark.text_content() for mark in doc.cssselect(".snippet mark")] == ["Syr", "Darya"]
    phrase = lxml.html.fromstring(server.get("/?q=%22syr+darya%22").body)
    assert [mark.text_content() for mark in phrase.cssselect(".snippet mark")] == ["Syr Darya"]
    assert doc.cssselect("input[name=q]")[0].get("value") == "syr darya"
    assert doc.cssselect("footer a")[0].get("href") == "search?q=syr+darya"
    front = lxml.html.fromstring(server.get("/?q=").body)  # the box sent empty: the front page
    assert len(front.cssselect("article.story")) == 3 and front.cssselect("input[name=q]")[0].get("value") == ""


def test_a_hostile_query_stays_text_on_the_page(server: Server) -> None:
    page = server.get("/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E").body.decode("utf-8")
    doc = lxml.html.fromstring(page)
    assert not doc.xpath("//script") and "<script>alert" not in page
    assert doc.cssselect("input[name=q]")[0].get("value") == '"><script>alert(1)</script>'
    assert [h2.text_content() for h2 in doc.cssselect("article.story h2")] == [
        "<script>alert(1)</script> Hostile headline"]
    # Found through its title's words; the highlight is escaped text inside <mark>, the brackets around it too.
    assert '<p class="snippet">&lt;<mark>script&gt;alert(1)&lt;/script</mark>&gt; Hostile headline</p>' in page


def test_the_reader_page_keeps_its_filters_in_the_search_box_and_the_searchs_feed(server: Server) -> None:
    doc = lxml.html.fromstring(server.get("/?q=water&source=timesca&limit=2").body)
    kept = {field.get("name"): field.get("value") for field in doc.cssselect("form.search input[type=hidden]")}
    assert kept == {"source": "timesca", "limit": "2"}
    assert doc.cssselect("footer a")[0].get("href") == "search?q=water&source=timesca&limit=2"


def test_control_characters_of_a_query_never_reach_the_page(server: Server) -> None:
    page = server.get("/?q=water%00%1b%5b31m%E2%80%AEdeal").body.decode("utf-8")
    assert "\x00" not in page and "\x1b" not in page and "\u202e" not in page
    assert lxml.html.fromstring(page).cssselect("input[name=q]")[0].get("value") == "water[31mdeal"


class DevTools:
    """Headless Chromium over `--remote-debugging-pipe`: DevTools protocol messages, each JSON ended by a NUL,
    written to its fd 3 and read from its fd 4."""

    def __init__(self, chromium: str, profile: Path) -> None:
        child_in, self.to_browser = os.pipe()
        self.from_browser, child_out = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--window-size=412,900", "--user-data-dir=%s" % profile,
                 "--remote-debugging-pipe", "about:blank"]
        self.pid = os.posix_spawn(chromium, [chromium, *flags], dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, child_in, 3), (os.POSIX_SPAWN_DUP2, child_out, 4),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        os.close(child_in)
        os.close(child_out)
        self.sent = 0
        self.pending = b""
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.pending:
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.from_browser, 1 << 16) if ready else b""
            assert chunk, "no answer from Chromium in time"
            self.pending += chunk
        message, _, self.pending = self.pending.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self.sent += 1
        message: dict[str, Any] = {"id": self.sent, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.sent:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._read(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            os.close(self.to_browser)
            os.close(self.from_browser)
            os.waitpid(self.pid, 0)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_search_box_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    browser = DevTools(CHROMIUM or "chromium", tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        page = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Page.enable", session=page)
        browser.send("Page.navigate", {"url": server.base}, page)
        browser.wait_for("Page.loadEventFired")
        root = browser.send("DOM.getDocument", session=page)["root"]["nodeId"]
        box = browser.send("DOM.querySelector", {"nodeId": root, "selector": "input[name=q]"}, page)["nodeId"]
        # What a person does: click into the box, type, press Enter.
        browser.send("DOM.focus", {"nodeId": box}, page)
        browser.send("Input.insertText", {"text": "water deal"}, page)
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        browser.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **enter}, page)
        browser.send("Input.dispatchKeyEvent", {"type": "keyUp", **enter}, page)
        browser.wait_for("Page.loadEventFired", timeout=30)  # a CSP that refused the form would never load

        history = browser.send("Page.getNavigationHistory", session=page)
        assert history["entries"][history["currentIndex"]]["url"] == server.base + "?q=water+deal"
        root = browser.send("DOM.getDocument", session=page)["root"]["nodeId"]
        doc = lxml.html.fromstring(browser.send("DOM.getOuterHTML", {"nodeId": root}, page)["outerHTML"])
        assert [h2.text_content() for h2 in doc.cssselect("article.story h2")] == [
            "Kazakhstan and Uzbekistan sign water deal"]
        marks = [mark.text_content().lower() for mark in doc.cssselect("article.story .snippet mark")]
        assert marks and set(marks) <= {"water", "deal"}
        assert doc.cssselect("input[name=q]")[0].get("value") == "water deal" and not doc.xpath("//script")
        shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, page)["data"])
        (tmp_path / "search.png").write_bytes(shot)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", shot[16:24])[0] > 0
    finally:
        browser.close()
