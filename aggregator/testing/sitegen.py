"""Synthetic news sites for benchmarks and tests: article pages, feeds, sitemaps and listings on disk.

Writes a snapshot folder that `aggregator.testing.snapshot.serve_snapshot` serves. Texts are built from
sentence templates over large word pools with a seeded random generator, so two generated stories
share no more than common phrases, while planted copies share their text exactly or nearly.
Owns nothing the crawler uses at run time.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

PEOPLE = ["Aigerim Sadykova", "Nurlan Bekov", "Dilnoza Karimova", "Timur Abenov", "Saule Omarova",
          "Rustam Yusupov", "Gulnara Ismailova", "Arman Zhaksylykov", "Madina Tursunova", "Bakhyt Serikov",
          "Leyla Aliyeva", "Giorgi Beridze", "Anna Hakobyan", "Oleksandr Kovalenko", "Farrukh Nazarov",
          "Zarina Akhmetova", "Eldar Mammadov", "Kamila Rakhimova", "Daniyar Utegenov", "Sevara Tosheva"]
PLACES = ["Astana", "Almaty", "Tashkent", "Bishkek", "Dushanbe", "Ashgabat", "Baku", "Tbilisi", "Yerevan",
          "Aktau", "Shymkent", "Samarkand", "Bukhara", "Osh", "Karaganda", "Atyrau", "Termez", "Khorgos",
          "Navoi", "Turkestan", "Pavlodar", "Kostanay", "Nukus", "Khujand", "Mary"]
ORGS = ["the Ministry of Energy", "the national railway company", "the Eurasian Development Bank",
        "the regional akimat", "the central bank", "the customs committee", "the ministry of agriculture",
        "the port authority", "a consortium of logistics firms", "the chamber of commerce",
        "the state water agency", "the health ministry", "the education ministry", "the statistics bureau",
        "the investment committee", "the union of grain exporters", "the national airline",
        "the ministry of digital development", "the anti-monopoly agency", "the tourism board"]
THINGS = ["a new container terminal", "the grain export quota", "a solar power plant", "the rail freight tariff",
          "a digital customs platform", "the irrigation canal upgrade", "a wind farm near the steppe",
          "the cross-border trade zone", "the regional airport expansion", "a fertiliser plant",
          "the gas pipeline extension", "the water-sharing agreement", "a textile cluster",
          "the e-government portal", "a copper smelter", "the highway reconstruction", "a cotton processing hub",
          "the teacher pay reform", "the hospital modernisation plan", "a data centre campus",
          "the ferry link across the Caspian", "a logistics hub at the border", "the mortgage subsidy scheme",
          "the wheat harvest forecast", "a rare-earth mining licence"]
VERBS = ["approved", "announced", "postponed", "expanded", "criticised", "launched", "reviewed", "financed",
         "suspended", "completed", "proposed", "defended", "questioned", "inspected", "signed off on"]
ADJECTIVES = ["ambitious", "long-delayed", "costly", "modest", "controversial", "regional", "pilot",
              "five-year", "multi-billion", "cross-border", "second-phase", "much-discussed", "emergency"]
REASONS = ["rising demand from neighbouring markets", "complaints from local farmers", "a budget shortfall",
           "pressure from foreign investors", "a new presidential decree", "delays at the border crossings",
           "a drought that cut river levels", "record transit volumes", "an audit of public spending",
           "falling commodity prices", "a surge in container traffic", "talks with Chinese partners",
           "a parliamentary inquiry", "the approaching winter season", "a shortage of skilled workers"]
NUMBERS = ["12", "27", "40", "85", "150", "230", "310", "470", "600", "1,200", "2,500", "3.4", "7.8", "18"]
UNITS = ["million dollars", "billion tenge", "thousand tonnes", "kilometres", "megawatts", "per cent",
         "thousand jobs", "hectares", "million passengers", "thousand containers"]
FUNCTION_WORDS = ["the", "of", "and", "to", "in", "a", "for", "on", "that", "with", "as", "by", "at", "from",
                  "was", "is", "said", "has", "will", "its", "their", "after", "over", "while", "which"]
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "pl", "sh", "kh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ia"]
_CODAS = ["", "n", "r", "s", "t", "l", "m", "nd", "st", "x"]
_SUFFIXES = ["", "", "s", "ed", "ing", "ion", "al", "ment", "ity", "er"]


def vocabulary(size: int = 6000, seed: int = 99) -> list[str]:
    """Pseudo-words (syllable compounds): a vocabulary large enough that two generated stories share no more
    3-word shingles than two real ones do. Real names and places are mixed in by `sentence`."""
    rng = random.Random(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                       for _ in range(rng.choice((1, 2, 2, 3)))) + rng.choice(_SUFFIXES)
        words.setdefault(word, None)
    return list(words)


_VOCABULARY = tuple(vocabulary())
_ZIPF_WEIGHTS = tuple(1.0 / (rank + 10) for rank in range(len(_VOCABULARY)))


def sentence(rng: random.Random) -> str:
    """One sentence: content words (Zipf-distributed), function words, and real names, places and numbers."""
    length = rng.randint(12, 28)
    content = rng.choices(_VOCABULARY, weights=_ZIPF_WEIGHTS, k=length)
    words = []
    for word in content:
        roll = rng.random()
        if roll < 0.35:
            words.append(rng.choice(FUNCTION_WORDS))
        elif roll < 0.40:
            words.append(rng.choice(PLACES))
        elif roll < 0.43:
            words.append(rng.choice(PEOPLE))
        elif roll < 0.45:
            words.append("%s %s" % (rng.choice(NUMBERS), rng.choice(UNITS)))
        words.append(word)
        if rng.random() < 0.06:
            words[-1] += ","
    text = " ".join(words).rstrip(",")
    return text[0].upper() + text[1:] + "."


def paragraphs(rng: random.Random, count: int | None = None) -> list[str]:
    count = count or rng.randint(5, 9)
    return [" ".join(sentence(rng) for _ in range(rng.randint(3, 5))) for _ in range(count)]


@dataclass
class Story:
    slug: str
    title: str
    paragraphs: list[str]
    published: datetime
    author: str
    updated: datetime | None = None

    @property
    def last_change(self) -> datetime:
        return self.updated or self.published


@dataclass
class SiteSpec:
    """One generated site: its stories and which ways it announces them."""

    name: str
    stories: list[Story] = field(default_factory=list)
    feed: bool = True
    sitemap: bool = True
    listing_per_page: int = 20
    template: int = 0


def make_story(rng: random.Random, index: int, published: datetime) -> Story:
    place, thing = rng.choice(PLACES), rng.choice(THINGS)
    title = "%s: %s %s %s" % (place, rng.choice(ORGS).capitalize(), rng.choice(VERBS), thing)
    slug = "%s-%d" % ("-".join(w.strip(",.:").lower() for w in title.split()[:6]), index)
    return Story(slug=slug, title=title, paragraphs=paragraphs(rng), published=published,
                 author=rng.choice(PEOPLE))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<link rel="canonical" href="{url}"><meta property="og:title" content="{title}">
<meta property="article:published_time" content="{published}">{modified}
<link rel="alternate" type="application/rss+xml" href="{{{{BASE}}}}/feed.rss"></head>
<body><header class="site-header"><nav><a href="/">Home</a> <a href="/news/">News</a>
<a href="/about">About us</a> <a href="/contact">Contact</a></nav></header>
<div class="cookie-banner">We use cookies on {site} to improve your experience. Accept all cookies.</div>
<main><article class="{cls}"><h1>{title}</h1><p class="byline">By {author}</p>
<div class="entry-content">{body}</div>
<div class="share">Share on Facebook · Share on X · Copy link</div></article>
<aside class="related"><h3>Related stories</h3><ul>{related}</ul></aside></main>
<footer><p>© 2026 {site}. All rights reserved.</p><p>Subscribe to the {site} newsletter.</p></footer>
</body></html>
"""


def article_url(base: str, story: Story) -> str:
    return "%s/news/%s" % (base, story.slug)


def render_article(site: SiteSpec, story: Story, related: list[Story]) -> str:
    modified = ""
    if story.updated:
        modified = '\n<meta property="article:modified_time" content="%s">' % story.updated.isoformat()
    return _PAGE.format(
        title=html.escape(story.title), site=site.name, url=article_url("{{BASE}}", story),
        published=story.published.isoformat(), modified=modified, author=story.author,
        cls=["post", "story-body", "article-main"][site.template % 3],
        body="".join("<p>%s</p>" % html.escape(p) for p in story.paragraphs),
        related="".join('<li><a href="/news/%s">%s</a></li>' % (r.slug, html.escape(r.title)) for r in related))


def render_rss(site: SiteSpec, stories: list[Story]) -> str:
    items = "".join(
        "<item><title>%s</title><link>%s</link><guid>%s</guid><pubDate>%s</pubDate>%s"
        "<description>%s</description></item>\n" % (
            html.escape(s.title), article_url("{{BASE}}", s), article_url("{{BASE}}", s),
            format_datetime(s.published),
            "<atom:updated>%s</atom:updated>" % s.updated.isoformat() if s.updated else "",
            html.escape(s.paragraphs[0][:200]))
        for s in stories)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
            "<channel><title>%s</title><link>{{BASE}}/</link><language>en</language>\n%s</channel></rss>\n"
            % (site.name, items))


def render_sitemap(stories: list[Story]) -> str:
    urls = "".join("<url><loc>%s</loc><lastmod>%s</lastmod></url>\n" % (
        article_url("{{BASE}}", s), s.last_change.isoformat()) for s in stories)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n%s</urlset>\n' % urls)


def render_listing(site: SiteSpec, stories: list[Story], page: int, pages: int) -> str:
    cards = "".join('<div class="card"><a class="article-link" href="/news/%s">%s</a></div>\n'
                    % (s.slug, html.escape(s.title)) for s in stories)
    nxt = '<a rel="next" href="/news/page/%d">Older stories</a>' % (page + 1) if page < pages else ""
    return ("<!DOCTYPE html><html><head><title>News | %s</title></head><body><h1>Latest news</h1>\n%s%s"
            "</body></html>\n" % (site.name, cards, nxt))


def write_site(root: Path, site: SiteSpec, feed_size: int = 50) -> None:
    """Write `site` under `root/site.name`: article pages, feed.rss (newest `feed_size`), sitemap.xml,
    robots.txt and a paginated listing at /news/ (then /news/page/2, ...)."""
    folder = root / site.name
    (folder / "news" / "page").mkdir(parents=True, exist_ok=True)
    newest = sorted(site.stories, key=lambda s: s.last_change, reverse=True)
    for position, story in enumerate(site.stories):
        related = [site.stories[(position + k) % len(site.stories)] for k in (1, 2, 3)]
        (folder / "news" / (story.slug + ".html")).write_text(render_article(site, story, related), "utf-8")
    if site.feed:
        (folder / "feed.rss").write_text(render_rss(site, newest[:feed_size]), "utf-8")
    robots = "User-agent: *\nAllow: /\n"
    if site.sitemap:
        (folder / "sitemap.xml").write_text(render_sitemap(newest), "utf-8")
        robots += "Sitemap: {{BASE}}/sitemap.xml\n"
    (folder / "robots.txt").write_text(robots, "utf-8")
    per_page = site.listing_per_page
    pages = max(1, -(-len(newest) // per_page))
    for page in range(1, pages + 1):
        chunk = newest[(page - 1) * per_page: page * per_page]
        target = folder / "news" / "index.html" if page == 1 else folder / "news" / "page" / ("%d.html" % page)
        target.write_text(render_listing(site, chunk, page, pages), "utf-8")


def generate_stories(count: int, seed: int = 0, start: datetime | None = None) -> list[Story]:
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    return [make_story(rng, i, start + timedelta(minutes=37 * i)) for i in range(count)]


def manifest(root: Path, sites: list[SiteSpec]) -> None:
    """Write `manifest.json` next to the sites: every story's site, slug and last change."""
    data = {s.name: [{"slug": st.slug, "last_change": st.last_change.isoformat()} for st in s.stories]
            for s in sites}
    (root.parent / (root.name + "-manifest.json")).write_text(json.dumps(data), "utf-8")


# --- heavier, varied page templates (for throughput benchmarks): real news pages are ~50-150 KB, mostly
# navigation, teasers, scripts and footers around a few KB of article text.
_LAYOUTS = (
    ("wp", "entry-content", "sidebar widget-area", "site-footer"),
    ("drupal", "field field--name-body", "region-sidebar-first", "region-footer"),
    ("react", "ArticleBody-articleBody", "RightRail-container", "Footer-container"),
    ("custom", "story-text", "aside-col", "bottom-links"),
)


def _links(rng: random.Random, count: int, prefix: str) -> str:
    """A nested navigation block: groups of linked items, as mega-menus and footers are built."""
    groups = []
    for start in range(0, count, 8):
        items = "".join('<li class="menu-item"><div class="menu-link"><a href="/%s/%s"><span>%s</span></a></div></li>'
                        % (prefix, rng.choice(_VOCABULARY), rng.choice(_VOCABULARY).capitalize())
                        for _ in range(min(8, count - start)))
        groups.append('<li class="menu-group"><div class="menu-col"><h4>%s</h4><ul>%s</ul></div></li>'
                      % (rng.choice(_VOCABULARY).capitalize(), items))
    return "".join(groups)


def _rich(paragraph: str, rng: random.Random) -> str:
    """A paragraph with the inline markup real articles carry: links and emphasis inside the text."""
    words = html.escape(paragraph).split(" ")
    for _ in range(rng.randint(0, 3)):
        at = rng.randrange(len(words))
        words[at] = rng.choice(('<a href="/news/%s">%s</a>' % (rng.choice(_VOCABULARY), words[at]),
                                "<em>%s</em>" % words[at], "<strong>%s</strong>" % words[at]))
    return "<p>%s</p>" % " ".join(words)


def render_heavy_article(site: SiteSpec, story: Story, related: list[Story], seed: int) -> str:
    """An article page in one of four layouts with realistic weight: mega-menu, sidebar teasers, inline
    script state, comments and a link-heavy footer around the body."""
    rng = random.Random(seed)
    name, body_class, side_class, foot_class = _LAYOUTS[site.template % len(_LAYOUTS)]
    teasers = "".join(
        '<div class="teaser"><div class="teaser-media"><a href="/news/%s"><img src="/img/%d.jpg" alt=""></a></div>'
        '<div class="teaser-body"><h4><a href="/news/%s">%s</a></h4><p>%s</p><span class="time">%d min ago</span>'
        "</div></div>" % (r.slug, rng.randint(1, 9999), r.slug, html.escape(r.title), html.escape(sentence(rng)),
                          rng.randint(1, 59)) for r in related)
    teasers += "".join(
        '<div class="teaser small"><div class="teaser-body"><h4><a href="/news/%s">%s</a></h4>'
        '<span class="tag"><a href="/tag/%s">%s</a></span></div></div>'
        % (rng.choice(_VOCABULARY), html.escape(sentence(rng)[:70]), rng.choice(_VOCABULARY),
           rng.choice(_VOCABULARY)) for _ in range(70))
    state = json.dumps({"page": {"id": story.slug, "layout": name, "ads": [rng.random() for _ in range(400)],
                                 "nav": [rng.choice(_VOCABULARY) for _ in range(600)]}})
    comments = "".join('<li class="comment"><div class="comment-meta"><b>%s</b> <time>%d hours ago</time></div>'
                       '<div class="comment-body"><p>%s</p></div><div class="comment-actions"><a href="#">Reply</a>'
                       ' <a href="#">Report</a></div></li>' % (rng.choice(PEOPLE), rng.randint(1, 48), sentence(rng))
                       for _ in range(rng.randint(5, 25)))
    modified = ""
    if story.updated:
        modified = '<meta property="article:modified_time" content="%s">' % story.updated.isoformat()
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%(title)s | %(site)s</title>'
        '<link rel="canonical" href="%(url)s"><meta property="og:title" content="%(title)s">'
        '<meta property="og:url" content="%(url)s"><meta property="article:published_time" content="%(date)s">'
        "%(modified)s<style>%(css)s</style><script>window.__STATE__=%(state)s</script></head>"
        '<body class="%(layout)s"><header><nav class="mega-menu"><ul>%(menu)s</ul></nav>'
        '<div class="cookie-notice">We use cookies to personalise content and ads. Accept all</div></header>'
        '<main><article><h1>%(title)s</h1><div class="byline">By %(author)s · %(date)s</div>'
        '<div class="share"><a href="#">Share</a> <a href="#">Tweet</a> <a href="#">Email</a></div>'
        '<div class="%(body_class)s">%(body)s</div></article>'
        '<section id="comments"><h3>Comments</h3><ul>%(comments)s</ul></section></main>'
        '<aside class="%(side_class)s"><h3>Most read</h3>%(teasers)s</aside>'
        '<footer class="%(foot_class)s"><ul>%(footer)s</ul><p>© 2026 %(site)s</p></footer>'
        "<script>%(script)s</script></body></html>"
    ) % {
        "title": html.escape(story.title), "site": site.name, "url": article_url("{{BASE}}", story),
        "date": story.published.isoformat(), "modified": modified, "layout": name,
        "css": ".x{color:#333}" * rng.randint(100, 400), "state": state, "menu": _links(rng, 240, "section"),
        "author": story.author, "body_class": body_class,
        "body": "".join(_rich(p, rng) for p in story.paragraphs), "comments": comments,
        "side_class": side_class, "teasers": teasers, "foot_class": foot_class, "footer": _links(rng, 160, "page"),
        "script": "var t=%d;" % seed * rng.randint(50, 300),
    }
