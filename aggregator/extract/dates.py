"""Parse article dates and reconcile the candidates (feed, JSON-LD, meta, URL, htmldate) into one answer.

Owns date parsing, plausibility (not in the future, not before the web news era) and the choice of which
signal wins; it never fetches or parses HTML itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.instants import parse_date

logger = logging.getLogger(__name__)

__all__ = [
    "DateCandidate", "ReconciledDates", "borrow_offset", "date_from_url", "is_naive", "parse_date",
    "reconcile_dates", "with_zone_offset",
]

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
# A page may be stamped a little ahead of our clock (time zones, clock skew); more than this is bogus.
FUTURE_TOLERANCE = timedelta(days=1)
# How far a precise date may stray from the day in the URL and still count as the same day (time zones).
URL_AGREEMENT = timedelta(days=2)

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
URL_DATE_PATTERNS = (
    # /2019/11/18/ or /2019-11-18/ or /2019_11_18
    re.compile(r"/(?P<y>(?:19|20)\d\d)[/_-](?P<m>0?[1-9]|1[0-2])[/_-](?P<d>0?[1-9]|[12]\d|3[01])(?:[/_.-]|$)"),
    # /2019/nov/18/
    re.compile(r"/(?P<y>(?:19|20)\d\d)/(?P<mon>[a-z]{3,9})/(?P<d>0?[1-9]|[12]\d|3[01])(?:/|$)", re.I),
    # /20191118/ or -20191118-
    re.compile(r"[/_-](?P<y>(?:19|20)\d\d)(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])(?:[/_.-]|$)"),
)
SOURCE_PRIORITY = ("jsonld", "meta", "time", "feed", "dateline", "label", "url", "htmldate")
ZONE_OFFSETS = {
    "UTC": "+00:00", "GMT": "+00:00", "WET": "+00:00", "BST": "+01:00", "CET": "+01:00", "MEZ": "+01:00",
    "WEST": "+01:00", "CEST": "+02:00", "MESZ": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00",
    "IST": "+05:30", "JST": "+09:00", "KST": "+09:00", "AEST": "+10:00", "AEDT": "+11:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00",
}
ZONE_NAME = re.compile(r"\s*\b(" + "|".join(ZONE_OFFSETS) + r")\s*$", re.I)
TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}")
OFFSET_AT_END = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|[+-]\d{2}|\b(?:GMT|UTC))\s*$", re.I)


@dataclass(frozen=True)
class DateCandidate:
    """One signal's claim: `kind` is "published" or "modified"; `value` is aware; `day_only` if no time."""

    source: str
    kind: str
    value: datetime
    day_only: bool = False


@dataclass(frozen=True)
class ReconciledDates:
    """The chosen dates as ISO 8601 strings with an offset, and the signal that gave the publication date."""

    published: str | None
    modified: str | None
    source: str | None


def date_from_url(url: str | None) -> datetime | None:
    """The publication day written in an article URL (`/2019/11/18/`, `/2019/nov/18/`, `-20191118-`)."""
    if not url:
        return None
    path = url.split("?", 1)[0].split("#", 1)[0]
    for pattern in URL_DATE_PATTERNS:
        match = pattern.search(path)
        if not match:
            continue
        groups = match.groupdict()
        month = int(groups["m"]) if groups.get("m") else MONTHS.get(groups.get("mon", "").lower())
        if not month:
            continue
        try:
            return datetime(int(groups["y"]), month, int(groups["d"]), tzinfo=UTC)
        except ValueError:
            continue
    return None


def is_plausible(value: datetime, now: datetime) -> bool:
    """A news date lies between 1995 and (about) now."""
    return EARLIEST <= value <= now + FUTURE_TOLERANCE


def _agrees_with_day(value: datetime, day: datetime) -> bool:
    return abs(value - day) <= URL_AGREEMENT


def _priority(candidate: DateCandidate) -> int:
    return SOURCE_PRIORITY.index(candidate.source) if candidate.source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)


def reconcile_dates(candidates: list[DateCandidate], now: datetime | None = None) -> ReconciledDates:
    """Choose the publication and modification dates from every signal's claims.

    Implausible dates are dropped. Among the rest the page's own structured data wins over its meta tags,
    then the feed, the URL and htmldate's guess, preferring the more precise of equal sources. A date in
    the URL is coarse but hard to get wrong, so claims that contradict it by more than two days lose;
    if all do, the URL's day wins. A modification date earlier than the publication date is dropped.
    """
    now = now or datetime.now(UTC)
    valid = [c for c in candidates if is_plausible(c.value, now)]
    for rejected in set(candidates) - set(valid):
        logger.debug("rejecting implausible %s date %s from %s", rejected.kind, rejected.value, rejected.source)
    published = sorted(
        (c for c in valid if c.kind == "published"), key=lambda c: (_priority(c), c.day_only)
    )
    url_day = next((c.value for c in published if c.source == "url"), None)
    if url_day is not None:
        agreeing = [c for c in published if _agrees_with_day(c.value, url_day)]
        published = agreeing or published
    chosen = published[0] if published else None
    if chosen is not None and chosen.day_only:
        # a lesser signal that knows the time of the same day (a dateline under a date-only JSON-LD)
        chosen = next((c for c in published if not c.day_only and c.value.date() == chosen.value.date()), chosen)
    modified_candidates = sorted(
        (c for c in valid if c.kind == "modified"), key=lambda c: (_priority(c), c.day_only)
    )
    modified = None
    for candidate in modified_candidates:
        if chosen is None or candidate.value >= chosen.value:
            modified = candidate
            break
    return ReconciledDates(
        published=chosen.value.isoformat() if chosen else None,
        modified=modified.value.isoformat() if modified else None,
        source=chosen.source if chosen else None,
    )


def with_zone_offset(value: str) -> str:
    """A trailing zone name ("14:07 CEST", "9:30 a.m. EDT") replaced by its UTC offset, which the parsers read."""
    match = ZONE_NAME.search(value)
    if not match:
        return value
    offset = ZONE_OFFSETS[match.group(1).upper()]
    head = value[: match.start()]
    if re.match(r"\s*\d{4}-\d{2}-\d{2}", head):
        return head + offset  # ISO 8601
    return f"{head} {offset.replace(':', '')}"  # RFC 2822


def is_naive(value: str) -> bool:
    """Whether a date string has a time of day but no offset or zone (a CMS's local wall clock)."""
    text = value.strip()
    return bool(TIME_OF_DAY.search(text)) and not OFFSET_AT_END.search(text)


def borrow_offset(naive: datetime, stated: list[datetime]) -> datetime:
    """A wall-clock time (parsed as UTC) given the offset of another claim of the page that shows the same
    wall clock to the minute: the page's own zone, which its JSON-LD left out."""
    for other in stated:
        if other.utcoffset() and other.replace(tzinfo=None, second=0, microsecond=0) == naive.replace(
            tzinfo=None, second=0, microsecond=0
        ):
            return naive.replace(tzinfo=other.tzinfo)
    return naive
