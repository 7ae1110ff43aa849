"""Webhook notifiers: the registry's `[notify.<name>]` tables, loaded into frozen dataclasses and validated on load.

Owns the notifier format and its checks only; sends nothing (`aggregator.publish.webhooks` does) and reads no
database (`aggregator.ops.notify` decides what to send). A bad table raises `RegistryError` naming the file, the
notifier and the field, as `aggregator.sources` does for sources.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aggregator.sources import RegistryError, parse_document, read_registry_text

__all__ = ["EVENTS", "NEW_STORY", "SOURCE_FAILING", "Notifier", "load_notifiers", "parse_notifiers"]

logger = logging.getLogger(__name__)

NEW_STORY = "new_story"  # stories first seen in a run: a JSON Feed of them
SOURCE_FAILING = "source_failing"  # a source crawled in a run has turned failing: a JSON Feed item per source
EVENTS = (NEW_STORY, SOURCE_FAILING)
DEFAULT_MAX_ITEMS = 100
_FIELDS = {"webhook", "on", "secret_env", "max_items"}
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Notifier:
    """One webhook: where to POST, for which events, and the environment variable holding its signing secret."""

    name: str
    webhook: str
    on: tuple[str, ...] = (NEW_STORY,)
    secret_env: str | None = None  # None: requests go unsigned
    max_items: int = DEFAULT_MAX_ITEMS  # stories per request; more are sent as further requests

    def wants(self, event: str) -> bool:
        return event in self.on

    def secret(self) -> bytes | None:
        """The signing secret from the environment, read when sending (never stored). Raises KeyError when
        `secret_env` names a variable that is not set (or empty): sending unsigned would defeat the receiver's check."""
        if self.secret_env is None:
            return None
        value = os.environ.get(self.secret_env)
        if not value:
            raise KeyError(self.secret_env)
        return value.encode("utf-8")


def _fail(path: str, name: str, field: str | None, why: str) -> RegistryError:
    where = "%s: notifier %r" % (path, name)
    if field is not None:
        where += ", field %r" % field
    return RegistryError("%s: %s" % (where, why))


def _webhook(path: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, name, "webhook", "required: an http(s) URL, got %r" % (value,))
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port out of 0-65535: found here, not at the first delivery
    except ValueError as exc:
        raise _fail(path, name, "webhook", "not a usable URL: %r (%s)" % (value, exc)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(path, name, "webhook", "not an http(s) URL: %r" % (value,))
    if port == 0:
        raise _fail(path, name, "webhook", "port 0 in %r" % (value,))
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        raise _fail(path, name, "webhook", "white space or a control character in %r" % (value,))
    if parts.username is not None or parts.password is not None:
        # They would sit in the registry in clear and never be sent: the signature authenticates the sender.
        raise _fail(path, name, "webhook", "credentials in the URL are not supported (requests are signed with"
                    " the secret named by secret_env), got %r"
                    % parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl())
    return value


def _events(path: str, name: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _fail(path, name, "on", "expected a list of events (%s), got %r" % (", ".join(EVENTS), value))
    unknown = [event for event in values if event not in EVENTS]
    if unknown:
        raise _fail(path, name, "on", "unknown event %r (known: %s)" % (unknown[0], ", ".join(EVENTS)))
    return tuple(dict.fromkeys(values))


def _notifier(path: str, name: str, table: Any) -> Notifier:
    if not _KEY_RE.match(name):
        raise _fail(path, name, None, "a notifier name is lowercase letters, digits, '-' or '_'")
    if not isinstance(table, dict):
        raise _fail(path, name, None, "expected a table, got %r" % (table,))
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise _fail(path, name, unknown[0], "unknown field (known: %s)" % ", ".join(sorted(_FIELDS)))
    if "webhook" not in table:
        raise _fail(path, name, "webhook", "required: an http(s) URL")
    secret_env = table.get("secret_env")
    if secret_env is not None and (not isinstance(secret_env, str) or not _ENV_RE.match(secret_env)):
        raise _fail(path, name, "secret_env", "expected the name of an environment variable (letters, digits, '_';"
                    " not the secret itself), got %r" % (secret_env,))
    max_items = table.get("max_items", DEFAULT_MAX_ITEMS)
    if not isinstance(max_items, int) or isinstance(max_items, bool) or not 1 <= max_items <= 1000:
        raise _fail(path, name, "max_items", "expected an integer from 1 to 1000, got %r" % (max_items,))
    return Notifier(name=name, webhook=_webhook(path, name, table["webhook"]),
                    on=_events(path, name, table.get("on", [NEW_STORY])), secret_env=secret_env, max_items=max_items)


def parse_notifiers(text: str, path: str = "<sources>") -> dict[str, Notifier]:
    """The `[notify.<name>]` tables of registry text, validated; by name, in file order (none: empty)."""
    tables = parse_document(text, path).get("notify", {})
    return {name: _notifier(path, name, table) for name, table in tables.items()}


def load_notifiers(path: str | os.PathLike[str] | None = None) -> dict[str, Notifier]:
    """The notifiers of the registry at `path` (else $AGGREGATOR_SOURCES, else the one shipped)."""
    text, name = read_registry_text(path)
    return parse_notifiers(text, name)
