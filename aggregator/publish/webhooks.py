"""Webhook requests: the JSON Feed a notification carries, its HMAC-SHA256 signature, and one delivery of it
(a POST with a timeout, retried with exponential back-off on connection errors, 408, 429 and 5xx, honouring
Retry-After within a cap, following a redirect only to the same host, all before a deadline).

Reads and writes no storage (`aggregator.ops.notify` decides what to send and records what happened) and
never raises for a failed delivery: the outcome says what went wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from aggregator.publish.jsonfeed import VERSION, story_item
from aggregator.store.model import Sighting, Story

__all__ = ["Outcome", "failing_feed", "post", "sign", "story_feed"]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Aggregator-Signature"  # "sha256=" + hex HMAC-SHA256 of the exact body bytes
EVENT_HEADER = "X-Aggregator-Event"  # new_story or source_failing
DELIVERY_HEADER = "X-Aggregator-Delivery"  # the same on every try of one notification
USER_AGENT = "news-aggregator/0.1 (webhook)"
CONTENT_TYPE = "application/json"  # the body is a JSON Feed 1.1 document; plain JSON to every receiver
REQUEST_TIMEOUT = 10.0  # seconds for connecting, and for each read of the answer
MAX_TRIES = 4
BACKOFF = 1.0  # seconds before the first retry, doubled before each next one
RETRY_AFTER_MAX = 60.0  # a Retry-After longer than this waits this long
MAX_REDIRECTS = 3
RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx
REDIRECTS = frozenset({301, 302, 307, 308})  # followed with the same POST, to the same host only
ANSWER_CHARS = 200  # of a refusing answer's body, kept in the error


class Health(Protocol):
    """A source's health as `aggregator.store.health` reports it."""

    @property
    def source(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def consecutive_failures(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...


def story_feed(stories: Sequence[Story], sightings: Mapping[str, list[Sighting]], title: str) -> dict[str, Any]:
    """A JSON Feed of `stories`, each item as in the exported feeds (with its sightings)."""
    return {"version": VERSION, "title": title,
            "items": [story_item(story, sightings.get(story.id, [])) for story in stories]}


def failing_feed(failing: Sequence[Health], run_id: int, title: str, when: str) -> dict[str, Any]:
    """A JSON Feed with one item per source that turned failing in run `run_id`."""
    items = []
    for health in failing:
        text = "%s has failed %d crawl(s) in a row. Last error: %s" % (
            health.source, health.consecutive_failures, health.last_error or "unknown")
        items.append({"id": "source-failing:%s:run-%d" % (health.source, run_id),
                      "title": "Source %s is failing" % health.source, "content_text": text,
                      "date_published": when,
                      "_aggregator": {"source": health.source, "state": health.state,
                                      "consecutive_failures": health.consecutive_failures,
                                      "last_error": health.last_error, "run": run_id}})
    return {"version": VERSION, "title": title, "items": items}


def body_text(feed: Mapping[str, Any]) -> str:
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":"))


def sign(body: bytes, secret: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of `body` under `secret`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """How one delivery ended: `delivered`, else the last `error`; `tries` made (redirects not counted)."""

    delivered: bool
    tries: int
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    retry_after: str | None
    text: str


def post(url: str, body: bytes, headers: Mapping[str, str], *, deadline: float, timeout: float = REQUEST_TIMEOUT,
         tries: int = MAX_TRIES, backoff: float = BACKOFF, retry_after_max: float = RETRY_AFTER_MAX,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """POST `body` to `url` until it is answered 2xx, it is refused for good (another 4xx, a redirect elsewhere),
    `tries` are spent, or the next try could not start before `deadline` (a `clock()` time)."""
    sent = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT, **headers}
    error = "not tried: no time left"
    status: int | None = None
    for attempt in range(1, tries + 1):
        remaining = deadline - clock()
        if remaining <= 0:
            return Outcome(False, attempt - 1, status, error)
        wait = backoff * 2 ** (attempt - 1)
        try:
            answer = _post_following(url, body, sent, min(timeout, remaining))
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, unreadable answer
            status, error = None, "%s: %s" % (type(exc).__name__, exc)
        else:
            status = answer.status
            if 200 <= status < 300:
                return Outcome(True, attempt, status)
            error = "HTTP %d%s" % (status, (": " + answer.text) if answer.text else "")
            if status in REDIRECTS:
                return Outcome(False, attempt, status, "redirect not followed (another host, or more than %d):"
                               " %s" % (MAX_REDIRECTS, answer.location))
            if status not in RETRIED_STATUSES and status < 500:
                return Outcome(False, attempt, status, error)  # the receiver refuses it: trying again won't help
            asked = _seconds(answer.retry_after)
            if asked is not None:
                wait = min(max(asked, 0.0), retry_after_max)
        if attempt == tries:
            break
        if clock() + wait >= deadline:
            logger.info("webhook %s: no time left to retry in %.1f s (%s)", url, wait, error)
            return Outcome(False, attempt, status, error)
        logger.info("webhook %s: %s; retrying in %.1f s", url, error, wait)
        sleep(wait)
    return Outcome(False, tries, status, error)


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After value (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not retry_after:
        return None
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _post_following(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> _Answer:
    """One POST, following up to MAX_REDIRECTS redirects that stay on the same host (the body and signature
    go nowhere else); a redirect elsewhere is returned as the answer."""
    host = urlsplit(url).hostname
    answer = _post_once(url, body, headers, timeout)
    for _ in range(MAX_REDIRECTS):
        if answer.status not in REDIRECTS or not answer.location:
            return answer
        target = urljoin(url, answer.location)
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or parts.hostname != host:
            return answer
        url = target
        answer = _post_once(url, body, headers, timeout)
    return answer


def _post_once(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> _Answer:
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        text = response.read(4096).decode("utf-8", "replace")
        return _Answer(response.status, response.getheader("Location"), response.getheader("Retry-After"),
                       " ".join(text.split())[:ANSWER_CHARS])
    finally:
        connection.close()
