"""The `prune` command: delete the stories last seen before a cutoff (`aggregator.store.prune`), with their dedup
index entries, under the database's crawl lock, then print what went and the space SQLite gave back.

Owns the bridge between the store's `IndexRows` seam and the dedup index (the store never imports dedup), and
nothing of what is deleted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from aggregator.ops.cli_options import (
    acquire_crawl_lock,
    check_redis,
    database_trouble,
    db_option,
    load_sources,
    log_level_option,
    open_existing,
    sources_option,
)

if TYPE_CHECKING:
    from aggregator.dedup.index import StoryIndex
    from aggregator.store.sql import SQLStorage

logger = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*$")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "": timedelta(days=1)}


def parse_age(value: str) -> timedelta:
    """`90d`, `12w`, `36h`, or a number of days, as a timedelta; anything else is a usage error."""
    match = _AGE.match(value)
    try:
        age = float(match.group(1)) * _AGE_UNITS[match.group(2)] if match else timedelta(0)
    except OverflowError:  # more days than a timedelta holds
        age = timedelta.max
    if age <= timedelta(0):
        raise click.BadParameter("expected an age like 90d, 12w or 36h, got %r" % value, param_hint="--older-than")
    return age


def cutoff(value: str, now: datetime) -> datetime:
    """The instant `--older-than VALUE` names: `now` less the age; an age reaching before year 1 is a usage
    error (there is no such date to compare with)."""
    age = parse_age(value)
    try:
        return now - age
    except OverflowError:
        raise click.BadParameter("%r reaches back before the year 1" % value, param_hint="--older-than") from None


class IndexEntries:
    """The dedup index entries of stories, through the index's own removal (it knows which bands to clear)."""

    def __init__(self, index: StoryIndex) -> None:
        self.index = index

    def count(self, story_ids: Sequence[str]) -> int:
        return sum(len(self.index.store.fingerprints(story_id)) for story_id in story_ids)

    def forget(self, story_ids: Sequence[str]) -> int:
        forgotten = 0
        for story_id in story_ids:
            stored = len(self.index.store.fingerprints(story_id))
            if stored:
                self.index.remove(story_id)
                forgotten += stored
        self.index.flush()
        return forgotten


def open_index_entries(storage: SQLStorage, db: str, redis_url: str | None) -> IndexEntries | None:
    """The index a crawl of `db` uses (`pipelines.resources.index_location`), when it keeps entries of its own:
    the `dedup_*` tables beside the stories (on the storage's connection, so they go in the batch's transaction),
    or Redis. None for the in-memory index of a PostgreSQL crawl, which is filled from the sightings."""
    from aggregator.dedup.index import StoryIndex
    from aggregator.dedup.sqlite_bands import SQLiteBandStore
    from aggregator.ops.crawl import crawl_settings
    from aggregator.store.sqlite import SQLiteStorage
    from pipelines.resources import index_location, index_options

    settings = crawl_settings()
    location = index_location(db, redis_url, settings.get("AGGREGATOR_DEDUP_INDEX") or None)
    store: Any = location
    if location == "memory://":
        return None
    if isinstance(storage, SQLiteStorage) and location == "sqlite:///" + storage.path:
        if storage.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'dedup_meta'").fetchone() is None:
            return None  # never crawled: no index yet (and a dry run must not make one)
        store = SQLiteBandStore(storage.db, cache_mb=None)
    return IndexEntries(StoryIndex(store=store, **index_options(settings)))


@click.command()
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Remove the stories last seen longer ago than AGE: 90d, 12w, 36h (a number alone: days).")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@db_option
@sources_option
@click.option("--wait", is_flag=True, help="If a crawl runs on this database, wait for it (default: exit 5).")
@click.option("--redis", "redis_url", envvar="AGGREGATOR_REDIS", default=None, metavar="URL",
              help="The shared dedup index of distributed crawls, whose entries go too.")
@log_level_option
def prune(older_than: str, dry_run: bool, db: str, sources_file: str | None, wait: bool, redis_url: str | None,
          log_level: str) -> None:
    """Remove the stories last seen before --older-than, with their sightings, versions, search rows, the merges
    that led to them and their dedup index entries; SQLite's freed space goes back to the disk."""
    from aggregator.store.backends import database_errors, display_url, open_reader, open_storage
    from aggregator.store.prune import file_bytes, reclaim_space
    from aggregator.store.prune import prune as prune_stories
    from aggregator.store.sql import SQLStorage

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    before = cutoff(older_than, datetime.now(UTC))
    load_sources(sources_file)  # --sources / AGGREGATOR_SOURCES as for `crawl`: a bad registry is refused, exit 2
    if redis_url:
        check_redis(redis_url)
    # a dry run only reads: opened as the reading commands open it, so a read-only database can be counted
    storage = open_existing(open_reader if dry_run else open_storage, db)
    if not isinstance(storage, SQLStorage):
        storage.close()
        raise click.ClickException("cannot prune %s: not a SQL database" % db)
    lock = index = None
    try:
        if not dry_run:  # a crawl would save sightings of stories being deleted, and hold index entries of them
            lock = acquire_crawl_lock(db, wait)
        with database_trouble(db):
            size = None if dry_run else file_bytes(storage)
            index = open_index_entries(storage, db, redis_url)
            pruned = prune_stories(storage, before, dry_run=dry_run, index=index)
        space = None
        if pruned.stories and not dry_run:
            try:
                if reclaim_space(storage) and size is not None:
                    after = file_bytes(storage) or 0
                    space = "%d bytes reclaimed (VACUUM: %d bytes before, %d after)" % (size - after, size, after)
                else:
                    space = "kept for reuse by PostgreSQL (autovacuum; VACUUM FULL returns it to the disk)"
            except database_errors() as exc:  # VACUUM needs room for a copy: what was removed stays removed
                space = "not reclaimed: %s" % exc
    finally:
        if index is not None:
            index.index.close()
        storage.close()
        if lock is not None:
            lock.release()
    click.echo("%s the stories last seen before %s in %s:" % ("Would remove" if dry_run else "Removed",
                                                                before.isoformat(timespec="seconds"),
                                                                display_url(db)))
    click.echo("  stories:              %d" % pruned.stories)
    click.echo("  sightings:            %d" % pruned.sightings)
    click.echo("  versions:             %d" % pruned.versions)
    click.echo("  search rows:          %d" % pruned.search_rows)
    click.echo("  merges into them:     %d" % pruned.merges)
    click.echo("  dedup index entries:  %d%s" % (pruned.index_entries, "" if index is not None else
                                                 " (the index is rebuilt from the sightings at each crawl)"))
    if space is not None:
        click.echo("  space:                %s" % space)
