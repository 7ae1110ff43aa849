"""The scheduler: crawl each source at its own interval, each crawl in a child process.

Scrapy's reactor cannot restart, and one failing source must never stop the others, so every crawl is
`aggregator crawl SOURCE --wait` in a child process of its own (its own process group, so a Ctrl-C in
the terminal reaches only the scheduler, which then asks the running crawl to stop cleanly with one
SIGTERM and waits for it). Crawls never overlap on one database: the children share the crawl lock.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from aggregator.intervals import Every

logger = logging.getLogger(__name__)

class Scheduler:
    """Run `crawl_command(source)` for each source whenever it is due, until stopped."""

    def __init__(self, schedules: dict[str, Every], crawl_command: Callable[[str], list[str]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), tick_seconds: float = 0.5) -> None:
        if not schedules:
            raise ValueError("no sources to schedule")
        self.schedules = schedules
        self.crawl_command = crawl_command
        self.clock = clock
        self.tick_seconds = tick_seconds
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
        for key, when in due.items():
            logger.info("Source %s: every %s, first crawl at %s", key, self.schedules[key].text, when.isoformat())
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
                    due[key] = self.schedules[key].after(max(self.clock(), due[key]))
                if not ready:
                    time.sleep(self.tick_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("Scheduler stopped after %d crawls", len(self.results))
        return 0


def crawl_command(db: str, sources_file: str | None, extra: list[str]) -> Callable[[str], list[str]]:
    """The child command for one source: the same CLI a user runs, waiting for the lock."""

    def command(key: str) -> list[str]:
        args = [sys.executable, "-m", "aggregator.ops.cli", "crawl", key, "--db", db, "--wait"]
        if sources_file:
            args += ["--sources", sources_file]
        return args + extra

    return command
