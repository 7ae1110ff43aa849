"""The `aggregator` command line: the command group, its entry point, and which commands it has. The commands
live by concern: crawling in `cli_crawl`, reading what is stored in `cli_read`, the stand-alone tools in
`cli_tools`; what they share in `cli_options`.

User errors are `click` exceptions with exit codes, so users see `Error: ...`, never a traceback.
Exit codes of `crawl` and `demo`: 0 clean; 2 bad usage, bad sources file, unknown source; 3 finished with
errors (counted in the summary); 4 stopped early (signal or limit); 5 another crawl holds the lock.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from aggregator.ops.cli_crawl import crawl, schedule, worker
from aggregator.ops.cli_health import health
from aggregator.ops.cli_prune import prune
from aggregator.ops.cli_read import explain, export, list_sources, runs, serve, stats
from aggregator.ops.cli_rules import rules
from aggregator.ops.cli_search import search
from aggregator.ops.cli_sources import add, opml
from aggregator.ops.cli_tools import dedup, demo, extract

logger = logging.getLogger(__name__)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="news-aggregator")
def main() -> None:
    """A deduplicating news aggregator: crawl sources, collapse duplicate stories, export a JSON Feed."""


main.add_command(crawl)
main.add_command(worker)
main.add_command(schedule)
main.add_command(runs)
main.add_command(stats)
main.add_command(health)
main.add_command(explain)
main.add_command(list_sources)
main.add_command(add)
main.add_command(opml)
main.add_command(export)
main.add_command(search)
main.add_command(serve)
main.add_command(prune)
main.add_command(demo)
main.add_command(dedup)
main.add_command(extract)
main.add_command(rules)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
