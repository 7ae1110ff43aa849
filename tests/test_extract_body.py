"""Article bodies on hand-made pages of the kinds that real publishers get wrong (issue 15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.extract.extractor import clean_body, extract_article

PAGES = Path(__file__).parent / "fixtures" / "extraction"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
PARAGRAPHS = [
    "The orchestra will tour six coastal towns this summer, playing in harbour sheds and fish markets rather than"
    " concert halls, the first tour of its kind since the company was founded forty years ago.",
    "Tickets cost five pounds for adults and nothing for children, and the programme mixes sea shanties arranged"
    " for strings with two symphonies the players chose in a vote among themselves.",
    "The conductor said the idea came from a rehearsal held in a boatyard during a heatwave, when passers-by"
    " stopped to listen and several asked when the next performance would be.",
    "Local councils are providing the venues free of charge, while a shipping company has lent two lorries to carry"
    " the instruments, the staging and a portable floor for the percussion section.",
]


def test_article_only_in_a_nextjs_flight_payload_comes_back_with_its_metadata() -> None:
    html = (PAGES / "nextjs_payload.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://post.example/news/lead-pipes", now=NOW)
    assert article is not None
    assert article.text.startswith("The regional water board approved a plan on Wednesday")
    assert "free filters in the meantime" in article.text
    assert len(article.text.split("\n")) == 5
    assert article.title == "Lead pipes in the old town to be replaced within six years"
    assert article.authors == ("Priya Natarajan",)
    assert article.date_published == "2025-03-19T16:05:00+00:00"


def test_article_only_in_next_data_json() -> None:
    data = {"props": {"pageProps": {"story": {"body": "".join(f"<p>{p}</p>" for p in PARAGRAPHS),
                                              "teaser": "<p>Strings by the sea</p>"}}}}
    html = (
        "<html><head><title>Orchestra takes to the harbour sheds</title>"
        '<meta property="og:type" content="article"></head><body><div id="__next"><h1>Orchestra takes to the'
        ' harbour sheds</h1></div><script id="__NEXT_DATA__" type="application/json">'
        + json.dumps(data) + "</script></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert article.text.split("\n") == PARAGRAPHS


def test_article_without_a_readable_body_keeps_its_metadata() -> None:
    html = (PAGES / "video_only.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://post.example/video/lamp", now=NOW)
    assert article is not None
    assert article.text == ""
    assert article.title == "Watch: the night the lighthouse lamp came home"
    assert article.authors == ("Tomás Ferreira",)
    assert article.date_published == "2025-02-02T21:10:00+00:00"


def test_a_page_that_is_no_article_still_gives_nothing() -> None:
    html = "<html><head><title>Sections</title></head><body><nav><a href='/a'>Arts</a></nav></body></html>"
    assert extract_article(html, "https://post.example/sections", now=NOW) is None


def test_article_split_into_sibling_rows_by_ads_is_kept_whole() -> None:
    # every trafilatura mode keeps only the first of the four `article__content` rows here
    html = (PAGES / "split_rows.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://ledger.example/cities/trams", now=NOW)
    assert article is not None
    assert article.text.startswith("MARSEILLE — The city's tram network will run through the night")
    for later_part in ("The trial on the coastal line carried", "Police said the trial had not led",
                       "A review after the first year will decide"):
        assert later_part in article.text
    assert "Advertisement" not in article.text
    assert "Lyon bike lanes" not in article.text


def test_same_class_teasers_after_a_whole_article_are_not_joined_to_it() -> None:
    story = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    teasers = "".join(
        f"<div class='story-body'><p>Teaser {n}: a different story about the harbour festival, its food stalls"
        f" and the fireworks planned for the last night of the summer season.</p></div>" for n in range(3)
    )
    html = (
        "<html><head><title>Orchestra takes to the harbour sheds</title></head><body><main><article>"
        f"<h1>Orchestra takes to the harbour sheds</h1><div class='story-body'>{story}</div></article>"
        f"<section class='more'><h2>More stories</h2>{teasers}</section></main></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert "Teaser" not in article.text
    assert article.text.split("\n") == PARAGRAPHS


def test_lead_in_the_body_container_is_restored_and_furniture_and_calls_to_action_go() -> None:
    html = (PAGES / "lead_and_calls.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://gazette.example/news/wind", now=NOW)
    assert article is not None
    lines = article.text.split("\n")
    assert lines[0].startswith("Ministers approved the forty-turbine scheme")  # the standfirst trafilatura drops
    assert lines[-1].endswith("called a gesture rather than a solution.")
    for furniture in ("Advertisement", "Photo: Harbour Gazette", "Got a story?", "For more stories like this"):
        assert furniture not in article.text


def test_a_lead_in_the_page_header_is_not_added_to_the_body() -> None:
    # the header's standfirst is outside the body's container: the usual benchmark convention leaves it out
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    lead = "A summer of strings in harbour sheds and fish markets, for five pounds a ticket and free for children."
    html = (
        f"<html><head><meta name='description' content='{lead}'></head><body><main><header class='page-head'>"
        f"<div class='titles'><h1>Orchestra takes to the harbour sheds</h1><p class='teaser'>{lead}</p></div>"
        f"</header><section class='content'><div class='columns'><article><div class='story'>{body}</div>"
        "</article></div></section></main></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert article.text.split("\n") == PARAGRAPHS


def test_a_lead_in_the_articles_own_header_is_restored_without_its_byline_and_caption() -> None:
    # the standfirst sits in the <article>'s header, apart from the body's columns: it belongs to the article
    html = (PAGES / "header_lead.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://courier.example/news/wall", now=NOW)
    assert article is not None
    lines = article.text.split("\n")
    assert lines[0] == ("Engineers found the storm damage runs deeper than first thought, and the fishing fleet will"
                        " have to keep using the north quay.")
    assert lines[1].startswith("Repairs to the harbour wall breached")
    assert "Morag Finlay" not in article.text
    assert "lighthouse at low tide" not in article.text


def test_a_lead_marked_by_its_class_is_restored_without_a_description() -> None:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    lead = "Six coastal towns, five-pound tickets and a programme the players chose in a vote among themselves."
    html = (
        "<html><head><title>Orchestra takes to the harbour sheds</title></head><body><article>"
        f"<header class='head'><h1>Orchestra takes to the harbour sheds</h1><p class='standfirst'>{lead}</p>"
        "<p class='meta'>By Ola Berg</p></header>"
        f"<section class='main'><div class='story'>{body}</div></section></article></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert article.text.split("\n") == [lead, *PARAGRAPHS]


def test_a_box_inside_the_body_is_no_lead() -> None:
    # a summary box below the body's first paragraph is the article's own, where it stands
    story = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    box = ("<div class='summary'><p>In short: six towns, five pounds a ticket, two symphonies and many sea"
           " shanties.</p></div>")
    html = (
        "<html><head><title>Orchestra takes to the harbour sheds</title></head><body><article>"
        f"<h1>Orchestra takes to the harbour sheds</h1><div class='story'>{story[:len(story) // 2]}{box}"
        f"{story[len(story) // 2:]}</div></article></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert article.text.split("\n")[0] == PARAGRAPHS[0]


def test_an_appeal_and_the_authors_bio_at_the_end_go() -> None:
    html = (PAGES / "appeal_and_bio.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://herald.example/arts/depot", now=NOW)
    assert article is not None
    assert article.text.endswith("the winter season no longer has to be played in coats and scarves.")
    for extra in ("is a reporter at the Valley Herald", "Support local journalism", "Become a supporter"):
        assert extra not in article.text


def test_teaser_cards_of_other_stories_under_the_article_go() -> None:
    # each card is a link around a headline and a summary paragraph; trafilatura reads them as list items
    html = (PAGES / "teaser_cards.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://courier.example/news/lifeboat", now=NOW)
    assert article is not None
    assert article.text.endswith("check their anchor gear before the autumn gales.")
    assert "Harbour wall" not in article.text and "third Saturday sailing" not in article.text


def test_an_article_wrapped_in_one_link_is_not_taken_for_a_card() -> None:
    story = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    html = (
        "<html><head><title>Orchestra takes to the harbour sheds</title></head><body><article>"
        f"<h1>Orchestra takes to the harbour sheds</h1><a href='/arts/orchestra'>{story}</a></article></body></html>"
    )
    article = extract_article(html, "https://post.example/arts/orchestra", now=NOW)
    assert article is not None
    assert article.text.split("\n") == PARAGRAPHS


@pytest.mark.parametrize(
    "line",
    [
        "Crews at the burning warehouse on Dock Road on Tuesday night. © Coast Courier | Morag Finlay",
        "Updated at 1:23 p.m.",
        "Aktualisiert am 05.08.2024, 20:59 Uhr",
        '[button link="https://example.org/submit/" type="big"] Send us your story[/button]',
    ],
)
def test_captions_update_stamps_and_shortcodes_go_wherever_they_stand(line: str) -> None:
    body = "\n".join([PARAGRAPHS[0], line, PARAGRAPHS[1]])
    assert clean_body(body, []).split("\n") == PARAGRAPHS[:2]


def test_a_line_that_only_begins_like_an_update_stamp_stays() -> None:
    line = "Updated guidance says 3 people must wait at the harbour gate until the ferry has docked."
    assert clean_body("\n".join([PARAGRAPHS[0], line]), []).split("\n") == [PARAGRAPHS[0], line]


def test_teaser_introducers_in_several_languages_drop_the_headlines_they_introduce() -> None:
    body = "\n".join([
        PARAGRAPHS[0],
        "Auch interessant",
        "Hafenfest mit Feuerwerk",
        PARAGRAPHS[1],
        "À lire aussi : La fanfare du port fête ses cent ans",
        PARAGRAPHS[2],
        "Lesedauer: 4 Minuten",
        PARAGRAPHS[3],
    ])
    assert clean_body(body, []).split("\n") == PARAGRAPHS


def test_subscription_calls_in_other_languages_go_from_the_end() -> None:
    body = "\n".join([*PARAGRAPHS, "Suscríbete para seguir leyendo", "Abonnez-vous à notre lettre d'information"])
    assert clean_body(body, []).split("\n") == PARAGRAPHS


def test_headlines_linking_to_other_stories_of_the_site_go_with_their_summaries() -> None:
    # A card of another story whose headline is a link (with a screen-reader copy of it, which trafilatura runs
    # into the link's text) and a summary after it; a heading that links to another site (a shop) stays.
    from aggregator.extract.parsing import parse_html
    from aggregator.extract.teaser_cards import without_teaser_cards

    tree = parse_html((PAGES / "linked_headlines.html").read_text(encoding="utf-8"))
    assert tree is not None
    article = [
        "The council voted on Thursday to run night buses through the old town from the spring.",
        "Two routes will run every forty minutes between midnight and five in the morning.",
        "Where the money comes from",
        "The service will cost about four hundred thousand a year, paid from the parking revenue.",
        "Buying a night pass: the operator's ticket shop",
        "Passes will be sold online and at the bus station.",
    ]
    cards = [
        "Harbour cranes come down after sixty years Harbour cranes come down after sixty years",
        "The two cranes that loaded coal ships until the nineteen-eighties are being cut up for scrap this week.",
        "Market hall reopens with forty stalls Market hall reopens with forty stalls",
        "After two years of repairs the Victorian hall has new glass, new stalls and, for the first time, heating.",
    ]
    text = "\n".join(article + cards)
    assert without_teaser_cards(tree, text, "https://quayside.example/news/night-buses") == "\n".join(article)
    # the page's own URL unknown: nothing to tell another page of the site by
    assert without_teaser_cards(tree, text) == text


def test_a_list_of_links_to_other_stories_of_the_site_leaves_the_body_and_other_lists_stay() -> None:
    html = (PAGES / "link_list.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://hafenbote.example/stadt/article100/radwege.html", now=NOW)
    assert article is not None
    for teaser in ("Brücke am Zollamt", "schlechte Noten", "Endlich ein Plan"):
        assert teaser not in article.text
    assert "- vier Meter breite Radspur auf der Wasserseite" in article.text  # a list of the article's own
    assert article.text.startswith("Der Stadtrat hat am Donnerstagabend")
    assert "entscheidet der Bauausschuss über die endgültige Trasse." in article.text
