"""Names for what went wrong with a request: each failure becomes one `aggregator/errors/<cause>` counter.

Owns the mapping from Scrapy/Twisted failures (timeouts, refused connections, truncated bodies, size
limits, decompression bombs, redirect loops, HTTP error statuses) onto short cause names and a message
for the log line. Knows nothing of the spider's sources; never counts or logs itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    StopDownload,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from aggregator.fetch.headers import header_text
from aggregator.fetch.ssrf import RefusedAddress

logger = logging.getLogger(__name__)

__all__ = ["Fault", "NotFetched", "classify"]

# Each cause, what it means (docs/hostile-input.md has the full table).
CAUSES = {
    "timeout": "no complete response within DOWNLOAD_TIMEOUT (a dead or slow-drip server)",
    "connection_refused": "nothing listens on the host and port",
    "connection_lost": "the connection closed before a response came",
    "dns_failed": "the host name does not resolve",
    "truncated": "the body ended before its Content-Length (or the chunked stream broke)",
    "too_large": "the body is over DOWNLOAD_MAXSIZE (stopped while downloading)",
    "decompression_bomb": "the gzip/deflate/br body inflates past DOWNLOAD_MAXSIZE",
    "too_many_redirects": "more than REDIRECT_MAX_TIMES redirects",
    "redirect_loop": "a redirect back to a URL already in the chain",
    "not_html": "an article link serves a PDF, image or other non-text body",
    "ssrf_refused": "a discovered link into a private network (aggregator.fetch.ssrf)",
    "unsafe_scheme": "a javascript:, file:, data:, ftp: ... link in a feed, sitemap or listing (never fetched)",
    "http_NNN": "the final HTTP status was an error (after retries for 5xx)",
}


@dataclass(frozen=True)
class Fault:
    """One failed request: its cause (the counter's last part) and a message for the log."""

    cause: str
    message: str


@dataclass(frozen=True)
class NotFetched:
    """A request deliberately not made (robots.txt, a filter): not a fault."""

    message: str


def _retry_after(failure: Failure) -> str:
    response = getattr(failure.value, "response", None)
    value = header_text(response.headers, "Retry-After") if response is not None else None
    return " (Retry-After: %s)" % value if value else ""


def classify(failure: Failure) -> Fault | NotFetched | None:
    """What a request's failure was; None when it was an SSRF refusal (counted where it was refused)."""
    value = failure.value
    message = failure.getErrorMessage()
    if isinstance(value, RefusedAddress):
        return None
    if isinstance(value, HttpError):
        status = value.response.status
        return Fault("http_%d" % status, "HTTP %d%s" % (status, _retry_after(failure)))
    if isinstance(value, StopDownload):  # stopped at the headers by the spider: see NewsSpider.on_headers
        response = getattr(value, "response", None)
        kind = header_text(response.headers, "Content-Type") if response is not None else None
        return Fault("not_html", "not a text page (%s)" % (kind or "no Content-Type"))
    if isinstance(value, IgnoreRequest):
        if "max redirections" in message:
            return Fault("too_many_redirects", "more than the allowed number of redirects")
        if "during decompression" in message:
            return Fault("decompression_bomb", "the compressed body inflates past DOWNLOAD_MAXSIZE")
        return NotFetched(message)
    if isinstance(value, DownloadTimeoutError | TimeoutError | TCPTimedOutError):
        return Fault("timeout", message or "timed out")
    if isinstance(value, DownloadCancelledError | CancelledError):
        return Fault("too_large", message or "the body is over DOWNLOAD_MAXSIZE")
    if isinstance(value, ResponseDataLossError):
        return Fault("truncated", "the body ended before its declared length")
    if isinstance(value, DownloadConnectionRefusedError | ConnectionRefusedError):
        return Fault("connection_refused", message or "connection refused")
    if isinstance(value, CannotResolveHostError | DNSLookupError):
        return Fault("dns_failed", message or "the host does not resolve")
    if isinstance(value, ResponseFailed | ResponseNeverReceived | DownloadFailedError):
        reasons = " ".join(str(reason.value) for reason in getattr(value, "reasons", []) if hasattr(reason, "value"))
        if "DataLoss" in repr(getattr(value, "reasons", "")) or "length" in reasons.lower():
            return Fault("truncated", "the body ended before its declared length")
        return Fault("connection_lost", message or reasons or value.__class__.__name__)
    return Fault(value.__class__.__name__, message or value.__class__.__name__)
