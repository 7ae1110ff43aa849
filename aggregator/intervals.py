"""When a source is due: an interval ("30m", "2h", "1d") or a cron expression, parsed and checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

__all__ = ["Every", "ScheduleError"]

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleError(ValueError):
    """An `every` value that is neither an interval nor a cron expression."""


@dataclass(frozen=True)
class Every:
    """When a source is due: every N seconds (first run at once), or at the times of a cron expression."""

    text: str
    seconds: float | None = None
    cron: str | None = None

    @classmethod
    def parse(cls, text: str) -> Every:
        match = _INTERVAL.match(text)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if seconds <= 0:
                raise ScheduleError("interval must be positive: %r" % text)
            return cls(text=text, seconds=seconds)
        try:
            CronSim(text, datetime.now(UTC))
        except (CronSimError, ValueError) as exc:
            raise ScheduleError("not an interval ('30m', '2h', '1d') or a cron expression: %r (%s)"
                                % (text, exc)) from None
        return cls(text=text, cron=text)

    def first(self, now: datetime) -> datetime:
        return now if self.seconds is not None else self.after(now)

    def after(self, moment: datetime) -> datetime:
        if self.seconds is not None:
            return moment + timedelta(seconds=self.seconds)
        return next(CronSim(self.cron or "", moment))
