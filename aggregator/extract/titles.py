"""The article's headline: which of the page's titles to believe, and how to cut the site name off it.

Owns the title rules (the `<h1>` that agrees with the JSON-LD headline beats a social-media `og:title`;
a value cut short loses to the full one; " | Site" suffixes and kickers go); it never reads the tree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["TitleCandidates", "choose_title", "clean_title"]

# Separators between a headline and a site name or section; the CJK ones are written without spaces.
TITLE_SEPARATORS = re.compile(r"\s+[|–—:·•»~*-]\s+|\s+::\s+|\s*[｜|ㅣ]\s*|\s*[：]\s*(?=\S+$)")
# A section name that Korean, Chinese and Japanese titles glue to the headline before the site name
# ("헤드라인-정치ㅣ사이트"): a hyphen glued to the headline's last word or quote mark, then only those scripts.
_CJK = "\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
GLUED_SECTION = re.compile(f"(?<![\\sA-Za-z0-9])-[{_CJK}]{{1,6}}$")
QUOTE_MARKS = "\"'“”„«»‘’‚"
# Between a kicker and the headline it introduces ("Kicker: Headline", "Kicker - Headline").
KICKER_SEPARATOR = re.compile(r":\s+|\s+[|–—-]\s+")
# Quote marks and dashes by their plain form, and the ": " or " - " between a kicker and its headline.
TYPOGRAPHY = str.maketrans({**dict.fromkeys(map(ord, "‘’‚‛′`´"), "'"), **dict.fromkeys(map(ord, "“”„‟″«»"), '"'),
                            **dict.fromkeys(map(ord, "‐‑‒–—―−"), "-")})
TYPOGRAPHIC_SEPARATOR = re.compile(r"\s*:\s+|\s+-\s+")
ELLIPSIS = re.compile(r"(?:\.\.\.|…)\s*$")


@dataclass(frozen=True)
class TitleCandidates:
    """Every title the page states, by where it states it."""

    social: tuple[str, ...] = ()  # og:title, twitter:title
    headline: str | None = None  # JSON-LD headline
    headings: tuple[str, ...] = ()  # <h1>
    documents: tuple[str, ...] = ()  # <title> in <head>


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def _join(parts: list[str], separators: list[str]) -> str:
    out = parts[0]
    for separator, part in zip(separators, parts[1:], strict=False):
        out += separator + part
    return out


def clean_title(title: str | None, site_names: Sequence[str], other_titles: Sequence[str] = ()) -> str | None:
    """Remove a " | Site name" suffix (or "Site name | " prefix) from a title.

    A segment goes when it matches a known site name or the host name, or when another title of the page
    (e.g. the <h1>) equals what remains.
    """
    if not title:
        return None
    title = re.sub(r"\s+", " ", title).strip()
    parts = TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    site_keys = {_key(name) for name in site_names if name}
    other_keys = {_key(other) for other in other_titles if other}
    separators = TITLE_SEPARATORS.findall(title)
    for cut in range(len(parts) - 1, 0, -1):
        head = _join(parts[:cut], separators)
        tail = _join(parts[cut:], separators[cut:])
        site_first = _key(parts[cut]) in site_keys  # "Headline | Site | by Author"
        if _key(head) in other_keys:
            return head
        if _key(tail) in site_keys or site_first or _ends_with_site(tail, site_keys):
            return GLUED_SECTION.sub("", head)
    head = _key(_join(parts[:1], separators))
    if head in site_keys:
        return _join(parts[1:], separators[1:])
    return title


def _ends_with_site(tail: str, site_keys: set[str]) -> bool:
    """A trailing "Section | Site" or "Section-Site" group whose last segment is the site's name."""
    last = re.split(r"[|｜ㅣ\-–—:：]", tail)[-1]
    return bool(_key(last)) and _key(last) in site_keys and len(tail) < 40


def _agrees(a: str, b: str) -> bool:
    """The same headline, perhaps one of them cut short ("…") by a length limit."""
    key_a, key_b = _key(ELLIPSIS.sub("", a)), _key(ELLIPSIS.sub("", b))
    if not key_a or not key_b:
        return False
    if key_a == key_b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return bool(ELLIPSIS.search(shorter)) and _key(longer).startswith(_key(ELLIPSIS.sub("", shorter)))


def _completed(title: str, fuller: Sequence[str]) -> str:
    """`title` unless a longer title of the page goes on from it with a quote: an attribute value that a
    stray quote mark cut short (`content="He said "no""` reads as "He said ")."""
    start = title.rstrip(" .…")
    for other in fuller:
        rest = other[len(start):].lstrip() if other.startswith(start) else ""
        if rest and rest[0] in QUOTE_MARKS:
            return other
    return title


def _common_tail(a: str, b: str) -> str | None:
    """The headline two titles share after unrelated kickers ("Kicker A: Story" / "Kicker B - Story")."""
    parts_a, parts_b = KICKER_SEPARATOR.split(a, maxsplit=1), KICKER_SEPARATOR.split(b, maxsplit=1)
    if len(parts_a) != 2 or len(parts_b) != 2 or _key(parts_a[1]) != _key(parts_b[1]):
        return None
    words_a, words_b = set(_words(parts_a[0])), set(_words(parts_b[0]))
    if words_a & words_b or len(parts_a[1].split()) < 3:
        return None  # the same kicker written twice (or one title's kicker inside the other's): not a choice
    return parts_a[1]


def _is_tail(short: str, long: str) -> bool:
    """`long` is `short` with a kicker in front ("Kicker: Story")."""
    parts = KICKER_SEPARATOR.split(long, maxsplit=1)
    return len(parts) == 2 and _key(short) == _key(parts[1]) and bool(_key(short))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def choose_title(candidates: TitleCandidates, site_names: Sequence[str], hint: str | None = None) -> str | None:
    """The headline the page shows its reader (see `_choose`), spelled as the page's `<title>` spells it
    when the page's statements of it differ only in typography."""
    headings = list(candidates.headings)
    others = [*headings, hint or ""]
    cleaned = _Cleaned(
        headings=headings,
        documents=[t for t in (clean_title(d, site_names, headings) for d in candidates.documents) if t],
        headline=clean_title(candidates.headline, site_names, headings),
        social=clean_title(candidates.social[0] if candidates.social else None, site_names, others),
    )
    title = _choose(candidates, cleaned, site_names, hint)
    if not title:
        return title
    statements = [cleaned.social, cleaned.headline, *headings]
    return _spelled_as_stated(title, statements, next(iter(cleaned.documents), None))


@dataclass(frozen=True)
class _Cleaned:
    """The page's titles without their site-name suffixes, each cleaned once."""

    headings: list[str]
    documents: list[str]
    headline: str | None
    social: str | None  # the first og:title / twitter:title


def _choose(candidates: TitleCandidates, cleaned: _Cleaned, site_names: Sequence[str], hint: str | None) -> str | None:
    """The headline the page shows its reader.

    The JSON-LD headline that an `<h1>` or the `<title>` repeats is the article's own (og:title is often
    a rewrite for social media); when og:title and the `<h1>` differ only in their kicker, the shared
    headline; otherwise og:title, the headline, the `<h1>`, the `<title>` and the feed's title in turn,
    each completed from a longer title it is the start of.
    """
    headings, documents, headline, social = cleaned.headings, cleaned.documents, cleaned.headline, cleaned.social
    first_social = candidates.social[0] if candidates.social else None
    fuller_titles = [*headings[:1], *([headline] if headline else [])]
    if first_social and any(_is_tail(first_social, full) for full in fuller_titles):
        return first_social  # the headline without its kicker
    if headline and any(_agrees(headline, heading) for heading in headings):
        return headline
    if first_social:
        for heading in headings[:1]:
            if tail := _common_tail(first_social, heading):
                return tail
    if headline and social and documents and _key(headline) == _key(documents[0]) and not any(
        _key(social) == _key(other) for other in [*headings, documents[0]]
    ):
        return headline  # the <title> repeats the headline, while og:title stands alone: a social rewrite
    fuller = headings + documents
    others = [*headings, hint or ""]
    ordered = [*candidates.social, candidates.headline, *headings, *candidates.documents, hint]
    for candidate in ordered:
        if title := clean_title(candidate, site_names, others):
            return _completed(title, fuller)
    return None


def _typography_key(text: str) -> str:
    """`text` with its quote marks, dashes and headline separators each written one way: two spellings of the
    same headline have the same key (a headline with quote marks and one without them do not)."""
    text = TYPOGRAPHIC_SEPARATOR.sub(" - ", text.translate(TYPOGRAPHY))
    return " ".join(text.split())


def _spelled_as_stated(title: str, statements: Sequence[str | None], document: str | None) -> str:
    """`title` as the page's `<title>` spells it ("it's" or "it’s", ": " or " - "), when the `<title>` and
    another of the page's statements agree on that spelling and no spelling is stated more often."""
    if not document or document == title or _typography_key(document) != _typography_key(title):
        return title
    spellings = [s for s in statements if s and _typography_key(s) == _typography_key(title)]
    counts = {spelling: spellings.count(spelling) for spelling in spellings}
    stated = counts.get(document, 0) + 1
    return document if stated >= 2 and stated >= max(counts.values(), default=0) else title
