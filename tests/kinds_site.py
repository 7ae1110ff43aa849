"""A generated fixture web of every source kind: feeds in each format, autodiscovery, sitemaps, pagination."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aggregator.testing.sitegen import SiteSpec, Story, make_story, render_article

NOW = datetime.now(UTC).replace(microsecond=0)


def _stories(rng: random.Random, prefix: str, count: int, first: int) -> list[Story]:
    stories = []
    for i in range(count):
        story = make_story(rng, first + i, NOW - timedelta(hours=2 + i))
        story.slug = "%s-%s" % (prefix, story.slug)
        stories.append(story)
    return stories


def _url(story: Story) -> str:
    return "{{BASE}}/news/%s" % story.slug


def _write_articles(folder: Path, site: SiteSpec, stories: list[Story]) -> None:
    (folder / "news").mkdir(parents=True, exist_ok=True)
    for story in stories:
        (folder / "news" / (story.slug + ".html")).write_text(render_article(site, story, stories[:2]), "utf-8")


FEED_FORMATS = {
    "rss091": ("rss091.xml", '<?xml version="1.0"?>\n<rss version="0.91"><channel><title>T</title>'
               "<link>{{BASE}}/</link><description>d</description><language>en</language>%s</channel></rss>",
               "<item><title>%(title)s</title><link>%(url)s</link><description>%(summary)s</description></item>"),
    "rdf": ("rdf.xml", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            '<channel rdf:about="{{BASE}}/"><title>T</title><link>{{BASE}}/</link><description>d</description>'
            "</channel>%s</rdf:RDF>",
            '<item rdf:about="%(url)s"><title>%(title)s</title><link>%(url)s</link><dc:date>%(iso)s</dc:date>'
            "<dc:creator>%(author)s</dc:creator></item>"),
    "rss2": ("rss2.xml", '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>T</title><link>{{BASE}}/</link>'
             "%s</channel></rss>",
             "<item><title>%(title)s</title><link>%(url)s</link><guid>%(url)s</guid><pubDate>%(rfc822)s</pubDate>"
             "</item>"),
    "atom03": ("atom03.xml", '<?xml version="1.0"?>\n<feed version="0.3" xmlns="http://purl.org/atom/ns#">'
               "<title>T</title><modified>%(now)s</modified>%%s</feed>",
               '<entry><title>%(title)s</title><link rel="alternate" type="text/html" href="%(url)s"/>'
               "<id>%(url)s</id><issued>%(iso)s</issued><modified>%(iso)s</modified></entry>"),
    "atom10": ("atom10.xml", '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
               "<id>urn:t</id><updated>%(now)s</updated>%%s</feed>",
               '<entry><title>%(title)s</title><link href="%(url)s"/><id>%(url)s</id>'
               "<published>%(iso)s</published><updated>%(iso)s</updated><author><name>%(author)s</name></author>"
               "</entry>"),
}


def build(root: Path) -> dict[str, object]:
    """Write the sites under `root`; returns what each source should yield (article slugs)."""
    rng = random.Random(7)
    expected: dict[str, object] = {}

    # feeds: one site, one feed per format, each listing its own two articles; plus JSON Feed 1.0/1.1
    # and a malformed-but-usable RSS feed.
    feeds_site = SiteSpec(name="Feeds Daily")
    folder = root / "feeds"
    all_stories: list[Story] = []
    per_format: dict[str, list[str]] = {}
    for n, (kind, (name, wrapper, item)) in enumerate(FEED_FORMATS.items()):
        stories = _stories(rng, kind, 2, 10 * n)
        all_stories += stories
        items = "".join(item % {"title": s.title, "url": _url(s), "summary": s.paragraphs[0][:80],
                                "iso": s.published.isoformat(), "rfc822": format_datetime(s.published),
                                "author": s.author} for s in stories)
        if "%(now)s" in wrapper:
            wrapper = wrapper % {"now": NOW.isoformat()}
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(wrapper % items, "utf-8")
        per_format[kind] = [s.slug for s in stories]
    for version, name in (("1", "feed10.json"), ("1.1", "feed11.json")):
        stories = _stories(rng, "json" + version.replace(".", ""), 2, 100 + len(all_stories))
        all_stories += stories
        items = []
        for s in stories:
            entry = {"id": s.slug, "url": _url(s), "title": s.title, "date_published": s.published.isoformat()}
            entry.update({"author": {"name": s.author}} if version == "1" else {"authors": [{"name": s.author}]})
            items.append(entry)
        (folder / name).write_text(json.dumps({"version": "https://jsonfeed.org/version/" + version,
                                               "title": "T", "items": items}), "utf-8")
        per_format["json" + version] = [s.slug for s in stories]
    broken = _stories(rng, "bozo", 2, 200)
    all_stories += broken
    items = "".join("<item><title>%s &amp; more</title><link>%s</link></item>" % (s.title, _url(s)) for s in broken)
    # An undeclared entity and no closing tags: feedparser flags it (bozo) yet still yields the entries.
    (folder / "malformed.rss").write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel><title>T &nbsp;'
                                          "</title>%s" % items, "utf-8")
    per_format["malformed"] = [s.slug for s in broken]
    _write_articles(folder, feeds_site, all_stories)
    expected["feeds"] = per_format

    # homepage-only source: the feed is found through <link rel="alternate">.
    folder = root / "home"
    stories = _stories(rng, "home", 3, 300)
    _write_articles(folder, SiteSpec(name="Home Herald"), stories)
    (folder / "index.html").write_text(
        '<html><head><title>Home Herald</title><link rel="alternate" type="application/atom+xml" '
        'title="Atom" href="/atom.xml"></head><body><h1>Home Herald</h1></body></html>', "utf-8")
    items = "".join('<entry><title>%s</title><link href="%s"/><id>%s</id><updated>%s</updated></entry>'
                    % (s.title, _url(s), s.slug, s.published.isoformat()) for s in stories)
    (folder / "atom.xml").write_text('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>H</title>'
                                     "<id>urn:h</id><updated>%s</updated>%s</feed>" % (NOW.isoformat(), items), "utf-8")
    expected["home"] = [s.slug for s in stories]

    # sitemaps: robots.txt -> sitemap index -> a Google News sitemap (fresh) and a plain one (old entries).
    folder = root / "maps"
    fresh = _stories(rng, "news", 3, 400)
    old = _stories(rng, "old", 2, 500)
    for story in old:
        story.published = NOW - timedelta(days=40)
    _write_articles(folder, SiteSpec(name="Map Times"), fresh + old)
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\nSitemap: {{BASE}}/sitemap_index.xml\n", "utf-8")
    (folder / "sitemap_index.xml").write_text(
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>{{BASE}}/sitemap-news.xml</loc><lastmod>%s</lastmod></sitemap>"
        "<sitemap><loc>{{BASE}}/sitemap-2026.xml</loc></sitemap></sitemapindex>" % NOW.isoformat(), "utf-8")
    news = "".join(
        "<url><loc>%s</loc><news:news><news:publication><news:name>Map Times</news:name><news:language>en"
        "</news:language></news:publication><news:publication_date>%s</news:publication_date>"
        "<news:title>%s</news:title></news:news></url>" % (_url(s), s.published.isoformat(), s.title) for s in fresh)
    (folder / "sitemap-news.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">%s</urlset>' % news, "utf-8")
    plain = "".join("<url><loc>%s</loc><lastmod>%s</lastmod></url>" % (_url(s), s.published.isoformat())
                    for s in old)
    (folder / "sitemap-2026.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">%s</urlset>' % plain,
        "utf-8")
    expected["maps"] = {"fresh": [s.slug for s in fresh], "old": [s.slug for s in old],
                        "titles": {s.slug: s.title for s in fresh}}

    # paginated listing: 3 pages of 3 articles, rel=next links; one article URL is denied by pattern.
    folder = root / "paged"
    stories = _stories(rng, "paged", 9, 600)
    _write_articles(folder, SiteSpec(name="Paged Post"), stories)
    for page in range(3):
        cards = "".join('<div class="teaser"><a href="/news/%s">%s</a></div>' % (s.slug, s.title)
                        for s in stories[3 * page: 3 * page + 3])
        nxt = '<a rel="next" href="/news/page/%d">Older</a>' % (page + 2) if page < 2 else ""
        target = folder / "news" / ("index.html" if page == 0 else "page/%d.html" % (page + 1))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text('<html><body><nav><a href="/about">About</a><a href="/tag/politics">Politics</a></nav>'
                          "%s%s</body></html>" % (cards, nxt), "utf-8")
    # robots.txt keeps crawlers off one article of page 1.
    (folder / "robots.txt").write_text("User-agent: *\nDisallow: /news/%s\n" % stories[2].slug, "utf-8")
    expected["paged"] = [s.slug for s in stories]
    return expected


SOURCES = """
[sources.feeds]
name = "Feeds Daily"
feed = ["{{BASE:feeds}}/rss091.xml", "{{BASE:feeds}}/rdf.xml", "{{BASE:feeds}}/rss2.xml",
        "{{BASE:feeds}}/atom03.xml", "{{BASE:feeds}}/atom10.xml", "{{BASE:feeds}}/feed10.json",
        "{{BASE:feeds}}/feed11.json", "{{BASE:feeds}}/malformed.rss"]

[sources.home]
name = "Home Herald"
homepage = "{{BASE:home}}/"

[sources.maps]
name = "Map Times"
sitemap = "{{BASE:maps}}/robots.txt"
max_age = "30d"

[sources.paged]
name = "Paged Post"
listing = "{{BASE:paged}}/news/"
max_pages = 2
deny = ["paged-.*-601$"]
download_delay = 0.0
"""
