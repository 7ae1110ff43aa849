"""NewsSpider against a generated web of every source kind, and incremental re-crawls."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.testing.snapshot import ServedSites, render_template, serve_snapshot
from tests import kinds_site
from tests.conftest import FAST, run_cli


@pytest.fixture()
def kinds(tmp_path: Path) -> Iterator[tuple[ServedSites, dict, Path]]:
    root = tmp_path / "sites"
    root.mkdir()
    expected = kinds_site.build(root)
    with serve_snapshot(root) as bases:
        registry = tmp_path / "sources.toml"
        registry.write_text(render_template(kinds_site.SOURCES, bases), "utf-8")
        yield bases, expected, registry


def crawl(registry: Path, db: Path, *extra: str, code: int = 0) -> str:
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *extra)
    assert result.returncode == code, result.stdout + result.stderr[-3000:]
    return result.stdout + result.stderr


def stored_slugs(db: Path, source: str) -> set[str]:
    rows = sqlite3.connect(db).execute("SELECT url FROM sightings WHERE source = ?", (source,))
    return {url.rsplit("/", 1)[1] for (url,) in rows}


def article_hits(bases: ServedSites) -> list[str]:
    return [path for paths in bases.hits.values() for path in paths if path.startswith("/news/")
            and not path.startswith("/news/page/") and path != "/news/"]


def test_every_source_kind(kinds: tuple[ServedSites, dict, Path], tmp_path: Path) -> None:
    bases, expected, registry = kinds
    db = tmp_path / "k.db"
    log = crawl(registry, db)
    feeds = stored_slugs(db, "feeds")
    for kind, slugs in expected["feeds"].items():
        assert set(slugs) <= feeds, "entries of the %s feed not stored" % kind
    assert "malformed but usable" in log and "feeds/malformed_used" in log
    assert stored_slugs(db, "home") == set(expected["home"])  # found through <link rel="alternate">
    assert stored_slugs(db, "maps") == set(expected["maps"]["fresh"])  # old sitemap entries are past max_age
    titles = dict(sqlite3.connect(db).execute("SELECT url, title FROM sightings WHERE source = 'maps'"))
    assert {url.rsplit("/", 1)[1]: t for url, t in titles.items()} == expected["maps"]["titles"]
    # max_pages = 2: pages 1-2 of the listing (6 articles), less the one the deny pattern names and the
    # one robots.txt disallows (not counted as an error: the crawl exits 0).
    paged = expected["paged"]
    assert stored_slugs(db, "paged") == set(paged[:6]) - {s for s in paged if s.endswith("-601")} - {paged[2]}
    assert "/news/" + paged[2] not in bases.hits["paged"]
    assert "/news/page/3" not in bases.hits["paged"]
    assert not any("/about" in p or "/tag/" in p for p in bases.hits["paged"])


def test_unchanged_recrawl_costs_one_request_per_index_and_no_article(
        kinds: tuple[ServedSites, dict, Path], tmp_path: Path) -> None:
    bases, _, registry = kinds
    db = tmp_path / "k.db"
    crawl(registry, db)
    before = sqlite3.connect(db).execute("SELECT count(*) FROM sightings").fetchone()[0]
    bases.reset_hits()
    log = crawl(registry, db)
    assert article_hits(bases) == []
    for site, paths in bases.hits.items():
        assert len(paths) == len(set(paths)) or site == "maps", paths  # maps: robots.txt is also its sitemap list
    # 304s: the 8 feeds, the homepage's discovered feed, the 2 child sitemaps, listing page 1 (so page 2 is
    # not asked). The homepage and the sitemap index are asked unconditionally (see NewsSpider.index_request).
    assert "feeds/lists unchanged: 12 (304)" in log
    assert bases.hits["paged"] == ["/robots.txt", "/news/"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sightings").fetchone()[0] == before


def test_updated_entry_is_refetched_and_becomes_a_new_version(kinds: tuple[ServedSites, dict, Path],
                                                             tmp_path: Path) -> None:
    bases, expected, registry = kinds
    db = tmp_path / "k.db"
    crawl(registry, db)
    site = tmp_path / "sites" / "home"
    slug = expected["home"][0]
    page = site / "news" / (slug + ".html")
    html = page.read_text("utf-8")
    first_paragraph = html.split("<p>")[1].split("</p>")[0]
    page.write_text(html.replace(first_paragraph, "CORRECTION: an earlier version misstated the figures. "
                                 + first_paragraph), "utf-8")
    feed = site / "atom.xml"
    text = feed.read_text("utf-8")
    entry_start = text.index("<id>%s</id>" % slug)
    old_date = text[entry_start:].split("<updated>")[1].split("</updated>")[0]
    new_date = (kinds_site.NOW + timedelta(minutes=5)).isoformat()
    feed.write_text(text[:entry_start] + text[entry_start:].replace(old_date, new_date, 1), "utf-8")
    stories_before = sqlite3.connect(db).execute("SELECT count(*) FROM stories").fetchone()[0]
    bases.reset_hits()
    log = crawl(registry, db)
    assert article_hits(bases) == ["/news/" + slug]
    assert "stories updated:       1" in log
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == stories_before
    (story_id, story_text) = con.execute(
        "SELECT s.id, s.text FROM stories s JOIN sightings g ON g.story_id = s.id WHERE g.url LIKE ?",
        ("%" + slug,)).fetchone()
    assert story_text.startswith("CORRECTION: an earlier version")
    versions = con.execute("SELECT text FROM story_versions WHERE story_id = ?", (story_id,)).fetchall()
    assert len(versions) == 1 and not versions[0][0].startswith("CORRECTION")


def test_interrupted_crawl_resumes_without_refetching(kinds: tuple[ServedSites, dict, Path], tmp_path: Path) -> None:
    bases, _, registry = kinds
    clean_db = tmp_path / "clean.db"
    crawl(registry, clean_db)
    clean = sqlite3.connect(clean_db).execute("SELECT url FROM sightings ORDER BY url").fetchall()
    bases.reset_hits()
    db = tmp_path / "resumed.db"
    # Extraction inline: with the worker pool, every page is downloaded before the 5th item is stored.
    log = crawl(registry, db, "--set", "CLOSESPIDER_ITEMCOUNT=5", "--set", "CONCURRENT_REQUESTS=1",
                "--set", "AGGREGATOR_WORKERS=0", code=4)
    assert "Crawl stopped: closespider_itemcount" in log
    first = set(article_hits(bases))
    assert 5 <= len(first) < len(clean)
    stored_first = {url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings")}
    bases.reset_hits()
    crawl(registry, db)
    second = article_hits(bases)
    assert not {"/news/" + url.rsplit("/", 1)[1] for url in stored_first} & set(second)
    assert sqlite3.connect(db).execute("SELECT url FROM sightings ORDER BY url").fetchall() == clean


def test_refresh_refetches_everything(kinds: tuple[ServedSites, dict, Path], tmp_path: Path) -> None:
    bases, _, registry = kinds
    db = tmp_path / "k.db"
    crawl(registry, db)
    count = len(article_hits(bases))
    bases.reset_hits()
    log = crawl(registry, db, "--refresh")
    assert len(article_hits(bases)) == count
    assert "already stored:        %d" % count in log, log[:800]


@pytest.mark.parametrize(("argument", "refresh"), [("1", True), ("no", False), (None, False)])
def test_a_refresh_argument_is_the_refresh_setting(argument: str | None, refresh: bool) -> None:
    """`scrapy crawl news -a refresh=1` also reaches the conditional GET middleware, which reads the setting."""
    from scrapy.crawler import Crawler

    from spiders.news import NewsSpider

    crawler = Crawler(NewsSpider, {"AGGREGATOR_SOURCES": ""})
    spider = NewsSpider.from_crawler(crawler, **({} if argument is None else {"refresh": argument}))
    assert spider.refresh is refresh and crawler.settings.getbool("AGGREGATOR_REFRESH") is refresh


def test_listing_page_pattern(kinds: tuple[ServedSites, dict, Path], tmp_path: Path) -> None:
    bases, expected, _ = kinds
    registry = tmp_path / "pattern.toml"
    registry.write_text('[sources.paged]\nname = "Paged"\nlisting = "%s/news/"\npagination = "%s/news/page/{page}"\n'
                        "max_pages = 3\n" % (bases["paged"], bases["paged"]), "utf-8")
    db = tmp_path / "p.db"
    crawl(registry, db)
    assert {"/news/page/2", "/news/page/3"} <= set(bases.hits["paged"])
    assert stored_slugs(db, "paged") == set(expected["paged"]) - {expected["paged"][2]}


def test_per_source_download_delay_becomes_a_download_slot(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    from spiders.news import NewsSpider

    registry = tmp_path / "slow.toml"
    registry.write_text('[sources.slow]\nname = "Slow"\nfeed = "https://slow.example/feed"\ndownload_delay = 5\n'
                        '[sources.fast]\nname = "Fast"\nfeed = "https://fast.example/feed"\n', "utf-8")
    settings = Settings({"AGGREGATOR_SOURCES": str(registry)})
    NewsSpider.update_settings(settings)
    assert settings.getdict("DOWNLOAD_SLOTS") == {"slow.example": {"delay": 5.0}}


def test_same_story_at_a_new_url_of_the_same_outlet_is_a_version(kinds: tuple[ServedSites, dict, Path],
                                                                  tmp_path: Path) -> None:
    bases, expected, registry = kinds
    db = tmp_path / "k.db"
    crawl(registry, db)
    site = tmp_path / "sites" / "home"
    old_slug = expected["home"][1]
    new_slug = old_slug + "-updated"
    html = (site / "news" / (old_slug + ".html")).read_text("utf-8")
    title = html.split("<h1>")[1].split("</h1>")[0]
    html = html.replace(old_slug, new_slug).replace(title, "UPDATED: " + title)
    (site / "news" / (new_slug + ".html")).write_text(html.replace("</p></div>", " Updated at noon.</p></div>", 1),
                                                      "utf-8")
    feed = site / "atom.xml"
    feed.write_text(feed.read_text("utf-8").replace(
        "</feed>", '<entry><title>UPDATED</title><link href="{{BASE}}/news/%s"/><id>new-guid</id>'
        "<updated>%s</updated></entry></feed>" % (new_slug, kinds_site.NOW.isoformat())), "utf-8")
    con = sqlite3.connect(db)
    stories_before = con.execute("SELECT count(*) FROM stories").fetchone()[0]
    log = crawl(registry, db)
    assert "stories updated:       1" in log and "articles stored:       0" in log
    assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == stories_before
    story_id, url, story_title = con.execute(
        "SELECT id, url, title FROM stories WHERE url LIKE ?", ("%" + new_slug,)).fetchone()
    assert story_title.startswith("UPDATED: ")
    rules = dict(con.execute("SELECT url, rule FROM sightings WHERE story_id = ?", (story_id,)).fetchall())
    assert rules[url] == "same_source_update"
    assert con.execute("SELECT count(*) FROM story_versions WHERE story_id = ?", (story_id,)).fetchone()[0] == 1


def test_scrapy_crawl_refuses_an_unknown_source(tmp_path: Path) -> None:
    """`scrapy crawl news -a sources=nosuch` names the known sources and fails, instead of crawling nothing
    and exiting 0."""
    import subprocess
    import sys

    db = tmp_path / "x.db"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "news", "-a", "sources=nosuch", "-s", "AGGREGATOR_DB=%s" % db],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "unknown source(s) nosuch; known: astanatimes, commonspace, timesca" in result.stderr
    assert "Spider opened" not in result.stderr  # stopped before any request
