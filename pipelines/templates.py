"""TemplatePipeline: learns each source's page template from its extracted bodies and removes the learned
template lines (newsletter boxes, share rows, reprint notices, donation appeals) from new bodies, before the
dedup fingerprint is taken and before storage.

Runs between extraction and canonicalization. The rules are `aggregator.extract.templates`'; the models are
kept with the sources (`aggregator.store.templates`), loaded at a source's first page and saved every
AGGREGATOR_TEMPLATE_SAVE_EVERY pages and when the spider closes. In a distributed crawl each worker learns from
the pages it extracts, and each save adds what it learned to what the others saved.

Most pages arrive already stripped: the extraction worker was given the source's template snapshot
(`pipelines.template_snapshots`, refreshed from the model here) and returned the body without those lines,
signed so, with the keys of its lines. The page is learned from those keys; when the model, having learned
it, holds the same lines for template as the snapshot did, the worker's text and fingerprint are the ones this
pipeline would make, and stay. Otherwise (a snapshot older than what the model learned since) the page is
stripped again from the body as extracted and signed again in a worker, counted as
`aggregator/templates/resigned` (the others with template lines as `aggregator/templates/stripped_in_worker`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from scrapy.exceptions import NotConfigured

from aggregator.extract.pool import ExtractionPool
from aggregator.extract.templates import TemplateModel, TemplateRules, line_keys, strip_lines, template_lines
from aggregator.items import ArticleItem
from aggregator.store.templates import TemplateStore, open_template_store
from pipelines.resources import CrawlResources, crawl_resources
from pipelines.template_snapshots import TemplateSnapshots

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TemplatePipeline:
    """One `TemplateModel` per source seen in this crawl; each item's body teaches its source's model, then
    loses the lines the model holds for template. Unless the extraction worker already stripped those very lines
    (see the module docstring), the body's fingerprint is taken again in a worker, over the cleaned text (or
    without those lines, when the text is kept whole)."""

    def __init__(self, resources: CrawlResources, stats: Any, rules: TemplateRules, pool: ExtractionPool,
                 min_text_chars: int = 200, save_every: int = 200, snapshots: TemplateSnapshots | None = None) -> None:
        self.resources = resources
        self.stats = stats
        self.rules = rules
        self.pool = pool
        self.min_text_chars = min_text_chars
        self.save_every = max(1, save_every)
        self.snapshots = snapshots if snapshots is not None else TemplateSnapshots()
        self.models: dict[str, TemplateModel] = {}
        self._store: TemplateStore | None = None
        self._loading = asyncio.Lock()
        self._since_save = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> TemplatePipeline:
        settings = crawler.settings
        if not settings.getbool("AGGREGATOR_TEMPLATES", True):
            raise NotConfigured("AGGREGATOR_TEMPLATES is off")
        resources = crawl_resources(crawler)
        rules = TemplateRules(min_pages=settings.getint("AGGREGATOR_TEMPLATE_MIN_PAGES", 3),
                              min_seen=settings.getint("AGGREGATOR_TEMPLATE_MIN_SEEN", 5))
        pipeline = cls(resources, crawler.stats, rules, resources.pool,
                       min_text_chars=settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200),
                       save_every=settings.getint("AGGREGATOR_TEMPLATE_SAVE_EVERY", 200),
                       snapshots=resources.templates)
        resources.templates.enable(pipeline.model, pipeline.min_text_chars)  # the extraction workers strip too
        return pipeline

    @property
    def store(self) -> TemplateStore:
        if self._store is None:
            self._store = open_template_store(self.resources.db, self.resources.storage)
        return self._store

    async def _blocking(self, work: Callable[[], T]) -> T:
        """`work()` where the crawl's database calls run: in a thread when they may block (PostgreSQL)."""
        if self.resources.off_reactor:
            return await asyncio.to_thread(work)
        return work()

    async def model(self, source: str) -> TemplateModel:
        """The source's model: loaded at its first page of the crawl (a new one when none is stored, or the
        stored one cannot be read)."""
        model = self.models.get(source)
        if model is not None:
            return model
        async with self._loading:  # two pages of a new source in flight load it once
            model = self.models.get(source)
            if model is None:
                model = self._read(source, await self._blocking(lambda: self.store.load(source)))
                self.models[source] = model
                self.snapshots.refresh(source, model)
        return model

    def _read(self, source: str, data: bytes | None) -> TemplateModel:
        if data is None:
            return TemplateModel(self.rules)
        try:
            return TemplateModel.from_bytes(data, self.rules)
        except ValueError as exc:
            logger.warning("The stored template of source %s is unreadable (%s): learning it again", source, exc)
            return TemplateModel(self.rules)

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        page, item.template_page = item.template_page, None
        text = item.article.text
        if not text:  # a metadata-only article (a video story): no lines, and not a page of the template
            return item
        model = await self.model(item.source)
        extracted = page.original if page is not None and page.original is not None else text
        keys = page.keys if page is not None else line_keys(text)
        if model.learn(extracted, item.url, keys):
            self._since_save += 1
            self.snapshots.learned(item.source, model)
        found = template_lines(keys, model.template())
        if page is not None and tuple(found) == page.found:
            # the lines the worker stripped are the model's: its text and fingerprint are this pipeline's own
            self._count(page.original is not None, len(found))
            if found:
                self.stats.inc_value("aggregator/templates/stripped_in_worker")
        else:
            await self._strip(item, extracted, found, signed_whole=page is None)
        if self._since_save >= self.save_every:
            await self._blocking(self.save)
        return item

    async def _strip(self, item: ArticleItem, extracted: str, found: list[int], signed_whole: bool) -> None:
        """`item` with the body as extracted less its `found` lines, and signed so (`signed_whole`: its
        fingerprint is the whole body's, as the worker signs a page without a snapshot)."""
        stripped = strip_lines(extracted, found, self.min_text_chars)
        if stripped.text is not item.article.text:
            item.article = dataclasses.replace(item.article, text=stripped.text)
        self._count(stripped.text is not extracted, len(found))
        if not signed_whole:
            self.stats.inc_value("aggregator/templates/resigned")
        if item.fingerprint is not None and (found or not signed_whole):
            item.fingerprint = await self.pool.sign(stripped.text, stripped.furniture)

    def _count(self, cleaned: bool, found: int) -> None:
        if cleaned:
            self.stats.inc_value("aggregator/templates/cleaned")
            self.stats.inc_value("aggregator/templates/lines_removed", found)
        elif found:
            self.stats.inc_value("aggregator/templates/kept_whole")  # too little would remain

    def save(self) -> int:
        """Save the models learned from since they were loaded or last saved, each merged with what another
        process saved of its source meanwhile (a distributed crawl's other workers); how many."""
        self._since_save = 0
        saved = 0
        for source, model in self.models.items():
            if model.changed:
                self.store.update(source, functools.partial(self._merged, source, model))
                saved += 1
        return saved

    def _merged(self, source: str, model: TemplateModel, stored: bytes | None) -> tuple[bytes, int]:
        model.merge_stored(self._read(source, stored) if stored is not None else None)
        return model.to_bytes(), model.pages

    def close_spider(self) -> None:
        try:
            saved = self.save()
            if saved:
                logger.info("Templates of %d sources saved", saved)
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None
