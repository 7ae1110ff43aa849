"""Dates the article shows its reader next to its headline: a `<time datetime>` and the visible dateline.

Owns finding these near the article's `<h1>` (past it lie teasers of other articles, whose dates are worse
than none) and reading a dateline's day and time; it never chooses between date signals (see `dates`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from lxml.html import HtmlElement

from aggregator.extract.fact_labels import labelled_values

logger = logging.getLogger(__name__)

__all__ = ["dateline", "elements_after_heading", "heading_time", "labelled_date", "read_day"]

# How many elements after the <h1> still belong to the article's header.
REACH = 80
MAX_DATELINE_CHILDREN = 3
MONTH_NAMES = {
    "jan": 1, "januar": 1, "january": 1, "janvier": 1, "enero": 1, "gennaio": 1, "jänner": 1,
    "feb": 2, "februar": 2, "february": 2, "février": 2, "febrero": 2, "febbraio": 2,
    "mar": 3, "mär": 3, "märz": 3, "march": 3, "mars": 3, "marzo": 3,
    "apr": 4, "april": 4, "avril": 4, "abril": 4, "aprile": 4,
    "may": 5, "mai": 5, "mayo": 5, "maggio": 5,
    "jun": 6, "juni": 6, "june": 6, "juin": 6, "junio": 6, "giugno": 6,
    "jul": 7, "juli": 7, "july": 7, "juillet": 7, "julio": 7, "luglio": 7,
    "aug": 8, "august": 8, "août": 8, "agosto": 8,
    "sep": 9, "sept": 9, "september": 9, "septembre": 9, "septiembre": 9, "settembre": 9,
    "oct": 10, "okt": 10, "oktober": 10, "october": 10, "octobre": 10, "octubre": 10, "ottobre": 10,
    "nov": 11, "november": 11, "novembre": 11, "noviembre": 11,
    "dec": 12, "dez": 12, "dezember": 12, "december": 12, "décembre": 12, "diciembre": 12, "dicembre": 12,
}
_MONTH = "|".join(sorted(MONTH_NAMES, key=len, reverse=True))
# "25.04.24 | 14:07 Uhr", "01. April 2025, 15:25", "28.04.2023, 18:11 Uhr", "April 25, 2024 at 2:07 pm"
DAY_FIRST = re.compile(
    r"(?<!\d)(?P<d>[0-3]?\d)\.\s*(?:(?P<m>[01]?\d)\.|(?P<mon>" + _MONTH + r")\.?)\s*(?P<y>(?:19|20)?\d\d)"
    r"[\s,|/–-]*(?:um\s+|at\s+|à\s+|alle\s+|kl\.?\s+)?(?P<H>[0-2]?\d)[:.](?P<M>[0-5]\d)(?!\d)",
    re.I,
)
MONTH_FIRST = re.compile(
    r"\b(?P<mon>" + _MONTH + r")\.?\s+(?P<d>[0-3]?\d),?\s+(?P<y>(?:19|20)\d\d)[\s,|/–-]*(?:at\s+)?"
    r"(?P<H>[0-2]?\d)[:.](?P<M>[0-5]\d)\s*(?P<ampm>[ap]\.?m\.?)?",
    re.I,
)


# A day without a time: "28.04.2023", "28. April 2023", "April 28, 2023", "2023-04-28".
DAY_ONLY = re.compile(
    r"(?<!\d)(?P<d>[0-3]?\d)\.\s*(?:(?P<m>[01]?\d)\.|(?P<mon>" + _MONTH + r")\.?)\s*(?P<y>(?:19|20)\d\d)(?!\d)"
    r"|\b(?P<mon2>" + _MONTH + r")\.?\s+(?P<d2>[0-3]?\d),?\s+(?P<y2>(?:19|20)\d\d)(?!\d)"
    r"|(?<!\d)(?P<y3>(?:19|20)\d\d)-(?P<m3>[01]\d)-(?P<d3>[0-3]\d)(?!\d)",
    re.I,
)
# The label of the publication date in a list of the article's facts; never "updated" / "aktualisiert".
DATE_LABEL = re.compile(
    r"^(?:datum|date|dato|data|fecha|published|publication date|publish date|posted|veröffentlicht(?: am)?"
    r"|erschienen(?: am)?|publié le|publié|publicado(?: el)?|pubblicato(?: il)?|gepubliceerd(?: op)?|publicerad"
    r"|publisert)\s*:?$",
    re.I,
)


def elements_after_heading(tree: HtmlElement, reach: int = REACH) -> Iterator[HtmlElement]:
    """The elements that follow the page's first non-empty `<h1>` in document order, at most `reach`."""
    heading = next((h for h in tree.iter("h1") if h.text_content().strip()), None)
    if heading is None:
        return
    # XPath's following axis: after the heading in document order, never inside it; libxml2 walks it, so the
    # page before the heading costs nothing (a Python walk from the root cost ~0.5 ms on a 100 KB page)
    yield from heading.xpath("following::*[position() <= $reach]", reach=reach)


def heading_time(tree: HtmlElement) -> str | None:
    """The `datetime` of the first `<time>` after the headline (a `<time>` without itemprop)."""
    for element in elements_after_heading(tree):
        if element.tag == "time" and (value := (element.get("datetime") or "").strip()):
            return value
    return None


def dateline(tree: HtmlElement) -> str | None:
    """The day and time written under the headline, as a wall-clock ISO string without offset."""
    for element in elements_after_heading(tree):
        if element.tag in ("script", "style") or len(element) > MAX_DATELINE_CHILDREN:
            continue  # a dateline is a small element; reading a container's text costs ~1 ms
        text = " ".join(element.text_content().split())
        if not text or len(text) > 200:
            continue
        if found := read_dateline(text):
            return found
    return None


def read_dateline(text: str) -> str | None:
    """`text`'s first day-and-time as `YYYY-MM-DDTHH:MM:00`; None if it has none."""
    for pattern in (DAY_FIRST, MONTH_FIRST):
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groupdict()
        month = int(groups["m"]) if groups.get("m") else MONTH_NAMES.get((groups.get("mon") or "").lower())
        year = int(groups["y"])
        year = year + 2000 if year < 100 else year
        hour, minute = int(groups["H"]), int(groups["M"])
        ampm = (groups.get("ampm") or "").lower().replace(".", "")
        if ampm == "pm" and hour < 12:
            hour += 12
        elif ampm == "am" and hour == 12:
            hour = 0
        day = int(groups["d"])
        if month and 1 <= month <= 12 and 1 <= day <= 31 and hour < 24:
            return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00"
    return None


def labelled_date(tree: HtmlElement) -> str | None:
    """The publication date written after a date label in a list of the article's facts ("<strong>Datum</strong>
    28.04.2023"): ISO day and time when the value has a time, else the ISO day."""
    for value in labelled_values(tree, DATE_LABEL, max_length=60):
        if found := read_dateline(value) or read_day(value):
            return found
    return None


def read_day(text: str) -> str | None:
    """`text`'s first calendar day as `YYYY-MM-DD`; None if it has none."""
    for match in DAY_ONLY.finditer(text):
        groups = match.groupdict()
        if groups["y3"]:
            year, month, day = int(groups["y3"]), int(groups["m3"]), int(groups["d3"])
        else:
            year = int(groups["y"] or groups["y2"])
            day = int(groups["d"] or groups["d2"])
            name = (groups["mon"] or groups["mon2"] or "").lower()
            month = int(groups["m"]) if groups["m"] else MONTH_NAMES.get(name, 0)
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None
