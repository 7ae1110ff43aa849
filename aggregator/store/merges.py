"""Story merges: two stored stories found to be one (a text that is a copy of both, or a partial copy settled at a
crawl's end) become the story with the smaller id, and the merge is recorded.

Owns the `story_merges` rows and the moving of sightings and versions; the primary item is chosen again by
`aggregator.store.identity`. Runs inside the unit of work the caller gives (`SQLStorage.save` or `merge`), so the
dedup index can follow in the same transaction. Knows nothing of how duplicates are decided.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aggregator.store.dialect import Statements
from aggregator.store.identity import Candidate, choose_primary
from aggregator.store.model import Merge, clean, utc_now
from aggregator.store.rule_outcomes import StoryRules, redecide
from aggregator.store.search import delete_search_rows, index_story

__all__ = ["StoryMerges", "delete_merges", "merge_stories", "merges_ending_in"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
# What a story's primary item brings with it when another story's item replaces it (filter rules decided on it).
PRIMARY_COLUMNS = ("url", "source", "title", "text", "summary", "authors", "tags", "language", "image",
                   "date_published", "date_modified", "date_source", "text_hash", "canonical_claim", "hidden",
                   "rule_tags")
MAX_CHAIN = 100  # merges followed from one id; a chain is never this long, a cycle would be
IN_LIST = 500  # ids per IN (...) list


def merge_stories(tx: Statements, into: str, merged: Sequence[str], *, rule: str | None, similarity: float | None,
                  url: str | None, now: str | None = None) -> list[str]:
    """Fold the stories `merged` into `into`: their sightings and versions move to it, the primary item is chosen
    again (as if the story first seen had been seen first, whichever came first), their rows go, and each merge
    is recorded. Ids that are `into` or not stored are skipped; returns those merged."""
    now = now or utc_now()
    done = []
    for old in sorted(set(merged) - {into}):
        rows = {row["id"]: row for row in (tx.execute(
            "SELECT id, url, date_published, date_source, length(text) AS text_length, canonical_claim,"
            " first_seen, primary_reason FROM stories WHERE id = ?" + tx.dialect.row_lock, (story_id,)).fetchone()
            for story_id in sorted((into, old))) if row is not None}  # locked in id order: no deadlock
        if old not in rows:
            continue
        if into not in rows:
            logger.warning("story %s not merged into %s: no such story", old, into)
            continue
        tx.execute("UPDATE sightings SET story_id = ? WHERE story_id = ?", (into, old))
        tx.execute("UPDATE story_versions SET story_id = ? WHERE story_id = ?", (into, old))
        _choose_primary(tx, into, rows[into], rows[old], now)
        delete_search_rows(tx, [old])
        tx.execute("DELETE FROM stories WHERE id = ?", (old,))
        tx.execute("UPDATE sightings SET rule = ?, similarity = ? WHERE story_id = ? AND rule = 'first' AND id <>"
                   " (SELECT min(id) FROM sightings WHERE story_id = ? AND rule = 'first' AND first_seen ="
                   " (SELECT min(first_seen) FROM sightings WHERE story_id = ? AND rule = 'first'))",
                   (rule, similarity, into, into, into))
        tx.execute("INSERT INTO story_merges (merged_id, into_id, merged_at, rule, similarity, url)"
                   " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (merged_id) DO UPDATE SET into_id = excluded.into_id,"
                   " merged_at = excluded.merged_at, rule = excluded.rule, similarity = excluded.similarity,"
                   " url = excluded.url", (old, into, now, rule, similarity, url))
        logger.info("story %s merged into %s (%s)", old, into, rule)
        done.append(old)
    if done:  # its search row takes the primary item and the titles of the sightings it gained
        index_story(tx, into)
    return done


def merges_ending_in(db: Statements, story_ids: Sequence[str]) -> set[str]:
    """The merges (by `merged_id`) that would name a story no longer stored once `story_ids` are deleted: those
    into one of them, straight or through stories merged away since (a chain c -> b -> a ends in a), and those
    that took one of them away (an id stored again after its merge). A chain stops at a story still stored: what
    was merged into that one stays."""
    ids = list(dict.fromkeys(story_ids))
    found = {row["merged_id"] for chunk in _chunks(ids) for row in db.execute(
        "SELECT merged_id FROM story_merges WHERE merged_id IN (%s)" % _marks(chunk), chunk).fetchall()}
    frontier, visited = ids, set(ids)
    for _ in range(MAX_CHAIN):
        if not frontier:
            break
        rows = [row for chunk in _chunks(frontier) for row in db.execute(
            "SELECT m.merged_id, EXISTS (SELECT 1 FROM stories s WHERE s.id = m.merged_id) AS stored"
            " FROM story_merges m WHERE m.into_id IN (%s)" % _marks(chunk), chunk).fetchall()]
        found.update(row["merged_id"] for row in rows)
        frontier = [row["merged_id"] for row in rows if not row["stored"] and row["merged_id"] not in visited]
        visited.update(frontier)
    return found


def delete_merges(tx: Statements, merged_ids: Sequence[str]) -> int:
    """Delete the merges of `merged_ids` (`merges_ending_in`), in the caller's transaction; how many went."""
    ids = sorted(merged_ids)
    return sum(tx.execute("DELETE FROM story_merges WHERE merged_id IN (%s)" % _marks(chunk), chunk).rowcount
               for chunk in _chunks(ids))


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[start:start + IN_LIST]) for start in range(0, len(ids), IN_LIST)]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))


def _choose_primary(tx: Statements, into: str, survivor: Any, other: Any, now: str) -> None:
    """The primary item of the merged story: the two stories' primary items decided as if the one first seen
    had been there first (ties: the smaller id), by `choose_primary`."""
    first, second = sorted((survivor, other), key=lambda row: (row["first_seen"], row["id"]))
    replace, reason = choose_primary(_candidate(first), _candidate(second))
    winner = second if replace else first
    if winner["id"] != into:
        columns = ", ".join(PRIMARY_COLUMNS)
        tx.execute("UPDATE stories SET (%s) = (SELECT %s FROM stories WHERE id = ?) WHERE id = ?" % (columns, columns),
                   (winner["id"], into))
    primary_reason = reason if replace or reason != "first_seen" else winner["primary_reason"]
    tx.execute("UPDATE stories SET primary_reason = ?, first_seen = ?, updated = ? WHERE id = ?",
               (primary_reason, first["first_seen"], now, into))


def _candidate(row: Any) -> Candidate:
    return Candidate(row["url"], row["date_published"], row["date_source"], row["text_length"],
                     row["canonical_claim"])


def _merge_from_row(row: Any) -> Merge:
    return Merge(merged_id=clean(row["merged_id"]), into_id=clean(row["into_id"]), merged_at=clean(row["merged_at"]),
                 rule=clean(row["rule"]), similarity=row["similarity"], url=clean(row["url"]))


class StoryMerges(ABC):
    """Merging stories and reading the merges back, for `aggregator.store.sql.SQLStorage`."""

    @abstractmethod
    def _unit(self, work: Callable[[Statements], T]) -> T: ...

    @abstractmethod
    def _statements(self) -> Statements: ...

    def merge(self, story_id: str, merged: Sequence[str], *, rule: str | None, similarity: float | None,
              then: Callable[[], None] | None = None, rules: StoryRules | None = None) -> list[str]:
        """Fold the stories `merged` into `story_id` in one unit of work (a merge no item's save carries: the
        partial copies a crawl settles at its end); `then` runs last inside it. With `rules`, the story is
        decided again (hidden, rule tags) over all the sightings it now has, as a save decides it. Returns the
        ids merged."""
        def work(tx: Statements) -> list[str]:
            done = merge_stories(tx, story_id, merged, rule=rule, similarity=similarity, url=None)
            if done and rules is not None:
                redecide(tx, story_id, rules, utc_now())
            if then is not None:
                then()
            return done

        return self._unit(work)

    def merged_into(self, story_id: str) -> list[Merge]:
        """The merges that took `story_id` away, oldest first: where it went, then where that went, and so on
        (empty for a story never merged away)."""
        chain: list[Merge] = []
        current = story_id
        while len(chain) < MAX_CHAIN:
            row = self._statements().execute("SELECT * FROM story_merges WHERE merged_id = ?", (current,)).fetchone()
            if row is None or any(merge.merged_id == row["into_id"] for merge in chain):
                break
            chain.append(_merge_from_row(row))
            current = chain[-1].into_id
        return chain

    def merged_from(self, story_ids: Sequence[str]) -> dict[str, list[Merge]]:
        """The stories merged straight into each of `story_ids`, oldest first."""
        found: dict[str, list[Merge]] = {story_id: [] for story_id in story_ids}
        ids = list(found)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._statements().execute(
                "SELECT * FROM story_merges WHERE into_id IN (%s) ORDER BY merged_at, merged_id"
                % ", ".join("?" * len(chunk)), chunk).fetchall()
            for row in rows:
                found[row["into_id"]].append(_merge_from_row(row))
        return found
