"""Adaptive polling: a source's next interval from what its last runs found, within its bounds, and why.

A pure policy (no clock, no database): `aggregator.ops.schedule.Scheduler` hands it the source's recorded runs
(`aggregator.store.source_runs`) and keeps what it decides. The rules:
- the source's first run that reads it keeps its `every` (everything is new on a first run);
- a failed run (`aggregator.store.health.run_failed`) backs off: `every` doubled per failed run in a row, up
  to `max_interval`; the first run that reads the source again goes back to `every`;
- otherwise, by the share of the entries its feeds, sitemaps and listings gave that were new: at least half
  new (entries may have been missed between runs) halves the interval, at most a fifth new (most were
  already stored) makes it 1.5 times longer, anything between keeps it; nothing listed, or every index page
  unchanged (304), makes it longer too;
- always within [`min_interval`, `max_interval`]; without them, a quarter of `every` and eight times `every`
  (at most a day, and never under `every`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.store.health import run_failed
from aggregator.store.source_runs import SourceRun

logger = logging.getLogger(__name__)

__all__ = ["Bounds", "Decision", "duration", "next_interval"]

SHRINK = 0.5  # the interval's factor when most entries were new
GROW = 1.5  # ... when most were already stored, or nothing changed
BACKOFF = 2.0  # `every` times this, per failed run in a row
MOSTLY_NEW = 0.5  # a new share at least this shrinks the interval
MOSTLY_KNOWN = 0.2  # a new share at most this grows it
DEFAULT_MIN_FACTOR = 0.25  # min_interval, when not given: this times `every`
DEFAULT_MAX_FACTOR = 8.0  # max_interval, when not given: this times `every` ...
DEFAULT_MAX_CAP = 86400.0  # ... but at most a day (and never less than `every`)


def duration(seconds: float) -> str:
    """Seconds as the registry writes intervals: "45s", "30m", "1h30m", "2d"."""
    left = round(seconds)
    if left < 60:
        return "%ds" % left
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append("%d%s" % (left // size, unit))
            left %= size
    return "".join(parts[:2])


@dataclass(frozen=True)
class Bounds:
    """A source's polling: its starting interval (`every`) and the interval's lowest and highest values."""

    start: float
    low: float
    high: float
    low_given: bool = True  # low is the source's min_interval (else the default made from its every)
    high_given: bool = True  # high is the source's max_interval

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError("polling bounds need 0 < low <= high, got low=%r, high=%r" % (self.low, self.high))

    @classmethod
    def of(cls, every: float, min_interval: float | None = None, max_interval: float | None = None) -> Bounds:
        """The bounds of a source crawled every `every` seconds, with the registry's optional bounds."""
        if every <= 0:
            raise ValueError("every must be positive seconds, got %r" % (every,))
        low = min_interval if min_interval is not None else every * DEFAULT_MIN_FACTOR
        high = max_interval if max_interval is not None else max(every, min(every * DEFAULT_MAX_FACTOR,
                                                                              DEFAULT_MAX_CAP))
        if min_interval is None:
            low = min(low, high)
        if max_interval is None:
            high = max(high, low)
        return cls(start=min(max(every, low), high), low=low, high=high,
                   low_given=min_interval is not None and low == min_interval,
                   high_given=max_interval is not None and high == max_interval)

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.low), self.high)


@dataclass(frozen=True)
class Decision:
    """The next interval, in seconds, and why, in words."""

    seconds: float
    reason: str


def _bounded(bounds: Bounds, seconds: float, why: str) -> Decision:
    chosen = bounds.clamp(seconds)
    # a source without max_interval (min_interval) has a default bound: never name a field it does not have
    high = "its max_interval" if bounds.high_given else "the longest without a max_interval"
    low = "its min_interval" if bounds.low_given else "the shortest without a min_interval"
    limit = " (%s)" % high if chosen == bounds.high != seconds else \
        " (%s)" % low if chosen == bounds.low != seconds else ""
    return Decision(chosen, "%s: %s%s" % (why, duration(chosen), limit))


def next_interval(current: float | None, runs: Sequence[SourceRun], bounds: Bounds) -> Decision:
    """The interval after the newest of `runs` (the source's recorded runs, newest first); `current` is the
    interval it was crawled at (None: its `every`)."""
    now = bounds.clamp(current if current is not None else bounds.start)
    judged = [(run, failed) for run in runs if (failed := run_failed(run)) is not None]
    if not runs or run_failed(runs[0]) is None:
        return Decision(now, "the last run did not reach the source: kept at %s" % duration(now))
    failures = 0
    for _, failed in judged:
        if not failed:
            break
        failures += 1
    last = runs[0].counts
    if failures:
        cause = (last.last_error or "no index page could be read").split(":", 1)[0]
        return _bounded(bounds, bounds.start * BACKOFF ** failures, "%d failed run%s in a row (%s), backing off"
                        % (failures, "" if failures == 1 else "s", cause))
    if len(judged) == 1:
        return _bounded(bounds, bounds.start, "first run: starting at its every")
    if judged[1][1]:
        return _bounded(bounds, bounds.start, "read again after failed runs: back to its every")
    seen = last.entries_new + last.entries_known + last.entries_changed
    if not seen:
        why = "every index page unchanged (304)" if last.index_not_modified >= last.index_ok else "nothing listed"
        return _bounded(bounds, now * GROW, why + ", longer")
    share = last.entries_new / seen
    counted = "%d of %d listed entries new (%d%%)" % (last.entries_new, seen, round(share * 100))
    if share >= MOSTLY_NEW:
        return _bounded(bounds, now * SHRINK, counted + ", shorter")
    if share <= MOSTLY_KNOWN:
        return _bounded(bounds, now * GROW, counted + ", longer")
    return Decision(now, "%s: kept at %s" % (counted, duration(now)))
