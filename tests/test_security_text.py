"""Text enters clean (aggregator.text): a lone surrogate, a control character or a bidi override in a page or a
feed is stored without it, and the exports of the stored stories keep working."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.items import Article
from aggregator.testing.sitegen import SiteSpec, make_story, render_article
from aggregator.text import LIMITS, clean_article, clean_hints, clean_text
from tests.conftest import FAST, run_cli
from tests.faultserver import page, serve_faults
from tests.hostile_site import NOW, rss


@pytest.mark.parametrize(("dirty", "clean"), [
    ("Evil \udfff Author", "Evil  Author"),
    ("a\x00b\x07c\x1bd\x7fe\x85f", "abcdef"),
    ("tab\tnew\nline\r\nand\rcr", "tab\tnew\nline\nand\ncr"),
    ("gpj.\u202eexe", "gpj.exe"),
    ("\u2067isolated\u2069 \u200fmark", "isolated \u200fmark"),
    ("\ufdd0\ufffe\U0001ffff\U0010fffe ok", " ok"),
    ("Алматы — 中文 🎉", "Алматы — 中文 🎉"),
])
def test_clean_text_drops_what_never_enters(dirty: str, clean: str) -> None:
    assert clean_text(dirty) == clean
    assert clean_text(clean) == clean


def test_titles_authors_and_tags_are_bounded() -> None:
    article = clean_article(Article(text="body", title="word " * 1000, authors=("x" * 5000,) * 3
                                    + tuple("a%d" % i for i in range(500)), tags=tuple("t%d" % i for i in range(500))))
    assert len(article.title or "") <= LIMITS["title"] and (article.title or "").endswith("…")
    assert len(article.authors) == LIMITS["authors"] and len(article.authors[0]) <= LIMITS["author"]
    assert len(article.tags) == LIMITS["tags"]
    hints = clean_hints({"title": "\udfff", "authors": ["Evil \udfff Author", ""], "tags": ["\u202e"], "n": 3})
    assert hints == {"authors": ["Evil  Author"], "n": 3}


def _page_with_jsonld_author(base: str, slug: str) -> str:
    story = make_story(random.Random(slug), 0, NOW - timedelta(hours=2))
    story.slug = slug
    html = render_article(SiteSpec(name="Surrogates"), story, []).replace("{{BASE}}", base)
    # a JSON escape of a lone surrogate: json.loads gives a str that UTF-8 cannot encode
    jsonld = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle",'
              ' "headline": "Bad \\ud800 headline \\u202e",'
              ' "author": {"@type": "Person", "name": "Evil \\udfff Author"}}'
              "</script>")
    return html.replace("</head>", jsonld + "</head>")


def test_a_lone_surrogate_in_a_page_is_stored_cleanly_and_the_exports_work(tmp_path: Path) -> None:
    with serve_faults("127.0.0.70") as site:
        base = site.base_url
        site.routes["/news/evil"] = page(_page_with_jsonld_author(base, "evil"))
        # the feed's own title carries a bidi override and a control character
        site.routes["/feed.rss"] = page(rss(base, [("Feed \u202e title \x1b[31m", base + "/news/evil", "evil")]),
                                        "application/rss+xml")
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.evil]\nname = "Evil"\nfeed = "%s/feed.rss"\n' % base, "utf-8")
        db = tmp_path / "evil.db"
        crawl = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST)
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr[-3000:]
    (title, authors) = sqlite3.connect(db).execute("SELECT title, authors FROM stories").fetchone()
    assert "Evil  Author" in authors and "\udfff" not in authors
    assert not any(0xD800 <= ord(c) <= 0xDFFF or c in "\u202e\x1b" for c in title)
    out = tmp_path / "published.json"
    for fmt in ("jsonfeed", "jsonl", "atom"):
        result = run_cli("export", "--db", str(db), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
    result = run_cli("export", "--db", str(db), "--format", "jsonfeed")
    assert result.returncode == 0, result.stderr[-3000:]
    (item,) = json.loads(result.stdout)["items"]
    assert item["authors"] == [{"name": "Evil  Author"}]
