"""The `aggregator rules` commands: `check` (validate the registry's [rules.*] and list them) and `apply`
(decide every stored story again with them, printing what changed). The rules themselves are
`aggregator.rules`; a crawl applies them to the stories it saves (`pipelines.store`). Writes nothing but the
stories' rule outcome.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

import click

from aggregator.ops.cli_options import (
    ConfigError,
    acquire_crawl_lock,
    database_trouble,
    db_option,
    load_sources,
    open_existing,
    require_database,
    sources_option,
)
from aggregator.ops.cli_read import shown

if TYPE_CHECKING:
    from aggregator.rules import RuleSet
    from aggregator.store.rule_outcomes import RuleChange

logger = logging.getLogger(__name__)


def _load_rules(sources_file: str | None) -> tuple[RuleSet, str]:
    """The rules of the registry in use and the name of its file; a bad registry is an `Error:`, exit 2."""
    from aggregator.rules import load_rules
    from aggregator.sources import RegistryError, read_registry_text

    load_sources(sources_file)  # the sources first: a rule names them, and a bad file is refused as a crawl does
    try:
        return load_rules(sources_file), read_registry_text(sources_file)[1]
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


@click.group("rules")
def rules() -> None:
    """Filter rules ([rules.<name>] in the sources registry): hide stories or tag them."""


@rules.command("check")
@sources_option
def check(sources_file: str | None) -> None:
    """Validate the registry's rules and list them."""
    rule_set, name = _load_rules(sources_file)
    if not rule_set:
        click.echo("No rules in %s." % shown(name))
        return
    click.echo("%d %s in %s:" % (len(rule_set), "rule" if len(rule_set) == 1 else "rules", shown(name)))
    rows = [(rule.name, rule.action + (" %r" % rule.tag if rule.tag else ""), rule.describe()) for rule in rule_set]
    widths = [max(len(shown(row[i])) for row in rows) for i in range(2)]
    for row in rows:
        click.echo("  %s  %s  if %s" % (shown(row[0]).ljust(widths[0]), shown(row[1]).ljust(widths[1]),
                                        shown(row[2])))


@rules.command("apply")
@db_option
@sources_option
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--wait", is_flag=True, help="If a crawl runs on this database, wait for it (default: exit 5).")
def apply(db: str, sources_file: str | None, dry_run: bool, wait: bool) -> None:
    """Decide every stored story again with the registry's rules; print each change and a count."""
    from aggregator.store.backends import open_reader, open_storage

    rule_set, _ = _load_rules(sources_file)
    require_database(db)  # before the lock, which would leave a lock file beside a database that is not there
    lock = None
    if not dry_run:  # a crawl saves stories with the rules it started with: one writer of outcomes at a time
        lock = acquire_crawl_lock(db, wait)
    try:
        storage = open_existing(open_reader if dry_run else open_storage, db)
        counts = Counter[str]()
        try:
            with database_trouble(db):
                checked = storage.counts()["stories"]
                for change in storage.reapply_rules(rule_set, dry_run=dry_run):  # printed as each batch is written
                    counts.update(_report(change))
        finally:
            storage.close()
    finally:
        if lock is not None:
            lock.release()
    click.echo("%s %d of %d stories: %d hidden, %d shown again, %d with other rule tags%s" % (
        "Would change" if dry_run else "Changed", counts["changed"], checked, counts["hidden"], counts["shown"],
        counts["retagged"], " (dry run: nothing written)" if dry_run else ""))


def _report(change: RuleChange) -> list[str]:
    """Print one change: the story id, what changed, the title; return the kinds of change it counts as."""
    kinds = ["changed"]
    what = []
    if change.hidden != change.was_hidden:
        kinds.append("hidden" if change.hidden else "shown")
        what.append(kinds[-1])
    if change.tags_added or change.tags_removed:
        kinds.append("retagged")
    what += ["+tag %s" % tag for tag in change.tags_added] + ["-tag %s" % tag for tag in change.tags_removed]
    click.echo("%s  %s  %s" % (shown(change.story_id), shown(", ".join(what)), shown(change.title or "(untitled)")))
    return kinds
