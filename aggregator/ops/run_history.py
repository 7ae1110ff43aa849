"""RunHistory: a crawl started with `scrapy crawl news` is recorded in the run history like any other, and its
notifications are sent once it is (`aggregator.ops.notify`).

`aggregator crawl`, `aggregator demo` and `aggregator worker` go through `run_crawl`, which switches this off
(AGGREGATOR_RECORD_RUN = False): the first two record their run themselves, under the crawl lock.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from aggregator.notify import Notifier, load_notifiers
from aggregator.ops.crawl import CrawlSummary
from aggregator.ops.notify import failing_before, notify_after_run
from aggregator.sources import RegistryError
from aggregator.store.runs import RunLog, open_run_log

logger = logging.getLogger(__name__)


class RunHistory:
    """Starts a run row when the spider opens (with the sources it crawls) and finishes it when it closes."""

    def __init__(self, crawler: Any, db: str) -> None:
        self.crawler = crawler
        self.db = db
        self.log: RunLog | None = None
        self.run_id: int | None = None
        self.reason = "unknown"
        self.sources: list[str] = []
        self.notifiers: dict[str, Notifier] = {}
        self.failing: set[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> RunHistory:
        if not crawler.settings.getbool("AGGREGATOR_RECORD_RUN"):
            raise NotConfigured  # the caller records the run itself
        history = cls(crawler, crawler.settings.get("AGGREGATOR_DB"))
        crawler.signals.connect(history.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(history.spider_closed, signal=signals.spider_closed)
        # after CrawlResources (an extension made before this one) has closed the storage and so committed its
        # last batch: the run row is written on a connection of its own, which that batch would keep waiting
        crawler.signals.connect(history.engine_stopped, signal=signals.engine_stopped)
        return history

    def spider_opened(self, spider: Any) -> None:
        self.sources = [source.key for source in spider.chosen_sources()]
        self.log = open_run_log(self.db)
        self.run_id = self.log.start(self.sources)
        try:
            self.notifiers = load_notifiers(self.crawler.settings.get("AGGREGATOR_SOURCES") or None)
        except RegistryError as exc:  # the crawl goes on; only its notifications are off
            logger.error("No notifications for this run: %s", exc)
        self.failing = failing_before(self.notifiers, self.log, self.sources)

    def spider_closed(self, spider: Any, reason: str) -> None:
        self.reason = reason

    def engine_stopped(self) -> None:
        if self.log is None or self.run_id is None:
            return
        stats = dict(self.crawler.stats.get_stats()) if self.crawler.stats else {}
        stats["finish_reason"] = self.reason
        summary = CrawlSummary.from_stats(stats)
        self.log.finish(self.run_id, summary)
        self.log.close()
        logger.info("Run %d recorded: %s, exit status %d", self.run_id, self.reason, summary.exit_code)
        notified = notify_after_run(self.db, self.notifiers, self.run_id, self.sources, self.failing)
        if notified is not None:
            logger.info("Run %d %s", self.run_id, notified.line())
