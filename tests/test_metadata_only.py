"""Articles kept for their metadata alone (a video story: a title, a date, a description, no readable body): through
the real pipelines on a real SQLite file, and in a crawl of loopback sites (tests/fixtures/metadata_only) whose
feeds also list a tag page, a soft 404 and a login wall, none of which may become a story."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from aggregator.dedup.fingerprint import Signer
from aggregator.extract.metadata_only import metadata_text
from aggregator.items import ArticleItem
from aggregator.testing.snapshot import serve_snapshot
from pipelines.canonicalize import CanonicalizePipeline
from pipelines.dedup import DedupPipeline
from pipelines.extract import ExtractPipeline
from pipelines.resources import crawl_resources
from pipelines.store import StorePipeline
from tests.conftest import FAST, FIXTURES, run_cli
from tests.test_pipelines import crawler_for, story_text, through

SITES = FIXTURES / "metadata_only"
VIDEOS = ["/video/valencia-floods", "/video/budget-vote", "/video/heatwave-advice"]
NOT_STORIES = ["/tag/floods", "/news/missing-story", "/account/login"]


def fixture_page(site: str, path: str, base: str = "https://%s.example") -> bytes:
    """A fixture page's bytes as the loopback server serves them, for a site at `base`."""
    text = (SITES / site / (path.lstrip("/") + ".html")).read_text("utf-8")
    return text.replace("{{BASE}}", base % site).encode("utf-8")


def page_item(site: str, path: str, body: bytes | None = None) -> ArticleItem:
    return ArticleItem(url="https://%s.example%s" % (site, path), source=site,
                       body=fixture_page(site, path) if body is None else body,
                       content_type="text/html; charset=utf-8")


def through_pipelines(crawler: Crawler, *items: ArticleItem) -> list[Any]:
    """Each item through extract, canonicalize, dedup and store, one after the other, as Scrapy chains them; a
    dropped item is its DropItem."""
    stages = [ExtractPipeline.from_crawler(crawler), CanonicalizePipeline.from_crawler(crawler),
              DedupPipeline.from_crawler(crawler), StorePipeline.from_crawler(crawler)]

    async def every() -> list[Any]:
        return [await through(stages, entry, DropItem) for entry in items]

    return asyncio.run(every())


def test_video_stories_are_stored_and_deduplicated_on_title_and_description(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "a.db"))
    results = through_pipelines(crawler, *(page_item("videodesk", path) for path in VIDEOS + NOT_STORIES),
                                page_item("clipwire", "/clips/valencia-floods"))
    floods, budget, heatwave, tag, missing, login, copy = results
    assert all(isinstance(result, DropItem) for result in (tag, missing, login))
    for item in (floods, budget, heatwave, copy):
        assert isinstance(item, ArticleItem) and item.article.text == ""
        assert item.article.title and item.article.date_published and item.article.authors
    # one video story run by two outlets under two headlines is one story (named by the smaller of their ids)
    assert copy.rule == "near_jaccard"
    storage = crawl_resources(crawler).storage
    assert storage.story_for_url(floods.canonical_url) == storage.story_for_url(copy.canonical_url)
    # two videos of one outlet that share its boilerplate description are two stories, not two versions of one
    assert len({floods.story_id, budget.story_id, heatwave.story_id}) == 3
    assert budget.rule is None and heatwave.rule is None
    signer = Signer(**{"num_perm": crawl_resources(crawler).index_options["num_perm"]})
    assert budget.fingerprint == signer.fingerprint("Senate passes the budget after a night of votes "
                                                    "Watch the latest videos from the Videodesk News team.")
    stats = crawler.stats
    assert stats.get_value("aggregator/metadata_only") == 4
    assert stats.get_value("aggregator/no_article") == 3
    assert stats.get_value("aggregator/extracted") is None  # a source that only gives metadata shows in its health
    assert stats.get_value("aggregator/source/videodesk/metadata_only") == 3
    story = storage.story(storage.story_for_url(copy.canonical_url) or "")
    assert story is not None and story.text == "" and story.summary and story.summary.startswith("Torrential rain")
    crawl_resources(crawler).close()


CAPTIONED = """<html><head><title>Mayor opens the new bridge</title>{declaration}
<meta name="description" content="The mayor opened the new bridge over the river on Monday morning.">
</head><body><article><h1>Mayor opens the new bridge</h1>
<p>Watch the mayor cut the ribbon on the new bridge over the river, with hundreds of residents looking on.</p>
</article></body></html>"""


def test_a_declared_article_with_a_stub_of_a_body_is_signed_on_its_metadata(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "a.db"))
    declared = CAPTIONED.format(declaration='<meta property="og:type" content="article">').encode()
    undeclared = CAPTIONED.format(declaration='<meta property="og:type" content="website">').encode()
    kept, dropped = through_pipelines(crawler, page_item("videodesk", "/video/bridge", declared),
                                      page_item("videodesk", "/bridge-page", undeclared))
    assert isinstance(dropped, DropItem)  # the same stub on a page that declares no article is no story
    assert isinstance(kept, ArticleItem) and kept.article.text == ""  # the stub goes: the description stands in
    signer = Signer(**{"num_perm": crawl_resources(crawler).index_options["num_perm"]})
    assert kept.fingerprint == signer.fingerprint(metadata_text(kept.article))
    assert metadata_text(kept.article) == ("Mayor opens the new bridge The mayor opened the new bridge over the river"
                                           " on Monday morning.")
    crawl_resources(crawler).close()


def test_a_stored_body_is_never_replaced_by_metadata(tmp_path: Path) -> None:
    """A re-fetch whose body the extractor cannot read (a redesign, a consent page that still declares the
    article) leaves the stored story as it was."""
    crawler = crawler_for(str(tmp_path / "a.db"))
    full = ("<html><head><title>Mayor opens the new bridge</title><meta property='og:type' content='article'>"
            "<meta name='description' content='The mayor opened the new bridge.'></head><body><article>"
            "<h1>Mayor opens the new bridge</h1>" + "".join("<p>%s</p>" % story_text(n, 40) for n in range(4))
            + "</article></body></html>").encode()
    refetch = CAPTIONED.format(declaration='<meta property="og:type" content="article">').encode()
    stored, again = through_pipelines(crawler, page_item("videodesk", "/news/bridge", full),
                                      page_item("videodesk", "/news/bridge", refetch))
    assert isinstance(stored, ArticleItem) and len(stored.article.text) > 500
    assert isinstance(again, DropItem)
    story = crawl_resources(crawler).storage.story(stored.story_id)
    assert story is not None and story.text == stored.article.text
    assert crawler.stats.get_value("aggregator/metadata_only/stored_kept") == 1
    crawl_resources(crawler).close()


REGISTRY = """
[sources.videodesk]
name = "Videodesk News"
feed = "{videodesk}/feed.rss"

[sources.clipwire]
name = "Clipwire"
feed = "{clipwire}/feed.rss"
"""


@pytest.fixture(scope="module")
def video_sites() -> Any:
    with serve_snapshot(SITES) as bases:
        yield bases


def test_a_crawl_keeps_video_stories_and_no_empty_pages(video_sites: dict[str, str], tmp_path: Path) -> None:
    from tests.test_jsonfeed import assert_valid_json_feed

    registry, db = tmp_path / "sources.toml", tmp_path / "videos.db"
    registry.write_text(REGISTRY.format(**video_sites), "utf-8")
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pages without article: 3" in result.stdout
    sightings = sqlite3.connect(db).execute("SELECT story_id, source, url FROM sightings").fetchall()
    paths = {urlsplit(url).path: story_id for story_id, _, url in sightings}
    assert sorted(paths) == sorted([*VIDEOS, "/clips/valencia-floods"])  # no tag page, 404 or login wall
    assert paths["/clips/valencia-floods"] == paths["/video/valencia-floods"]
    out = tmp_path / "feed.json"
    exported = run_cli("export", "--db", str(db), "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    feed = json.loads(out.read_text("utf-8"))
    assert_valid_json_feed(feed)
    items = {item["title"]: item for item in feed["items"]}
    assert len(items) == 3
    heatwave = items["Doctors explain how to sleep in a heatwave"]
    assert heatwave["content_text"] == "Watch the latest videos from the Videodesk News team."
    assert heatwave["_aggregator"]["metadata_only"] is True
    assert heatwave["authors"] == [{"name": "Ana Pereira"}]
    assert heatwave["date_published"] == "2026-11-24T12:15:00+01:00"
    assert {len(item["_aggregator"]["sightings"]) for item in items.values()} == {1, 2}
