"""`aggregator health`: each source's state (ok, degraded, failing), what it rests on, and the scheduler's
chosen interval; exit code 1 when a source is failing.

Reads the run history only (`aggregator.store.health`); never crawls nor writes.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

import click

from aggregator.ops.cli_options import database_trouble, db_option, load_sources, open_existing, sources_option
from aggregator.ops.polling import duration
from aggregator.store.health import FAILING, SourceHealth, health_report
from aggregator.text import clean_text

logger = logging.getLogger(__name__)

EXIT_FAILING = 1


def _shown(value: object) -> str:
    """A value as it may reach a terminal: no control character or escape sequence, on one line."""
    return " ".join(clean_text(str(value)).split()) if value is not None and value != "" else "-"


def _share(health: SourceHealth) -> str:
    if health.article_share is None:
        return "-"
    text = "%d%% of %d" % (round(health.article_share * 100), health.article_pages)
    if health.article_share_before is not None:
        text += " (%d%% before)" % round(health.article_share_before * 100)
    return text


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def health_lines(report: Sequence[SourceHealth]) -> list[str]:
    """The table `aggregator health` prints, then each source's last error and polling interval."""
    rows = [("SOURCE", "STATE", "FAILED RUNS", "LAST SUCCESS", "STORIES/DAY", "ARTICLE PAGES", "INTERVAL", "WHY")]
    for health in report:
        rows.append((health.source, health.state, str(health.consecutive_failures), _shown(health.last_success),
                     "%.1f" % health.stories_per_day, _share(health),
                     duration(health.interval_seconds) if health.interval_seconds else "-", _shown(health.reason)))
    lines = _table([[_shown(cell) for cell in row] for row in rows])
    errors = [health for health in report if health.last_error]
    if errors:
        lines += ["", "Last errors:"] + ["  %s (%s): %s" % (health.source, _shown(health.last_error_at),
                                                            _shown(health.last_error)) for health in errors]
    polled = [health for health in report if health.interval_reason]
    if polled:
        lines += ["", "Polling:"] + ["  %s: next crawl at %s; %s" % (health.source, _shown(health.next_due),
                                                                     _shown(health.interval_reason))
                                    for health in polled]
    return lines


@click.command()
@db_option
@sources_option
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or one JSON document (what `serve` answers at /health).")
def health(db: str, sources_file: str | None, output_format: str) -> None:
    """Each source's state (ok, degraded, failing), last success and error, new stories per day, the share of
    article pages that gave an article, and its polling interval; exits 1 when a source is failing."""
    from aggregator.store.health import source_health
    from aggregator.store.runs import open_run_reader

    registry = load_sources(sources_file)
    log = open_existing(open_run_reader, db)
    try:
        with database_trouble(db):
            report = [item for item in source_health(log, registry) if item.source in registry]
    finally:
        log.close()
    if output_format == "json":
        click.echo(json.dumps(health_report(report), indent=2, ensure_ascii=False))
    else:
        for line in health_lines(report):
            click.echo(line)
    if any(item.state == FAILING for item in report):
        sys.exit(EXIT_FAILING)
