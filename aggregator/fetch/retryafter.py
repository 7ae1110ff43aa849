"""RetryAfterMiddleware: a 429 or 503 with `Retry-After` pauses that host's download slot for the time it asks,
bounded by AGGREGATOR_RETRY_AFTER_MAX.

Owns only the pause: RetryMiddleware (550, after this one on the way back) still decides whether to retry, and
the retry waits in the paused slot with every other request to that host; other hosts go on downloading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.asyncio import call_later

from aggregator.fetch.headers import header_text

logger = logging.getLogger(__name__)

__all__ = ["RetryAfterMiddleware", "retry_after_seconds"]

STATUSES = frozenset({429, 503})


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text[:12])  # however many digits: the caller bounds it
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware:
    """Downloader middleware at 560: sees a response before RetryMiddleware (550) turns it into a retry."""

    def __init__(self, stats: Any, max_wait: float, downloader: Callable[[], Any]) -> None:
        self.stats = stats
        self.max_wait = max_wait
        self.downloader = downloader  # the engine's, looked up at first use: it does not exist yet here
        self.paused_until: dict[str, float] = {}  # download slot -> monotonic time its pause ends, this crawl

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryAfterMiddleware:
        max_wait = crawler.settings.getfloat("AGGREGATOR_RETRY_AFTER_MAX")
        if max_wait <= 0:
            raise NotConfigured("AGGREGATOR_RETRY_AFTER_MAX is 0")
        return cls(crawler.stats, max_wait, lambda: crawler.engine.downloader)

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in STATUSES:
            return response
        asked = retry_after_seconds(header_text(response.headers, "Retry-After"))
        if asked:
            self.stats.inc_value("aggregator/fetch/retry_after")
            self.pause(request, min(asked, self.max_wait), asked)
        return response

    def pause(self, request: Request, wait: float, asked: float) -> None:
        """Hold every queued request of `request`'s download slot (its host) for `wait` seconds."""
        downloader = self.downloader()
        key = request.meta.get("download_slot") or downloader.get_slot_key(request)
        slot = downloader.slots.get(key)
        until = monotonic() + wait
        if slot is None or until <= self.paused_until.get(key, 0.0):
            return  # already paused at least as long (by another response of the same host)
        self.paused_until[key] = until
        # Scrapy's own download delay holds a slot the same way: nothing leaves its queue while `latercall` is
        # set, and Downloader._latercall clears it and processes the queue
        if slot.latercall is not None:
            slot.latercall.cancel()
        slot.latercall = call_later(wait, downloader._latercall, slot)
        logger.warning("%s answered with Retry-After %.0f s: pausing requests to %s for %.1f s (bounded by"
                       " AGGREGATOR_RETRY_AFTER_MAX)", request.url, asked, key, wait)
