"""Response headers as text: Scrapy keeps them as bytes, and HTTP's own charset for them is Latin-1."""

from __future__ import annotations

from scrapy.http import Headers

__all__ = ["header_text"]


def header_text(headers: Headers, name: str) -> str | None:
    """The (first) value of header `name`, decoded; None when it is absent or empty."""
    value = headers.get(name)
    return value.decode("latin-1") if value else None
