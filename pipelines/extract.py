"""ExtractPipeline: the fetched page's bytes become an `Article` and its dedup fingerprint, decoded and
extracted in the crawl's worker process pool (`aggregator.extract.pool`), so extraction never stalls the
downloads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy.exceptions import DropItem

from aggregator.extract.metadata_only import as_metadata_only, metadata_text
from aggregator.extract.pool import ExtractionPool, PageResult, WorkerCrashed
from aggregator.items import ArticleItem
from aggregator.store.source_runs import count_source, source_error
from aggregator.urls import resolve_canonical
from pipelines.resources import crawl_resources
from pipelines.template_snapshots import TemplateSnapshots

logger = logging.getLogger(__name__)


class ExtractPipeline:
    """Runs `aggregator.extract.extractor.extract_page` (and MinHash signing) on each page in the pool.

    A page without an article body (shorter than AGGREGATOR_MIN_TEXT_CHARS) is dropped and counted, never
    stored, unless it is a metadata-only article (`aggregator.extract.metadata_only.keeps_metadata`: a declared
    article with a title and a date or a description, such as a video story): that one goes on with an empty
    text, fingerprinted on its title and description, counted as `aggregator/metadata_only`. A URL already
    stored is never replaced by its metadata (`is_stored`): a body the extractor fails to read on a re-fetch
    must not erase the stored one. A page that kills a worker process is dropped and counted.

    With templates on (`pipelines.templates`), the worker is given the source's template snapshot and returns
    the body without those lines, signed so, with what it did (checked against the source's model by the
    template pipeline, which finds it on the item: `ArticleItem.template_page`)."""

    def __init__(self, stats: Any, pool: ExtractionPool, min_text_chars: int = 200,
                 is_stored: Callable[[str], bool] | None = None, templates: TemplateSnapshots | None = None) -> None:
        self.stats = stats
        self.pool = pool
        self.min_text_chars = min_text_chars
        self.is_stored = is_stored
        self.templates = templates

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractPipeline:
        resources = crawl_resources(crawler)
        return cls(crawler.stats, resources.pool, crawler.settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200),
                   is_stored=lambda url: resources.storage.story_for_url(url) is not None,
                   templates=resources.templates)

    def open_spider(self) -> None:
        self.pool.warm_up()

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        body, item.body = item.body, b""  # the page is not needed past this point: keep memory flat
        templates = self.templates
        template = await templates.for_source(item.source) if templates is not None else None
        try:
            result = await self.pool.extract(body, item.content_type, item.url, item.hints, template=template,
                                             min_chars=templates.min_chars if templates is not None else 200)
        except WorkerCrashed as exc:
            logger.error("Extraction failed on %s: %s", item.url, exc)
            self.stats.inc_value("aggregator/errors/extract_worker_crashed")
            source_error(self.stats, item.source, "extract_worker_crashed", "%s: %s" % (item.url, exc))
            raise DropItem(str(exc)) from None
        if result.charset_problem:
            logger.warning("Article %s of source %s: %s", item.url, item.source, result.charset_problem)
            self.stats.inc_value("aggregator/repaired/charset")
        article = result.article
        # judged by the body as extracted: the template lines the worker took out are the template pipeline's
        extracted = len(result.extracted_text)
        if article is not None and extracted < self.min_text_chars and result.keeps_metadata:
            return await self._metadata_only(item, result)
        if article is None or extracted < self.min_text_chars:
            self._no_article(item)
        item.article, item.fingerprint = article, result.fingerprint
        if result.template is not None and templates is not None:
            item.template_page = result.template
        self.stats.inc_value("aggregator/extracted")
        count_source(self.stats, item.source, "extracted")
        return item

    def _no_article(self, item: ArticleItem) -> None:
        self.stats.inc_value("aggregator/no_article")
        count_source(self.stats, item.source, "no_article")  # a redesign the extractor no longer reads
        raise DropItem("No article body on %s" % item.url)

    async def _metadata_only(self, item: ArticleItem, result: PageResult) -> ArticleItem:
        """The item of an article kept for its metadata alone; counted apart from "extracted", so a source whose
        bodies a redesign made unreadable still shows in its source health."""
        assert result.article is not None
        article = as_metadata_only(result.article)
        if self.is_stored is not None and self.is_stored(resolve_canonical(item.url, article.canonical_link)):
            self.stats.inc_value("aggregator/metadata_only/stored_kept")
            raise DropItem("No article body on %s, which is stored: the stored story stays" % item.url)
        fingerprint = result.fingerprint
        if article is not result.article or fingerprint is None:
            # the worker signed the stub of a body it found: the story is known by its title and description
            fingerprint = await self.pool.sign(metadata_text(article))
        item.article, item.fingerprint = article, fingerprint
        logger.info("Article %s of source %s has no readable body: kept for its metadata", item.url, item.source)
        self.stats.inc_value("aggregator/metadata_only")
        count_source(self.stats, item.source, "metadata_only")
        return item
