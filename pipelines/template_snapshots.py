"""TemplateSnapshots: what the extraction and template pipelines share of a crawl's per-source templates, so that
an extraction worker can strip a page's template lines and sign the result in the one pass it makes anyway.

Owns, per source, a snapshot of its template (the line keys its `TemplateModel` held for template when last
refreshed); each page's `TemplatePage` travels on its item (`ArticleItem.template_page`). It never decides what
is template: `pipelines.templates` owns the models, refreshes the snapshots and checks each page the worker
stripped against its model. Made per crawl by `pipelines.resources.CrawlResources`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aggregator.extract.templates import TemplateModel

__all__ = ["TemplateSnapshots"]

logger = logging.getLogger(__name__)


class TemplateSnapshots:
    """Each source's template snapshot, refreshed by `refresh` (when its model is loaded) and `learned`: at most
    once every `refresh_every` pages learned, since taking one walks the whole model (up to 2,048 lines), and
    when the model starts acting. Off (`for_source` gives None) until `enable` names the loader of models."""

    def __init__(self, refresh_every: int = 16) -> None:
        if refresh_every < 1:
            raise ValueError("refresh_every must be >= 1, got %r" % (refresh_every,))
        self.refresh_every = refresh_every
        self.min_chars = 200
        self._load: Callable[[str], Awaitable[Any]] | None = None
        self._snapshots: dict[str, frozenset[int]] = {}
        self._since: dict[str, int] = {}  # pages learned since the snapshot was taken
        self._acting: dict[str, bool] = {}  # whether the model was acting then

    @property
    def enabled(self) -> bool:
        return self._load is not None

    def enable(self, load: Callable[[str], Awaitable[Any]], min_chars: int) -> None:
        """Templates are on in this crawl: `load(source)` makes the source's model ready (and calls `refresh`);
        bodies shorter than `min_chars` characters keep their template lines (`templates.strip_lines`)."""
        self._load = load
        self.min_chars = min_chars

    async def for_source(self, source: str) -> frozenset[int] | None:
        """The snapshot to strip a page of `source` with (None: templates are off). The source's model is
        loaded first if it is not yet, so the first pages of a recrawl are stripped by what was learned before."""
        if self._load is None:
            return None
        snapshot = self._snapshots.get(source)
        if snapshot is None:
            await self._load(source)
            snapshot = self._snapshots.get(source, frozenset())
        return snapshot

    def refresh(self, source: str, model: TemplateModel) -> None:
        self._snapshots[source] = model.template_keys()
        self._since[source] = 0
        self._acting[source] = model.acting

    def learned(self, source: str, model: TemplateModel) -> None:
        """`model` learned one more page of `source`."""
        since = self._since.get(source, 0) + 1
        if since >= self.refresh_every or model.acting != self._acting.get(source, False):
            self.refresh(source, model)
        else:
            self._since[source] = since
