"""TemplatePipeline: learns each source's page template from its extracted bodies and removes the learned
template lines (newsletter boxes, share rows, reprint notices, donation appeals) from new bodies, before the
dedup fingerprint is taken and before storage.

Runs between extraction and canonicalization. The rules are `aggregator.extract.templates`'; the models are
kept with the sources (`aggregator.store.templates`), loaded at a source's first page and saved every
AGGREGATOR_TEMPLATE_SAVE_EVERY pages and when the spider closes. In a distributed crawl each worker learns from
the pages it extracts, and each save adds what it learned to what the others saved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from scrapy.exceptions import NotConfigured

from aggregator.dedup.fingerprint import line_key
from aggregator.extract.pool import ExtractionPool
from aggregator.extract.templates import TemplateModel, TemplateRules, line_keys, strip_template
from aggregator.items import ArticleItem
from aggregator.store.templates import TemplateStore, open_template_store
from pipelines.resources import CrawlResources, crawl_resources

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TemplatePipeline:
    """One `TemplateModel` per source seen in this crawl; each item's body teaches its source's model, then
    loses the lines the model holds for template. When the body had template lines, its fingerprint is taken again
    in a worker, over the cleaned text (or without those lines, when the text is kept whole): the extraction
    worker signed the text before any model saw it."""

    def __init__(self, resources: CrawlResources, stats: Any, rules: TemplateRules, pool: ExtractionPool,
                 min_text_chars: int = 200, save_every: int = 200) -> None:
        self.resources = resources
        self.stats = stats
        self.rules = rules
        self.pool = pool
        self.min_text_chars = min_text_chars
        self.save_every = max(1, save_every)
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
        return cls(resources, crawler.stats, rules, resources.pool,
                   min_text_chars=settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200),
                   save_every=settings.getint("AGGREGATOR_TEMPLATE_SAVE_EVERY", 200))

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
        text = item.article.text
        if not text:  # a metadata-only article (a video story): no lines, and not a page of the template
            return item
        model = await self.model(item.source)
        keys = line_keys(text)
        if model.learn(text, item.url, keys):
            self._since_save += 1
        cleaned, found = strip_template(text, model, self.min_text_chars, keys)
        if cleaned is not text:
            item.article = dataclasses.replace(item.article, text=cleaned)
            self.stats.inc_value("aggregator/templates/cleaned")
            self.stats.inc_value("aggregator/templates/lines_removed", len(found))
            if item.fingerprint is not None:
                item.fingerprint = await self.pool.sign(cleaned)
        elif found:
            self.stats.inc_value("aggregator/templates/kept_whole")  # too little would remain
            if item.fingerprint is not None:  # the template lines stay, but out of the fingerprint
                item.fingerprint = await self.pool.sign(text, frozenset(map(line_key, found)))
        if self._since_save >= self.save_every:
            await self._blocking(self.save)
        return item

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
