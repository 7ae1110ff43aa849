"""What a feed request asks for: its filters (`?source=`, `?limit=`, `?since=`, `?q=`) checked into a `Query`,
and whether a conditional GET may be answered 304. Pure: no storage, no WSGI."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from aggregator.instants import parse_instant

logger = logging.getLogger(__name__)

__all__ = ["BadRequest", "Query", "not_modified", "parse_query", "search_text"]

SOURCE_KEY = re.compile(r"^[\w.-]{1,100}$")


class BadRequest(ValueError):
    """A query value we cannot use; its message is shown to the client."""


@dataclass(frozen=True)
class Query:
    """The filters of one request."""

    limit: int
    since: datetime | None
    source: str | None

    def canonical(self, default_limit: int) -> str:
        """The filters as a query string in one spelling (empty when none), for the feed's own URL."""
        pairs = [("source", self.source)] if self.source else []
        pairs += [("since", self.since.isoformat())] if self.since else []
        pairs += [("limit", str(self.limit))] if self.limit != default_limit else []
        return urlencode(pairs)


def parse_query(query_string: str, default_limit: int, max_limit: int) -> Query:
    """The filters in a query string; BadRequest with a short message for any value we cannot use."""
    try:
        values = parse_qs(query_string, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise BadRequest("too many query parameters") from None
    for name in ("limit", "since", "source"):
        if len(values.get(name, [])) > 1:
            raise BadRequest("give %s at most once" % name)
    limit = default_limit
    if "limit" in values:
        # Leading zeros off and the length checked first: int() raises ValueError past 4,300 digits (a 500).
        raw = values["limit"][0].strip().lstrip("0")
        if (not raw.isascii() or not raw.isdigit() or len(raw) > len(str(max_limit))
                or not 1 <= int(raw) <= max_limit):
            raise BadRequest("limit must be a whole number from 1 to %d" % max_limit)
        limit = int(raw)
    since = None
    if "since" in values:
        since = parse_instant(values["since"][0])
        if since is None:
            raise BadRequest("since must be an ISO 8601 date or date-time, e.g. 2026-11-20")
    source = None
    if "source" in values:
        source = values["source"][0].strip()
        if not SOURCE_KEY.match(source):
            raise BadRequest("source must be a source key (letters, digits, '_', '.', '-')")
    return Query(limit=limit, since=since, source=source)


def search_text(query_string: str) -> str | None:
    """The search query (`?q=`) of a query string, None when there is none; given twice is a BadRequest."""
    try:
        values = parse_qs(query_string, keep_blank_values=True, max_num_fields=50).get("q", [])
    except ValueError:
        raise BadRequest("too many query parameters") from None
    if len(values) > 1:
        raise BadRequest("give q at most once")
    return values[0] if values else None


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §8.8.3.2) of our ETag against an If-None-Match list."""
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


def not_modified(environ: Mapping[str, Any], etag: str, last_modified: datetime | None) -> bool:
    """Whether a conditional GET/HEAD may be answered 304 (If-None-Match wins over If-Modified-Since)."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_modified_since and last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified.replace(microsecond=0) <= since
    return False
