"""Which item of a story stands for it across outlets: the story's primary item, chosen deliberately.

Pure decisions over what storage knows of two items of one story; storage applies and records them.
In order: an item with text over one without (a metadata-only item: a video story); a page's own canonical
URL (`rel=canonical`/`og:url`) naming the other outlet's URL; the earlier trustworthy publication date; the
clearly more complete text; else the item seen first stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.instants import parse_date

logger = logging.getLogger(__name__)

# Dates read from the page's structured data or the publisher's feed/sitemap; htmldate's guesses and
# first-seen times are not evidence of who published first.
TRUSTED_DATE_SOURCES = frozenset({"jsonld", "meta", "feed", "sitemap", "url"})
DATE_MARGIN = timedelta(hours=1)  # clocks and time zones of outlets disagree by minutes
MORE_COMPLETE = 1.2  # a text must be this much longer to count as the more complete one


@dataclass(frozen=True)
class Candidate:
    """What the decision needs to know about one item of a story."""

    url: str
    date_published: str | None
    date_source: str | None
    text_length: int
    canonical_claim: str | None  # the canonical URL the page declares on another site, if any


def _trusted(candidate: Candidate) -> datetime | None:
    if candidate.date_source not in TRUSTED_DATE_SOURCES or not candidate.date_published:
        return None
    parsed = parse_date(candidate.date_published)
    return parsed[0] if parsed else None


def choose_primary(current: Candidate, new: Candidate) -> tuple[bool, str]:
    """(whether `new` should replace `current` as the story's primary item, the reason)."""
    if (new.text_length == 0) != (current.text_length == 0):
        # what a reader is shown must be an article, never an empty body with a headline, whoever was first
        return current.text_length == 0, "has_text"
    if new.canonical_claim and new.canonical_claim == current.url:
        return False, "declared_canonical"
    if current.canonical_claim and current.canonical_claim == new.url:
        return True, "declared_canonical"
    current_date, new_date = _trusted(current), _trusted(new)
    if current_date is not None and new_date is not None and abs(current_date - new_date) > DATE_MARGIN:
        return new_date < current_date, "earliest_date"
    if new.text_length > current.text_length * MORE_COMPLETE:
        return True, "most_complete"
    return False, "first_seen"
