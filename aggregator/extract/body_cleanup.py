"""Line-level clean-up of an extracted body: the title repeated on top, teaser blocks, tag and reading-time
lines, photo credits, page furniture ("Advertisement", "Article content") and the calls to action at the end.

Owns the line patterns; every pattern must hold for news pages in general (no site's own wording). It never
reads the page's markup.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

__all__ = ["clean_body"]

WORD = re.compile(r"\w+")
TEASER_LINE = re.compile(
    r"^\s*[-•*]?\s*(?:related(?: (?:stories|articles|content|coverage|reading|links?))?|see (?:more|also)"
    r"|read (?:more|also|next)|more|also(?: read)?|recommended(?: for you| reading)?|you (?:may|might) also like"
    r"|more from [\w .]+|most (?:read|popular|viewed|shared)[\w ]*|don'?t miss|trending(?: now)?"
    r"|further reading|top stories|more on this(?: story| topic)?|editor'?s picks?|auch interessant"
    r"|mehr zum thema|(?:à )?lire aussi|leer más|lee también|lees ook|les også|läs också|czytaj także"
    r"|popular|recommended videos)\s*(?::|\.\.\.|…|$)",
    re.I,
)
TAG_LINE = re.compile(r"^\s*(?:filed under|tags?|tagged(?: with)?|categor(?:y|ies)|posted in|topics?)\s*:", re.I)
READING_TIME_LINE = re.compile(
    r"^\s*(?:reading time|read time|lesezeit|lesedauer|tempo de leitura|tiempo de lectura|temps de lecture)\b.{0,30}$"
    r"|^\s*\d+\s*min(?:ute)?s?\s+read\s*$",
    re.I,
)
CALL_TO_ACTION = re.compile(
    r"\bsubscrib(?:e|ing)\b|newsletter|\bsign(?:ing)? ?-?up\b"
    r"|\bfollow (?:us|him|her|them|me|[A-Z][\w.]*)\b.{0,40}\b(?:on|at) (?:twitter|facebook|instagram|youtube|linkedin)"
    r"|\bclick (?:here|to)\b|\btap here\b|\bdownload (?:the|our)\b.{0,30}\bapp\b|\bget the\b.{0,30}\bapp\b"
    r"|all rights reserved|\bcopyright\b|©|\bif you (?:enjoyed|liked) this\b|\bin(?:to)? your inbox\b"
    r"|\btell us what you think\b|\bhave a (?:news )?tip\b|\b(?:may|can) be reached at\b"
    r"|\bbecome a (?:member|subscriber|patron)\b|\bsupport (?:our|independent) journalism\b|\blisten (?:live|back)\b"
    r"|^\s*sources?\s*:|\bgot a (?:story|tip)\b|\bget in touch with (?:our|the) (?:news|newsroom)"
    r"|\bfor more stories like this"
    r"|\bfollow [\w .]{1,40} on (?:google news|whatsapp|telegram)\b|\bon whatsapp\?|\bauf whatsapp\b|\babonnier"
    r"|\bbraucht (?:deine|ihre|eure) unterstützung\b|\bwie hat ihnen (?:dieser|der) artikel gefallen"
    r"|\bkostenlos testen\b|\bconfirm your public display name\b|\blogout and then login\b|\bunterstützen sie\b"
    r"|\bdonate\b|\bmake a (?:donation|contribution)\b|\bspenden\b"
    r"|\bsuscr[ií]b|\bsuscripci[oó]n|\babonnez\b|\babonnement\b|\babonnieren\b|\biscriviti\b|\babbonati\b"
    r"|\bassine\b|\bassinatura\b",
    re.I,
)
# Page furniture that trafilatura reads as a paragraph, and photo credits: dropped wherever they stand.
FURNITURE_LINE = re.compile(
    r"^\s*(?:advertisement|anzeige|werbung|publicidad|publicité|passer la publicité|pubblicità|reklame|reklama"
    r"|article content|story continues below(?: advertisement)?|continue reading below|copy link|link kopieren"
    r"|(?:photo|photos|foto|fotos|image|images|picture|bild|bilder|credit|фото|fotó|zdjęcie)\s*(?:\[[^\]]*\])?\s*:"
    r"\s*[^.!?]{1,80})\s*$",
    re.I,
)
CLICK_TO_TWEET = re.compile(r"\s*click to tweet\s*$", re.I)
QUOTES = ('"', "“", "‘", "'", "«", "„")

def clean_body(text: str, titles: list[str]) -> str:
    """Drop extraction leftovers line by line: title on top, teaser blocks, tag lines, trailing calls to action."""
    title_keys = {_words_key(title) for title in titles}
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    while lines and _is_title(lines[0], title_keys):
        lines.pop(0)
    kept: list[str] = []
    in_teaser_block = False
    for line in lines:
        if len(line) < 120 and FURNITURE_LINE.match(line):
            continue
        if len(line) < 200 and (TEASER_LINE.match(line) or TAG_LINE.match(line) or READING_TIME_LINE.match(line)):
            in_teaser_block = True
            continue
        # the headlines a "Related:" or "Don't miss" line introduces
        if in_teaser_block and len(line) < 200 and (line.startswith(("-", "•")) or _is_heading(line)):
            continue
        in_teaser_block = False
        kept.append(CLICK_TO_TWEET.sub("", line))
    return "\n".join(_strip_trailing_calls_to_action(kept))


def _strip_trailing_calls_to_action(lines: list[str]) -> list[str]:
    """Remove the block of newsletter / follow-us / copyright lines (and their short headings) at the end."""
    end = len(lines)
    found = False
    while end > 0:
        line = lines[end - 1]
        if len(line) < 300 and not line.startswith(QUOTES) and CALL_TO_ACTION.search(line):
            found = True
        elif not (_is_heading(line) and end > len(lines) - 4):
            break
        end -= 1
    return lines[:end] if found else lines


def _is_heading(line: str) -> bool:
    return len(line) < 70 and not re.search(r"[.!?\"”:;]\s*$", line)


def _is_title(line: str, title_keys: set[str]) -> bool:
    key = _words_key(line)
    return bool(key) and any(key == title or (len(key) > 20 and key in title) for title in title_keys)


def _words_key(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))
