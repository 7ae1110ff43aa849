"""Tests for the extractor, page metadata and dates (aggregator.extract) on hand-made pages."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.extract.dates import DateCandidate, date_from_url, parse_date, reconcile_dates
from aggregator.extract.extractor import Article, clean_body, extract_article
from aggregator.extract.page_metadata import clean_authors, clean_title

PAGES = Path(__file__).parent / "fixtures" / "extraction"
HARBOUR_URL = "https://gazette.example/news/2024/03/05/harbour-bridge-reopens"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def shingle_f1(gold: str, predicted: str) -> float:
    """The benchmark's metric for one page: F1 of 4-token shingle multisets."""

    def shingles(text: str) -> Counter[tuple[str, ...]]:
        tokens = re.findall(r"\w+", text)
        return Counter(tuple(tokens[i : i + 4]) for i in range(max(1, len(tokens) - 3)))

    gold_s, pred_s = shingles(gold), shingles(predicted)
    tp = sum((gold_s & pred_s).values())
    return 2 * tp / (sum(gold_s.values()) + sum(pred_s.values()))


def harbour(hints: dict[str, object] | None = None) -> Article:
    article = extract_article(page("harbour_bridge.html"), HARBOUR_URL, hints, now=NOW)
    assert article is not None
    return article


# --- body -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url"),
    [("harbour_bridge", HARBOUR_URL), ("orchard_blog", "https://orchard.example/posts/grafting/")],
)
def test_body_matches_gold_and_leaks_no_boilerplate(name: str, url: str) -> None:
    article = extract_article(page(f"{name}.html"), url, now=NOW)
    assert article is not None
    gold = page(f"{name}.txt")
    assert shingle_f1(gold, article.text) >= 0.97
    for boilerplate in ("Related:", "newsletter", "Most read", "Share on", "comments", "All rights reserved",
                        "Copyright", "Tags:", "Posted in", "Lifeboat crew", "which rootstock"):
        assert boilerplate not in article.text
    # the title is metadata, not the first line of the body
    assert not article.text.startswith(article.title or "\0")


def test_page_without_article_body_gives_none() -> None:
    assert extract_article(page("navigation_only.html"), "https://gazette.example/sections/") is None
    assert extract_article("", "https://gazette.example/") is None
    assert extract_article("   \n", None) is None


def test_clean_body_drops_teasers_and_trailing_calls_to_action_but_keeps_quotes() -> None:
    text = "\n".join([
        "Headline of the story",
        "First paragraph of the story, long enough to be real text.",
        "Related: Another story entirely",
        "- A third story's headline",
        "Second paragraph continues the story with more detail.",
        "“We will subscribe to whatever plan works,” the mayor said of the newsletter idea.",
        "Follow her on Twitter @someone.",
        "Subscribe to our newsletter",
    ])
    cleaned = clean_body(text, ["Headline of the story | Site"]).split("\n")
    assert cleaned == [
        "First paragraph of the story, long enough to be real text.",
        "Second paragraph continues the story with more detail.",
        "“We will subscribe to whatever plan works,” the mayor said of the newsletter idea.",
    ]


# --- metadata -------------------------------------------------------------------------------------


def test_title_loses_site_suffix_and_authors_lose_by_and_site_name() -> None:
    article = harbour()
    assert article.title == "Harbour bridge reopens after two years of repairs"
    # JSON-LD lists "By Jane Okafor" and the Organization "Tidewater Gazette"
    assert article.authors == ("Jane Okafor",)
    assert article.language == "en-GB"
    assert article.image == "https://gazette.example/images/bridge.jpg"
    assert article.tags == ("Transport", "Harbour")
    assert article.description and article.description.startswith("The swing bridge")


def test_blog_that_names_only_itself_as_author_is_the_author() -> None:
    # the JSON-LD author is the blog, an Organization, and the page names no person (issue 15)
    article = extract_article(page("orchard_blog.html"), "https://orchard.example/posts/grafting/", now=NOW)
    assert article is not None
    assert article.title == "Grafting old apple varieties"
    assert article.authors == ("Orchard Notes",)
    assert article.language == "en-US"  # from og:locale en_US


def test_hints_fill_what_the_page_does_not_say() -> None:
    hints = {"title": "Feed title", "authors": ["By Ana Lima"], "language": "pt_BR", "summary": "<p>Resumo.</p>",
             "tags": ["Pomar"]}
    body = "Texto do artigo com frases completas. " * 20
    html = f"<html><body><article><p>{body}</p></article></body></html>"
    article = extract_article(html, "https://blog.example/post", hints, now=NOW)
    assert article is not None
    assert article.title == "Feed title"
    assert article.authors == ("Ana Lima",)
    assert article.language == "pt-BR"
    assert article.description == "Resumo."
    assert article.tags == ("Pomar",)


@pytest.mark.parametrize(
    ("title", "sites", "others", "expected"),
    [
        ("Harbour bridge reopens | Tidewater Gazette", ["Tidewater Gazette"], [], "Harbour bridge reopens"),
        ("Harbour bridge reopens - gazette.example", ["gazette.example"], [], "Harbour bridge reopens"),
        ("Tidewater Gazette | Harbour bridge reopens", ["Tidewater Gazette"], [], "Harbour bridge reopens"),
        ("Storm: what we know | Live - The Daily", [], ["Storm: what we know | Live"], "Storm: what we know | Live"),
        ("Brexit: the deal explained", ["Tidewater Gazette"], [], "Brexit: the deal explained"),
        ("Cats - the untold story", ["Tidewater Gazette"], [], "Cats - the untold story"),
    ],
)
def test_clean_title(title: str, sites: list[str], others: list[str], expected: str) -> None:
    assert clean_title(title, sites, others) == expected


def test_clean_authors() -> None:
    raw = ["By John Smith and Mary Jones", "Tidewater Gazette", "https://gazette.example/staff/x", "john smith",
           "TOM KRISHER, AP Auto Writer", "Written by: Li Wei"]
    assert clean_authors(raw, ["Tidewater Gazette"]) == ("John Smith", "Mary Jones", "TOM KRISHER", "Li Wei")


# --- paywall --------------------------------------------------------------------------------------


def test_paywall_from_is_accessible_for_free() -> None:
    assert harbour().paywalled is True
    free = page("harbour_bridge.html").replace('"False"', '"True"')
    article = extract_article(free, HARBOUR_URL, now=NOW)
    assert article is not None and article.paywalled is False
    article = extract_article(page("orchard_blog.html"), "https://orchard.example/p/", now=NOW)
    assert article is not None and article.paywalled is None


# --- dates ----------------------------------------------------------------------------------------


def test_jsonld_date_beats_meta_and_feed_and_modified_is_kept() -> None:
    article = harbour({"date_published": "2024-03-05T07:00:00Z", "date_modified": "2024-03-05T08:00:00Z"})
    assert article.date_published == "2024-03-05T09:30:00+01:00"
    assert article.date_source == "jsonld"
    assert article.date_modified == "2024-03-06T11:00:00+01:00"


def test_claims_contradicting_the_url_date_lose() -> None:
    html = page("harbour_bridge.html").replace("2024-03-05T09:30:00+01:00", "2021-01-01T00:00:00+00:00")
    html = html.replace("2024-03-04T18:00:00+00:00", "2021-01-01T00:00:00+00:00")
    article = extract_article(html, HARBOUR_URL, {"date_published": "Tue, 05 Mar 2024 07:00:00 GMT"}, now=NOW)
    assert article is not None
    assert article.date_source == "feed"
    assert article.date_published == "2024-03-05T07:00:00+00:00"
    article = extract_article(html, HARBOUR_URL, now=NOW)
    assert article is not None
    assert (article.date_source, article.date_published) == ("url", "2024-03-05T00:00:00+00:00")


def test_future_page_date_is_rejected() -> None:
    url = "https://orchard.example/posts/grafting/"
    article = extract_article(page("orchard_blog.html"), url, now=NOW)
    assert article is not None
    assert article.date_published is None or not article.date_published.startswith("2999")
    article = extract_article(page("orchard_blog.html"), url, {"date_published": "2024-04-02T10:00:00+02:00"}, now=NOW)
    assert article is not None
    assert (article.date_published, article.date_source) == ("2024-04-02T10:00:00+02:00", "feed")


def test_reconcile_rejects_implausible_and_backwards_dates() -> None:
    def claim(source: str, kind: str, value: str) -> DateCandidate:
        parsed = parse_date(value)
        assert parsed is not None
        return DateCandidate(source, kind, parsed[0], parsed[1])

    result = reconcile_dates(
        [claim("jsonld", "published", "1970-01-01T00:00:00Z"), claim("meta", "published", "2030-01-01"),
         claim("feed", "published", "2024-05-01T12:00:00Z"), claim("jsonld", "modified", "2024-04-01T00:00:00Z")],
        now=NOW,
    )
    assert (result.published, result.source, result.modified) == ("2024-05-01T12:00:00+00:00", "feed", None)
    empty = reconcile_dates([], now=NOW)
    assert (empty.published, empty.modified, empty.source) == (None, None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T09:30:00+01:00", "2024-03-05T09:30:00+01:00"),
        ("2024-03-05T09:30:00Z", "2024-03-05T09:30:00+00:00"),
        ("2024-03-05T09:30:00+0100", "2024-03-05T09:30:00+01:00"),
        ("2024-03-05 09:30:00", "2024-03-05T09:30:00+00:00"),
        ("Tue, 05 Mar 2024 09:30:00 +0100", "2024-03-05T09:30:00+01:00"),
        ("2024-03-05", "2024-03-05T00:00:00+00:00"),
    ],
)
def test_parse_date_always_has_an_offset(value: str, expected: str) -> None:
    parsed = parse_date(value)
    assert parsed is not None and parsed[0].isoformat() == expected
    assert parse_date("next Tuesday") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/news/2019/11/18/story", datetime(2019, 11, 18, tzinfo=UTC)),
        ("https://a.example/2019/nov/19/story", datetime(2019, 11, 19, tzinfo=UTC)),
        ("https://a.example/story-20191118-x.html", datetime(2019, 11, 18, tzinfo=UTC)),
        ("https://a.example/2019/11/story", None),
        ("https://a.example/articles/12345678", None),
    ],
)
def test_date_from_url(url: str, expected: datetime | None) -> None:
    assert date_from_url(url) == expected


def test_meta_tags_alone_give_the_dates() -> None:
    body = "".join("<p>Paragraph %d of a story about the regional grain harvest and its exports.</p>" % i
                   for i in range(12))
    html = ('<html lang="en"><head><title>Harvest</title>'
            '<meta property="article:published_time" content="2026-11-17T08:45:00+01:00">'
            '<meta property="article:modified_time" content="2026-11-18T10:00:00+01:00"></head>'
            "<body><article><h1>Harvest</h1>%s</article></body></html>" % body)
    article = extract_article(html, url="https://news.example/harvest", now=datetime(2026, 11, 27, tzinfo=UTC))
    assert article is not None
    assert article.date_published == "2026-11-17T08:45:00+01:00"
    assert article.date_modified == "2026-11-18T10:00:00+01:00"
    assert article.date_source == "meta"
