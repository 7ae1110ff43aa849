"""XML bodies made safe for a feed parser: the DOCTYPE goes (no entity is expanded, no DTD loaded), and numeric
character references to characters XML cannot carry (`&#xD800;`, `&#x110000;`, `&#0;`) become U+FFFD.

Owns these two byte-level rewrites and the counts of what they ignored or replaced; parses nothing else and
fetches nothing. Works in whatever UTF the body is in (8-bit encodings are rewritten byte for byte).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["SafeXML", "make_safe", "replace_invalid_char_refs"]

_UTF_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
             (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
             (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
             (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"))
# What may come before a DOCTYPE: a BOM, white space, the XML declaration, comments and processing instructions.
_PROLOG_PART = re.compile(r"\ufeff|\s+|<\?.*?\?>|<!--.*?-->", re.S)
_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.I)
_DECLARATION = re.compile(r"<!ENTITY\b", re.I)
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


@dataclass(frozen=True)
class SafeXML:
    body: bytes
    entities_ignored: int = 0  # entity declarations in the DOCTYPE that was dropped
    dtd_dropped: bool = False  # a DOCTYPE (internal subset or external DTD) was dropped
    char_refs_replaced: int = 0


def _is_xml_char(code: int) -> bool:
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or \
        0x10000 <= code <= 0x10FFFF


def _doctype_end(text: str, start: int) -> tuple[int, int]:
    """Where the DOCTYPE starting at `start` ends (past its `>`, or the end of the text when it never does),
    and how many entity declarations its internal subset holds (outside comments and quoted literals)."""
    i, declarations, in_subset = start + len("<!DOCTYPE"), 0, False
    while i < len(text):
        char = text[i]
        if char in "\"'":
            close = text.find(char, i + 1)
            i = len(text) if close < 0 else close + 1
            continue
        if in_subset and text.startswith("<!--", i):
            close = text.find("-->", i + 4)
            i = len(text) if close < 0 else close + 3
            continue
        if in_subset and text.startswith("<?", i):
            close = text.find("?>", i + 2)
            i = len(text) if close < 0 else close + 2
            continue
        if in_subset and _DECLARATION.match(text, i):
            declarations += 1
        elif char == "[" and not in_subset:
            in_subset = True
        elif char == "]" and in_subset:
            in_subset = False
        elif char == ">" and not in_subset:
            return i + 1, declarations
        i += 1
    return len(text), declarations


def _drop_doctype(text: str) -> tuple[str, int, bool]:
    position = 0
    while True:
        part = _PROLOG_PART.match(text, position)
        if part is None or part.end() == position:
            break
        position = part.end()
    if not _DOCTYPE.match(text, position):
        return text, 0, False
    end, declarations = _doctype_end(text, position)
    return text[:position] + text[end:], declarations, True


def _replace_char_refs(text: str) -> tuple[str, int]:
    replaced = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal replaced
        hexadecimal, decimal = match.group(1), match.group(2)
        digits = (hexadecimal or decimal).lstrip("0") or "0"
        # past 8 digits no code point is valid (and int() refuses thousands of digits)
        code = -1 if len(digits) > 8 else int(hexadecimal, 16) if hexadecimal else int(decimal)
        if _is_xml_char(code):
            return match.group(0)
        replaced += 1
        return "&#xFFFD;"
    return _CHAR_REF.sub(replace, text), replaced


def make_safe(body: bytes) -> SafeXML:
    """`body` without its DOCTYPE and with its invalid character references replaced; the same bytes when
    neither was there."""
    encoding = next((name for bom, name in _UTF_BOMS if body.startswith(bom)), "latin-1")
    # latin-1 maps each byte to one character and back: an 8-bit or UTF-8 body is rewritten byte for byte
    text = body.decode(encoding, "replace")
    text, declarations, dropped = _drop_doctype(text)
    text, replaced = _replace_char_refs(text)
    if not dropped and not replaced:
        return SafeXML(body)
    return SafeXML(text.encode(encoding, "replace"), declarations, dropped, replaced)


def replace_invalid_char_refs(body: bytes) -> tuple[bytes, int]:
    """`body` with its references to characters XML cannot carry replaced by `&#xFFFD;`, and how many."""
    encoding = next((name for bom, name in _UTF_BOMS if body.startswith(bom)), "latin-1")
    text, replaced = _replace_char_refs(body.decode(encoding, "replace"))
    return (text.encode(encoding, "replace") if replaced else body), replaced
