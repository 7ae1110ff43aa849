"""The pipelines and the crawl-wide resources in process (Scrapy's `get_crawler`), on a real SQLite file and a
real PostgreSQL database: the item's way through extract, canonicalize, dedup and store, one unit of work per
item, and decisions kept in order when they leave the reactor thread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

import aggregator.settings
from aggregator.items import Article, ArticleItem
from pipelines.canonicalize import CanonicalizePipeline
from pipelines.dedup import DedupPipeline, new_story_id
from pipelines.extract import ExtractPipeline
from pipelines.resources import CrawlResources, crawl_resources
from pipelines.store import StorePipeline
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)

WORDS = ("harbour council budget vote river bridge school teachers minister energy prices winter grain "
         "export border talks election turnout museum reopening storm damage rail line drought farmers").split()


def story_text(seed: int, words: int = 160) -> str:
    return " ".join(WORDS[(seed * 7 + i * (seed % 5 + 1)) % len(WORDS)] + ("." if i % 12 == 11 else "")
                    for i in range(words))


def crawler_for(db: str, **settings: Any) -> Crawler:
    values = {name: value for name, value in vars(aggregator.settings).items() if name.isupper()}
    values.update({"AGGREGATOR_DB": db, "AGGREGATOR_WORKERS": 0, **settings})
    return get_crawler(settings_dict=values)


def item(url: str, source: str, text: str, title: str = "A story") -> ArticleItem:
    result = ArticleItem(url=url, source=source)
    result.article = Article(text=text, title=title)
    return result


async def through(stages: list[Any], entry: ArticleItem,
                  failures: type[BaseException] | tuple[type[BaseException], ...] = Exception) -> Any:
    """`entry` through `stages` as Scrapy chains them (awaiting what is awaitable); an exception of `failures`
    the chain raises is the result."""
    result: Any = entry
    try:
        for stage in stages:
            result = stage.process_item(result)
            if asyncio.iscoroutine(result):
                result = await result
    except failures as exc:
        return exc
    return result


def run(crawler: Crawler, *items: ArticleItem) -> list[Any]:
    """Each item through canonicalize, dedup and store, all at once; a failed item is its exception."""
    stages: list[Any] = [CanonicalizePipeline.from_crawler(crawler), DedupPipeline.from_crawler(crawler),
                         StorePipeline.from_crawler(crawler)]

    async def every() -> list[Any]:
        return list(await asyncio.gather(*(through(stages, entry) for entry in items)))

    return asyncio.run(every())


def test_one_extension_holds_the_crawls_objects(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "a.db"))
    resources = crawl_resources(crawler)
    assert crawler.get_extension(CrawlResources) is resources
    assert resources.storage is resources.storage and resources.pool is resources.pool
    # the dedup index lives in the stories' file, on the storage's own connection
    assert resources.index_url == "sqlite:///" + str(tmp_path / "a.db")
    assert not resources.off_reactor
    extract, store = ExtractPipeline.from_crawler(crawler), StorePipeline.from_crawler(crawler)
    assert extract.pool is resources.pool and store.resources is resources
    resources.close()


def test_a_page_goes_through_every_pipeline(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "a.db"))
    body = ("<html><head><title>Bridge reopens | Example</title>"
            "<link rel='canonical' href='https://news.example/bridge'></head><body><article><h1>Bridge reopens</h1>"
            + "".join("<p>%s</p>" % story_text(n, 40) for n in range(4)) + "</article></body></html>").encode()
    page = ArticleItem(url="https://news.example/bridge?utm_source=x", source="example", body=body,
                       content_type="text/html; charset=utf-8")
    extracted = asyncio.run(ExtractPipeline.from_crawler(crawler).process_item(page))
    assert extracted.article.title == "Bridge reopens" and extracted.body == b""
    [stored] = run(crawler, extracted)
    assert stored.canonical_url == "https://news.example/bridge" and stored.is_new_story
    resources = crawl_resources(crawler)
    story = resources.storage.story(stored.story_id)
    assert story is not None and story.title == "Bridge reopens"
    assert crawler.stats.get_value("aggregator/stored/new") == 1
    resources.close()


def test_a_failed_save_leaves_no_dedup_index_rows(tmp_path: Path) -> None:
    """The database refuses one sighting in the middle of its save: its story, sighting and dedup index rows all
    go; a later copy of the same text is then a new story, not a sighting of a story that was never stored."""
    db = tmp_path / "a.db"
    crawler = crawler_for(str(db), AGGREGATOR_STORE_BATCH_SIZE=100)
    resources = crawl_resources(crawler)
    resources.storage.db.execute(  # type: ignore[attr-defined]
        "CREATE TRIGGER refuse BEFORE INSERT ON sightings WHEN NEW.url LIKE '%/refused%'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    text = story_text(3)
    failed, kept = run(crawler, item("https://a.example/refused", "a", text),
                       item("https://b.example/other", "b", story_text(4)))
    assert isinstance(failed, sqlite3.IntegrityError) and isinstance(kept, ArticleItem)
    [copy] = run(crawler, item("https://c.example/copy", "c", text))
    assert copy.is_new_story  # nothing of the refused save was left to match
    resources.close()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM stories").fetchone()[0] == 2
        assert check.execute("SELECT count(*) FROM dedup_fingerprints").fetchone()[0] == 2
        stored = {row[0] for row in check.execute("SELECT story_id FROM dedup_fingerprints")}
        assert stored == {kept.story_id, copy.story_id}


def test_copies_decided_off_the_reactor_make_one_story(postgres_url: str) -> None:  # noqa: F811
    """On PostgreSQL deciding and saving run in threads; six copies arriving at once still make one story with
    six sightings, because each decision waits for the save of the one before it. The story ends named by the
    smallest id any copy would have started, whichever came first."""
    crawler = crawler_for(postgres_url)
    resources = crawl_resources(crawler)
    assert resources.off_reactor and resources.index_url == "memory://"
    text = story_text(5)
    urls = ["https://s%d.example/story" % n for n in range(6)]
    results = run(crawler, *(item(url, "s%d" % n, text) for n, url in enumerate(urls)))
    assert all(isinstance(result, ArticleItem) for result in results)
    assert sum(result.is_new_story for result in results) == 1
    assert resources.storage.counts() == {"stories": 1, "sightings": 6}
    assert {resources.storage.story_for_url(url) for url in urls} == {min(map(new_story_id, urls))}
    resources.close()


def test_resources_close_what_they_opened_once(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "a.db"))
    resources = crawl_resources(crawler)
    storage = resources.storage
    resources.close()
    with pytest.raises(sqlite3.ProgrammingError):
        storage.db.execute("SELECT 1")  # type: ignore[attr-defined]
    resources.close()  # twice is harmless
