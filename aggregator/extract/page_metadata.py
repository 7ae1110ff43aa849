"""Read what an article page says about itself: JSON-LD, Open Graph and other meta tags, <h1>, <html lang>.

Owns the parsing and cleaning of page metadata (titles without the site-name suffix, author names without
"By" or the site posing as an author); it never looks at the article body and never chooses dates.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

from aggregator.extract.authors import (
    byline_after_heading,
    choose_authors,
    clean_authors,
    labelled_bylines,
    visible_bylines,
)
from aggregator.extract.headings import article_headings
from aggregator.extract.jsonld import plain_text, read_jsonld, walk
from aggregator.extract.titles import TITLE_SEPARATORS, TitleCandidates, clean_title

logger = logging.getLogger(__name__)

__all__ = ["PageMetadata", "clean_authors", "clean_title", "read_page_metadata"]

AUTHOR_META = ("author", "article:author", "sailthru.author", "parsely-author", "dc.creator", "byl")
# twitter:label1/data1 pairs ("Written by" / "Jane Doe") that some CMSes emit for the byline
AUTHOR_LABEL = re.compile(
    r"^(?:written|posted|verfasst|geschrieben|escrito|écrit)\s+(?:by|von|por|par)\b|^(?:author|autor)", re.I
)
TRAILING_PARENTHESIS = re.compile(r"\s*\([^()]*\)\s*$")


@dataclass(frozen=True)
class PageMetadata:
    """Metadata as the page states it; every field is None or empty when the page is silent."""

    titles: tuple[str, ...] = ()
    site_name: str | None = None
    site_names: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    authors_are_publisher: bool = False  # `authors` is the publication itself, the page naming no person
    published: tuple[tuple[str, str], ...] = ()
    modified: tuple[tuple[str, str], ...] = ()
    language: str | None = None
    description: str | None = None
    descriptions: tuple[str, ...] = ()  # every summary the page gives (meta tags, JSON-LD), for the standfirst
    image: str | None = None
    tags: tuple[str, ...] = ()
    accessible_for_free: bool | None = None
    article_body: str | None = None
    headings: tuple[str, ...] = field(default=())
    title_candidates: TitleCandidates = field(default_factory=TitleCandidates)
    declares_article: bool = False  # JSON-LD Article (or og:type article): worth its metadata without a body
    canonical_link: str | None = None  # <link rel="canonical">, as written
    og_url: str | None = None


_READ_TAGS = ("meta", "script", "h1", "title", "time", "link")


def _elements(tree: HtmlElement) -> dict[str, list[HtmlElement]]:
    """The page's elements of the tags read here, by tag, in document order: one walk over the tree
    instead of one per XPath (each walk of a 100 KB page costs ~0.15 ms)."""
    found: dict[str, list[HtmlElement]] = {tag: [] for tag in _READ_TAGS}
    for element in tree.iter(*_READ_TAGS):
        found[element.tag].append(element)
    return found


def _meta_index(metas: list[HtmlElement]) -> dict[str, list[str]]:
    """Contents of every <meta property|name|itemprop=key content=...>, by lower-cased key (one pass)."""
    index: dict[str, list[str]] = {}
    for element in metas:
        content = (element.get("content") or "").strip()
        if not content:
            continue
        for attribute in ("property", "name", "itemprop"):
            if key := element.get(attribute):
                index.setdefault(key.strip().lower(), []).append(content)
    return index


def _meta(index: dict[str, list[str]], *keys: str) -> list[str]:
    """Meta contents for `keys`, in the order of `keys`."""
    return [value for key in keys for value in index.get(key.lower(), ())]


def _names(value: Any) -> list[str]:
    """Names from a JSON-LD publisher value: a string, an Organization, or a list of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        return _names(name) if name else []
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    return []


def _first_url(value: Any) -> str | None:
    """The first URL in a JSON-LD image value (a string, an ImageObject, or a list of those)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _first_url(value.get("url") or value.get("contentUrl"))
    if isinstance(value, list):
        return next((url for item in value if (url := _first_url(item))), None)
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _accessible_for_free(article: dict[str, Any]) -> bool | None:
    """isAccessibleForFree on the article or on any of its parts (paywalled sections are hasPart)."""
    flags = [_as_bool(node.get("isAccessibleForFree")) for node in walk(article)]
    known = [flag for flag in flags if flag is not None]
    if not known:
        return None
    return all(known)


def normalise_language(value: str | None) -> str | None:
    """`en_us` / `EN-us` -> `en-US`; None for anything that is not a language tag."""
    if not value:
        return None
    match = re.fullmatch(r"([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{2}|\d{3}))?(?:[-_].*)?", value.strip())
    if not match:
        return None
    primary, region = match.group(1).lower(), match.group(2)
    return f"{primary}-{region.upper()}" if region else primary


def site_names_for(site_name: str | None, url: str | None) -> list[str]:
    """The page's site name plus its host name in the forms a title or byline might use."""
    names = [site_name] if site_name else []
    host = urlsplit(url).hostname if url else None
    if host:
        host = re.sub(r"^www\d*\.", "", host)
        names += [host, host.rsplit(".", 1)[0], host.split(".")[0]]
    return names


def read_page_metadata(tree: HtmlElement, url: str | None = None) -> PageMetadata:
    """Collect the page's own metadata from an lxml tree (read-only)."""
    elements = _elements(tree)
    jsonld = read_jsonld(elements["script"])
    article = jsonld.article
    meta = _meta_index(elements["meta"])
    publisher = jsonld.resolve(article.get("publisher"))
    site_name = next(iter(_meta(meta, "og:site_name", "application-name")), None) or next(
        iter(_names(publisher)), None
    )
    headings = article_headings(elements["h1"])
    social = _meta(meta, "og:title", "twitter:title")
    headline = jsonld.headline()
    documents = [" ".join(title.text.split()) for title in elements["title"]
                 if title.text and title.text.strip() and _parent_tag(title) == "head"]
    titles = [*social, *([headline] if headline else []), *headings, *documents]

    published = [("jsonld", v) for v in _dates(article.get("datePublished"))]
    published += [("meta", v) for v in _meta(
        meta, "article:published_time", "og:article:published_time", "article:published:time",
        "article:published", "og:published_time", "published_time", "datePublished", "pubdate",
        "publishdate", "publish-date", "date", "dc.date", "dc.date.issued", "sailthru.date", "parsely-pub-date",
    )]
    published += [("meta", time.get("datetime")) for time in elements["time"]
                  if time.get("itemprop") == "datePublished" and time.get("datetime") is not None]
    modified = [("jsonld", v) for v in _dates(article.get("dateModified"))]
    modified += [("meta", v) for v in _meta(
        meta, "article:modified_time", "og:updated_time", "dateModified", "last-modified",
    )]

    language = normalise_language(next(iter(tree.xpath("/html/@lang | /html/@xml:lang")), None))
    language = language or normalise_language(next(iter(_meta(meta, "og:locale")), None))
    language = language or normalise_language(
        next(iter(tree.xpath('//meta[translate(@http-equiv, "CONTENT-LANGUAGE", "content-language")'
                             '="content-language"]/@content')), None)
    )
    language = language or normalise_language(plain_text(article.get("inLanguage")))

    description = next(iter(_meta(meta, "og:description", "description", "twitter:description")), None)
    image = next(iter(_meta(meta, "og:image", "og:image:url", "twitter:image", "twitter:image:src")), None)
    image = image or _first_url(article.get("image"))
    if image and url:
        image = urljoin(url, image)

    keywords = article.get("keywords")
    tags = _meta(meta, "article:tag")
    tags += keywords if isinstance(keywords, list) else (keywords or "").split(",")
    if not tags:
        tags += ",".join(_meta(meta, "keywords", "news_keywords")).split(",")
    unique_tags = tuple(dict.fromkeys(t.strip() for t in tags if isinstance(t, str) and t.strip()))

    # <meta name="publisher">, with and without a "(www.site.com)" after the name: an author tag that repeats it
    # names the publication, not a person
    publisher_meta = [value for value in _meta(meta, "publisher") if not value.startswith("http")]
    publisher_meta += [bare for value in publisher_meta if (bare := TRAILING_PARENTHESIS.sub("", value)) != value]
    names = site_names_for(site_name, url) + _names(publisher) + publisher_meta + _title_suffixes(titles, headings)
    meta_authors = [value for value in _meta(meta, *AUTHOR_META) if not value.startswith("http")]
    meta_authors += _labelled(meta, AUTHOR_LABEL)
    authors, authors_are_publisher = choose_authors(
        jsonld.authors(), meta_authors,
        lambda: [*visible_bylines(tree), *byline_after_heading(tree), *labelled_bylines(tree)], names
    )
    return PageMetadata(
        titles=tuple(dict.fromkeys(titles)),
        site_name=site_name,
        site_names=tuple(dict.fromkeys(name for name in names if name)),
        authors=authors,
        authors_are_publisher=authors_are_publisher,
        published=tuple(published),
        modified=tuple(modified),
        language=language,
        description=plain_text(description),
        descriptions=tuple(dict.fromkeys(
            text for value in [*_meta(meta, "og:description", "description", "twitter:description"),
                               article.get("description"), article.get("abstract")]
            if (text := plain_text(value))
        )),
        image=image,
        tags=unique_tags,
        accessible_for_free=_accessible_for_free(article) if article else None,
        article_body=plain_text(article.get("articleBody")),
        headings=headings,
        title_candidates=TitleCandidates(tuple(social), headline, headings, tuple(documents)),
        declares_article=jsonld.is_article() or "article" in (value.lower() for value in _meta(meta, "og:type")),
        canonical_link=next((link.get("href") for link in elements["link"]
                             if link.get("rel") == "canonical" and link.get("href") is not None), None),
        og_url=next(iter(_meta(meta, "og:url")), None),
    )


def _labelled(meta: dict[str, list[str]], label: re.Pattern[str]) -> list[str]:
    """Values of twitter:dataN whose twitter:labelN matches `label`."""
    return [value for n in range(1, 5) for value in _meta(meta, f"twitter:data{n}")
            if any(label.search(text) for text in _meta(meta, f"twitter:label{n}"))]


def _parent_tag(element: HtmlElement) -> str | None:
    parent = element.getparent()
    return parent.tag if parent is not None else None


def _title_suffixes(titles: list[str], headings: tuple[str, ...]) -> list[str]:
    """What a title adds to the page's <h1> after a separator ("Story - Blog name"): the site's name."""
    suffixes = []
    for title in titles:
        head = clean_title(title, [], list(headings))
        if head and head != title:
            suffixes.append(TITLE_SEPARATORS.sub("", title.replace(head, "", 1), count=1).strip())
    return suffixes


def _dates(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
