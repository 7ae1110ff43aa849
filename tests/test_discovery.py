"""Links on listing pages and homepages: article links (by selector or by shape), the next page, announced feeds."""

from __future__ import annotations

from scrapy.http import HtmlResponse

from aggregator.fetch.discovery import article_links, discover_feeds, is_article_like, next_page

LISTING = "https://news.example/news/"


def page(body: str, url: str = LISTING, encoding: str = "utf-8") -> HtmlResponse:
    return HtmlResponse(url, body=("<html><head>%s" % body).encode(encoding), encoding=encoding)


TEASERS = page("""</head><body>
<nav><a href="/about">About</a><a href="/tag/politics">Politics</a><a href="/category/world-news-today">W</a></nav>
<a href=" /news/budget-passed-today?utm_source=home#top ">Budget</a>
<a href="/news/budget-passed-today">Budget again</a>
<a href="/2026/11/30/12345">By id</a>
<a href="https://other.example/news/budget-passed-today">Elsewhere</a>
<a href="/files/annual-report-2026.pdf">Report</a>
<a href="javascript:void(0)">JS</a><a href="mailto:desk@news.example">Mail</a><a href="ftp://news.example/a-b-c">F</a>
<a href="http://[unclosed/news/a-b-c">Broken</a>
<div class="card"><a href="/news/first-card-story">One</a></div>
<a class="card" href="/news/second-card-story">Two</a>
<div class="card"><a href="/news/third-card-story">Three</a><a href="/tag/x">tag</a></div>
</body></html>""")


def test_without_a_selector_same_site_article_shaped_links_canonical_each_once() -> None:
    assert article_links(TEASERS) == [
        "https://news.example/news/budget-passed-today", "https://news.example/2026/11/30/12345",
        "https://news.example/news/first-card-story", "https://news.example/news/second-card-story",
        "https://news.example/news/third-card-story"]


def test_a_selector_takes_the_links_it_selects_or_holds_in_page_order() -> None:
    assert article_links(TEASERS, ".card") == [
        "https://news.example/news/first-card-story", "https://news.example/news/second-card-story",
        "https://news.example/news/third-card-story", "https://news.example/tag/x"]
    assert article_links(TEASERS, "a.card") == ["https://news.example/news/second-card-story"]
    assert article_links(TEASERS, "div.none") == []


def test_a_broken_link_costs_only_itself() -> None:
    links = article_links(TEASERS, "body")
    assert "https://news.example/files/annual-report-2026.pdf" in links  # the source's selector decides
    assert not any("unclosed" in link or not link.startswith("https://") for link in links)
    assert len(links) == 11  # 3 in the nav, budget, by id, elsewhere, the PDF, 3 cards, the card's tag


def test_links_resolve_against_the_pages_base_href() -> None:
    based = page('<base href="https://news.example/archive/"><link rel="next" href="page-2">'
                 '<link rel="alternate" type="application/rss+xml" href="feed.xml"></head><body>'
                 '<a href="budget-passed-today">Budget</a></body></html>')
    assert article_links(based) == ["https://news.example/archive/budget-passed-today"]
    assert next_page(based) == "https://news.example/archive/page-2"
    assert discover_feeds(based) == ["https://news.example/archive/feed.xml"]


def test_next_page() -> None:
    assert next_page(page('</head><body><a rel="prev" href="/p/1">1</a><a rel="next nofollow" href="/p/3">3</a>'
                          "</body></html>")) == "https://news.example/p/3"
    assert next_page(page("</head><body><a href='/p/3'>more</a></body></html>")) is None
    assert next_page(page("<link rel='next' href='javascript:more()'></head></html>")) is None


def test_feeds_announced_by_a_page() -> None:
    home = page('<link rel="alternate" type="application/rss+xml" href="/feed.rss">'
                '<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="/atom.xml">'
                '<link rel="alternate" type="application/feed+json" href="/feed.json">'
                '<link rel="alternate" type="application/rss+xml" href="/feed.rss">'
                '<link rel="alternate" hreflang="kk" href="/kk/">'
                '<link rel="stylesheet" type="text/css" href="/style.css">'
                '<link rel="alternate" type="application/rss+xml" href="http://[unclosed">'
                "</head><body></body></html>", url="https://news.example/")
    assert discover_feeds(home) == ["https://news.example/feed.rss", "https://news.example/atom.xml",
                                    "https://news.example/feed.json"]


def test_article_shape() -> None:
    assert is_article_like("https://www.news.example/world/budget-passed-today.html", LISTING)
    assert is_article_like("https://news.example/2026/123", LISTING)
    assert not is_article_like("https://news.example/123", LISTING)  # a bare number is not enough
    assert not is_article_like("https://news.example/authors/john-smith-jones", LISTING)
    assert not is_article_like("https://news.example/img/budget-passed-today.jpg", LISTING)
    assert not is_article_like("https://sub.news.example/world/budget-passed-today", LISTING)
