"""Titles and authors read from hand-made pages of the kinds that real publishers get wrong (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.extract.authors import clean_authors
from aggregator.extract.dates import parse_date, with_zone_offset
from aggregator.extract.extractor import Article, extract_article
from aggregator.extract.titles import TitleCandidates, choose_title

PAGES = Path(__file__).parent / "fixtures" / "extraction"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def extract(name: str, url: str) -> Article:
    article = extract_article((PAGES / name).read_text(encoding="utf-8"), url, now=NOW)
    assert article is not None
    return article


# --- titles ---------------------------------------------------------------------------------------


def test_h1_that_repeats_the_jsonld_headline_beats_a_social_og_title() -> None:
    article = extract("ferry_timetable.html", "https://courier.example/news/ferry")
    assert article.title == "Island ferry timetable cut to two sailings a day as crew shortage bites"


def test_og_title_cut_short_by_a_stray_quote_loses_to_the_full_h1() -> None:
    article = extract("stray_quote.html", "https://herald.example/politics/tolls")
    assert article.title == 'Minister says "no" to motorway tolls before election'


def test_og_title_without_the_kicker_of_the_h1_is_the_headline() -> None:
    article = extract("council_vote.html", "https://tagesbote.example/stadt/radwege")
    assert article.title == "Mehrheit stimmt für neues Radwegenetz"


def test_the_headline_two_titles_share_after_unrelated_kickers() -> None:
    candidates = TitleCandidates(
        social=("Storm warning: Harbour closed to small boats until Friday",),
        headings=("Weather - Harbour closed to small boats until Friday",),
    )
    assert choose_title(candidates, ["Coast Courier"]) == "Harbour closed to small boats until Friday"


def test_a_kicker_repeated_inside_the_h1_is_no_reason_to_drop_it() -> None:
    candidates = TitleCandidates(
        social=("Late goal - Rovers lose at home",), headings=("Football Late goal - Rovers lose at home",)
    )
    assert choose_title(candidates, []) == "Late goal - Rovers lose at home"


def test_a_breadcrumb_h1_gives_way_to_the_visible_headline_after_it() -> None:
    # the only <h1> is the last crumb of the breadcrumb trail; the reader sees the JSON-LD headline as an <h2>
    article = extract("breadcrumb_heading.html", "https://talbote.example/region/bus")
    assert article.title == "Neue Buslinie soll ab Mai jede halbe Stunde fahren"


def test_og_title_is_the_visible_headline_without_its_kicker() -> None:
    # the visible heading is a kicker <span> and a headline <span>; the breadcrumb <h1> and JSON-LD say otherwise
    article = extract("kicker_heading.html", "https://talbote.example/region/hochwasser")
    assert article.title == "Pegel steigt über die Marke von 2013"


def test_two_spellings_of_one_headline_take_the_one_the_title_element_shares() -> None:
    candidates = TitleCandidates(
        social=("Council's plan for the harbour wins the vote",),
        headline="Council’s plan for the harbour wins the vote",
        headings=("Council’s plan for the harbour wins the vote",),
        documents=("Council's plan for the harbour wins the vote | Coast Courier",),
    )
    assert choose_title(candidates, ["Coast Courier"]) == "Council's plan for the harbour wins the vote"


def test_a_spelling_only_the_title_element_uses_does_not_win() -> None:
    candidates = TitleCandidates(
        social=("Council plans a new harbour",),
        headline="Council’s plan for the harbour wins the vote...",
        headings=("Council’s plan for the harbour wins the vote",),
        documents=("Council's plan for the harbour wins the vote | Coast Courier",),
    )
    assert choose_title(candidates, ["Coast Courier"]) == "Council’s plan for the harbour wins the vote..."


def test_the_headline_the_title_element_repeats_beats_a_lone_og_title() -> None:
    candidates = TitleCandidates(
        social=("Teenager becomes sixth to die",),
        headline="Hostel poisonings: teenager becomes sixth to die as police detain owners",
        headings=("Sixth tourist dies after drinking spirits at hostel bar",),
        documents=("Hostel poisonings: teenager becomes sixth to die as police detain owners | Coast Courier",),
    )
    expected = "Hostel poisonings: teenager becomes sixth to die as police detain owners"
    assert choose_title(candidates, ["Coast Courier"]) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("港の橋、三年ぶりに再開：湾岸新聞Web", "港の橋、三年ぶりに再開"),
        ("港の橋、三年ぶりに再開｜湾岸新聞Web", "港の橋、三年ぶりに再開"),
        ("Harbour bridge reopens * Coast Courier * by Morag Finlay", "Harbour bridge reopens"),
        ("港の橋、三年ぶりに再開-政治｜湾岸新聞Web", "港の橋、三年ぶりに再開"),  # the section glued on with a hyphen
        ('항구 다리 "3년 만에 다시 열린다"-사회ㅣ해안일보', '항구 다리 "3년 만에 다시 열린다"'),
        ("Covid-19 rules end at the harbour | Coast Courier", "Covid-19 rules end at the harbour"),
    ],
)
def test_site_suffixes_without_spaces_or_with_unusual_separators_go(document: str, expected: str) -> None:
    names = ["湾岸新聞Web", "Coast Courier", "해안일보"]
    assert choose_title(TitleCandidates(documents=(document,), headings=(expected,)), names) == expected
    assert choose_title(TitleCandidates(social=(document,)), names) == expected


# --- authors --------------------------------------------------------------------------------------


def test_authors_behind_graph_references_and_given_family_names() -> None:
    article = extract("ferry_timetable.html", "https://courier.example/news/ferry")
    assert article.authors == ("Morag Finlay", "Ewan Macrae")


def test_visible_byline_under_the_h1_when_the_meta_author_is_the_site() -> None:
    article = extract("council_vote.html", "https://tagesbote.example/stadt/radwege")
    assert article.authors == ("Jana Körner", "Paul Weber")


def test_the_publication_is_the_author_when_it_is_all_the_page_names() -> None:
    article = extract("stray_quote.html", "https://herald.example/politics/tolls")
    assert article.authors == ("Valley Herald",)


def test_feed_authors_beat_the_publication_posing_as_author() -> None:
    html = (PAGES / "stray_quote.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://herald.example/politics/tolls", {"authors": ["Ola Berg"]}, now=NOW)
    assert article is not None
    assert article.authors == ("Ola Berg",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["Anna Muster und Jan Beispiel"], ("Anna Muster", "Jan Beispiel")),
        (["Kari Nordmann og Ola Nordmann"], ("Kari Nordmann", "Ola Nordmann")),
        (["Jeanne Martin et Luc Bernard"], ("Jeanne Martin", "Luc Bernard")),
        (["Ana García y Luis Pérez"], ("Ana García", "Luis Pérez")),
        (["Marta Puig i Jordi Vila"], ("Marta Puig", "Jordi Vila")),
        (["Von Anna Muster (amu)"], ("Anna Muster",)),
        (["Anna Muster, Berlin"], ("Anna Muster", "Berlin")),
        (["Autor: Anna Muster"], ("Anna Muster",)),
        (["(Image: Getty Images)", "2024", "Jan Beispiel"], ("Jan Beispiel",)),
        (["홍길동 기자"], ("홍길동",)),
        (["Maria De Souza"], ("Maria De Souza",)),
        (["BILD"], ("BILD",)),  # a publication named like a photo credit word is still a name
        (["Bild: APA/Keystone"], ()),
        (["Ilana Muhlstein, MS, RDN"], ("Ilana Muhlstein",)),  # credentials, not names
        (["20 Nov 2019 08:00 GMT"], ()), (["admin - 2018-09-16"], ()), (["admin"], ()), (["humans.txt"], ()),
        (["Anna Muster. Tagesbote"], ("Anna Muster",)),  # the publication after the name
        (["Jan Beispiel Published 11:11 PM EST Nov 19, 2019"], ("Jan Beispiel",)),
        (["Jan Beispiel, Updated 14:07"], ("Jan Beispiel",)),
    ],
)
def test_author_lists_split_in_several_languages_and_junk_removed(raw: list[str], expected: tuple[str, ...]) -> None:
    assert clean_authors(raw, ["Tagesbote"]) == expected


# --- dates ----------------------------------------------------------------------------------------


def test_naive_jsonld_time_in_cdata_takes_the_offset_the_meta_tag_states() -> None:
    article = extract("ferry_timetable.html", "https://courier.example/news/ferry")
    assert article.date_published == "2024-06-12T07:45:00+01:00"


def test_published_time_spelled_with_colons() -> None:
    article = extract("council_vote.html", "https://tagesbote.example/stadt/radwege")
    assert article.date_published == "2024-09-03T18:20:00+02:00"


def test_visible_dateline_under_the_headline_gives_the_time_not_the_teaser_above() -> None:
    article = extract("dateline_only.html", "https://talbote.example/region/buslinie")
    assert article.date_published == "2024-04-25T14:07:00+00:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-25T14:07:00 CEST", "2024-04-25T14:07:00+02:00"),
        ("Thu, 25 Apr 2024 14:07:00 EDT", "2024-04-25T14:07:00-04:00"),
    ],
)
def test_zone_names_become_offsets(value: str, expected: str) -> None:
    parsed = parse_date(with_zone_offset(value))
    assert parsed is not None
    assert parsed[0].isoformat() == expected


def test_time_element_without_itemprop_under_the_headline() -> None:
    html = (
        "<html><head><title>Pier repairs finished early</title></head><body><article>"
        "<h1>Pier repairs finished early</h1><p>By staff <time datetime='2024-05-02T16:30:00+01:00'>"
        "2 May</time></p>"
        + "".join(f"<p>Paragraph {n} of the report says the pier reopened to walkers after repairs to section {n} "
                  f"finished {n} days early, and the council thanked the crew.</p>" for n in range(1, 7))
        + "</article></body></html>"
    )
    article = extract_article(html, "https://courier.example/pier", now=NOW)
    assert article is not None
    assert article.date_published == "2024-05-02T16:30:00+01:00"


def test_a_byline_running_into_the_publication_and_the_timestamp_is_cut_to_the_name() -> None:
    article = extract("byline_timestamp.html", "https://harbordaily.example/sports/ridgeview")
    assert article.authors == ("Maria Lopez",)


def test_author_labelled_in_a_facts_list_beats_an_author_tag_that_repeats_the_publisher() -> None:
    # the meta author is the <meta name="publisher"> (with "(www.site)" after it): the person is the one after
    # the "Autorin/Autor" label; the "Kamera" label names nobody who wrote the article
    article = extract("facts_list_author.html", "https://www.wellenfunk.example/de/faehre/a-123")
    assert article.authors == ("Lena Hafner",)


def test_the_date_labelled_in_a_facts_list_beats_the_dates_of_teasers() -> None:
    # no structured date: the "Datum" of the article's facts, not a date of the teasers below it
    article = extract("facts_list_author.html", "https://www.wellenfunk.example/de/faehre/a-123")
    assert article.date_published is not None and article.date_published.startswith("2024-06-11")


@pytest.mark.parametrize(("text", "day"), [
    ("28.04.2023", "2023-04-28"), ("28. April 2023", "2023-04-28"), ("April 28, 2023", "2023-04-28"),
    ("2023-04-28", "2023-04-28"), ("31.13.2023", None), ("Seite 12", None),
])
def test_read_day(text: str, day: str | None) -> None:
    from aggregator.extract.datelines import read_day

    assert read_day(text) == day


@pytest.mark.parametrize(("label", "name"), [
    ("<dt>Author</dt><dd>Sam Reyes</dd>", "Sam Reyes"),
    ("<b>Auteur :</b> Claire Morel", "Claire Morel"),
    ("<th>Forfatter</th><td>Ida Lund</td>", "Ida Lund"),
])
def test_labelled_bylines_read_the_name_after_the_label(label: str, name: str) -> None:
    from aggregator.extract.authors import labelled_bylines
    from aggregator.extract.parsing import parse_html

    tree = parse_html("<html><body><table><tr>%s</tr></table></body></html>" % label if "<th>" in label
                      else "<html><body><dl>%s</dl></body></html>" % label)
    assert tree is not None
    assert labelled_bylines(tree) == [name]
