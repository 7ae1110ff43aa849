"""Scrapy's MetaRefreshMiddleware without decoding every page in the reactor.

Scrapy looks for `<meta http-equiv="refresh">` in `response.text[:4096]`, which decodes the whole body of
every HTML response: work our extraction workers do anyway, off the reactor. A meta refresh in the first
4,096 characters has the word "refresh" in the first 16 KB of bytes (no encoding takes more than 4 bytes
a character, and ASCII-compatible ones write it as ASCII), so a page whose first 16 KB lack it (any case)
is passed on untouched; every other page (and any page whose start holds NUL bytes, as UTF-16 and
UTF-32 do) goes through Scrapy's own check.
"""

from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.http import HtmlResponse

__all__ = ["MetaRefreshMiddleware"]

_SCANNED_CHARACTERS = 4096  # what scrapy.utils.response.get_meta_refresh reads
_PREFIX_BYTES = 4 * _SCANNED_CHARACTERS + 4  # + a byte order mark


def may_refresh(body: bytes) -> bool:
    """False when the page's first 4,096 characters cannot hold a meta refresh, whatever its encoding."""
    prefix = body[:_PREFIX_BYTES]
    return b"\x00" in prefix or b"refresh" in prefix.lower()


class MetaRefreshMiddleware(ScrapyMetaRefreshMiddleware):
    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if isinstance(response, HtmlResponse) and not may_refresh(response.body):
            return response
        return super().process_response(request, response)
