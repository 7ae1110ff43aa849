"""The reader page: the stories of a JSON Feed document as one small, phone-friendly HTML page.

Owns the page's markup and style. Every piece of text from a story is escaped with `html.escape`, links
are kept only when they are http(s), and the whole dynamic part of the page then goes through the nh3
sanitizer (no scripts, no event handlers, no other URL schemes) before it leaves; only the constant
document shell below is written without it. Reads the feed dict only; never touches storage.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

import nh3

logger = logging.getLogger(__name__)

__all__ = ["CONTENT_SECURITY_POLICY", "render_page", "safe_url", "sanitize"]

STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #5f6368; --line: #e3e3e6; --link: #0b57d0;
        --bg: #fff; --chip: #f3f4f6; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ea; --muted: #a0a4ab; --line: #34363a; --link: #8ab4f8; --bg: #17181a; --chip: #25272a; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.page { max-width: 44rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
.masthead { border-bottom: 2px solid var(--fg); padding-bottom: .6rem; margin-bottom: .5rem; }
.masthead h1 { font-size: 1.6rem; line-height: 1.2; margin: 0; letter-spacing: -.01em; }
.masthead p { margin: .25rem 0 0; color: var(--muted); font-size: .9rem; }
a { color: var(--link); text-decoration: none; }
a:hover, a:focus { text-decoration: underline; }
.story { padding: 1.1rem 0; border-bottom: 1px solid var(--line); }
.story h2 { font-size: 1.2rem; line-height: 1.3; margin: 0 0 .3rem; overflow-wrap: anywhere; }
.story h2 a { color: var(--fg); }
.meta { margin: 0; color: var(--muted); font-size: .85rem; }
.source { font-weight: 600; }
.source.failing { color: #b3261e; }
.source.failing::after { content: " (failing)"; font-weight: 400; }
.failing-sources { margin: .5rem 0 0; padding: .5rem .7rem; border-left: 3px solid #b3261e; background: var(--chip);
                   font-size: .85rem; }
.summary { margin: .45rem 0 0; overflow-wrap: anywhere; display: -webkit-box; -webkit-box-orient: vertical;
           -webkit-line-clamp: 4; line-clamp: 4; overflow: hidden; }
.also { margin: .6rem 0 0; padding: .5rem .7rem; background: var(--chip); border-radius: .5rem;
        font-size: .85rem; }
.also-label { color: var(--muted); font-weight: 600; }
.also ul { margin: .2rem 0 0; padding: 0; list-style: none; }
.also li { margin: .15rem 0; overflow-wrap: anywhere; }
.also .title { color: var(--muted); }
.empty { color: var(--muted); padding: 2rem 0; }
.feeds { margin-top: 1.5rem; color: var(--muted); font-size: .85rem; }
.search { display: flex; gap: .4rem; margin: .6rem 0 0; }
.search input { flex: 1; min-width: 0; font: inherit; padding: .35rem .55rem; color: var(--fg);
                background: var(--bg); border: 1px solid var(--line); border-radius: .4rem; }
.search button { font: inherit; padding: .35rem .8rem; border: 0; border-radius: .4rem; color: var(--bg);
                 background: var(--fg); }
.snippet { margin: .45rem 0 0; overflow-wrap: anywhere; }
mark { background: #ffe58a; color: #1d1d1f; border-radius: .15rem; padding: 0 .1rem; }
"""
# The inline style is allowed by its hash, so the page needs no 'unsafe-inline' and runs no script.
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'sha256-%s'; img-src 'self'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'" % STYLE_HASH)

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>%(title)s</title>
<link rel="alternate" type="application/feed+json" href="feed.json">
<link rel="alternate" type="application/atom+xml" href="feed.atom">
<style>%(style)s</style>
</head>
<body>
<div class="page">
%(body)s
</div>
</body>
</html>
"""

ALLOWED_TAGS = {"header", "main", "footer", "article", "div", "h1", "h2", "p", "a", "ul", "li", "span", "time",
                "form", "input", "button", "mark"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "time": {"datetime"}, "form": {"action", "method", "role"},
                      "input": {"type", "name", "value", "placeholder", "aria-label"}, "button": {"type"},
                      "*": {"class"}}


def safe_url(url: object) -> str | None:
    """`url` if it is an absolute http(s) URL that can go into an href; None otherwise."""
    if not isinstance(url, str) or url != url.strip() or any(ord(char) < 32 for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in {"http", "https"} and parts.netloc else None


def _link(url: object, text: str, css_class: str | None = None) -> str:
    """An anchor for http(s) URLs, plain escaped text for anything else."""
    label = escape(text)
    if css_class:
        label = '<span class="%s">%s</span>' % (css_class, label)
    href = safe_url(url)
    return '<a href="%s">%s</a>' % (escape(href), label) if href else label


def _display_date(value: str | None) -> tuple[str, str] | None:
    """(machine-readable, human-readable) forms of an RFC 3339 date."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return value, "%d %s %d" % (parsed.day, parsed.strftime("%b"), parsed.year)


def _story(item: dict[str, Any], source_names: Mapping[str, str], failing: Collection[str] | None = None) -> str:
    extension = item.get("_aggregator", {})
    source = extension.get("source", "")
    title = item.get("title") or item.get("url") or "(untitled)"
    meta: list[str] = []
    date = _display_date(item.get("date_published"))
    if date:
        meta.append('<time datetime="%s">%s</time>' % (escape(date[0]), escape(date[1])))
    if source:
        meta.append('<span class="%s">%s</span>' % (_source_class(source, failing),
                                                     escape(source_names.get(source, source))))
    parts = ['<article class="story">', "<h2>%s</h2>" % _link(item.get("url"), title)]
    if meta:
        parts.append('<p class="meta">%s</p>' % " · ".join(meta))
    found = item.get("_search")
    if found and found.get("snippet"):
        parts.append('<p class="snippet">%s</p>' % _marked(found["snippet"], found.get("highlights", [])))
    elif item.get("summary"):
        parts.append('<p class="summary">%s</p>' % escape(item["summary"]))
    others = [s for s in extension.get("sightings", []) if s.get("url") != item.get("url")]
    if others:
        rows: list[str] = []
        for sighting in others:
            name = source_names.get(sighting.get("source", ""), sighting.get("source") or "unknown source")
            row = _link(sighting.get("url"), name, _source_class(sighting.get("source"), failing))
            if sighting.get("title") and sighting["title"] != item.get("title"):
                row += ' <span class="title">— %s</span>' % escape(sighting["title"])
            rows.append("<li>%s</li>" % row)
        parts.append('<div class="also"><span class="also-label">Also reported by</span><ul>%s</ul></div>'
                     % "".join(rows))
    parts.append("</article>")
    return "".join(parts)


def _marked(text: str, highlights: list[list[int]]) -> str:
    """`text` escaped, with each highlighted [start, end) span in <mark>."""
    out: list[str] = []
    at = 0
    for start, end in highlights:
        if at <= start < end <= len(text):
            out.append("%s<mark>%s</mark>" % (escape(text[at:start]), escape(text[start:end])))
            at = end
    return "".join(out) + escape(text[at:])


def _search_box(search: str | None, filters: Sequence[tuple[str, str]]) -> str:
    """The search form: a GET of this page with `q` and the page's filters (no script; the page's CSP allows
    forms to itself only)."""
    kept = "".join('<input type="hidden" name="%s" value="%s">' % (escape(name), escape(value))
                   for name, value in filters)
    return ('<form class="search" action="." method="get" role="search"><input type="search" name="q" value="%s"'
            ' placeholder="Search stories" aria-label="Search stories">%s<button type="submit">Search</button>'
            '</form>' % (escape(search or ""), kept))


def _source_class(source: object, failing: Collection[str] | None) -> str:
    return "source failing" if failing and source in failing else "source"


def _failing_notice(failing: Mapping[str, str], source_names: Mapping[str, str]) -> str:
    """The line under the masthead naming each failing source (key -> why): its stories may be missing."""
    named = ["%s (%s)" % (escape(source_names.get(key, key)), escape(why)) for key, why in sorted(failing.items())]
    return '<p class="failing-sources">Failing: %s. Their newest stories may be missing.</p>' % "; ".join(named)


def sanitize(fragment: str) -> str:
    """The HTML fragment with everything but our small tag/attribute allowlist and http(s) links removed."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def render_page(feed: dict[str, Any], source_names: Mapping[str, str] | None = None,
                subtitle: str | None = None, search: str | None = None,
                failing: Mapping[str, str] | None = None, filters: Sequence[tuple[str, str]] = ()) -> str:
    """The reader page for a JSON Feed document: newest first, each story with its other sightings. With
    `search` (what was searched for), the document holds search hits, best first, each with its snippet.
    `filters` (source, since, limit as the page was asked) are kept by the search box and the search's feed."""
    names = source_names or {}
    items = feed["items"]
    count = "%d %s" % (len(items), "story" if len(items) == 1 else "stories")
    header = '<header class="masthead"><h1>%s</h1><p>%s</p>%s</header>' % (
        escape(feed["title"]), escape(" · ".join(filter(None, [subtitle, count]))), _search_box(search, filters))
    empty = "No stories yet." if search is None else "No story matches %s." % search
    stories = "".join(_story(item, names, failing) for item in items) or '<p class="empty">%s</p>' % escape(empty)
    results = ('<a href="search?%s">JSON Feed of this search</a> · ' % escape(urlencode([("q", search), *filters]))
               if search is not None else "")
    footer = ('<footer class="feeds">Feeds: %s<a href="feed.json">JSON Feed</a> · '
              '<a href="feed.atom">Atom</a></footer>' % results)
    if failing:  # sources whose runs fail: the page may be missing their news
        header += _failing_notice(failing, names)
    body = sanitize(header + "<main>" + stories + "</main>" + footer)
    return SHELL % {"title": escape(feed["title"]), "style": STYLE, "body": body}
