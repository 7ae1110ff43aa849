"""What a person types into search, made safe for each backend's full-text syntax, and the snippets that come
back, with their highlights. Plain text in, plain text out: runs no statement (`aggregator.store.search`
does) and renders no markup (the CLI and the reader page choose their own highlight markers).

The user's syntax is small on purpose: words (all must match), "quoted phrases", and `word*` for a prefix.
Everything else a person may type (an unbalanced quote, `-`, `:`, `(`, `NEAR`, `AND`, SQL) is text: each term
is written as a quoted string of the backend's own query language, so no input can raise a syntax error in
FTS5 or `to_tsquery`, nor reach beyond its term.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from aggregator.text import clean_text

logger = logging.getLogger(__name__)

__all__ = ["HIGHLIGHT_END", "HIGHLIGHT_START", "SearchQuery", "SearchQueryError", "Snippet", "Term", "parse_query"]

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
# The backends mark highlights in a snippet with these two controls: `aggregator.text.clean_text` keeps every
# C0 control out of stored text, so they cannot come from a story.
HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"
# A quoted phrase (with an optional `*` after it), or a run of anything else up to a space or a quote.
_CHUNK = re.compile(r'"([^"]*)"(\*?)|([^\s"]+)')
_SPACE = re.compile(r"\s+")


class SearchQueryError(ValueError):
    """A query that cannot be searched for (no words, too long); the message is meant for the person."""


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a word or a phrase (the words in this order), `prefix` when its
    last word may go on (`tram*` finds "trams" and "tramway")."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: every term must match."""

    terms: tuple[Term, ...]

    def fts5(self) -> str:
        """The query in SQLite FTS5 syntax: each term one quoted string (a phrase of whatever tokens the table's
        tokenizer finds in it), implicitly ANDed. Inside an FTS5 string only `"` is special, doubled here."""
        return " ".join('"%s"%s' % (term.text.replace('"', '""'), "*" if term.prefix else "")
                        for term in self.terms)

    def tsquery(self) -> str:
        """The query as `to_tsquery` text: each term one quoted operand (which PostgreSQL's parser splits into
        a phrase, as it splits documents), joined by `&`. Inside quotes only `'` and `\\` are special."""
        return " & ".join("'%s'%s" % (term.text.replace("\\", "\\\\").replace("'", "''"),
                                      ":*" if term.prefix else "") for term in self.terms)


def parse_query(text: str) -> SearchQuery:
    """The terms of `text`; SearchQueryError when it has no word to search for or is too long.

    A quote without its pair is ignored; a term made only of punctuation (`-`, `:`, `(`, `*`) is dropped; a
    term of several words joined by punctuation (`e-mail`, `U.S.`) is a phrase, as it is in the documents."""
    text = clean_text(text)
    if len(text) > MAX_QUERY_CHARS:
        raise SearchQueryError("the query is too long (%d characters; at most %d)" % (len(text), MAX_QUERY_CHARS))
    if text.count('"') % 2:
        cut = text.rfind('"')
        text = text[:cut] + " " + text[cut + 1:]
    terms: list[Term] = []
    for match in _CHUNK.finditer(text):
        phrase, phrase_star, chunk = match.groups()
        if chunk is not None:
            words = chunk.rstrip("*")
            term = Term(words, prefix=words != chunk)
        else:
            term = Term(_SPACE.sub(" ", phrase).strip(), prefix=bool(phrase_star))
        if _has_word(term.text) and term not in terms:
            terms.append(term)
    if not terms:
        raise SearchQueryError("the query has no words to search for: give words, \"a phrase\" or a prefix*")
    if len(terms) > MAX_TERMS:
        raise SearchQueryError("the query has %d terms; at most %d" % (len(terms), MAX_TERMS))
    return SearchQuery(tuple(terms))


@dataclass(frozen=True)
class Snippet:
    """A short passage of a hit, as (text, highlighted) parts: a renderer puts its own markers around the
    highlighted ones (`[...]` on a terminal, `<mark>` in HTML)."""

    parts: tuple[tuple[str, bool], ...] = ()

    @classmethod
    def from_marked(cls, marked: str | None) -> Snippet:
        """A snippet from backend output that marks highlights with HIGHLIGHT_START/HIGHLIGHT_END: white space
        runs become one space, each part is cleaned for display, a stray marker is dropped."""
        parts: list[tuple[str, bool]] = []
        highlighted = False
        for piece in re.split("([%s%s])" % (HIGHLIGHT_START, HIGHLIGHT_END), marked or ""):
            if piece in (HIGHLIGHT_START, HIGHLIGHT_END):
                highlighted = piece == HIGHLIGHT_START
            else:
                parts.append((_SPACE.sub(" ", clean_text(piece)), highlighted))
        return cls.from_parts(parts)

    @classmethod
    def from_parts(cls, parts: list[tuple[str, bool]]) -> Snippet:
        """Neighbouring parts alike merged, empty ones dropped, no space at either end."""
        merged: list[tuple[str, bool]] = []
        for text, highlighted in parts:
            if merged and merged[-1][1] == highlighted:
                merged[-1] = (merged[-1][0] + text, highlighted)
            elif text:
                merged.append((text, highlighted))
        if merged:
            merged[0] = (merged[0][0].lstrip(), merged[0][1])
            merged[-1] = (merged[-1][0].rstrip(), merged[-1][1])
        return cls(tuple(part for part in merged if part[0]))

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)

    @property
    def highlights(self) -> list[tuple[int, int]]:
        """The highlighted spans as [start, end) offsets into `text`, in characters (code points)."""
        spans: list[tuple[int, int]] = []
        offset = 0
        for text, highlighted in self.parts:
            if highlighted:
                spans.append((offset, offset + len(text)))
            offset += len(text)
        return spans

    @property
    def highlighted(self) -> bool:
        return any(highlighted for _, highlighted in self.parts)

    def marked(self, start: str, end: str, escape: Callable[[str], str] = str) -> str:
        """The text with `start` and `end` around each highlight, every part passed through `escape` first."""
        return "".join(start + escape(text) + end if highlighted else escape(text) for text, highlighted in self.parts)

    def around(self, text: str) -> Snippet:
        """This snippet with "…" before and after it where it does not reach the start or end of `text`, the
        passage it was cut from (PostgreSQL's headline marks no cut; FTS5's snippet does so itself)."""
        mine = self.text
        if not mine:
            return self
        reach = 3 * len(mine) + 100  # enough of each end of `text` to hold the snippet, whatever its spaces
        head, tail = _SPACE.sub(" ", text[:reach]), _SPACE.sub(" ", text[-reach:])
        parts = list(self.parts)
        at = head.find(mine)
        if at < 0 or _has_word(head[:at]):  # words before it (punctuation alone is no cut)
            parts.insert(0, ("…", False))
        at = tail.rfind(mine)
        if at < 0 or _has_word(tail[at + len(mine):]):
            parts.append(("…", False))
        return Snippet.from_parts(parts)


def _has_word(text: str) -> bool:
    return any(char.isalnum() for char in text)
