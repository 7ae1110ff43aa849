"""Line-level clean-up of an extracted body: the title repeated on top, teaser blocks, tag and reading-time
lines, photo credits, page furniture ("Advertisement", "Article content"); the end is `body_tail`'s.

Owns the line patterns; every pattern must hold for news pages in general (no site's own wording). It never
reads the page's markup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from aggregator.extract.body_tail import is_heading as _is_heading
from aggregator.extract.body_tail import strip_tail

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
# Page furniture that trafilatura reads as a paragraph, and photo credits: dropped wherever they stand.
FURNITURE_LINE = re.compile(
    r"^\s*(?:advertisement|anzeige|werbung|publicidad|publicité|passer la publicité|pubblicità|reklame|reklama"
    r"|article content|story continues below(?: advertisement)?|continue reading below|copy link|link kopieren"
    r"|(?:photo|photos|foto|fotos|image|images|picture|bild|bilder|credit|фото|fotó|zdjęcie)\s*(?:\[[^\]]*\])?\s*:"
    r"\s*[^.!?]{1,80})\s*$",
    re.I,
)
# A picture's caption ending on its credit ("Crews at the fire. © Agency | Photographer"), an update stamp
# ("Updated at 1:23 p.m."), a blog shortcode the page never rendered ("[button ...]Send us ...[/button]").
CAPTION_CREDIT = re.compile(r"\s©\s*[^.!?©]{1,60}$")
UPDATE_STAMP = re.compile(r"^\s*(?:last )?(?:updated|aktualisiert|mis à jour|actualizado|aggiornato)\b:?(.*)$", re.I)
# The words an update stamp may hold beside its digits (besides a month or a weekday).
STAMP_WORDS = {"at", "on", "am", "um", "le", "el", "il", "à", "a", "las", "alle", "pm", "p", "m", "uhr", "h", "gmt",
               "utc", "et", "est", "edt", "cet", "cest", "bst"}
SHORTCODE = re.compile(r"^\[(\w+)\b[^\]]*\].*\[/\1\]$")
CLICK_TO_TWEET = re.compile(r"\s*click to tweet\s*$", re.I)


def clean_body(text: str, titles: list[str], site_names: Sequence[str] = (), authors: Sequence[str] = ()) -> str:
    """Drop extraction leftovers line by line: title on top, teaser blocks, tag lines, and at the end the
    calls to action, the appeals that pitch the publication (`site_names`) and the authors' (`authors`) bios."""
    title_keys = {_words_key(title) for title in titles}
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    while lines and _is_title(lines[0], title_keys):
        lines.pop(0)
    kept: list[str] = []
    in_teaser_block = False
    for line in lines:
        if len(line) < 120 and FURNITURE_LINE.match(line) or _is_furniture(line):
            continue
        if len(line) < 200 and (TEASER_LINE.match(line) or TAG_LINE.match(line) or READING_TIME_LINE.match(line)):
            in_teaser_block = True
            continue
        # the headlines a "Related:" or "Don't miss" line introduces
        if in_teaser_block and len(line) < 200 and (line.startswith(("-", "•")) or _is_heading(line)):
            continue
        in_teaser_block = False
        kept.append(CLICK_TO_TWEET.sub("", line))
    return "\n".join(strip_tail(kept, site_names, authors))


def _is_furniture(line: str) -> bool:
    if len(line) >= 300:
        return False
    return bool(CAPTION_CREDIT.search(line) or SHORTCODE.match(line) or (len(line) < 80 and _is_update_stamp(line)))


def _is_update_stamp(line: str) -> bool:
    """"Updated at 1:23 p.m.", "Aktualisiert am 05.08.2024, 20:59 Uhr": the stamp and a date or time, no more."""
    match = UPDATE_STAMP.match(line)
    if not match or not re.search(r"\d", match.group(1)):
        return False
    words = [word for word in re.findall(r"[^\W\d_]+", match.group(1).lower()) if word not in STAMP_WORDS]
    return len(words) <= 2


def _is_title(line: str, title_keys: set[str]) -> bool:
    key = _words_key(line)
    return bool(key) and any(key == title or (len(key) > 20 and key in title) for title in title_keys)


def _words_key(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))
