"""The notifications outbox: webhook requests waiting to be delivered, kept in the stories' database
(`notifications`, made by `aggregator.store.migrations`) so that one not delivered by its run is tried again by
the next; and the stories a run saw first, which `new_story` notifications carry.

Owns every statement on `notifications`; reads `runs`, `stories` and `sightings`, writes nothing else. Sends
nothing (`aggregator.ops.notify` does, through `aggregator.publish.webhooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.store.dialect import Statements
from aggregator.store.model import Story, story_from_row
from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Notification:
    """One request to send: `body` is the exact text POSTed (its signature is made when it is sent)."""

    notifier: str
    event: str
    run_id: int
    part: int  # a run's stories beyond a notifier's max_items go in further parts, numbered from 0
    body: str


@dataclass(frozen=True)
class Pending:
    """A notification in the outbox, not delivered yet."""

    id: int
    notifier: str
    event: str
    run_id: int
    part: int
    body: str
    created: str
    attempts: int

    @property
    def delivery_id(self) -> str:
        """The same for every try of this request, so a receiver can drop a repeat (a reply lost on the way)."""
        return "run-%d-%s-%d" % (self.run_id, self.event, self.part)


def iso(moment: datetime) -> str:
    """`moment` as the store writes times (`model.utc_now`): UTC, to the second, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Outbox:
    """The `notifications` table and the reads a notification needs, on a storage's connection (autocommit:
    each statement below is its own transaction)."""

    def __init__(self, storage: SQLStorage) -> None:
        self.db = Statements(storage.db, storage.dialect)

    def run_window(self, run_id: int) -> tuple[str, str] | None:
        """(started, finished) of a finished run; None when there is no such run or it has not finished.

        The stories of a run recorded before runs kept their sightings (`run_sightings`) are found by these
        times, in whole seconds: a run that starts in the second the one before it finished would count that
        run's last stories as its own, so its window opens after that second (a story this run stored within it
        is not announced)."""
        row = self.db.execute("SELECT started, finished FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or row["finished"] is None:
            return None
        started = row["started"]
        before = self.db.execute("SELECT max(finished) AS finished FROM runs WHERE id < ? AND finished >= ?",
                                 (run_id, started)).fetchone()
        if before is not None and before["finished"] is not None:
            started = before["finished"] + "~"  # sorts after every time in that second ("+00:00", ".123")
        return started, row["finished"]

    def run_sightings(self, run_id: int) -> tuple[int, int] | None:
        """(after, through): run `run_id` made the sightings whose id is above `after` and up to `through`, the
        highest ids when it started and when it finished (kept by the database: see the runs migration). None
        for a run recorded without them (before that migration, or not finished): use `run_window`."""
        row = self.db.execute("SELECT last_sighting_at_start AS after, last_sighting_at_end AS through FROM runs"
                              " WHERE id = ? AND finished IS NOT NULL", (run_id,)).fetchone()
        if row is None or row["after"] is None or row["through"] is None:
            return None
        return int(row["after"]), int(row["through"])

    def stories_first_sighted(self, after: int, through: int) -> list[Story]:
        """The stories whose first sighting has an id above `after` and up to `through` (a run's
        `run_sightings`), in the order they were first stored; hidden ones (filter rules) left out, as the feeds
        leave them out. Exact where times are not: ids are never shared, whatever second two runs meet in."""
        rows = self.db.execute(
            "SELECT s.* FROM stories s JOIN (SELECT story_id, min(id) AS first FROM sightings WHERE id > ? AND"
            " id <= ? GROUP BY story_id) made ON made.story_id = s.id WHERE s.hidden = 0 AND NOT EXISTS"
            " (SELECT 1 FROM sightings earlier WHERE earlier.story_id = s.id AND earlier.id <= ?)"
            " ORDER BY made.first", (after, through, after)).fetchall()
        return [story_from_row(row) for row in rows]

    def stories_first_seen(self, started: str, finished: str) -> list[Story]:
        """The stories first stored between `started` and `finished` (a run's `run_window`), oldest first; hidden
        ones (filter rules) left out, as the feeds leave them out."""
        rows = self.db.execute("SELECT * FROM stories WHERE first_seen >= ? AND first_seen <= ? AND hidden = 0"
                               " ORDER BY first_seen, id", (started, finished)).fetchall()
        return [story_from_row(row) for row in rows]

    def run_stories(self, run_id: int, window: tuple[str, str]) -> list[Story]:
        """The stories run `run_id` (whose `run_window` is `window`) saw first: by its sightings where it kept
        them, else by its times."""
        sightings = self.run_sightings(run_id)
        if sightings is None:
            return self.stories_first_seen(*window)
        return self.stories_first_sighted(*sightings)

    def add(self, notifications: Sequence[Notification]) -> int:
        """Queue `notifications`; one already queued (the same notifier, event, run and part) is left as it is.
        Returns how many were added."""
        added = 0
        for notification in notifications:
            added += self.db.execute(
                "INSERT INTO notifications (notifier, event, run_id, part, body, created) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (notifier, event, run_id, part) DO NOTHING",
                (notification.notifier, notification.event, notification.run_id, notification.part,
                 notification.body, iso(datetime.now(UTC)))).rowcount
        return added

    def pending(self) -> list[Pending]:
        """Every notification not delivered yet, oldest first."""
        rows = self.db.execute("SELECT id, notifier, event, run_id, part, body, created, attempts"
                               " FROM notifications ORDER BY id").fetchall()
        return [Pending(row["id"], row["notifier"], row["event"], row["run_id"], row["part"], row["body"],
                        row["created"], row["attempts"]) for row in rows]

    def claim(self, pending: Pending, seconds: float) -> bool:
        """Take `pending` for `seconds`, unless another process holds it (two crawls ending together must not
        both send it). The claim lapses on its own if this process dies."""
        now = datetime.now(UTC)
        return self.db.execute(
            "UPDATE notifications SET claimed_until = ? WHERE id = ? AND (claimed_until IS NULL OR claimed_until < ?)",
            (iso(now + timedelta(seconds=seconds)), pending.id, iso(now))).rowcount == 1

    def delivered(self, pending: Pending) -> None:
        self.db.execute("DELETE FROM notifications WHERE id = ?", (pending.id,))

    def failed(self, pending: Pending, attempts: int, error: str) -> None:
        """Record a delivery that failed after `attempts` tries, and free it for the next run."""
        self.db.execute("UPDATE notifications SET attempts = attempts + ?, last_error = ?, claimed_until = NULL"
                        " WHERE id = ?", (attempts, error[:MAX_ERROR_CHARS], pending.id))

    def release(self, pending: Pending) -> None:
        """Free a claimed notification that was not tried (out of time, or its secret is missing)."""
        self.db.execute("UPDATE notifications SET claimed_until = NULL WHERE id = ?", (pending.id,))

    def drop(self, pending: Pending) -> None:
        """Give up on a notification (too old, or its notifier is gone from the registry)."""
        self.db.execute("DELETE FROM notifications WHERE id = ?", (pending.id,))
