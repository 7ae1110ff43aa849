"""A link with a per-fetch session parameter makes no new "version" per crawl: a version needs changed text,
the same text from the same source at another URL is that sighting seen again, and the versions kept per
story are bounded (issue 18, item 8)."""

from __future__ import annotations

import random
import re
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

from aggregator.store.model import SAME_SOURCE_RULE, StoryStorage
from aggregator.store.sql import MAX_VERSIONS
from aggregator.testing.sitegen import SiteSpec, make_story, render_article
from tests.conftest import FAST, run_cli
from tests.faultserver import FaultHandler, page, serve_faults
from tests.hostile_site import NOW, rss
from tests.store_backends import article, backend_fixture, save, storage_fixture

__all__ = ["backend_fixture", "storage_fixture"]


def test_the_same_text_at_a_new_url_of_the_same_source_is_seen_again(storage: StoryStorage) -> None:
    text = "The council met on Monday. " * 20
    assert save(storage, "s1", "https://a.example/x?sid=1", "a", article("X", text=text), text_hash="h1") == "new"
    for sid in range(2, 6):
        assert save(storage, "s1", "https://a.example/x?sid=%d" % sid, "a", article("X", text=text),
                    text_hash="h1", similarity=1.0, rule=SAME_SOURCE_RULE) == "seen"
    assert storage.versions("s1") == [] and storage.counts() == {"stories": 1, "sightings": 1}
    assert storage.story_for_url("https://a.example/x?sid=5") is None  # nothing stored for it
    # Another source carrying the same text is still a sighting, and changed text still a version.
    assert save(storage, "s1", "https://b.example/x", "b", article("X", text=text), text_hash="h1",
                similarity=1.0, rule="text_hash") == "sighting"
    assert save(storage, "s1", "https://a.example/x?sid=9", "a", article("X", text="Edited. " * 30),
                text_hash="h2", similarity=0.9, rule=SAME_SOURCE_RULE) == "updated"
    assert len(storage.versions("s1")) == 1


def test_a_stored_url_saved_again_with_the_story_text_makes_no_version(storage: StoryStorage) -> None:
    save(storage, "s1", "https://a.example/x", "a", article("X", text="One. " * 30), text_hash="h1")
    save(storage, "s1", "https://a.example/y", "a", article("X", text="Two. " * 30), text_hash="h2",
         rule=SAME_SOURCE_RULE, similarity=0.9)
    # the first URL comes back with the text the story already has: no version of identical text
    assert save(storage, "s1", "https://a.example/x", "a", article("X", text="Two. " * 30),
                text_hash="h2") == "updated"
    assert [version["text_hash"] for version in storage.versions("s1")] == ["h1"]


def test_versions_per_story_are_bounded(storage: StoryStorage) -> None:
    url = "https://a.example/clock"
    for number in range(MAX_VERSIONS + 30):
        save(storage, "s1", url, "a", article("Clock", text="It is %d o'clock. " % number * 10),
             text_hash="h%d" % number)
    versions = storage.versions("s1")
    assert len(versions) == MAX_VERSIONS
    hashes = [version["text_hash"] for version in versions]
    # the first text and the newest others, oldest first
    assert hashes[0] == "h0" and hashes[1:] == ["h%d" % n for n in range(30, MAX_VERSIONS + 29)]


def _session_site(routes: dict, base: str) -> None:
    story = make_story(random.Random(3), 0, NOW - timedelta(hours=2))
    story.slug = "session"
    html = render_article(SiteSpec(name="Sessions"), story, []).replace("{{BASE}}", base)
    # no canonical URL or og:url to fall back on: the session id is all the crawl has
    html = re.sub(r'<link rel="canonical"[^>]*>|<meta property="og:url"[^>]*>', "", html)
    assert "canonical" not in html
    article_route = page(html)

    def feed(handler: FaultHandler) -> None:
        # every fetch of the feed links the article with a fresh session id
        link = "%s/news/session?PHPSESSID_X=%s" % (base, uuid.uuid4().hex)
        page(rss(base, [(story.title, link, link)]), "application/rss+xml")(handler)

    routes["/feed.rss"] = feed
    routes["/news/session"] = article_route


def test_a_session_parameter_in_links_adds_nothing_per_crawl(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with serve_faults("127.0.0.71") as site:
        _session_site(site.routes, site.base_url)
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.sess]\nname = "Sessions"\nfeed = "%s/feed.rss"\n' % site.base_url, "utf-8")
        for _ in range(3):
            crawl = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST)
            assert crawl.returncode == 0, crawl.stdout + crawl.stderr[-3000:]
        assert site.hits.count("/news/session") == 3  # a fresh URL each crawl: fetched each time
    connection = sqlite3.connect(db)
    counts = [connection.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
              for table in ("stories", "sightings", "story_versions")]
    assert counts == [1, 1, 0]
    exported = run_cli("export", "--db", str(db), "--format", "jsonl")
    assert exported.returncode == 0 and exported.stdout.count("\n") == 1
