"""Source health: each source's state (ok, degraded, failing) judged from its recorded runs (`source_runs`).

Owns the state rules and nothing else: it reads `source_runs`, `runs` and `source_polling` through
`aggregator.store.source_runs` and writes nothing. `aggregator health`, `serve`'s `/health` and the reader
page, the scheduler's polling and notifications all take their states from `source_health`.

The rules, like a feed reader's (Miniflux counts a feed's failed refreshes and flags it at 3):
- a source's run **failed** when none of its feeds, sitemaps or listing pages could be read (each failed to
  download or was unusable), or when it asked for article pages and every one failed;
- **failing**: its last `FAILING_AFTER` (3) runs failed in a row (runs that never reached the source, such as
  one stopped before it started, do not count either way);
- **degraded**: one or two failed runs in a row, or the share of fetched article pages that gave an article
  fell: under half of what it was over the previous 7 days, or under 20% with nothing before to compare
  (a site redesign that the extractor no longer reads); judged on the newest runs that fetched at least
  `MIN_PAGES` (3) article pages;
- **ok** otherwise, and for a source with no recorded run yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.store.source_runs import Executes, Polling, SourceRun, polling_states, recorded_sources, source_runs

logger = logging.getLogger(__name__)

__all__ = ["DEGRADED", "FAILING", "FAILING_AFTER", "OK", "SourceHealth", "health_report", "read_source_health",
           "run_failed", "source_health", "storage_health"]

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
FAILING_AFTER = 3  # failed runs in a row that make a source failing
MIN_PAGES = 3  # article pages a share is judged on, at least
SHARE_DROP = 0.5  # degraded under this fraction of the share before
SHARE_FLOOR = 0.2  # degraded under this share when there is nothing before to compare with
WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class SourceHealth:
    """One source's health. `state` is "ok", "degraded" or "failing"; `reason` says why in words."""

    source: str
    state: str
    reason: str
    consecutive_failures: int
    last_run: str | None  # when the newest recorded run that reached the source finished
    last_success: str | None  # when the newest run that read the source finished
    last_error: str | None  # "cause: message" of the newest error recorded for the source
    last_error_cause: str | None
    last_error_at: str | None
    stories_per_day: float  # new stories over the last 7 days, per day
    article_share: float | None  # of the newest fetched article pages, the share that gave an article
    article_pages: int  # how many pages that share is over
    article_share_before: float | None  # the same over the 7 days before those pages
    interval_seconds: float | None = None  # the scheduler's chosen interval (None: not scheduled yet)
    interval_reason: str | None = None
    next_due: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_failed(run: SourceRun) -> bool | None:
    """Whether the source's part of `run` failed; None when the run never reached it."""
    counts = run.counts
    if counts.articles_failed and not counts.articles_fetched:
        return True
    if counts.index_ok:
        return False
    return True if counts.index_failed else None


def _parse(moment: str | None) -> datetime | None:
    if not moment:
        return None
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _share(runs: Sequence[SourceRun]) -> tuple[float | None, int]:
    pages = sum(run.counts.articles_fetched for run in runs)
    extracted = sum(run.counts.articles_extracted for run in runs)
    return (min(1.0, extracted / pages) if pages else None), pages


def _percent(share: float | None) -> str:
    return "-" if share is None else "%d%%" % round(share * 100)


def judge(source: str, runs: Sequence[SourceRun], now: datetime, polling: Polling | None = None) -> SourceHealth:
    """The health of `source` from its runs, newest first."""
    judged = [(run, failed) for run in runs if (failed := run_failed(run)) is not None]
    failures = 0
    for _, failed in judged:
        if not failed:
            break
        failures += 1
    last_success = next((run.finished or run.started for run, failed in judged if not failed), None)
    errored = next((run for run in runs if run.counts.last_error), None)
    last_error = errored.counts.last_error if errored else None
    recent_days = [run for run in runs if (_parse(run.started) or now) >= now - WINDOW]
    stories_per_day = sum(run.counts.stories_new for run in recent_days) / WINDOW.days
    fetched = [run for run in runs if run.counts.articles_fetched]
    newest: list[SourceRun] = []
    while fetched and sum(run.counts.articles_fetched for run in newest) < MIN_PAGES:
        newest.append(fetched.pop(0))
    share, pages = _share(newest)
    if newest:
        since = (_parse(newest[-1].started) or now) - WINDOW
        share_before, pages_before = _share([run for run in fetched if (_parse(run.started) or now) >= since])
    else:
        share_before, pages_before = None, 0
    if failures:
        cause = last_error.split(":", 1)[0] if last_error else "no index page could be read"
        state = FAILING if failures >= FAILING_AFTER else DEGRADED
        reason = "%d failed run%s in a row (%s)" % (failures, "" if failures == 1 else "s", cause)
    elif share is not None and pages >= MIN_PAGES and share_before is not None and pages_before >= MIN_PAGES \
            and share < share_before * SHARE_DROP:
        state, reason = DEGRADED, "only %s of %d fetched pages gave an article (%s of %d before)" % (
            _percent(share), pages, _percent(share_before), pages_before)
    elif share is not None and pages >= MIN_PAGES and pages_before < MIN_PAGES and share < SHARE_FLOOR:
        state, reason = DEGRADED, "only %s of %d fetched pages gave an article" % (_percent(share), pages)
    elif not judged:
        state, reason = OK, "no run recorded yet"
    else:
        state, reason = OK, "last run read the source"
    return SourceHealth(
        source=source, state=state, reason=reason, consecutive_failures=failures,
        last_run=(judged[0][0].finished or judged[0][0].started) if judged else None, last_success=last_success,
        last_error=last_error, last_error_cause=last_error.split(":", 1)[0] if last_error else None,
        last_error_at=(errored.finished or errored.started) if errored else None,
        stories_per_day=round(stories_per_day, 2), article_share=share, article_pages=pages,
        article_share_before=share_before,
        interval_seconds=polling.interval_seconds if polling else None,
        interval_reason=polling.reason if polling else None, next_due=polling.next_due if polling else None)


def source_health(db: Executes, sources: Iterable[str] = (), *, now: datetime | None = None,
                  limit: int = 200) -> list[SourceHealth]:
    """The health of each of `sources` (registry keys, in their order), then of every other source with a
    recorded run; `db` is a `RunLog`, a `Statements` or any object whose `execute(sql, args)` takes `?` marks.
    Judged on each source's newest `limit` runs."""
    moment = now or datetime.now(UTC)
    keys = list(dict.fromkeys([*sources, *recorded_sources(db)]))
    polling = polling_states(db)
    return [judge(key, source_runs(db, key, limit), moment, polling.get(key)) for key in keys]


def health_report(report: Sequence[SourceHealth]) -> dict[str, Any]:
    """The JSON document of `aggregator health --format json` and of serve's `/health`: the worst state as
    `status`, the failing sources' keys, and every source's health."""
    states = {health.state for health in report}
    return {"status": FAILING if FAILING in states else DEGRADED if DEGRADED in states else OK,
            "failing": [health.source for health in report if health.state == FAILING],
            "sources": [health.to_json() for health in report]}


def storage_health(storage: Any, sources: Iterable[str] = (), *, now: datetime | None = None) -> list[SourceHealth]:
    """`source_health` over an open story storage (SQLite or PostgreSQL), on its connection: what `serve`
    reads, on the reader's own thread."""
    from aggregator.store.dialect import Statements
    from aggregator.store.sql import SQLStorage

    if not isinstance(storage, SQLStorage):
        raise TypeError("source health needs SQL storage, got %r" % type(storage).__name__)
    return source_health(Statements(storage.db, storage.dialect), sources, now=now)


def read_source_health(db: str, sources: Iterable[str] = (), *, now: datetime | None = None) -> list[SourceHealth]:
    """`source_health` over the database `db` names (a path, sqlite:///path or postgresql://...), opened to be
    read only."""
    from aggregator.store.runs import open_run_reader

    log = open_run_reader(db)
    try:
        return source_health(log, sources, now=now)
    finally:
        log.close()
