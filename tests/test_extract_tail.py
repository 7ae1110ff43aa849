"""The end of an extracted body: what trails the article without belonging to it (issue 15)."""

from __future__ import annotations

import re

import pytest

from aggregator.extract.body_tail import CALL_STEMS, CALL_TO_ACTION, is_call_to_action, strip_tail

STORY = [
    "The ferry company will add a third sailing on Saturdays from June, after a summer in which cars were turned"
    " away at the slipway almost every weekend.",
    "The extra crossing leaves the island at seven in the evening and returns at half past eight, so that day"
    " visitors no longer have to leave before dinner.",
    "Islanders welcomed the change but asked for the winter timetable to be looked at too, when a single missed"
    " sailing can mean a night on the mainland.",
]
SITE = ["Island Times", "islandtimes.example"]


@pytest.mark.parametrize(
    "credit",
    [
        "Additional reporting by Ewan Macrae",
        "— Associated Press writer Ana Lopez in Lisbon contributed to this report.",
        "With reports from the regional broadcaster",
        "Quelle: ntv.de",
        "(dpa)",
        "mit dpa",
    ],
)
def test_contributor_and_agency_credits_at_the_end_go(credit: str) -> None:
    assert strip_tail([*STORY, credit], SITE) == STORY


def test_a_credit_does_not_take_the_short_lines_above_it_along() -> None:
    # tour dates look like headings; only the credit under them goes
    dates = ["May 4 – Oban @ The Corran Halls", "May 6 – Mallaig @ The Harbour Hall"]
    assert strip_tail([*STORY, *dates, "Additional reporting by Ewan Macrae"], SITE) == [*STORY, *dates]


def test_the_publishers_about_us_paragraphs_go() -> None:
    boilerplate = [
        "Island Times is an independent newspaper serving the northern isles since 1889.",
        "Island Times has offices in three harbours and employs forty people.",
    ]
    assert strip_tail([*STORY, *boilerplate], SITE) == STORY


def test_an_appeal_in_the_publications_voice_goes_with_its_call() -> None:
    appeal = [
        "Two weeks free",
        "Try the printed paper for two weeks. We deliver it to your door and the offer ends by itself.",
        "Island Times has reported on the islands for more than a century.",
    ]
    assert strip_tail([*STORY, "Subscribe to the Island Times", *appeal[1:]], SITE) == STORY


def test_a_call_followed_by_the_articles_last_paragraph_keeps_that_paragraph() -> None:
    lines = [*STORY[:2], "- Sign up for our morning newsletter here.", STORY[2]]
    assert strip_tail(lines, SITE) == lines


def test_a_consumer_article_about_subscriptions_keeps_its_advice() -> None:
    advice = [
        "- Sign up for the ad-free plan for $11.99 a month",
        "If you just want the films, you can take the free seven-day trial and pay $6.99 a month afterwards.",
        "- If you already have an account, visit your account page to upgrade",
    ]
    assert strip_tail([*STORY, *advice], SITE) == [*STORY, *advice]


def test_a_pitch_that_closes_on_its_button_goes_however_long() -> None:
    pitch = (
        "Now more than ever, independent reporting matters. " * 8
        + "Our newsroom depends on readers like you. Jetzt unterstützen"
    )
    assert strip_tail([*STORY, "Read the islands", pitch], SITE) == STORY


def test_a_pitch_that_opens_on_a_call_goes() -> None:
    pitch = "If you enjoyed this article, we have a proposition for you: join our members. " + "More text. " * 30
    assert strip_tail([*STORY, "Something to consider", pitch], SITE) == STORY


def test_the_authors_biography_at_the_end_goes() -> None:
    bio = "A reporter for thirty years, Morag has covered the islands since the causeway was built."
    assert strip_tail([*STORY, bio], SITE, ["Morag Finlay"]) == STORY
    assert strip_tail([*STORY, bio], SITE, ["Ewan Macrae"]) == [*STORY, bio]
    full = "Morag Finlay is a former harbour pilot who writes about the islands every Saturday."
    assert strip_tail([*STORY, full], SITE, ["Morag Finlay"]) == STORY


def test_a_last_paragraph_about_someone_sharing_the_authors_first_name_stays() -> None:
    ending = "Morag is a nurse at the island surgery and has taken the ferry to work for eleven years."
    assert strip_tail([*STORY, ending], SITE, ["Morag Finlay"]) == [*STORY, ending]


def test_a_newsletter_named_in_a_quoted_title_is_a_call_but_quoted_speech_is_not() -> None:
    promo = '"Island mornings": our newsletter brings you the day\'s news at seven. Sign up here!'
    speech = '"Subscribe to nothing and trust no timetable," the harbour master said, laughing.'
    assert strip_tail([*STORY, promo], SITE) == STORY
    assert strip_tail([*STORY, speech], SITE) == [*STORY, speech]


def test_every_call_to_action_holds_one_of_the_stems_tested_first() -> None:
    # is_call_to_action runs the regex only on text with a stem: an alternative without one would never match
    alternatives, depth, current = [], 0, ""
    for char in CALL_TO_ACTION.pattern:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            alternatives.append(current)
            current = ""
        else:
            current += char
    alternatives.append(current)
    for alternative in alternatives:
        literal = re.sub(r"\\[bsw]\*?|\(\?:|[()?^+*]|\[[^\]]*\]|\.\{[^}]*\}|\{[^}]*\}", " ", alternative).lower()
        assert any(stem in literal for stem in CALL_STEMS), alternative
    assert is_call_to_action("Sign up for our newsletter")
    assert not is_call_to_action(STORY[0])
