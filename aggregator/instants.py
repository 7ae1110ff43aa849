"""Points in time as the outside world writes them (ISO 8601, RFC 2822, plain days), parsed to aware datetimes."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_date", "parse_instant"]

logger = logging.getLogger(__name__)


def parse_date(value: object) -> tuple[datetime, bool] | None:
    """Parse ISO 8601, RFC 2822 or a plain `YYYY-MM-DD` into (aware datetime, day_only); None if unparseable.

    Values without an offset are taken as UTC: feeds and CMSes that omit it mostly mean UTC.
    """
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), True
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    day_only = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or re.fullmatch(r"\d{4}\d{2}\d{2}", text))
    candidate = re.sub(r"\s+", " ", text)
    candidate = re.sub(r"(?<=\d)Z$", "+00:00", candidate)
    # "+0000" and "+00" offsets, which fromisoformat in 3.11 accepts only in part
    candidate = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            logger.debug("unparseable date %r", value)
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed, day_only


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 date or date-time given by a user (`--since`, `?since=`) as an aware instant; None if it is
    not one. Basic (`20261120`) and week (`2026-W47`) forms mean their first moment; no offset means UTC.

    Stricter than `parse_date`: a filter given as RFC 2822 or with a typo is refused, not guessed."""
    text = value.strip()
    if not text or not text[:1].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(re.sub(r"(?<=\d)[zZ]$", "+00:00", text))
    except ValueError:
        return None
    if not parsed.tzinfo:
        return parsed.replace(tzinfo=UTC)
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        # a valid date whose UTC falls outside years 1-9999 ("9999-12-31T23:59-05:00"): the first or last instant
        # there is, so it compares and converts like any other instead of failing where it is first converted
        return (datetime.max if parsed.year == 9999 else datetime.min).replace(tzinfo=UTC)
    return parsed
