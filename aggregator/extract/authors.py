"""Who wrote the article: names from JSON-LD, meta tags, microdata and the visible byline, cleaned and split.

Owns the author rules (which signal speaks first, list splitting in several languages, "By"/"Von" prefixes,
desk codes, junk that is not a name, the site posing as an author); it reads the tree but never the body text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from lxml.html import HtmlElement

from aggregator.extract.datelines import elements_after_heading
from aggregator.extract.fact_labels import labelled_values
from aggregator.extract.jsonld import NamedAuthor

logger = logging.getLogger(__name__)

__all__ = ["byline_after_heading", "clean_authors", "choose_authors", "labelled_bylines", "visible_bylines"]

BYLINE_PREFIX = re.compile(
    r"^\s*(?:(?:written|posted|reported|story|text|words|photos?|autor(?:in)?|author|autore|auteur)\s*:?\s+)?"
    r"(?:by|von|par|por|di|door|av|af)\s*[:\-]?\s+"
    r"|^\s*(?:autor(?:in|en)?|author|autore|auteur|text|von)\s*:\s*",
    re.I,
)
# "A and B", "A und B", "A og B", "A et B", "A y B", "A i B", "A e B", "A en B", "A och B", "A & B", "A, B"
AUTHOR_SPLIT = re.compile(
    r"\s*(?:;|\||/(?=\s)|,\s*(?:and|und|og|et|y|i|e|en|och|ja|és)\s+"
    r"|\s+(?:and|und|og|et|y|i|e|en|och|ja|és|&|\+)\s+|,)\s*"
)
NOT_A_NAME = re.compile(
    r"https?://|www\.|@|\.(?:com|org|net)\b|^\d[\d\s.:/-]*$"
    r"|\b(?:writer|editor|correspondent|reporter|contributor|columnist|newsroom|desk)s?\b"
    r"|\b(?:image|images|photo|photos|foto|fotos|getty|imago|picture|pictures|shutterstock|copyright)\b"
    r"|^\s*(?:bild|bilder|credit|quelle|source)\s*:"
    # a time or a date written where a byline is ("20 Nov 2019 08:00 GMT", "2018-09-16"), a CMS account, a file
    r"|\b[0-2]?\d:[0-5]\d\b|\b[0-3]?\d\.?\s+[^\W\d]{3,9}\.?\s+(?:19|20)\d\d\b|\b(?:19|20)\d\d-[01]\d-[0-3]\d\b"
    r"|^(?:admin|administrator|webmaster)$|\.txt\b",
    re.I,
)
# "Name Published 11:11 PM EST Nov 19, 2019": the byline line runs on into the article's timestamp.
TIMESTAMP_TAIL = re.compile(
    r"\s+(?:published|updated|posted|veröffentlicht|aktualisiert|publié|mis à jour|publicado|actualizado)\b"
    r"(?=[^\d]{0,30}\d).*$",
    re.I,
)
# Credentials written after a name and split off with it ("Ilana Muhlstein, MS, RDN"): not names of their own.
CREDENTIAL = re.compile(
    r"^(?:MD|M\.D\.|PhD|Ph\.D\.|DPhil|MS|MSc|MA|BA|BSc|RD|RDN|LD|RN|NP|PA-C|MPH|MBA|JD|DO|DDS|DVM|CPT|CSCS"
    r"|CDE|CDCES|FACP|FACC|FRCP|LCSW|PharmD|PsyD|EdD|Esq\.?)$"
)
# A desk or initials code after the name: "Anna Muster (amu)", "Jan Beispiel/dpa" stays, "(Image: ...)" goes.
DESK_CODE = re.compile(r"\s*\((?:[^()]{1,12}|(?:image|photo|foto|bild)[^()]*)\)\s*$", re.I)
# Job titles written after a name in Korean, Japanese and Chinese bylines ("홍길동 기자", "山田太郎記者").
TITLE_SUFFIX = re.compile(r"\s*(?:기자|특파원|논설위원|記者|特派員|编辑|記者)\s*$")
MAX_NAME_LENGTH = 80
MAX_BYLINE_LENGTH = 160
# How many elements after the article's <h1> a byline may sit (past it lie teasers with their own authors).
BYLINE_REACH = 60
AUTHOR_LINK = re.compile(r"/(?:author|authors|autor|autoren|auteur|autore|journalist|reporter|profile)[s]?/", re.I)
AUTHOR_CLASS = re.compile(r"author|byline|autor", re.I)
# contains() is a fraction of the cost of matching the class as a token in XPath; the token test is in Python
# The elements by their attributes: libxml2 walks only the attributes of those names, not every element with a
# predicate (0.4 against 1.4 ms on a 2,400-element page); the same elements, in document order.
BYLINE_XPATH = "(//@itemprop[.='author'] | //@rel[.='author'] | //@class[contains(., 'byline')])/.."
# A label in a list of facts about the article ("<strong>Autorin/Autor</strong> Name", "<dt>Author</dt><dd>Name</dd>").
AUTHOR_LABEL = re.compile(
    r"^(?:autor(?:in|en|innen)?(?:\s*/\s*autor(?:in|en)?)?|authors?|written by|auteurs?|autor[ei]|forfatter[e]?"
    r"|författare|skribent|auteur\(s\)|szerző|autorzy)\s*:?$",
    re.I,
)


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def clean_authors(raw: Sequence[str], site_names: Sequence[str], keep_site: bool = False) -> tuple[str, ...]:
    """Split, strip "By ..." and junk, drop the site posing as an author; keep order, no duplicates.

    `keep_site` keeps a name equal to the site's own (a page whose only author is the publication)."""
    site_keys = {_key(name) for name in site_names if name}
    authors: list[str] = []
    seen: set[str] = set()
    for value in raw:
        value = BYLINE_PREFIX.sub("", TIMESTAMP_TAIL.sub("", re.sub(r"\s+", " ", value or "").strip()))
        for name in AUTHOR_SPLIT.split(value):
            name = DESK_CODE.sub("", BYLINE_PREFIX.sub("", name))
            name = _without_site_suffix(TITLE_SUFFIX.sub("", name).strip(" ,.;:-|·•"), site_keys)
            key = _key(name)
            if not name or not key or key in seen or len(name) > MAX_NAME_LENGTH:
                continue
            if NOT_A_NAME.search(name) or CREDENTIAL.match(name) or (key in site_keys and not keep_site):
                continue
            seen.add(key)
            authors.append(name)
    return tuple(authors)


def choose_authors(
    jsonld: list[NamedAuthor], meta: list[str], visible: Callable[[], list[str]], site_names: Sequence[str]
) -> tuple[tuple[str, ...], bool]:
    """The names and whether they are the publication's own.

    JSON-LD people first, then meta tags, then the visible byline; the publication only when it is all
    the page names (a page that credits its newsroom rather than a person). `visible` reads the page's
    bylines, only when the cheaper signals are silent."""
    people = [author.name for author in jsonld if not author.organization]
    for source in (people, meta):
        if names := clean_authors(source, site_names):
            return names, False
    for line in visible():
        if names := clean_authors([line], site_names):
            return names, False
    for source in ([author.name for author in jsonld], meta):
        if names := clean_authors(source, site_names, keep_site=True):
            return names, True
    return (), False


def _without_site_suffix(name: str, site_keys: set[str]) -> str:
    """`name` without the publication's name after it ("Elliot Brownstein Florida Today", "Finian Cunningham.
    Sputnik International"), when at least two words of a name remain."""
    words = name.split()
    for cut in range(len(words) - 1, 1, -1):
        tail = _key(" ".join(words[cut:]))
        if len(tail) >= 5 and tail in site_keys:
            return " ".join(words[:cut]).rstrip(" ,.;:-|·•")
    return name


def visible_bylines(tree: HtmlElement) -> list[str]:
    """Names written on the page: microdata `itemprop=author` (its `name` part when it has one), `rel=author`
    links and elements of class `byline`, each short enough to be a byline rather than an author box."""
    found: list[str] = []
    for element in tree.xpath(BYLINE_XPATH):
        if not isinstance(element, HtmlElement):
            continue
        if element.get("itemprop") != "author" and element.get("rel") != "author" and "byline" not in (
            element.get("class") or ""
        ).split():
            continue
        if element.tag == "meta":
            value = element.get("content") or ""
        elif element.tag == "link":
            continue
        else:
            named = element.xpath(".//*[@itemprop='name']")
            source = named[0] if named else element
            value = source.get("content") or " ".join(source.text_content().split())
        value = value.strip()
        if value and len(value) <= MAX_BYLINE_LENGTH and value not in found:
            found.append(value)
    return found


def labelled_bylines(tree: HtmlElement) -> list[str]:
    """Names given after an author label in a list of the article's facts ("<strong>Autorin/Autor</strong> Name")."""
    return labelled_values(tree, AUTHOR_LABEL, MAX_BYLINE_LENGTH)


def byline_after_heading(tree: HtmlElement) -> list[str]:
    """The byline written just below the article's first <h1>: the first element there whose class says
    author or byline, or a link to an author page ("Von <a href=/autoren/...>Name</a>")."""
    for element in elements_after_heading(tree, BYLINE_REACH):
        is_link = element.tag == "a" and AUTHOR_LINK.search(element.get("href") or "")
        if not is_link and not AUTHOR_CLASS.search(element.get("class") or ""):
            continue
        text = " ".join(element.text_content().split())
        if text and len(text) <= MAX_BYLINE_LENGTH:
            return [text]
    return []
