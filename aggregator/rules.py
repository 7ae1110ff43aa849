"""Filter rules: the registry's `[rules.<name>]` tables, validated on load into frozen `Rule`s, and the one
function that decides what they make of a story (hidden or not, which tags).

Owns the rule format, its checks and the decision; knows nothing of storage or crawling (the store writes
what `RuleSet.decide` returns). A bad rule raises `RegistryError` naming the file, the rule and the field.

A rule holds when all of its conditions hold: `title` / `text` (regular expressions, searched anywhere,
case-insensitive unless the pattern turns it off with `(?-i:...)`; a list means any of them), `source` (one
of these keys among the places the story was seen) and `language` (`en` also matches `en-GB`). Patterns are
the `regex` module's (the syntax of Python's `re`), so that each search can be given a time limit.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import regex

from aggregator.sources import RegistryError, parse_document, read_registry_text

logger = logging.getLogger(__name__)

Pattern = Any  # a compiled `regex` pattern (the module has no type stubs): `re`'s, with a search timeout

__all__ = ["Decision", "Rule", "RuleSet", "load_rules", "parse_rules"]

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")
_FIELDS = ("action", "tag", "title", "text", "source", "language")
CONDITIONS = ("title", "text", "source", "language")
ACTIONS = ("hide", "tag")
# Titles and texts are written by strangers and searched by backtracking regexes: only this much of each is
# searched, and a search is given up after SEARCH_SECONDS, so that a pattern slower than linear (`a.*b.*c`,
# `(a|a)*b`) on a hostile page costs a bounded time per story.
TITLE_CHARS = 1_000
TEXT_CHARS = 50_000
SEARCH_SECONDS = 0.1
TAG_CHARS = 100


@dataclass(frozen=True)
class Rule:
    """One `[rules.<name>]` table: an action and the conditions that must all hold for it."""

    name: str
    action: Literal["hide", "tag"]
    tag: str | None = None  # the tag a "tag" rule adds
    title: tuple[Pattern, ...] = ()  # any of them found in the title
    text: tuple[Pattern, ...] = ()  # any of them found in the text
    sources: frozenset[str] = frozenset()  # a sighting on one of these sources
    languages: tuple[str, ...] = ()  # the story's language is one of these (or a variant: en -> en-GB)

    def matches(self, title: str, text: str, sources: Collection[str], language: str | None) -> bool:
        """Whether every condition holds for a story (its title and text already cut to size)."""
        if self.sources and self.sources.isdisjoint(sources):
            return False
        if self.languages and not _language_matches(self.languages, language):
            return False
        if self.title and not any(self._found(pattern, "title", title) for pattern in self.title):
            return False
        return not self.text or any(self._found(pattern, "text", text) for pattern in self.text)

    def _found(self, pattern: Pattern, field: str, value: str) -> bool:
        """Whether `pattern` occurs in `value`; a search that takes longer than SEARCH_SECONDS (a slow pattern
        meeting a hostile page) counts as not found, so a rule never stalls a crawl."""
        try:
            return pattern.search(value, timeout=SEARCH_SECONDS) is not None
        except TimeoutError:
            logger.warning("Rule %r: its %s pattern %r took over %.2f s on %r...: taken as no match",
                           self.name, field, pattern.pattern, SEARCH_SECONDS, value[:60])
            return False

    def describe(self) -> str:
        """The conditions as one line, for `aggregator rules check`."""
        parts = ["%s ~ %s" % (field, " | ".join(p.pattern for p in patterns))
                 for field, patterns in (("title", self.title), ("text", self.text)) if patterns]
        if self.sources:
            parts.append("source in %s" % ", ".join(sorted(self.sources)))
        if self.languages:
            parts.append("language in %s" % ", ".join(self.languages))
        return " and ".join(parts)


@dataclass(frozen=True)
class Decision:
    """What the rules make of one story."""

    hidden: bool = False
    tags: tuple[str, ...] = ()  # added by "tag" rules, in rule order, without duplicates
    rules: tuple[str, ...] = ()  # the names of the rules that hold, in file order


@dataclass(frozen=True)
class RuleSet:
    """The registry's rules, in file order."""

    rules: tuple[Rule, ...] = ()

    @property
    def text_chars(self) -> int:
        """How much of a story's text the rules look at: a reader of stories need not read more."""
        return TEXT_CHARS if any(rule.text for rule in self.rules) else 0

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def decide(self, *, title: str | None, text: str | None, sources: Iterable[str],
               language: str | None) -> Decision:
        """The one decision: hidden when any "hide" rule holds; the tags of every "tag" rule that holds."""
        title_seen = (title or "")[:TITLE_CHARS]
        text_seen = (text or "")[:TEXT_CHARS]
        seen_on = frozenset(sources)
        held = [rule for rule in self.rules if rule.matches(title_seen, text_seen, seen_on, language)]
        tags: dict[str, str] = {}
        for rule in held:
            if rule.tag is not None:
                tags.setdefault(rule.tag.casefold(), rule.tag)
        return Decision(hidden=any(rule.action == "hide" for rule in held), tags=tuple(tags.values()),
                        rules=tuple(rule.name for rule in held))


def _language_matches(wanted: tuple[str, ...], language: str | None) -> bool:
    if not language:
        return False
    found = language.strip().lower().replace("_", "-")
    return any(found == code or found.startswith(code + "-") for code in wanted)


def _fail(path: str, name: str, field: str | None, why: str) -> RegistryError:
    where = "%s: rule %r" % (path, name)
    if field is not None:
        where += ", field %r" % field
    return RegistryError("%s: %s" % (where, why))


def _strings(path: str, name: str, field: str, value: Any, what: str) -> list[str]:
    """A string or a non-empty list of non-empty strings."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise _fail(path, name, field, "expected %s or a non-empty list of them, got %r" % (what, value))
    return values


def _patterns(path: str, name: str, field: str, value: Any) -> tuple[Pattern, ...]:
    compiled = []
    for pattern in _strings(path, name, field, value, "a regular expression"):
        try:
            compiled.append(regex.compile(pattern, regex.IGNORECASE))
        except regex.error as exc:
            raise _fail(path, name, field, "bad regular expression %r: %s" % (pattern, exc)) from None
    return tuple(compiled)


def _rule(path: str, name: str, table: Any, source_keys: Collection[str]) -> Rule:
    if not _NAME_RE.match(name):
        raise _fail(path, name, None, "a rule name is lowercase letters, digits, '-' or '_'")
    if not isinstance(table, dict):
        raise _fail(path, name, None, "expected a table, got %r" % (table,))
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise _fail(path, name, unknown[0], "unknown field (known: %s)" % ", ".join(_FIELDS))
    action = table.get("action")
    if action not in ACTIONS:
        raise _fail(path, name, "action", "expected \"hide\" or \"tag\", got %r" % (action,))
    tag = table.get("tag")
    if action == "tag":
        if not isinstance(tag, str) or not tag.strip():
            raise _fail(path, name, "tag", "a \"tag\" rule needs the tag it adds: a non-empty string, got %r"
                        % (tag,))
        if len(tag.strip()) > TAG_CHARS or any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in tag):
            raise _fail(path, name, "tag", "expected one line of at most %d characters, got %r" % (TAG_CHARS, tag))
        tag = tag.strip()
    elif tag is not None:
        raise _fail(path, name, "tag", "only a \"tag\" rule takes a tag (this rule's action is %r)" % action)
    if not any(field in table for field in CONDITIONS):
        raise _fail(path, name, "title", "a rule needs at least one condition: %s"
                    % ", ".join(repr(field) for field in CONDITIONS))
    sources = frozenset(_strings(path, name, "source", table["source"], "a source key")) \
        if "source" in table else frozenset()
    unknown_sources = sorted(sources - set(source_keys))
    if unknown_sources:
        raise _fail(path, name, "source", "no source %s in the registry (known: %s)"
                    % (", ".join(repr(key) for key in unknown_sources), ", ".join(sorted(source_keys)) or "none"))
    languages: tuple[str, ...] = ()
    if "language" in table:
        found = [code.strip().lower().replace("_", "-")
                 for code in _strings(path, name, "language", table["language"], "a language code")]
        bad = [code for code in found if not _LANGUAGE_RE.match(code)]
        if bad:
            raise _fail(path, name, "language", "expected language codes like 'en' or 'pt-BR', got %r" % bad[0])
        languages = tuple(dict.fromkeys(found))
    return Rule(
        name=name,
        action=action,
        tag=tag,
        title=_patterns(path, name, "title", table["title"]) if "title" in table else (),
        text=_patterns(path, name, "text", table["text"]) if "text" in table else (),
        sources=sources,
        languages=languages,
    )


def parse_rules(data: dict[str, Any], path: str = "<sources>", source_keys: Collection[str] | None = None) -> RuleSet:
    """The `[rules.*]` tables of registry data (from `parse_document`), checked; `source_keys` are the keys a
    `source` condition may name (default: the data's own `[sources.*]`)."""
    if source_keys is None:
        tables = data.get("sources")
        source_keys = list(tables) if isinstance(tables, dict) else []
    rules = data.get("rules") or {}
    return RuleSet(tuple(_rule(path, name, table, source_keys) for name, table in rules.items()))


def load_rules(path: str | os.PathLike[str] | None = None) -> RuleSet:
    """The rules of the registry at `path`, else $AGGREGATOR_SOURCES, else the one shipped in the package."""
    text, name = read_registry_text(path)
    return parse_rules(parse_document(text, name), name)
