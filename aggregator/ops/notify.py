"""Notifications after a crawl run: what each `[notify.<name>]` webhook is sent once the run is recorded, queued
in the outbox (`aggregator.store.outbox`) and then delivered within a bounded time, so that a receiver that is
down delays nothing and loses nothing: what it missed is tried again after the next runs, for `KEEP`.

Called by `aggregator crawl` (after its run is recorded and its lock released) and by `RunHistory` (`scrapy
crawl`). Never raises: a notification that cannot be queued or sent is logged and counted, and the crawl's
exit code and stored stories stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.notify import NEW_STORY, SOURCE_FAILING, Notifier, load_notifiers
from aggregator.publish import webhooks
from aggregator.sources import RegistryError
from aggregator.store.dialect import Statements
from aggregator.store.outbox import Notification, Outbox, Pending, iso
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

BUDGET_SECONDS = 30.0  # all deliveries after one run, retries and back-off included
KEEP = timedelta(days=3)  # an undelivered notification is tried again after later runs this long, then dropped
FEED_TITLE = "News aggregator"
FAILING = "failing"


@dataclass
class NotifyReport:
    """What one run's notifications came to (delivered includes earlier runs' notifications sent now)."""

    queued: int = 0
    delivered: int = 0
    failed: int = 0  # tried and not delivered: kept for the next run
    waiting: int = 0  # not tried (out of time, or a secret missing): kept for the next run
    dropped: int = 0

    def line(self) -> str:
        return ("notifications:         %d queued, %d delivered, %d failed, %d waiting, %d dropped"
                % (self.queued, self.delivered, self.failed, self.waiting, self.dropped))


def load_notifier_config(path: str | None) -> dict[str, Notifier]:
    """The registry's notifiers as a command loads them: a bad `[notify.*]` table is an `Error:`, exit 2."""
    from aggregator.ops.cli_options import ConfigError

    try:
        return load_notifiers(path)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


def wants(notifiers: Mapping[str, Notifier], event: str) -> bool:
    return any(notifier.wants(event) for notifier in notifiers.values())


def failing_sources(db: Any, sources: Sequence[str]) -> set[str]:
    """Of `sources`, those whose health is failing now (`db`: a RunLog or Statements on the stories' database)."""
    from aggregator.store.health import source_health

    return {health.source for health in source_health(db, sources) if health.source in sources
            and health.state == FAILING}


def failing_before(notifiers: Mapping[str, Notifier], db: Any, sources: Sequence[str]) -> set[str] | None:
    """Call before a run: the sources already failing, so that only those that turn failing in the run are
    told; None when no notifier wants `source_failing` (or health cannot be read: logged)."""
    if not wants(notifiers, SOURCE_FAILING):
        return None
    try:
        return failing_sources(db, sources)
    except Exception:
        logger.exception("cannot read source health before the run: no source_failing notification for it")
        return None


def notify_after_run(db: str, notifiers: Mapping[str, Notifier], run_id: int, sources: Sequence[str],
                     failing: set[str] | None = None, budget: float = BUDGET_SECONDS) -> NotifyReport | None:
    """Queue run `run_id`'s notifications, then deliver every queued one (this run's and any left by earlier
    runs) for at most `budget` seconds. `sources`: the ones the run crawled; `failing`: those failing before
    it (`failing_before`). None when no notifier is configured. Never raises."""
    if not notifiers:
        return None
    from aggregator.store.backends import open_storage

    report = NotifyReport()
    try:
        storage = open_storage(db)
    except Exception:
        logger.exception("notifications of run %d: cannot open the database %s", run_id, db)
        return report
    try:
        if not isinstance(storage, SQLStorage):
            raise TypeError("no outbox on storage %r" % type(storage).__name__)
        outbox = Outbox(storage)
        try:
            report.queued = outbox.add(run_notifications(storage, outbox, notifiers, run_id, sources, failing))
        except Exception:  # the run's news is lost, not the earlier runs' queued notifications
            logger.exception("notifications of run %d: cannot queue them", run_id)
        deliver(outbox, notifiers, report, time.monotonic() + budget)
    except Exception:
        logger.exception("notifications of run %d: delivery stopped", run_id)
    finally:
        storage.close()
    if report.failed or report.waiting or report.dropped:
        logger.warning("Notifications of run %d: %s", run_id, report.line().split(":", 1)[1].strip())
    return report


def run_notifications(storage: SQLStorage, outbox: Outbox, notifiers: Mapping[str, Notifier], run_id: int,
                      sources: Sequence[str], failing: set[str] | None) -> list[Notification]:
    """What each notifier is to be sent about run `run_id`: nothing for a run that found nothing new."""
    window = outbox.run_window(run_id)
    if window is None:
        logger.error("notifications of run %d: the run is not recorded as finished", run_id)
        return []
    queued: list[Notification] = []
    if wants(notifiers, NEW_STORY):
        stories = outbox.run_stories(run_id, window)
        sightings = storage.sightings([story.id for story in stories]) if stories else {}
        for notifier in notifiers.values():
            if notifier.wants(NEW_STORY):
                for part, start in enumerate(range(0, len(stories), notifier.max_items)):
                    feed = webhooks.story_feed(stories[start:start + notifier.max_items], sightings, FEED_TITLE)
                    queued.append(Notification(notifier.name, NEW_STORY, run_id, part, webhooks.body_text(feed)))
    if failing is not None and wants(notifiers, SOURCE_FAILING):
        queued += _failing_notifications(storage, notifiers, run_id, sources, failing, window[1])
    return queued


def _failing_notifications(storage: SQLStorage, notifiers: Mapping[str, Notifier], run_id: int,
                           sources: Sequence[str], before: set[str], finished: str) -> list[Notification]:
    from aggregator.store.health import source_health

    turned = [health for health in source_health(Statements(storage.db, storage.dialect), sources)
              if health.source in sources and health.state == FAILING and health.source not in before]
    if not turned:
        return []
    body = webhooks.body_text(webhooks.failing_feed(turned, run_id, FEED_TITLE, finished))
    return [Notification(notifier.name, SOURCE_FAILING, run_id, 0, body)
            for notifier in notifiers.values() if notifier.wants(SOURCE_FAILING)]


def deliver(outbox: Outbox, notifiers: Mapping[str, Notifier], report: NotifyReport, deadline: float) -> None:
    """Send every queued notification, oldest first, until `deadline` (a `time.monotonic()` time)."""
    oldest = iso(datetime.now(UTC) - KEEP)
    skipped: set[str] = set()  # notifiers that failed once, or lack their secret: the rest waits for a next run
    for pending in outbox.pending():
        notifier = notifiers.get(pending.notifier)
        if notifier is None or pending.created < oldest:
            why = "its notifier is no longer in the registry" if notifier is None else "undelivered for %s" % KEEP
            logger.error("Dropped notification %s for %s (%s)", pending.delivery_id, pending.notifier, why)
            outbox.drop(pending)
            report.dropped += 1
            continue
        if pending.notifier in skipped or time.monotonic() >= deadline:
            report.waiting += 1
            continue
        if not outbox.claim(pending, max(1.0, deadline - time.monotonic()) + webhooks.REQUEST_TIMEOUT):
            continue  # another process is sending it
        try:
            secret = notifier.secret()
        except KeyError:
            logger.error("Notifier %s: the environment variable %s (its signing secret) is not set; its"
                         " notifications wait for a run that has it", notifier.name, notifier.secret_env)
            skipped.add(notifier.name)
            outbox.release(pending)
            report.waiting += 1
            continue
        if not _send(outbox, notifier, pending, secret, report, deadline):
            skipped.add(notifier.name)


def _send(outbox: Outbox, notifier: Notifier, pending: Pending, secret: bytes | None, report: NotifyReport,
          deadline: float) -> bool:
    """Deliver one notification; whether it was delivered."""
    body = pending.body.encode("utf-8")
    headers = {webhooks.EVENT_HEADER: pending.event, webhooks.DELIVERY_HEADER: pending.delivery_id}
    if secret is not None:
        headers[webhooks.SIGNATURE_HEADER] = webhooks.sign(body, secret)
    outcome = webhooks.post(notifier.webhook, body, headers, deadline=deadline)
    if outcome.delivered:
        outbox.delivered(pending)
        report.delivered += 1
        logger.info("Notification %s delivered to %s (HTTP %s)", pending.delivery_id, notifier.name, outcome.status)
        return True
    if outcome.tries == 0:
        outbox.release(pending)
        report.waiting += 1
        return False
    outbox.failed(pending, outcome.tries, outcome.error or "unknown")
    report.failed += 1
    logger.error("Notification %s to %s not delivered after %d tries: %s (kept for the next run)",
                 pending.delivery_id, notifier.name, outcome.tries, outcome.error)
    return False

