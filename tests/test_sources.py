"""The sources registry: the shipped file, the format, and errors that name file, source and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.sources import RegistryError, load_registry, parse_registry


def test_default_registry_ships_the_three_sources_at_their_real_urls() -> None:
    registry = load_registry()
    assert list(registry) == ["astanatimes", "commonspace", "timesca"]
    assert registry["astanatimes"].feeds == ("https://astanatimes.com/feed/",)
    assert registry["commonspace"].listings == ("https://www.commonspace.eu/news",)
    assert registry["timesca"].feeds[0].startswith("https://timesca.com/")


def test_feed_as_list_listing_and_selector() -> None:
    registry = parse_registry(
        """
        [sources.one]
        name = "One"
        feed = ["https://one.example/rss", "https://one.example/atom"]
        [sources.two]
        name = "Two"
        listing = ["https://two.example/news"]
        article_links = "a.article-link"
        max_pages = 3
        """
    )
    assert registry["one"].feeds == ("https://one.example/rss", "https://one.example/atom")
    assert registry["one"].kind == "feed"
    assert registry["two"].article_links == "a.article-link"
    assert registry["two"].max_pages == 3


@pytest.mark.parametrize(
    ("body", "source", "field"),
    [
        ('[sources.x]\nfeed = "https://x.example/feed"', "x", "name"),
        ('[sources.x]\nname = "X"', "x", "feed"),
        ('[sources.x]\nname = "X"\nfeed = "ftp://x.example/feed"', "x", "feed"),
        ('[sources.x]\nname = "X"\nlisting = []', "x", "listing"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\nmax_pages = 0', "x", "max_pages"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\ncolour = "red"', "x", "colour"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\narticle_links = ""', "x", "article_links"),
        # pass a shallow check, then abort the crawl of every later source
        ('[sources.x]\nname = "X"\nfeed = "https://x.example:99999/feed"', "x", "feed"),
        ('[sources.x]\nname = "X"\nsitemap = "http://[::1/sitemap.xml"', "x", "sitemap"),
        ('[sources.x]\nname = "X"\nhomepage = "https://x.example:0/"', "x", "homepage"),
        ('[sources.x]\nname = "X"\nfeed = "https:///feed"', "x", "feed"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/a feed"', "x", "feed"),
        ('[sources.x]\nname = "X"\nlisting = "https://x.example/"\npagination = "https://x.example/?p={page}&s={sort}"',
         "x", "pagination"),
        ('[sources.x]\nname = "X"\nlisting = "https://x.example/"\npagination = "https://x.example/{page}/{0}"',
         "x", "pagination"),
        ('[sources.x]\nname = "X"\nlisting = "https://x.example/"\npagination = "https://x.example/{page}/{"',
         "x", "pagination"),
        ('[sources.x]\nname = "X"\nlisting = "https://x.example/"\npagination = "https://x.example/{page.real}"',
         "x", "pagination"),
        ('[sources.x]\nname = "X"\nlisting = "https://x.example/"\npagination = "https://x.example:70000/{page}"',
         "x", "pagination"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\nmin_interval = "0 9 * * *"', "x", "min_interval"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\nmin_interval = "2h"\nmax_interval = "1h"',
         "x", "min_interval"),
        ('[sources.x]\nname = "X"\nfeed = "https://x.example/"\ncategory = ""', "x", "category"),
        ('[sources.x]\nname = "X"\nfeed = "https://me:secret@x.example/feed"', "x", "feed"),
    ],
)
def test_bad_entries_are_named(body: str, source: str, field: str) -> None:
    with pytest.raises(RegistryError) as error:
        parse_registry(body, "my.toml")
    message = str(error.value)
    assert message.startswith("my.toml: source %r, field %r" % (source, field)), message


def test_a_password_in_a_url_is_refused_without_showing_it() -> None:
    with pytest.raises(RegistryError) as error:
        parse_registry('[sources.x]\nname = "X"\nlisting = "https://me:secret@x.example/news"\n', "my.toml")
    assert "secret" not in str(error.value) and "https://***@x.example/news is not supported" in str(error.value)


def test_category_and_polling_bounds() -> None:
    source = parse_registry('[sources.x]\nname = "X"\nfeed = "https://x.example/"\ncategory = "Asia"\n'
                            'min_interval = "15m"\nmax_interval = "1d"\n')["x"]
    assert (source.category, source.min_interval, source.max_interval) == ("Asia", 900.0, 86400.0)


def test_rules_and_notify_tables_are_allowed_beside_sources_but_nothing_else() -> None:
    sources = parse_registry('[sources.x]\nname = "X"\nfeed = "https://x.example/"\n'
                             '[rules.ads]\naction = "hide"\ntitle = "Sponsored"\n'
                             '[notify.team]\nwebhook = "https://hooks.example/in"\n')
    assert list(sources) == ["x"]
    with pytest.raises(RegistryError, match="my.toml, field 'filters': unknown top-level table"):
        parse_registry('[sources.x]\nname = "X"\nfeed = "https://x.example/"\n[filters.a]\nx = 1\n', "my.toml")
    with pytest.raises(RegistryError, match="my.toml, field 'rules': expected tables"):
        parse_registry('rules = 3\n[sources.x]\nname = "X"\nfeed = "https://x.example/"\n', "my.toml")


def test_bad_toml_and_empty_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[sources.x\nname = 1")
    with pytest.raises(RegistryError, match="broken.toml: not valid TOML"):
        load_registry(broken)
    with pytest.raises(RegistryError, match="no \\[sources"):
        parse_registry("", "empty.toml")
    with pytest.raises(RegistryError, match="missing.toml: cannot read"):
        load_registry(tmp_path / "missing.toml")


def test_environment_variable_names_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[sources.mine]\nname = "Mine"\nfeed = "https://mine.example/feed"\n')
    monkeypatch.setenv("AGGREGATOR_SOURCES", str(path))
    assert list(load_registry()) == ["mine"]


def test_a_crawl_refuses_a_registry_that_would_abort_it_with_exit_2(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    registry = tmp_path / "sources.toml"
    registry.write_text('[sources.fine]\nname = "Fine"\nfeed = "http://127.0.0.1:9/feed"\n'
                        '[sources.paged]\nname = "Paged"\nlisting = "http://127.0.0.1:9/"\n'
                        'pagination = "http://127.0.0.1:9/?page={page}&sort={order}"\n', "utf-8")
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2, result.stdout + result.stderr[-2000:]
    assert "%s: source 'paged', field 'pagination'" % registry in result.stderr
    assert "Traceback" not in result.stderr
