"""What trails an extracted body without belonging to the article: calls to action (newsletter, follow us,
copyright), appeals that pitch the publication, the authors' biographies, contributor and agency credits,
and the publisher's "About us" boilerplate.

Owns the end of the body, line by line; every pattern must hold for news pages in general (no site's own
wording), and the page's own names (site, authors) are passed in. It never reads the page's markup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

logger = logging.getLogger(__name__)

__all__ = ["CALL_TO_ACTION", "is_call_to_action", "is_heading", "strip_tail"]

CALL_TO_ACTION = re.compile(
    r"\bsubscrib(?:e|ing)\b|newsletter|\bsign(?:ing)? ?-?up\b"
    r"|\bfollow (?:us|him|her|them|me|[A-Z][\w.]*)\b.{0,40}\b(?:on|at) (?:twitter|facebook|instagram|youtube|linkedin)"
    r"|\bclick (?:here|to)\b|\btap here\b|\bdownload (?:the|our)\b.{0,30}\bapp\b|\bget the\b.{0,30}\bapp\b"
    r"|all rights reserved|\bcopyright\b|©|\bif you (?:enjoyed|liked) this\b|\bin(?:to)? your inbox\b"
    r"|\btell us what you think\b|\bhave a (?:news )?tip\b|\b(?:may|can) be reached at\b"
    r"|\bbecome a (?:member|subscriber|supporter|patron)\b|\bsupport (?:our|independent|local) journalism\b"
    r"|\blisten (?:live|back)\b"
    r"|^\s*sources?\s*:|\bgot a (?:story|tip)\b|\bget in touch with (?:our|the) (?:news|newsroom)"
    r"|\bfor more stories like this|\bfollow\b.{0,60}\bfull coverage\b"
    r"|\bfollow [\w .]{1,40} on (?:google news|whatsapp|telegram)\b|\bon whatsapp\?|\bauf whatsapp\b|\babonnier"
    r"|\bbraucht (?:deine|ihre|eure) unterstützung\b|\bwie hat ihnen (?:dieser|der) artikel gefallen"
    r"|\bkostenlos testen\b|\bconfirm your public display name\b|\blogout and then login\b|\bunterstützen sie\b"
    r"|\bjetzt unterstützen\b|\bdonate\b|\bmake a (?:donation|contribution)\b|\bspenden\b"
    r"|\bsuscr[ií]b|\bsuscripci[oó]n|\babonnez\b|\babonnement\b|\babonnieren\b|\biscriviti\b|\babbonati\b"
    r"|\bassine\b|\bassinatura\b|\b(?:first|originally) published (?:in|on|by)\b",
    re.I,
)
# Every alternative of CALL_TO_ACTION holds one of these stems (lower case). The regex costs ~0.3 ms on a
# 200-character line, as its ~50 alternatives are tried at every position; the stems rule out almost every
# line of an article for ~10 µs.
CALL_STEMS = (
    "subscri", "newsletter", "sign", "follow", "click", "tap here", "download", "get the", "rights reserved",
    "copyright", "©", "if you", "inbox", "tell us", "tip", "reached at", "become a", "journalism", "listen",
    "source", "got a", "get in touch", "for more stories", "whatsapp", "abonn", "unterstützung", "gefallen",
    "testen", "display name", "logout", "unterstützen", "donat", "contribution", "spenden", "suscr", "iscriviti",
    "abbonati", "assin", "published",
)
# Who else wrote or supplied the report: "Additional reporting by ...", "... contributed to this report",
# "With reports from ...", "Quelle: ntv.de", "mit dpa", a desk code "(dmk)".
CREDIT_LINE = re.compile(
    r"^[\s(\-–—]*(?:additional reporting\b|reporting by\b|with (?:additional )?reports? (?:from|by)\b"
    r"|(?:quelle|source|fuente|fonte)\s*:|mit (?:material (?:von|der) )?(?:dpa|afp|ap|reuters|kna|epd|sid|apa)\b"
    r"|\(?\w{2,5}(?:/\w{2,5}){0,3}\)?$)"
    r"|\bcontributed (?:to )?this (?:report|article|story)\b",
    re.I,
)
# A call to action is a short line; a pitch that opens or closes on its call may be a long paragraph.
MAX_CALL_CHARS = 300
MAX_APPEAL_CHARS = 2000
SHORT_CALL_CHARS = 100
MAX_CREDIT_CHARS = 160
# How many lines may follow an appeal's call, and how far from the end a bio or boilerplate may start.
APPEAL_LINES = 4
BIO_LINES = 4
MAX_BIO_CHARS = 600
# What a biography says of its subject: a profession (enough beside a first name), or only "is a" beside the
# full name ("Lance has covered ..."; "Ines Karlsson is a ..."; a quoted "Anna is a nurse" is no bio).
BIO_ROLE = re.compile(
    r"\b(?:journalist|reporter|correspondent|editor|columnist|writer|author of|professor|lecturer|researcher"
    r"|fellow|has covered|covers|korrespondent\w*|redakteur\w*|autor(?:in)?|journalistin|est journaliste"
    r"|es periodista)\b",
    re.I,
)
BIO_INTRO = re.compile(r"\b(?:is a|is an|ist bei|ist seit|est|es)\b", re.I)
# An appeal's pitch speaks as the publication ("we", "our"); "you" alone is every consumer article's voice.
PITCH_VOICE = re.compile(
    r"\b(?:we|our|us)\b|\b(?:wir|unser\w*|uns)\b|\b(?:nous|notre|nos)\b|\b(?:nosotros|nuestr\w+)\b"
    r"|\b(?:noi|nostr\w+)\b|\b(?:vi|vår\w*|oss)\b",
    re.I,
)
SHORT_WIDGET_CHARS = 40
# What follows the publication's name in its "About us" paragraph.
ABOUT_VERB = re.compile(r"\s+(?:is|was|has|ist|war|hat|est|a|es|ha|è)\b")
QUOTES = ('"', "“", "‘", "'", "«", "„")


def strip_tail(lines: list[str], site_names: Sequence[str] = (), authors: Sequence[str] = ()) -> list[str]:
    """`lines` without what trails the article: calls to action, credits, the authors' bios (`authors`), an
    appeal or boilerplate naming the publication (`site_names`)."""
    site = _names(site_names)
    ending = _strip_calls_to_action(_strip_credits(lines))
    kept = _strip_boilerplate(_strip_appeal(_strip_bios(_strip_credits(ending), authors), site), site)
    # what those uncovered may end on a call or a credit in turn
    return _strip_calls_to_action(_strip_credits(kept)) if len(kept) < len(ending) else kept


def is_heading(line: str) -> bool:
    """A short line without closing punctuation: a (sub)heading."""
    return len(line) < 70 and not re.search(r"[.!?\"”:;]\s*$", line)


def _strip_calls_to_action(lines: list[str]) -> list[str]:
    """Remove the block of newsletter / follow-us / copyright lines (and their short headings) at the end."""
    end = len(lines)
    found = pitched = False
    while end > 0:
        line = lines[end - 1]
        if _is_call_to_action(line):
            found = True
        elif not pitched and _is_pitch_paragraph(line):
            found = pitched = True  # one long pitch paragraph at most, below the article's last one
        elif not (is_heading(line) and end > len(lines) - 4):
            break
        end -= 1
    return lines[:end] if found else lines


def _strip_credits(lines: list[str]) -> list[str]:
    """Remove the contributor and agency credits at the end ("Additional reporting by ...", "(dpa)")."""
    end = len(lines)
    while end > 0 and _is_credit(lines[end - 1]):
        end -= 1
    return lines[:end]


def is_call_to_action(text: str) -> bool:
    """Whether `text` holds a call to action (CALL_TO_ACTION), tested cheaply first on its stems."""
    lowered = text.lower()
    return any(stem in lowered for stem in CALL_STEMS) and bool(CALL_TO_ACTION.search(text))


def _is_call_to_action(line: str) -> bool:
    return len(line) < MAX_CALL_CHARS and not _is_speech(line) and is_call_to_action(line)


def _is_credit(line: str) -> bool:
    return len(line) < MAX_CREDIT_CHARS and bool(CREDIT_LINE.search(line))


def _is_pitch_paragraph(line: str) -> bool:
    """A paragraph that opens on a call ("If you enjoyed this article, ...") or closes on its button
    ("... Sind Sie dabei? Jetzt unterstützen"), however long."""
    if len(line) > MAX_APPEAL_CHARS or _is_speech(line):
        return False
    if is_call_to_action(line[:60]):
        return True
    if re.search(r"[.!?\"”»)]\s*$", line):
        return False
    last = re.split(r"[.!?]\s+", line)[-1]
    return len(last.split()) <= 5 and is_call_to_action(last)


def _strip_appeal(lines: list[str], site: tuple[str, ...]) -> list[str]:
    """Remove an appeal at the end: a short call to action ("2 Wochen kostenlos testen") followed by at most
    `APPEAL_LINES` lines of its pitch, each a call itself, a widget's scrap, or in the publication's voice."""
    for start in range(max(0, len(lines) - APPEAL_LINES - 1), len(lines)):
        if len(lines[start]) >= SHORT_CALL_CHARS or not _is_call_to_action(lines[start]):
            continue
        if all(_is_pitch(line, site) for line in lines[start + 1:]):
            logger.debug("appeal removed from the end of the body")
            return _without_trailing_headings(lines[:start])
    return lines


def _is_pitch(line: str, site: tuple[str, ...]) -> bool:
    return (len(line) < SHORT_WIDGET_CHARS or _mentions(line.lower(), site) or _is_call_to_action(line)
            or bool(PITCH_VOICE.search(line)))


def _mentions(lowered: str, names: tuple[str, ...]) -> bool:
    """Whether `lowered` names one of `names` as a word of its own (a plain search: a regex of the page's own
    names would be compiled anew for every page)."""
    for name in names:
        start = lowered.find(name)
        while start >= 0:
            end = start + len(name)
            if (start == 0 or not lowered[start - 1].isalnum()) and (end == len(lowered) or not lowered[end].isalnum()):
                return True
            start = lowered.find(name, start + 1)
    return False


def _strip_bios(lines: list[str], authors: Sequence[str]) -> list[str]:
    """Remove the authors' biographies at the end: from the first of the last `BIO_LINES` lines that names an
    author beside a profession (or in full beside "is a") to the end."""
    names = [name for name in authors if len(name.split()) >= 2]
    if not names:
        return lines
    for start in range(max(0, len(lines) - BIO_LINES), len(lines)):
        line = lines[start]
        if len(line) < MAX_BIO_CHARS and any(_is_bio_of(name, line) for name in names):
            logger.debug("author's biography removed from the end of the body")
            return _without_trailing_headings(lines[:start])
    return lines


def _is_bio_of(name: str, line: str) -> bool:
    if name in line:
        return bool(BIO_ROLE.search(line) or BIO_INTRO.search(line))
    return bool(re.search(rf"\b{re.escape(name.split()[0])}\b", line)) and bool(BIO_ROLE.search(line))


def _strip_boilerplate(lines: list[str], site: tuple[str, ...]) -> list[str]:
    """Remove the publisher's "About us" paragraphs at the end ("Acme is a global provider of ...")."""
    end = len(lines)
    while end > 0 and _is_about_us(lines[end - 1], site):
        end -= 1
    return _without_trailing_headings(lines[:end]) if end < len(lines) else lines


def _is_about_us(line: str, site: tuple[str, ...]) -> bool:
    lowered = line.lower()
    return any(lowered.startswith(name) and bool(ABOUT_VERB.match(lowered, len(name))) for name in site)


def _names(site_names: Sequence[str]) -> tuple[str, ...]:
    """The publication's names, lower-cased, longest first (host names and URLs left out)."""
    names = {name.lower() for name in site_names if len(name) >= 3 and "/" not in name and "." not in name}
    return tuple(sorted(names, key=len, reverse=True))


def _without_trailing_headings(lines: list[str]) -> list[str]:
    """`lines` without the short heading left dangling at their end (an appeal's or a bio box's title)."""
    return lines[:-1] if lines and is_heading(lines[-1]) else lines


def _is_speech(line: str) -> bool:
    """A quotation, not a call: the line opens with a quote mark that does not close on a quoted name
    followed by a colon ('"Hier ist Bayern": Der Newsletter ...')."""
    if not line.startswith(QUOTES):
        return False
    return not re.match(r"^.[^\"“”„«»]{1,60}[\"“”«»]:\s", line)
