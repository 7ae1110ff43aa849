"""Appending sources to a registry's text (every byte before kept, the result checked) and keys made from host
names, as plain functions of `aggregator/registry_file.py`."""

from __future__ import annotations

import pytest

from aggregator.registry_file import check_key, check_source, key_from_url, shown_url, unique_key, with_sources
from aggregator.sources import RegistryError, parse_registry


def test_new_sources_are_appended_after_every_byte_and_checked() -> None:
    text = '[sources.a]\nname = "A"\nfeed = "https://a.example/f"  # no newline at the end'
    new = with_sources(text, "r.toml", [("b", {"name": 'B "quoted"', "listing": ["https://b.example/news"],
                                               "category": None})])
    assert new.startswith(text + "\n\n[sources.b]\nname = ")
    assert parse_registry(new)["b"].name == 'B "quoted"' and parse_registry(new)["b"].category is None
    with pytest.raises(RegistryError, match="r.toml: source 'a': the key is already in the registry"):
        with_sources(text, "r.toml", [("a", {"name": "A2", "feed": "https://a2.example/f"})])
    with pytest.raises(RegistryError, match="source 'c', field 'feed': not an http"):
        with_sources(text, "r.toml", [("c", {"name": "C", "feed": "nope"})])
    inline = 'sources = { a = { name = "A", feed = "https://a.example/f" } }\n'
    with pytest.raises(RegistryError, match="r.toml: not valid TOML"):
        with_sources(inline, "r.toml", [("c", {"name": "C", "feed": "https://c.example/f"})])


@pytest.mark.parametrize(("url", "key"), [
    ("https://www.astanatimes.com/feed/", "astanatimes"), ("https://timesca.com/", "timesca"),
    ("https://news.bbc.co.uk/rss", "news-bbc"), ("https://abc.net.au/news", "abc"),
    ("https://feeds.feedburner.com/Example", "feedburner"), ("http://127.0.0.2:8080/", "127-0-0-2"),
    ("http://localhost:8000/", "localhost"), ("https://bücher.example/", "xn--bcher-kva"),
    ("https://%s.example/" % ("a" * 70), "a" * 64),
])
def test_keys_from_host_names_are_valid_keys(url: str, key: str) -> None:
    assert key_from_url(url) == key
    check_key(key, "r.toml")
    assert unique_key(key, {key}) == key[:62] + "-2" and len(unique_key(key, {key, key[:62] + "-2"})) <= 64


def test_the_result_must_load_whole_rules_and_notifiers_too() -> None:
    feed = ("b", {"name": "B", "feed": "https://b.example/f"})
    text = '[sources.a]\nname = "A"\nfeed = "https://a.example/f"\n\n[rules.energy]\naction = "tag"\ntag = "Energy"\n'
    with pytest.raises(RegistryError, match=r"r.toml: rule 'energy', field 'title': bad regular expression '\(oil'"):
        with_sources(text + "title = '(oil'\n", "r.toml", [feed])
    with pytest.raises(RegistryError, match="r.toml: notifier 'hook', field 'webhook'"):
        with_sources('[notify.hook]\nwebhook = "ftp://h.example/"\n', "r.toml", [feed])
    # a rule naming a source the addition brings: the file loads once it is added
    named = text + "source = 'b'\n"
    assert parse_registry(with_sources(named, "r.toml", [feed]))["b"].name == "B"
    with pytest.raises(RegistryError, match="rule 'energy', field 'source': no source 'b'"):
        with_sources(named, "r.toml", [("c", {"name": "C", "feed": "https://c.example/f"})])


def test_a_url_with_a_user_name_or_password_is_refused_without_showing_it() -> None:
    with pytest.raises(RegistryError, match=r"r.toml: source 'a', field 'feed': a user name or password in"
                                            r" https://\*\*\*@a.example/f is not supported") as refused:
        check_source("a", {"name": "A", "feed": ["https://a.example/g", "https://me:s3cret@a.example/f"]}, "r.toml")
    assert "s3cret" not in str(refused.value)
    with pytest.raises(RegistryError, match="field 'homepage'"):
        check_source("a", {"name": "A", "feed": "https://a.example/g", "homepage": "https://me@a.example/"}, "r.toml")
    assert shown_url("https://me:pw@a.example:8443/x?y#z") == "https://***@a.example:8443/x?y#z"
    assert shown_url("https://a.example/@home") == "https://a.example/@home"
