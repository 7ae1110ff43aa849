"""Filter rules as data: the [rules.*] tables refused with the file, rule and field named, and the one
decision (hidden, tags) a rule set makes of a story."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aggregator.rules import TEXT_CHARS, TITLE_CHARS, RuleSet, load_rules, parse_rules
from aggregator.sources import RegistryError, parse_document

SOURCES = """
[sources.timesca]
name = "The Times of Central Asia"
feed = "https://timesca.com/feed/"

[sources.astanatimes]
name = "The Astana Times"
feed = "https://astanatimes.com/feed/"
"""


def rules(text: str) -> RuleSet:
    return parse_rules(parse_document(SOURCES + text, "my.toml"), "my.toml")


def decide(rule_set: RuleSet, title: str = "", text: str = "", sources: tuple[str, ...] = ("timesca",),
           language: str | None = "en") -> tuple[bool, tuple[str, ...]]:
    decision = rule_set.decide(title=title, text=text, sources=sources, language=language)
    return decision.hidden, decision.tags


@pytest.mark.parametrize(("table", "field", "why"), [
    ('action = "hide"\ntitle = "x"\ncolour = "red"', "colour", "unknown field"),
    ('title = "x"', "action", "expected \"hide\" or \"tag\", got None"),
    ('action = "delete"\ntitle = "x"', "action", "got 'delete'"),
    ('action = "tag"\ntitle = "x"', "tag", "a \"tag\" rule needs the tag it adds"),
    ('action = "tag"\ntag = "  "\ntitle = "x"', "tag", "needs the tag it adds"),
    ('action = "tag"\ntag = "a\\nb"\ntitle = "x"', "tag", "one line"),
    ('action = "hide"\ntag = "sport"\ntitle = "x"', "tag", "only a \"tag\" rule takes a tag"),
    ('action = "hide"', "title", "a rule needs at least one condition"),
    ('action = "hide"\ntitle = "(unclosed"', "title", "bad regular expression '(unclosed'"),
    ('action = "hide"\ntext = ["ok", "[z-a]"]', "text", "bad regular expression '[z-a]'"),
    ('action = "hide"\ntitle = ""', "title", "expected a regular expression"),
    ('action = "hide"\ntitle = 3', "title", "expected a regular expression"),
    ('action = "hide"\nsource = "nosuch"', "source",
     "no source 'nosuch' in the registry (known: astanatimes, timesca)"),
    ('action = "hide"\nsource = []', "source", "expected a source key"),
    ('action = "hide"\nlanguage = "english!"', "language", "expected language codes like 'en'"),
])
def test_a_bad_rule_is_refused_naming_file_rule_and_field(table: str, field: str, why: str) -> None:
    with pytest.raises(RegistryError) as refused:
        rules("[rules.bad]\n" + table)
    message = str(refused.value)
    assert message.startswith("my.toml: rule 'bad', field %r: " % field), message
    assert why in message


def test_a_bad_rule_name_or_table() -> None:
    with pytest.raises(RegistryError, match=r"^my.toml: rule 'No Spaces': a rule name is lowercase"):
        rules('[rules."No Spaces"]\naction = "hide"\ntitle = "x"')
    with pytest.raises(RegistryError, match=r"^my.toml: rule 'flat': expected a table"):
        parse_rules(parse_document('rules = {flat = 3}\n' + SOURCES, "my.toml"), "my.toml")


def test_rules_load_from_the_registry_file_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES + """
[rules.sport]
action = "tag"
tag = "Sport"
title = ["football", "\\\\bchess\\\\b"]

[rules.ads]
action = "hide"
text = "sponsored content"
source = "astanatimes"
language = ["en", "RU"]
""", "utf-8")
    loaded = load_rules(path)
    assert [rule.name for rule in loaded] == ["sport", "ads"]
    sport, ads = loaded.rules
    assert (sport.action, sport.tag, [p.pattern for p in sport.title]) == ("tag", "Sport", ["football", r"\bchess\b"])
    assert (ads.sources, ads.languages) == (frozenset({"astanatimes"}), ("en", "ru"))
    assert ads.describe() == "text ~ sponsored content and source in astanatimes and language in en, ru"
    assert len(load_rules(None)) == 0  # the shipped registry has none
    assert loaded.text_chars == TEXT_CHARS and RuleSet(loaded.rules[:1]).text_chars == 0


def test_every_condition_of_a_rule_must_hold() -> None:
    rule_set = rules("""
[rules.wire]
action = "hide"
title = "briefing"
text = "reuters"
source = "astanatimes"
""")
    both = dict(title="Morning Briefing", text="(Reuters) Markets...")
    assert decide(rule_set, **both, sources=("timesca", "astanatimes")) == (True, ())
    assert decide(rule_set, **both, sources=("timesca",)) == (False, ())
    assert decide(rule_set, title="Morning news", text="(Reuters)", sources=("astanatimes",)) == (False, ())
    assert decide(rule_set, title="Morning Briefing", text="AP", sources=("astanatimes",)) == (False, ())


def test_patterns_are_case_insensitive_unless_they_say_otherwise() -> None:
    rule_set = rules("""
[rules.any-case]
action = "tag"
tag = "Apple"
title = "apple"

[rules.exact-case]
action = "tag"
tag = "AI"
title = "\\\\b(?-i:AI)\\\\b"
""")
    assert decide(rule_set, title="APPLE opens a store") == (False, ("Apple",))
    assert decide(rule_set, title="New AI rules") == (False, ("AI",))
    assert decide(rule_set, title="The ai of Tokyo") == (False, ())


def test_language_matches_its_regional_variants_and_a_story_without_one_never() -> None:
    rule_set = rules('[rules.ru]\naction = "hide"\nlanguage = "ru"')
    assert decide(rule_set, language="ru") == (True, ())
    assert decide(rule_set, language="RU_ru") == (True, ())
    assert decide(rule_set, language="rue") == (False, ())
    assert decide(rule_set, language=None) == (False, ())
    assert decide(rules('[rules.br]\naction = "hide"\nlanguage = "pt-BR"'), language="pt") == (False, ())


def test_hide_wins_and_tags_come_once_in_rule_order() -> None:
    rule_set = rules("""
[rules.b]
action = "tag"
tag = "Central Asia"
source = ["timesca", "astanatimes"]

[rules.a]
action = "tag"
tag = "central asia"
title = "kazakh"

[rules.c]
action = "tag"
tag = "Trade"
title = "trade"

[rules.hide]
action = "hide"
title = "trade"
""")
    decision = rule_set.decide(title="Kazakh trade centre", text="", sources={"timesca"}, language=None)
    assert (decision.hidden, decision.tags) == (True, ("Central Asia", "Trade"))
    assert decision.rules == ("b", "a", "c", "hide")
    assert decide(rule_set, title="Kazakh steppe", sources=()) == (False, ("central asia",))


def test_only_the_first_part_of_a_long_text_or_title_is_searched() -> None:
    rule_set = rules('[rules.t]\naction = "hide"\ntext = "needle"\n\n'
                     '[rules.h]\naction = "tag"\ntag = "x"\ntitle = "pin"')
    assert decide(rule_set, text="x" * (TEXT_CHARS - 10) + "needle") == (True, ())
    assert decide(rule_set, text="x" * TEXT_CHARS + "needle") == (False, ())
    assert decide(rule_set, title="x" * TITLE_CHARS + "pin") == (False, ())


def test_a_slow_search_on_a_hostile_page_is_given_up(caplog: pytest.LogCaptureFixture) -> None:
    # `a.*b.*c` is quadratic on a line of a's: ~4 s over TEXT_CHARS without the time limit.
    slow = rules('[rules.slow]\naction = "hide"\ntext = "a.*b.*c"\n\n'
                 '[rules.fast]\naction = "tag"\ntag = "A"\ntext = "aaa"')
    started = time.monotonic()
    assert decide(slow, text="a" * 10 * TEXT_CHARS) == (False, ("A",))
    assert time.monotonic() - started < 2
    assert "Rule 'slow': its text pattern 'a.*b.*c' took over" in caplog.text
    assert decide(slow, text="a then b then c") == (True, ())


def test_patterns_use_python_syntax() -> None:
    for pattern in ("(a++)+b", "(?:foo|bar)+", "(?>a+)+b", "\\\\b(sport|football)\\\\b", "(?P<word>x)(?P=word)"):
        assert len(rules('[rules.ok]\naction = "hide"\ntitle = "%s"' % pattern)) == 1, pattern
    assert decide(rules('[rules.w]\naction = "hide"\ntitle = "\\\\bsport\\\\b"'), title="Sport news") == (True, ())
