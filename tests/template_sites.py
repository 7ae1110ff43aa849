"""Two loopback news sites whose article pages carry furniture inside the article itself (a newsletter box, a
share row, a donation appeal, a reprint notice), each site its own, for the template-learning tests.

`write_sites(root, published)` writes both sites; their feeds list the stories numbered below `published`. The
stories: `STORIES_PER_SITE` own stories per site; on the Harbour Post, story 7 quotes a paragraph of story 6;
the last story of each site is one wire story (`WIRE`), short, that both sites ran under their own furniture.
"""

from __future__ import annotations

import html
import random
from pathlib import Path

from aggregator.testing import sitegen

STORIES_PER_SITE = 12
WIRE = STORIES_PER_SITE - 1  # the number of the story both sites ran
QUOTER, QUOTED = 7, 6  # on the Harbour Post, story 7 quotes a paragraph of story 6

FURNITURE = {
    "harbourpost": {
        "after_first": [
            "Sign up for The Harbour Post morning briefing, the five stories you need to start your day, "
            "delivered to your inbox before seven.",
            "Share this story: Facebook, X, WhatsApp, LinkedIn, email a friend or copy the link.",
        ],
        "end": [
            "The Harbour Post is an independent, reader-funded newsroom. Our journalism stays free for "
            "everyone because readers like you chip in. Become a supporter today from as little as one "
            "dollar a month and help keep local reporting alive on the waterfront.",
            "Have a tip about a story on the harbour? Our reporters read every message sent to the newsroom "
            "tip line, and we protect our sources.",
        ],
    },
    "valleytimes": {
        "after_first": [
            "Get the Valley Times evening edition: the headlines from across the valley, every weekday in "
            "your inbox, free of charge.",
            "Tell your friends about this article on the social networks you use, or print it for later.",
        ],
        "end": [
            "This article may be republished free of charge under our creative commons licence, provided it "
            "is credited to the Valley Times and links back to the original page on our website.",
            "Independent local news needs you. Make a one-off gift or a monthly donation to the Valley Times "
            "community fund and keep our reporters covering council meetings, courts and schools.",
        ],
    },
}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<link rel="canonical" href="{{{{BASE}}}}/news/{slug}.html">
<meta property="article:published_time" content="2026-03-{day:02d}T08:00:00+00:00"></head>
<body><header><nav><a href="/">Home</a> <a href="/news/">News</a></nav></header>
<main><article><h1>{title}</h1>
{body}
</article></main>
<footer><p>&copy; 2026 {site}</p></footer></body></html>
"""

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{site}</title><link>{{{{BASE}}}}/</link><description>News</description>
{items}
</channel></rss>
"""
ITEM = """<item><title>{title}</title><link>{{{{BASE}}}}/news/{slug}.html</link>
<guid>{{{{BASE}}}}/news/{slug}.html</guid><pubDate>{day:02d} Mar 2026 08:00:00 +0000</pubDate></item>"""


def stories(site: str) -> list[tuple[str, str, list[str]]]:
    """(slug, title, paragraphs) of a site's stories, in publication order; the same on every call."""
    seed = 11 if site == "harbourpost" else 23
    rng = random.Random(seed)
    made = []
    for number in range(STORIES_PER_SITE):
        paragraphs = sitegen.paragraphs(rng, 5)
        made.append(("%s-story-%d" % (site, number), "%s story number %d" % (site.title(), number), paragraphs))
    if site == "harbourpost":
        quoted = made[QUOTED][2][2]
        made[QUOTER][2].insert(2, quoted)
    wire_rng = random.Random(99)
    wire = [" ".join(sitegen.sentence(wire_rng) for _ in range(2)) for _ in range(3)]  # a short brief
    made[WIRE] = ("%s-wire-ferry-fares" % site, "Ferry fares to rise in spring", wire)
    return made


def render(site: str, number: int, slug: str, title: str, paragraphs: list[str]) -> str:
    """An article page: the first paragraph, the site's newsletter and share boxes, the rest, its appeals."""
    furniture = FURNITURE[site]
    blocks = [paragraphs[0], *furniture["after_first"], *paragraphs[1:], *furniture["end"]]
    body = "\n".join("<p>%s</p>" % html.escape(block) for block in blocks)
    return PAGE.format(title=html.escape(title), site=site.title(), slug=slug, day=number + 1, body=body)


def write_sites(root: Path, published: int) -> None:
    """Write both sites under `root`, their feeds listing the stories numbered below `published`."""
    for site in FURNITURE:
        made = stories(site)
        news = root / site / "news"
        news.mkdir(parents=True, exist_ok=True)
        for number, (slug, title, paragraphs) in enumerate(made):
            (news / ("%s.html" % slug)).write_text(render(site, number, slug, title, paragraphs), "utf-8")
        items = "\n".join(ITEM.format(title=html.escape(title), slug=slug, day=number + 1)
                          for number, (slug, title, _p) in enumerate(made[:published]))
        (root / site / "feed.rss").write_text(RSS.format(site=site.title(), items=items), "utf-8")


SOURCES = """
[sources.harbourpost]
name = "The Harbour Post"
feed = "{{BASE:harbourpost}}/feed.rss"

[sources.valleytimes]
name = "The Valley Times"
feed = "{{BASE:valleytimes}}/feed.rss"
"""
