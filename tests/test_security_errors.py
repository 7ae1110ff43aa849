"""A pipeline that raises on one item is a counted error with a cause (aggregator/errors/item_<exception>),
logged with the item's URL, and the crawl exits 3; the other articles are stored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aggregator.items import ArticleItem
from aggregator.settings import ITEM_PIPELINES
from tests.conftest import FAST, run_cli
from tests.faultserver import page, serve_faults
from tests.hostile_site import article_page, rss


class FailingPipeline:
    """Raises on the article whose URL names "boom": any bug a pipeline may have on one odd page."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
        if "boom" in item.url:
            raise LookupError("a pipeline bug on %s" % item.url)
        return item


def test_a_pipeline_exception_is_a_counted_error_and_the_crawl_exits_3(tmp_path: Path) -> None:
    with serve_faults("127.0.0.71") as site:
        base = site.base_url
        for slug in ("fine", "boom"):
            site.routes["/news/" + slug] = page(article_page(slug))
        site.routes["/feed.rss"] = page(rss(base, [(slug, base + "/news/" + slug, slug) for slug in ("fine", "boom")]),
                                        "application/rss+xml")
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.odd]\nname = "Odd"\nfeed = "%s/feed.rss"\n' % base, "utf-8")
        db = tmp_path / "odd.db"
        pipelines = {**ITEM_PIPELINES, "tests.test_security_errors.FailingPipeline": 150}
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST,
                         "--set", "ITEM_PIPELINES=%s" % json.dumps(pipelines))
    log = result.stdout + result.stderr
    assert result.returncode == 3, log[-3000:]
    assert "errors:                1" in result.stdout and "  item_lookup_error: 1" in result.stdout
    assert any("ERROR" in line and base + "/news/boom" in line and "item_lookup_error" in line
               for line in log.splitlines()), log[-3000:]
    urls = [url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings")]
    assert urls == [base + "/news/fine"]
