"""What the `aggregator` commands share: the user-error types with their exit codes, the common options,
the sources registry as a command loads it, and `--set NAME=VALUE` parsing. Defines no command.

Its own module (not `cli.py`) so that the command modules can import it while `python -m aggregator.ops.cli`
runs `cli.py` as `__main__`.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import click

from aggregator.ops.crawl import EXIT_LOCKED, EXIT_USAGE
from aggregator.rules import load_rules
from aggregator.sources import RegistryError, Source, load_registry

logger = logging.getLogger(__name__)

DEFAULT_DB = "aggregator.db"
SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
Opened = TypeVar("Opened")


class ConfigError(click.ClickException):
    """A bad sources file, database URL or source id: exit code 2."""

    exit_code = EXIT_USAGE


class LockedError(click.ClickException):
    """Another crawl holds the database's lock: exit code 5."""

    exit_code = EXIT_LOCKED


def load_sources(path: str | None) -> dict[str, Source]:
    """The registry at `path` (else $AGGREGATOR_SOURCES, else the shipped one); a bad file (a bad source, or
    a bad [rules.*] table) is a ConfigError."""
    try:
        registry = load_registry(path)
        load_rules(path)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    return registry


def check_known(registry: dict[str, Source], source_ids: tuple[str, ...]) -> None:
    """Refuse source ids the registry does not hold, naming the ones it does."""
    unknown = [key for key in source_ids if key not in registry]
    if unknown:
        raise ConfigError("unknown source(s): %s; known sources: %s" % (", ".join(unknown), ", ".join(registry)))


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (psycopg's span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def database_trouble(db: str) -> Iterator[None]:
    """Turn what a database raises when it cannot be opened or read (not a database, refused, unreachable,
    an unsupported URL) into `Error: ...` naming it, exit code 2."""
    from aggregator.store.backends import database_errors, display_url

    try:
        yield
    except ValueError as exc:  # the backends' word for an unsupported URL
        raise ConfigError(one_line(exc)) from None
    except database_errors() as exc:
        raise ConfigError("cannot use the database %s: %s" % (display_url(db), one_line(exc))) from None


def acquire_crawl_lock(db: str, wait: bool) -> Any:
    """The database's crawl lock, held: another holder is `LockedError` (exit 5, or waited for with `wait`), a
    database that cannot be used is `Error:` (exit 2). The caller releases it."""
    from aggregator.store.lock import LockBusy, crawl_lock

    check_database_file(db)
    with database_trouble(db):
        lock = crawl_lock(db, wait=wait)
    try:
        with database_trouble(db):
            lock.acquire()
    except LockBusy as exc:
        raise LockedError(str(exc)) from None
    return lock


def check_database_file(db: str) -> None:
    """Refuse a SQLite path that names something opening it would refuse (a file that is not a SQLite database, a
    folder) with `Error:`, exit 2, before anything is made beside it: the crawl lock's `<file>.lock` would stay
    there, empty, after the command failed. A missing file passes (a crawl makes it), and so does a PostgreSQL
    URL (its lock is no file)."""
    from aggregator.store.backends import display_url, sqlite_path

    with database_trouble(db):
        path = sqlite_path(db)
    if path is None:
        return
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError("cannot use the database %s: not a file" % display_url(db))
        with open(path, "rb") as file:  # a regular file: reading its first bytes never blocks
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError("cannot use the database %s: %s" % (display_url(db), exc.strerror or one_line(exc))) from None
    if header and header != SQLITE_HEADER:  # SQLite takes an empty file for an empty database
        raise ConfigError("cannot use the database %s: file is not a database" % display_url(db))


def open_existing(opener: Callable[[str], Opened], db: str) -> Opened:
    """`opener(db)` on a database that is there: a missing SQLite file (a path or sqlite:///path) is "no
    database", never created empty; an unreadable or unreachable one is an `Error:`. The opener is passed in
    so that storage is imported only when a command runs."""
    with database_trouble(db):
        require_database(db)
        return opener(db)


def require_database(db: str) -> None:
    """Refuse a database URL naming no backend we have, or a SQLite file that is not there (a path or
    sqlite:///path alike): reading commands never create an empty one."""
    from aggregator.store.backends import database_exists

    try:
        there = database_exists(db)
    except ValueError as exc:
        raise ConfigError(one_line(exc)) from None
    if not there:
        raise ConfigError("no database at %s (run `aggregator crawl` first)" % db)


def check_redis(url: str, timeout: float = 5.0) -> None:
    """Refuse a Redis URL that is malformed or whose server does not answer, before anything starts."""
    from redis.exceptions import RedisError

    from aggregator.redis_client import redis_client
    from aggregator.store.backends import display_url

    try:
        client = redis_client(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--redis") from None
    client.connection_pool.connection_kwargs.setdefault("socket_connect_timeout", timeout)
    try:
        client.ping()
    except RedisError as exc:
        raise ConfigError("cannot reach Redis at %s: %s" % (display_url(url), one_line(exc))) from None
    finally:
        client.close()


def write_atomically(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, renamed over it: a failed write
    leaves the old file whole, and a reader never sees half a feed. A missing folder is a usage error."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise click.BadParameter("no folder %s to write %s in" % (folder, target.name), param_hint="--output")
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as exc:
        raise click.FileError(str(target), hint=exc.strerror or one_line(exc)) from None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".%s." % target.name, suffix=".tmp")
    except OSError as exc:
        raise click.FileError(str(target), hint=exc.strerror or one_line(exc)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(text)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as exc:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise click.FileError(str(target), hint=exc.strerror or one_line(exc)) from None
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def settings_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--set NAME=VALUE` pairs as a settings dict; a pair without `=` or a name is a usage error."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter("expected NAME=VALUE, got %r" % pair, param_hint="--set")
        overrides[name.strip()] = value
    return overrides


def checked_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`settings_overrides`, each value checked against the type of the setting it overrides, so that
    `--set DOWNLOAD_DELAY=abc` is refused here instead of failing inside Scrapy."""
    from aggregator.ops.crawl import setting_problem

    overrides = settings_overrides(pairs)
    for name, value in overrides.items():
        problem = setting_problem(name, value)
        if problem:
            raise click.BadParameter("%s=%s: %s" % (name, value, problem), param_hint="--set")
    return overrides


sources_option = click.option("--sources", "sources_file", envvar="AGGREGATOR_SOURCES", default=None,
                              type=click.Path(dir_okay=False), help="Sources registry TOML file.")
db_option = click.option("--db", envvar="AGGREGATOR_DB", default=DEFAULT_DB, show_default=True,
                         help="Database: a SQLite file path (or sqlite:///path) or a postgresql:// URL.")
set_option = click.option("--set", "set_pairs", multiple=True, metavar="NAME=VALUE",
                          help="Override a Scrapy setting.")
log_level_option = click.option("--log-level", default="INFO", show_default=True,
                                type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
