"""ExtractPipeline: the fetched page's bytes become an `Article` and its dedup fingerprint, decoded and
extracted in the crawl's worker process pool (`aggregator.extract.pool`), so extraction never stalls the
downloads."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.exceptions import DropItem

from aggregator.extract.pool import ExtractionPool, WorkerCrashed
from aggregator.items import ArticleItem
from aggregator.store.source_runs import count_source, source_error
from pipelines.resources import crawl_resources

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Runs `aggregator.extract.extractor.extract_article` (and MinHash signing) on each page in the pool;
    pages without an article body (shorter than AGGREGATOR_MIN_TEXT_CHARS) are dropped and counted, never
    stored; a page that kills a worker process is dropped and counted."""

    def __init__(self, stats: Any, pool: ExtractionPool, min_text_chars: int = 200) -> None:
        self.stats = stats
        self.pool = pool
        self.min_text_chars = min_text_chars

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        return cls(crawler.stats, crawl_resources(crawler).pool,
                   crawler.settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200))

    def open_spider(self) -> None:
        self.pool.warm_up()

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        body, item.body = item.body, b""  # the page is not needed past this point: keep memory flat
        try:
            article, fingerprint, charset_problem = await self.pool.run(body, item.content_type, item.url,
                                                                        item.hints)
        except WorkerCrashed as exc:
            logger.error("Extraction failed on %s: %s", item.url, exc)
            self.stats.inc_value("aggregator/errors/extract_worker_crashed")
            source_error(self.stats, item.source, "extract_worker_crashed", "%s: %s" % (item.url, exc))
            raise DropItem(str(exc)) from None
        if charset_problem:
            logger.warning("Article %s of source %s: %s", item.url, item.source, charset_problem)
            self.stats.inc_value("aggregator/repaired/charset")
        if article is None or len(article.text) < self.min_text_chars:
            self.stats.inc_value("aggregator/no_article")
            count_source(self.stats, item.source, "no_article")  # a redesign the extractor no longer reads
            raise DropItem("No article body on %s" % item.url)
        item.article, item.fingerprint = article, fingerprint
        self.stats.inc_value("aggregator/extracted")
        count_source(self.stats, item.source, "extracted")
        return item
