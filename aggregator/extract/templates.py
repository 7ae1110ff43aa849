"""Page templates learned per source: which lines of extracted bodies recur across a source's pages (newsletter
boxes, share rows, reprint notices, donation appeals, "related" headings), and `clean` to take them out of new
bodies. A one-page extractor cannot tell these from the article; the aggregator sees many pages of each source.

Owns the `TemplateModel` (hashes of normalised lines and counts of the distinct pages carrying each, never the
text itself; bounded in size; serialised to bytes), the rules that decide what is template, and the one rule
that strips a body (`strip`), whether by the model itself or by a snapshot of its template lines taken to an
extraction worker (`template_keys`). Pure: no Scrapy, no storage (`aggregator.store.templates` keeps the bytes,
`pipelines.templates` learns and cleans in a crawl).

A line is template when all of these hold (defaults in `TemplateRules`):
- the source has been learned from on at least `min_seen` (5) distinct pages: before that nothing is removed;
- the line was seen on at least `min_pages` (3) distinct pages, so a paragraph that one other article quotes
  (two pages) stays;
- it was seen on at least `min_share` (10 %) of the pages learned since it first appeared, so background
  paragraphs that a long series repeats now and then stay;
- it was seen within the last `stale_after` (500) pages learned: furniture a redesign dropped is forgotten.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from aggregator.dedup.fingerprint import line_key, normalize_text

__all__ = ["Stripped", "TemplateModel", "TemplatePage", "TemplateRules", "clean", "line_hash", "line_keys", "strip",
           "strip_lines", "strip_template", "template_lines"]

logger = logging.getLogger(__name__)

_DIGITS_RE = re.compile(r"\d+")
_MAGIC = b"NATM"
_VERSION = 1
_HEADER = struct.Struct("<4sBIII")  # magic, version, pages learned, entries, recent page keys


def line_hash(normalized: str) -> int | None:
    """The key of a line already through `normalize_text` (or `dedup.fingerprint.line_key`): a 64-bit hash with
    digit runs folded to one digit ("© 2024", "Comments (12)" recur whatever the number); None for a line
    with no word in it (rules, bullets: nothing to learn)."""
    if not normalized:
        return None
    folded = _DIGITS_RE.sub("0", normalized)
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest(), "little")


def _page_hash(page: str) -> int:
    return int.from_bytes(hashlib.blake2b(page.encode("utf-8"), digest_size=8).digest(), "little")


def line_keys(text: str) -> list[int | None]:
    """The key of each of `text`'s lines (None for blank ones), for `learn` and `strip_template` to share."""
    return [line_hash(normalize_text(line)) if line.strip() else None for line in text.splitlines()]


@dataclass(frozen=True)
class TemplateRules:
    """When a learned line counts as template, and how big a model may grow (see the module docstring)."""

    min_pages: int = 3  # K: distinct pages a line must be seen on (2 would take a quoted paragraph)
    min_seen: int = 5  # pages of the source learned before anything is removed
    min_share: float = 0.1  # of the pages learned since the line first appeared
    stale_after: int = 500  # pages learned since the line was last seen, after which it is forgotten
    max_entries: int = 2048  # lines remembered per source (about 20 bytes each); the least useful go first
    max_recent_pages: int = 256  # page keys remembered, so a page learned again (a recrawl) counts once

    def __post_init__(self) -> None:
        for name in ("min_pages", "min_seen", "stale_after", "max_entries", "max_recent_pages"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError("%s must be an integer >= 1, got %r" % (name, value))
        if self.min_pages < 2:
            raise ValueError("min_pages must be >= 2 (one page is every article's own text), got %r"
                             % self.min_pages)
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError("min_share must be in [0, 1], got %r" % (self.min_share,))


class TemplateModel:
    """What one source's pages have in common, as line hashes: `learn(text, page)` from each extracted body,
    `is_template(key)` after. `entries[key] = [pages carrying it, page number first seen, last seen]`, page
    numbers counting the pages learned (`pages`)."""

    def __init__(self, rules: TemplateRules | None = None) -> None:
        self.rules = rules or TemplateRules()
        self.pages = 0
        self.entries: dict[int, list[int]] = {}
        self.recent: dict[int, None] = {}  # page keys, oldest first
        self.changed = False  # learned since made, loaded or last marked saved
        # What was loaded or last saved (pages, and each line's count): `merge_stored` adds to another
        # process's save only what this model learned since.
        self._base_pages = 0
        self._base_counts: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def acting(self) -> bool:
        """Whether enough pages were learned for anything to be removed."""
        return self.pages >= self.rules.min_seen

    def learn(self, text: str, page: str | None = None, keys: list[int | None] | None = None) -> bool:
        """Count the lines of one page's body (`keys`: its `line_keys`, when already known); `page` (its URL)
        makes a page learned twice count once (while among the last `max_recent_pages`). Returns whether the
        page was counted."""
        if page is not None:
            page_key = _page_hash(page)
            if page_key in self.recent:
                return False
            self.recent[page_key] = None
            if len(self.recent) > self.rules.max_recent_pages:
                del self.recent[next(iter(self.recent))]
        self.pages += 1
        self.changed = True
        now = self.pages
        for key in {key for key in (line_keys(text) if keys is None else keys) if key is not None}:
            entry = self.entries.get(key)
            if entry is None:
                self.entries[key] = [1, now, now]
            else:
                entry[0] += 1
                entry[2] = now
        if len(self.entries) > self.rules.max_entries:
            self._evict()
        return True

    def is_template(self, key: int | None) -> bool:
        if key is None or not self.acting:
            return False
        entry = self.entries.get(key)
        return entry is not None and self._template(entry)

    def _template(self, entry: list[int]) -> bool:
        count, first, last = entry
        rules = self.rules
        return (count >= rules.min_pages and self.pages - last <= rules.stale_after
                and count >= rules.min_share * (self.pages - first + 1))

    def template(self) -> Container[int | None]:
        """The lines this model holds for template, as a key set that follows the model as it learns."""
        return _LiveTemplate(self)

    def template_keys(self) -> frozenset[int]:
        """The lines this model holds for template now, as a set of keys that stays as it is (empty while the
        model is not `acting`): what an extraction worker strips a page with before the model sees the page."""
        if not self.acting:
            return frozenset()
        return frozenset(key for key, entry in self.entries.items() if self._template(entry))

    def template_count(self) -> int:
        """How many learned lines are template now."""
        return len(self.template_keys())

    def _evict(self) -> None:
        """Down to three quarters of `max_entries` (so eviction runs once every few dozen pages): stale lines
        first, then lines that are not template, the fewest pages and least recently seen first, then the
        least recently seen templates."""
        target = self.rules.max_entries * 3 // 4
        horizon = self.pages - self.rules.stale_after
        for key in [key for key, entry in self.entries.items() if entry[2] < horizon]:
            del self.entries[key]
        if len(self.entries) <= target:
            return
        order = sorted(self.entries.items(), key=lambda item: (self._template(item[1]), item[1][0], item[1][2]))
        for key, _ in order[:len(self.entries) - target]:
            del self.entries[key]

    def to_bytes(self) -> bytes:
        """A compact binary form (20 bytes a line, 8 a remembered page), read back by `from_bytes`."""
        keys = list(self.entries)
        values = [value for key in keys for value in self.entries[key]]
        return (_HEADER.pack(_MAGIC, _VERSION, self.pages, len(keys), len(self.recent))
                + struct.pack("<%dQ" % len(keys), *keys) + struct.pack("<%dI" % len(values), *values)
                + struct.pack("<%dQ" % len(self.recent), *self.recent))

    @classmethod
    def from_bytes(cls, data: bytes, rules: TemplateRules | None = None) -> TemplateModel:
        """Parse `to_bytes` output; ValueError on anything else. A model bigger than `rules` allow is trimmed."""
        if len(data) < _HEADER.size:
            raise ValueError("template model data too short: %d bytes" % len(data))
        magic, version, pages, count, recent = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError("not a template model (magic %r, version %r)" % (magic, version))
        expected = _HEADER.size + 20 * count + 8 * recent
        if len(data) != expected:
            raise ValueError("template model data is %d bytes, expected %d" % (len(data), expected))
        offset = _HEADER.size
        keys = struct.unpack_from("<%dQ" % count, data, offset)
        offset += 8 * count
        values = struct.unpack_from("<%dI" % (3 * count), data, offset)
        offset += 12 * count
        model = cls(rules)
        model.pages = pages
        model.entries = {key: list(values[3 * i:3 * i + 3]) for i, key in enumerate(keys)}
        model.recent = dict.fromkeys(struct.unpack_from("<%dQ" % recent, data, offset))
        while len(model.recent) > model.rules.max_recent_pages:
            del model.recent[next(iter(model.recent))]
        if len(model.entries) > model.rules.max_entries:
            model._evict()
        model.mark_saved()
        return model

    def mark_saved(self) -> None:
        """This model is what is stored now: later saves merge what is learned from here on."""
        self.changed = False
        self._base_pages = self.pages
        self._base_counts = {key: entry[0] for key, entry in self.entries.items()}

    def merge_stored(self, stored: TemplateModel | None) -> None:
        """Become `stored` (what the database holds now) plus what this model learned since it was loaded or
        last saved, so that the workers of a distributed crawl, each learning from its own pages of a source,
        add up instead of the last save winning. When nobody else saved in between, `stored` is this model's
        own last save and the merge leaves this model as it is. Marks the result saved."""
        others = stored.pages - self._base_pages if stored is not None else -1  # what others learned since
        if stored is None or others < 0:  # none stored, or made again from fewer pages: this model is saved
            self.mark_saved()
            return

        def shared(number: int) -> int:  # a page number of this model's, in the merged numbering
            return number if number <= self._base_pages else number + others

        merged: dict[int, list[int]] = {}
        for key, entry in stored.entries.items():
            if key in self.entries or key not in self._base_counts:  # not one this model evicted since
                merged[key] = list(entry)
        for key, (count, first, last) in self.entries.items():
            learned = count - self._base_counts.get(key, 0)
            known = merged.get(key)
            if known is None:  # learned since the base, or dropped by the stored model
                merged[key] = [count, shared(first), shared(last)]
            else:
                known[0] += max(0, learned)
                known[1] = min(known[1], shared(first))
                known[2] = max(known[2], shared(last))
        self.pages = stored.pages + self.pages - self._base_pages
        self.entries = merged
        recent = dict.fromkeys(stored.recent)
        recent.update(self.recent)
        self.recent = dict.fromkeys(list(recent)[-self.rules.max_recent_pages:])
        if len(self.entries) > self.rules.max_entries:
            self._evict()
        self.mark_saved()

    def summary(self) -> dict[str, int]:
        """Pages learned, lines remembered, template lines, size in bytes (for logs and the CLI)."""
        return {"pages": self.pages, "lines": len(self.entries), "template_lines": self.template_count(),
                "bytes": _HEADER.size + 20 * len(self.entries) + 8 * len(self.recent)}


class _LiveTemplate:
    """`TemplateModel.template`: `key in` asks the model at the time."""

    __slots__ = ("model",)

    def __init__(self, model: TemplateModel) -> None:
        self.model = model

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.model.is_template(key)


class Stripped(NamedTuple):
    """A body after its template lines were stripped: its text (the body itself when kept whole), the indices of
    its template lines, and the `dedup.fingerprint.line_key`s of the template lines it still has (kept whole),
    which its fingerprint leaves out: the text to sign is `text` without `furniture`."""

    text: str
    found: Sequence[int]
    furniture: frozenset[str]


class TemplatePage(NamedTuple):
    """What an extraction worker did with a page's body and its source's template snapshot: the body's
    `line_keys`, the indices of the lines the snapshot held for template, and the body as extracted when the
    worker returned it without them (None: returned whole)."""

    keys: list[int | None]
    found: tuple[int, ...]
    original: str | None = None


def template_lines(keys: Sequence[int | None], template: Container[int | None]) -> list[int]:
    """The indices of the lines (by their `line_keys`) that `template` holds."""
    return [index for index, key in enumerate(keys) if key is not None and key in template]


def strip_lines(text: str, found: Sequence[int], min_chars: int = 200) -> Stripped:
    """`text` without its lines numbered `found`; `text` itself when there are none, or when what would remain is
    shorter than `min_chars` characters (a page whose body is mostly furniture keeps it all: a template must
    never empty an article), its `found` lines then left out of its fingerprint only."""
    if not found:
        return Stripped(text, found, frozenset())
    lines = text.splitlines()
    drop = set(found)
    cleaned = "\n".join(line for index, line in enumerate(lines) if index not in drop).strip()
    if len(cleaned) < min_chars:
        logger.debug("Template lines kept: only %d characters would remain", len(cleaned))
        return Stripped(text, found, frozenset(line_key(lines[index]) for index in found))
    return Stripped(cleaned, found, frozenset())


def strip(text: str, template: Container[int | None], min_chars: int = 200,
          keys: Sequence[int | None] | None = None) -> Stripped:
    """`strip_lines` of the lines of `text` whose key `template` holds (a snapshot's `template_keys`, or a
    model's `template()`); `keys`: the text's `line_keys`, when already known."""
    return strip_lines(text, template_lines(line_keys(text) if keys is None else keys, template), min_chars)


def clean(text: str, model: TemplateModel, min_chars: int = 200) -> str:
    """`text` without the lines `model` holds for template; `text` itself when none is, or when what would
    remain is shorter than `min_chars` characters (see `strip_lines`)."""
    return strip_template(text, model, min_chars)[0]


def strip_template(text: str, model: TemplateModel, min_chars: int = 200,
                   keys: Sequence[int | None] | None = None) -> tuple[str, list[str]]:
    """`clean`, and the template lines `text` had (removed, unless `text` is returned whole: then they are
    still the furniture to leave out of its fingerprint). `keys`: the text's `line_keys`, when already known."""
    if not model.acting:
        return text, []
    stripped = strip(text, model.template(), min_chars, keys)
    if not stripped.found:
        return text, []
    lines = text.splitlines()
    return stripped.text, [lines[index] for index in stripped.found]
