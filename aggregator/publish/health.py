"""What `serve` shows of source health: the `/health` document and the failing sources the reader page marks.

Reads the run history through the request thread's storage (`aggregator.store.health`); writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aggregator.store.backends import database_errors
from aggregator.store.health import FAILING, SourceHealth, health_report, storage_health
from aggregator.store.model import StoryStorage

logger = logging.getLogger(__name__)

__all__ = ["failing_sources", "health_document"]


def _report(storage: StoryStorage, source_names: Mapping[str, str]) -> list[SourceHealth]:
    """Each registry source's health (every recorded source's when the registry names none)."""
    return [health for health in storage_health(storage, source_names)
            if not source_names or health.source in source_names]


def health_document(storage: StoryStorage, source_names: Mapping[str, str]) -> dict[str, Any]:
    """`/health`: the document `aggregator health --format json` prints."""
    return health_report(_report(storage, source_names))


def failing_sources(storage: StoryStorage, source_names: Mapping[str, str]) -> dict[str, str]:
    """The failing sources (key -> why) for the reader page; none when the run history cannot be read (a
    database written before it was kept, opened read-only): the page is served all the same."""
    try:
        return {health.source: health.reason for health in _report(storage, source_names)
                if health.state == FAILING}
    except database_errors() as exc:
        logger.warning("reader page: cannot read source health: %s", exc)
        return {}
