"""ExtractPipeline: the fetched page's HTML becomes an `Article` (clean body and metadata)."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.exceptions import DropItem

from aggregator.extraction import extract_article
from aggregator.items import ArticleItem

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Runs `aggregator.extraction.extract_article` on each page; pages without an article body
    (shorter than AGGREGATOR_MIN_TEXT_CHARS) are dropped and counted, never stored."""

    def __init__(self, stats: Any, min_text_chars: int = 200) -> None:
        self.stats = stats
        self.min_text_chars = min_text_chars

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        return cls(crawler.stats, crawler.settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200))

    def process_item(self, item: ArticleItem) -> ArticleItem:
        try:
            article = extract_article(item.html, url=item.url, hints=item.hints)
        finally:
            item.html = ""  # the page is not needed past this point; keep memory flat on long crawls
        if article is None or len(article.text) < self.min_text_chars:
            self.stats.inc_value("aggregator/no_article")
            raise DropItem("No article body on %s" % item.url)
        item.article = article
        self.stats.inc_value("aggregator/extracted")
        return item
