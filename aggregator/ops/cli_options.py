"""What the `aggregator` commands share: the user-error types with their exit codes, the common options,
the sources registry as a command loads it, and `--set NAME=VALUE` parsing. Defines no command.

Its own module (not `cli.py`) so that the command modules can import it while `python -m aggregator.ops.cli`
runs `cli.py` as `__main__`.
"""

from __future__ import annotations

import logging

import click

from aggregator.ops.crawl import EXIT_LOCKED, EXIT_USAGE
from aggregator.sources import RegistryError, Source, load_registry

logger = logging.getLogger(__name__)

DEFAULT_DB = "aggregator.db"
DEFAULT_HOME = "http://127.0.0.1:8080/"


class ConfigError(click.ClickException):
    """A bad sources file, database URL or source id: exit code 2."""

    exit_code = EXIT_USAGE


class LockedError(click.ClickException):
    """Another crawl holds the database's lock: exit code 5."""

    exit_code = EXIT_LOCKED


def load_sources(path: str | None) -> dict[str, Source]:
    """The registry at `path` (else $AGGREGATOR_SOURCES, else the shipped one); a bad file is a ConfigError."""
    try:
        return load_registry(path)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None


def check_known(registry: dict[str, Source], source_ids: tuple[str, ...]) -> None:
    """Refuse source ids the registry does not hold, naming the ones it does."""
    unknown = [key for key in source_ids if key not in registry]
    if unknown:
        raise ConfigError("unknown source(s): %s; known sources: %s" % (", ".join(unknown), ", ".join(registry)))


def settings_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--set NAME=VALUE` pairs as a settings dict; a pair without `=` or a name is a usage error."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter("expected NAME=VALUE, got %r" % pair, param_hint="--set")
        overrides[name.strip()] = value
    return overrides


sources_option = click.option("--sources", "sources_file", envvar="AGGREGATOR_SOURCES", default=None,
                              type=click.Path(dir_okay=False), help="Sources registry TOML file.")
db_option = click.option("--db", envvar="AGGREGATOR_DB", default=DEFAULT_DB, show_default=True,
                         help="SQLite database path (or sqlite:///path).")
set_option = click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE",
                          help="Override a Scrapy setting.")
log_level_option = click.option("--log-level", default="INFO", show_default=True,
                                type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
