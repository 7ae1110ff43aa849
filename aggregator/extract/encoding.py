"""Decoding a fetched page's bytes when its charset declarations are missing or wrong.

Owns one decision: which encoding a page's bytes are in. A byte order mark wins; a body that is valid
UTF-8 with non-ASCII characters is UTF-8 whatever it declares (text in a single-byte encoding almost
never is); otherwise the first declaration (HTTP header, then `<meta>`) that decodes the body without
error; otherwise charset detection (charset_normalizer). Knows nothing of Scrapy.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass

from charset_normalizer import from_bytes
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

logger = logging.getLogger(__name__)

__all__ = ["DecodedPage", "decode_page"]

_DETECT_BYTES = 64 * 1024  # enough text to tell Cyrillic code pages apart, cheap on a 10 MB page


@dataclass(frozen=True)
class DecodedPage:
    text: str
    encoding: str
    problem: str | None = None  # set when a declaration was missing or wrong and the encoding was worked out


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_page(body: bytes, content_type: str | None = None) -> DecodedPage:
    """Decode an HTML page; `problem` says what was wrong with its declarations, if anything was."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding and bom:
        return DecodedPage(body[len(bom):].decode(bom_encoding, "replace"), _codec(bom_encoding) or bom_encoding)
    header = _codec(http_content_type_encoding(content_type or ""))
    meta = _codec(html_body_declared_encoding(body))
    declared = [name for name in (header, meta) if name]
    as_utf8 = _strict(body, "utf-8")
    if as_utf8 is not None:
        if not body.isascii() and declared and declared[0] != "utf-8":
            return DecodedPage(as_utf8, "utf-8", "declared %s, but the body is UTF-8" % declared[0])
        return DecodedPage(as_utf8, declared[0] if declared and body.isascii() else "utf-8")
    for position, name in enumerate(declared):
        text = _strict(body, name)
        if text is not None:
            problem = None
            if position:
                problem = "declared %s in the header, but the body is %s (its <meta>)" % (declared[0], name)
            return DecodedPage(text, name, problem)
    best = from_bytes(body[:_DETECT_BYTES]).best()
    detected = _codec(best.encoding) if best is not None else None
    encoding = detected or "cp1252"
    if declared:
        problem = "declared %s, which does not decode the body; detected %s" % (" / ".join(declared), encoding)
    else:
        problem = "no charset declared; detected %s" % encoding
    return DecodedPage(body.decode(encoding, "replace"), encoding, problem)
