"""The scheduler: crawl each source at its own interval, each crawl in a child process.

Scrapy's reactor cannot restart, and one failing source must never stop the others, so every crawl is
`aggregator crawl SOURCE --wait` in a child process of its own (its own process group, so a Ctrl-C in
the terminal reaches only the scheduler, which then asks the running crawl to stop cleanly with one
SIGTERM and waits for it). Crawls never overlap on one database: the children share the crawl lock.

Given the database and each interval source's polling `Bounds`, the scheduler polls adaptively: after each
crawl it asks `aggregator.ops.polling.next_interval` for the source's next interval from its recorded runs,
and keeps the interval, the reason and the next due time in `source_polling`, where `aggregator health` shows
them and a restarted scheduler resumes them. Cron sources keep their cron times.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, TypeVar

from aggregator.intervals import Every
from aggregator.ops.polling import Bounds, Decision, next_interval
from aggregator.ops.polling import duration as spelled
from aggregator.store.backends import database_errors
from aggregator.store.source_runs import Polling, polling_states, save_polling, source_runs

logger = logging.getLogger(__name__)

T = TypeVar("T")

RUNS_JUDGED = 20  # a source's newest recorded runs its next interval is chosen from


class Scheduler:
    """Run `crawl_command(source)` for each source whenever it is due, until stopped. With `db` (the stories'
    database), the interval sources in `bounds` are polled adaptively."""

    def __init__(self, schedules: dict[str, Every], crawl_command: Callable[[str], list[str]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), tick_seconds: float = 0.5, *,
                 db: str | None = None, bounds: dict[str, Bounds] | None = None) -> None:
        if not schedules:
            raise ValueError("no sources to schedule")
        self.schedules = schedules
        self.crawl_command = crawl_command
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.db = db
        self.bounds = {key: value for key, value in (bounds or {}).items()
                       if db is not None and key in schedules and schedules[key].seconds is not None}
        self.intervals: dict[str, float] = {}  # the adaptive sources' current intervals
        self.judged_run: dict[str, int] = {}  # the newest run each source's interval was chosen from
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.results: list[tuple[str, int]] = []

    def stop(self, signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        """Stop after the running crawl, which is asked (once) to finish its in-flight items and stop."""
        if not self.stopping:
            logger.warning("Stopping (%s): letting the running crawl finish cleanly",
                           signal.Signals(signum).name)
        self.stopping = True
        if self.child is not None and self.child.poll() is None and not getattr(self.child, "asked", False):
            self.child.send_signal(signal.SIGTERM)
            self.child.asked = True  # type: ignore[attr-defined]

    def run_source(self, key: str) -> int:
        command = self.crawl_command(key)
        logger.info("Crawling %s: %s", key, " ".join(command))
        started = time.monotonic()
        self.child = subprocess.Popen(command, start_new_session=True)
        if self.stopping:  # a signal arrived between the check and the start
            self.stop()
        code = self.child.wait()
        self.child = None
        logger.info("Crawl of %s ended with exit code %d after %.1f s", key, code, time.monotonic() - started)
        self.results.append((key, code))
        return code

    def run(self, duration: float | None = None) -> int:
        """Loop until SIGTERM/SIGINT (or `duration` seconds). Returns 0: failed crawls are logged and
        recorded in the run history, never fatal to the scheduler."""
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        deadline = None if duration is None else time.monotonic() + duration
        now = self.clock()
        due = {key: every.first(now) for key, every in self.schedules.items()}
        due.update(self.resume(now))
        for key, when in due.items():
            every = spelled(self.intervals[key]) if key in self.intervals else self.schedules[key].text
            logger.info("Source %s: every %s, first crawl at %s", key, every, when.isoformat())
        try:
            while not self.stopping:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                now = self.clock()
                ready = sorted((when, key) for key, when in due.items() if when <= now)
                for _, key in ready:
                    if self.stopping:
                        break
                    self.run_source(key)
                    due[key] = self.next_due(key, max(self.clock(), due[key]))
                if not ready:
                    time.sleep(self.tick_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("Scheduler stopped after %d crawls", len(self.results))
        return 0


    # Adaptive polling.

    def resume(self, now: datetime) -> dict[str, datetime]:
        """The saved interval of each adaptive source (kept within its bounds, which the registry may have
        changed since) and when it is due: at its saved time, or now when that has passed."""
        if not self.bounds:
            return {}
        saved = self._with_log(lambda log: polling_states(log, list(self.bounds))) or {}
        due: dict[str, datetime] = {}
        for key, polling in saved.items():
            if key not in self.bounds:
                continue
            self.intervals[key] = self.bounds[key].clamp(polling.interval_seconds)
            when = _instant(polling.next_due)
            due[key] = max(when, now) if when is not None else now
            logger.info("Source %s: resuming at every %s (%s)", key, spelled(self.intervals[key]), polling.reason)
        return due

    def next_due(self, key: str, moment: datetime) -> datetime:
        """When `key` is next due after a crawl that ended at `moment`, with its interval chosen and saved."""
        if key not in self.bounds:
            return self.schedules[key].after(moment)
        decision = self._with_log(lambda log: self.decide(log, key))
        if decision is None:  # the database cannot be read: the interval stays
            decision = Decision(self.intervals.get(key, self.bounds[key].start), "run history unreadable: kept")
        self.intervals[key] = decision.seconds
        when = moment + timedelta(seconds=decision.seconds)
        logger.info("Source %s: next crawl in %s (%s)", key, spelled(decision.seconds), decision.reason)
        polling = Polling(key, decision.seconds, decision.reason, when.isoformat(timespec="seconds"),
                          self.clock().isoformat(timespec="seconds"))
        self._with_log(lambda log: save_polling(log, polling))
        return when

    def decide(self, log: Any, key: str) -> Decision:
        runs = source_runs(log, key, RUNS_JUDGED)
        current = self.intervals.get(key)
        if not runs or runs[0].run_id == self.judged_run.get(key):  # the crawl recorded no run (killed)
            seconds = current if current is not None else self.bounds[key].start
            return Decision(seconds, "no new run recorded: kept at %s" % spelled(seconds))
        self.judged_run[key] = runs[0].run_id
        return next_interval(current, runs, self.bounds[key])

    def _with_log(self, work: Callable[[Any], T]) -> T | None:
        """`work(run log)` on the database; None (logged) when it cannot be opened or read: polling state is
        never worth stopping the scheduler for."""
        from aggregator.store.runs import open_run_log

        errors: tuple[type[BaseException], ...] = (*database_errors(), ValueError)
        try:
            log = open_run_log(self.db or "")
            try:
                return work(log)
            finally:
                log.close()
        except errors as exc:
            logger.error("Cannot read or save polling state in the database: %s", exc)
            return None


def _instant(text: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC) if moment else None


def crawl_command(db: str, sources_file: str | None, extra: list[str]) -> Callable[[str], list[str]]:
    """The child command for one source: the same CLI a user runs, waiting for the lock."""

    def command(key: str) -> list[str]:
        args = [sys.executable, "-m", "aggregator.ops.cli", "crawl", key, "--db", db, "--wait"]
        if sources_file:
            args += ["--sources", sources_file]
        return args + extra

    return command
