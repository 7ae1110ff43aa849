"""Scrapy item pipelines of the aggregator, in order: extract, canonicalize, dedup, store.

The dedup and store pipelines share the crawl's one storage (`crawl_storage`): one SQLite connection, so
an item's dedup index rows and its story are written in the same batch transaction, and the dedup
decision sees the stories of the batch not yet committed.
"""

from __future__ import annotations

from typing import Any

from aggregator.store.backends import open_storage
from aggregator.store.model import StoryStorage

_HOLDER = "_aggregator_storage"


def crawl_storage(crawler: Any) -> StoryStorage:
    """The crawl's shared storage, opened by its first user; give it back with `release_storage`."""
    holder = crawler.__dict__.setdefault(_HOLDER, {"storage": None, "users": 0})
    if holder["storage"] is None:
        settings = crawler.settings
        holder["storage"] = open_storage(settings.get("AGGREGATOR_DB"),
                                         batch_size=max(1, settings.getint("AGGREGATOR_STORE_BATCH_SIZE")),
                                         batch_seconds=settings.getfloat("AGGREGATOR_STORE_BATCH_SECONDS"))
    holder["users"] += 1
    return holder["storage"]


def release_storage(crawler: Any) -> None:
    """Closes (and so commits) the shared storage when its last user gives it back."""
    holder = crawler.__dict__.get(_HOLDER)
    if holder is None or holder["storage"] is None:
        return
    holder["users"] -= 1
    if holder["users"] <= 0:
        holder["storage"].close()
        holder["storage"], holder["users"] = None, 0
