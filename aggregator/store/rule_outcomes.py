"""Where filter rules' decisions are written (`stories.hidden`, `stories.rule_tags`): one story's inside its
save, and every stored story's when the rules are applied again.

Owns those two columns' writes and nothing else; what the rules decide is the caller's `StoryRules` (the
registry's rules, `aggregator.rules.RuleSet`), never imported here. A story's decision reads its primary
item's title, text and language and every source it was seen on, so a story later seen on another source is
decided again with that source too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from aggregator.store.dialect import Statements
from aggregator.text import clean_text

logger = logging.getLogger(__name__)

APPLY_BATCH = 200  # stories read, decided and written at a time by `reapply`
SOURCES_BATCH = 500  # story ids per query of their sources (under both backends' parameter limits)


class RuleDecision(Protocol):
    @property
    def hidden(self) -> bool: ...
    @property
    def tags(self) -> tuple[str, ...]: ...


class StoryRules(Protocol):
    """What the store needs of the rules: how much text they look at, and their decision for one story."""

    @property
    def text_chars(self) -> int: ...
    def decide(self, *, title: str | None, text: str | None, sources: Iterable[str],
               language: str | None) -> RuleDecision: ...


@dataclass(frozen=True)
class RuleChange:
    """A stored story whose rule outcome changed: hidden or shown, rule tags added or removed."""

    story_id: str
    title: str | None
    was_hidden: bool
    hidden: bool
    tags_before: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def tags_added(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.tags if tag not in self.tags_before)

    @property
    def tags_removed(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.tags_before if tag not in self.tags)


# A storage's unit of work: runs the writes it is given all or nothing, and returns what they return.
Unit = Callable[[Callable[[Statements], list[RuleChange]]], list[RuleChange]]


def _tags(stored: str | None) -> tuple[str, ...]:
    values = json.loads(stored) if stored else []
    return tuple(value for value in values if isinstance(value, str))


def _story_columns(rules: StoryRules) -> str:
    # Only as much text as the rules look at leaves the database (a story's text may be megabytes).
    return "id, title, substr(text, 1, %d) AS text, language, hidden, rule_tags" % max(0, int(rules.text_chars))


def _change(story: Any, sources: Iterable[str], rules: StoryRules) -> RuleChange | None:
    """What deciding `story` (a row of `_story_columns`) again changes, or None."""
    decision = rules.decide(title=story["title"], text=story["text"], sources=sources, language=story["language"])
    before, was_hidden = _tags(story["rule_tags"]), bool(story["hidden"])
    if was_hidden == decision.hidden and before == tuple(decision.tags):
        return None
    title = clean_text(story["title"]) if story["title"] is not None else None  # it goes to a terminal
    return RuleChange(story_id=story["id"], title=title, was_hidden=was_hidden, hidden=decision.hidden,
                      tags_before=before, tags=tuple(decision.tags))


def _write(tx: Statements, change: RuleChange, now: str) -> bool:
    """Write `change` unless the story's outcome moved since it was read; whether it was written. `updated`
    moves too: what the feeds show of the story changed."""
    return tx.execute(
        "UPDATE stories SET hidden = ?, rule_tags = ?, updated = ? WHERE id = ? AND hidden = ? AND rule_tags = ?",
        (int(change.hidden), json.dumps(list(change.tags)), now, change.story_id, int(change.was_hidden),
         json.dumps(list(change.tags_before)))).rowcount == 1


def redecide(tx: Statements, story_id: str, rules: StoryRules, now: str) -> RuleChange | None:
    """Decide story `story_id` again inside the save that just wrote it, and write its outcome if it changed."""
    # The row lock (PostgreSQL) orders concurrent saves of one story: the last to decide sees every sighting
    # the others committed, so the source a save adds is never lost to a decision made without it.
    story = tx.execute("SELECT %s FROM stories WHERE id = ?%s" % (_story_columns(rules), tx.dialect.row_lock),
                       (story_id,)).fetchone()
    if story is None:
        return None
    sources = {row["source"] for row in tx.execute("SELECT DISTINCT source FROM sightings WHERE story_id = ?",
                                                   (story_id,))}
    change = _change(story, sources, rules)
    if change is not None:
        _write(tx, change, now)
    return change


def _write_all(changes: list[RuleChange], now: str, tx: Statements) -> list[RuleChange]:
    return [change for change in changes if _write(tx, change, now)]


def reapply(read: Callable[[], Statements], unit: Unit, rules: StoryRules, now: Callable[[], str], *,
            dry_run: bool = False, batch: int = APPLY_BATCH) -> Iterator[RuleChange]:
    """Decide every stored story again, `batch` stories at a time (by id), and yield each change; unless
    `dry_run`, each batch's changes are written in one unit of work (`unit`, the storage's) before they are
    yielded. A story whose outcome a crawl changed meanwhile keeps the crawl's and is not reported."""
    last = ""
    while True:
        db = read()
        stories = db.execute("SELECT %s FROM stories WHERE id > ? ORDER BY id LIMIT ?" % _story_columns(rules),
                             (last, batch)).fetchall()
        if not stories:
            return
        last = stories[-1]["id"]
        sources: dict[str, set[str]] = {story["id"]: set() for story in stories}
        ids = list(sources)
        for start in range(0, len(ids), SOURCES_BATCH):
            chunk = ids[start:start + SOURCES_BATCH]
            for row in db.execute("SELECT DISTINCT story_id, source FROM sightings WHERE story_id IN (%s)"
                                  % ", ".join("?" * len(chunk)), chunk):
                sources[row["story_id"]].add(row["source"])
        changes = [change for change in (_change(story, sources[story["id"]], rules) for story in stories)
                   if change is not None]
        if changes and not dry_run:
            changes = unit(partial(_write_all, changes, now()))
        yield from changes
        if len(stories) < batch:
            return
