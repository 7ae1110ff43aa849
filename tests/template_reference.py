"""The template pipeline as it ran before the extraction workers stripped template lines, for crawl tests to
compare with: `REFERENCE_PIPELINES` is ITEM_PIPELINES with an extraction pipeline that gives its workers no
template snapshot, so every body reaches `pipelines.templates` whole and is stripped and signed again there."""

from __future__ import annotations

import json
from typing import Any

import aggregator.settings
from pipelines.extract import ExtractPipeline
from pipelines.resources import crawl_resources


class ExtractWithoutSnapshots(ExtractPipeline):
    """`ExtractPipeline` whose workers never strip template lines."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> ExtractWithoutSnapshots:
        resources = crawl_resources(crawler)
        return cls(crawler.stats, resources.pool, crawler.settings.getint("AGGREGATOR_MIN_TEXT_CHARS", 200),
                   is_stored=lambda url: resources.storage.story_for_url(url) is not None)


REFERENCE_PIPELINES = json.dumps({
    ("tests.template_reference.ExtractWithoutSnapshots" if path == "pipelines.extract.ExtractPipeline" else path):
    priority for path, priority in aggregator.settings.ITEM_PIPELINES.items()})
