"""`aggregator opml import|export` with real OPML and registry files: folders as categories both ways, what an
import skips and says so, files that are not OPML (or declare entities) refused, the shipped registry exported.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from aggregator.opml import parse_opml
from aggregator.sources import load_registry
from tests.test_cli import invoke
from tests.test_cli_sources import REGISTRY, refused


@pytest.fixture()
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(REGISTRY, "utf-8")
    return path


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My reader</title></head>
  <body>
    <outline type="rss" text="Kept again" xmlUrl="https://kept.example/feed.xml"/>
    <outline text="News" title="News">
      <outline type="rss" text="Daily &amp; Co" xmlUrl="https://www.daily.example/rss" htmlUrl="https://www.daily.example/"/>
      <outline text="Tech">
        <outline type="rss" text="Gadgets" xmlUrl="https://gadgets.example/atom.xml" language="de"/>
      </outline>
    </outline>
    <outline type="rss" text="Daily twice" xmlUrl="https://www.daily.example/rss"/>
    <outline type="rss" text="Old protocol" xmlUrl="gopher://old.example/feed"/>
    <outline type="link" text="Just a link" htmlUrl="https://link.example/"/>
    <outline type="rss" text="Second daily" xmlUrl="https://daily.example/other.rss"/>
  </body>
</opml>
"""


def test_opml_import_adds_feeds_with_their_folders_and_skips_the_rest(registry: Path, tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(OPML, "utf-8")
    result = invoke("opml", "import", str(opml), "--sources", str(registry))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "skipped outline 'Just a link': no xmlUrl (not a feed) and no outlines in it" in lines
    assert "skipped https://kept.example/feed.xml: already registered, as 'kept'" in lines
    assert "skipped https://www.daily.example/rss: listed before in this file, as 'daily'" in lines
    assert any(line.startswith("skipped gopher://old.example/feed: source 'old', field 'feed': not an http(s)")
               for line in lines), lines
    assert "adding gadgets: Gadgets https://gadgets.example/atom.xml [News/Tech]" in lines
    assert lines[-1] == "Added to %s with 3 sources from %s." % (registry, opml)
    assert registry.read_text("utf-8").startswith(REGISTRY)
    loaded = load_registry(registry)
    assert list(loaded) == ["kept", "daily", "gadgets", "daily-2"]
    daily, gadgets = loaded["daily"], loaded["gadgets"]
    assert (daily.name, daily.feeds, daily.homepage, daily.category) == (
        "Daily & Co", ("https://www.daily.example/rss",), "https://www.daily.example/", "News")
    assert (gadgets.category, gadgets.language) == ("News/Tech", "de")
    assert loaded["daily-2"].category is None
    again = invoke("opml", "import", str(opml), "--sources", str(registry))
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "Nothing to add: %s unchanged." % registry


def test_opml_import_refuses_files_that_are_not_opml(registry: Path, tmp_path: Path) -> None:
    before = registry.read_text("utf-8")
    cases = {
        "notes.opml": ("just text, no markup", "not XML: syntax error: line 1, column 0"),
        "page.opml": ("<html><body><p>hi</p></body></html>", "not OPML: the root element is <html>, not <opml>"),
        "cut.opml": ('<opml version="2.0"><body><outline text="x">', "not XML: no element found"),
        "headless.opml": ('<opml version="2.0"><head/></opml>', "not OPML: no <body> in <opml>"),
        "laughs.opml": ('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
                        '<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/&b;"/></body></opml>',
                        "a DOCTYPE with declarations or an external DTD is refused"),
        "external.opml": ('<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file:///etc/passwd"><opml><body/></opml>',
                          "a DOCTYPE with declarations or an external DTD is refused"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, "utf-8")
        result = invoke("opml", "import", str(path), "--sources", str(registry))
        assert result.exit_code == 2, (name, result.output)
        assert "Error: %s: %s" % (path, message) in result.stderr, (name, result.stderr)
        refused(result.output, registry, before)
    shipped = invoke("opml", "import", str(tmp_path / "notes.opml"))
    assert shipped.exit_code == 2 and "is never written" in shipped.stderr


def test_opml_export_of_the_shipped_registry() -> None:
    result = invoke("opml", "export")
    assert result.exit_code == 0, result.output
    root = ElementTree.fromstring(result.stdout)  # well-formed for another parser than ours
    assert root.tag == "opml" and root.get("version") == "2.0"
    feeds = [(o.get("text"), o.get("xmlUrl"), o.get("htmlUrl")) for o in root.iter("outline")]
    assert feeds == [("The Astana Times", "https://astanatimes.com/feed/", "https://astanatimes.com/"),
                     ("The Times of Central Asia", "https://timesca.com/feed/", "https://timesca.com/")]
    assert result.stderr == "not exported (no feed URL): commonspace (listing)\n"


def test_opml_export_and_import_round_trip(registry: Path, tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text(OPML, "utf-8")
    assert invoke("opml", "import", str(opml), "--sources", str(registry)).exit_code == 0
    exported = tmp_path / "out" / "export.opml"
    exported.parent.mkdir()
    result = invoke("opml", "export", "-o", str(exported), env={"AGGREGATOR_SOURCES": str(registry)})
    assert result.exit_code == 0, result.output
    assert result.stdout == "Wrote 4 feeds to %s.\n" % exported
    body = ElementTree.parse(exported).getroot().find("body")
    assert body is not None
    news = [o for o in body if o.get("text") == "News"]
    assert len(news) == 1 and [o.get("text") for o in news[0]] == ["Daily & Co", "Tech"]
    subscriptions = parse_opml(exported.read_bytes()).subscriptions
    assert [(s.feed, s.category) for s in subscriptions] == [
        ("https://kept.example/feed.xml", None), ("https://www.daily.example/rss", "News"),
        ("https://gadgets.example/atom.xml", "News/Tech"), ("https://daily.example/other.rss", None)]
    fresh = tmp_path / "fresh.toml"
    assert invoke("opml", "import", str(exported), "--sources", str(fresh)).exit_code == 0
    original, copied = load_registry(registry), load_registry(fresh)
    assert [(s.name, s.feeds, s.homepage, s.category, s.language) for s in original.values()] == \
        [(s.name, s.feeds, s.homepage, s.category, s.language) for s in copied.values()]


def test_an_export_imported_makes_the_same_sources_keys_and_all(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('[sources.harbour-news]\nname = "Harbour Gazette"\nfeed = ["https://harbour.example/news.rss",'
                    ' "https://harbour.example/sport.rss"]\nhomepage = "https://harbour.example/"\ncategory = "Local"\n'
                    '\n[sources.wire]\nname = "Wire"\nfeed = "https://feeds.wire.example/all"\nlanguage = "en"\n',
                    "utf-8")
    exported = tmp_path / "mine.opml"
    assert invoke("opml", "export", "-o", str(exported), "--sources", str(mine)).exit_code == 0
    root = ElementTree.parse(exported).getroot()  # the key in a namespace of ours, declared: valid for any reader
    assert [o.get("{urn:news-aggregator:opml:1}key") for o in root.iter("outline") if o.get("xmlUrl")] == [
        "harbour-news", "harbour-news", "wire"]
    fresh = tmp_path / "fresh.toml"
    result = invoke("opml", "import", str(exported), "--sources", str(fresh))
    assert result.exit_code == 0, result.output
    assert "adding https://harbour.example/sport.rss to harbour-news" in result.stdout.splitlines()

    def described(path: Path) -> list[tuple[object, ...]]:
        return [(s.key, s.name, s.feeds, s.homepage, s.category, s.language) for s in load_registry(path).values()]

    assert described(fresh) == described(mine)
    # into a registry where the key is taken: a key of its own, the source's feeds still one source
    taken = tmp_path / "taken.toml"
    taken.write_text('[sources.harbour-news]\nname = "Other"\nfeed = "https://other.example/rss"\n', "utf-8")
    assert invoke("opml", "import", str(exported), "--sources", str(taken)).exit_code == 0
    assert load_registry(taken)["harbour"].feeds == ("https://harbour.example/news.rss",
                                                     "https://harbour.example/sport.rss")


def test_a_feed_with_a_password_in_its_url_is_skipped_without_showing_it(tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text('<opml version="2.0"><body><outline text="Paid" xmlUrl="https://me:s3cret@paid.example/rss"/>'
                    '<outline text="Free" xmlUrl="https://free.example/rss"/></body></opml>', "utf-8")
    fresh = tmp_path / "fresh.toml"
    result = invoke("opml", "import", str(opml), "--sources", str(fresh))
    assert result.exit_code == 0 and "s3cret" not in result.output, result.output
    assert result.stdout.splitlines()[0] == ("skipped https://***@paid.example/rss: source 'paid', field 'feed': a user"
                                             " name or password in https://***@paid.example/rss is not supported (the"
                                             " crawl cannot send them)")
    assert list(load_registry(fresh)) == ["free"]


def test_feed_urls_that_are_no_urls_are_skipped(tmp_path: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text('<opml version="2.0"><body><outline text="Bracket" xmlUrl="http://[::1/feed"/>'
                    '<outline text="Port" xmlUrl="http://example.org:99999/feed"/>'
                    '<outline text="Fine" xmlUrl="https://fine.example/rss"/></body></opml>', "utf-8")
    fresh = tmp_path / "fresh.toml"
    result = invoke("opml", "import", str(opml), "--sources", str(fresh))
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert result.stdout.splitlines()[:2] == ["skipped http://[::1/feed: not a usable URL (Invalid IPv6 URL)",
                                              "skipped http://example.org:99999/feed: not a usable URL (Port out of"
                                              " range 0-65535)"]
    assert list(load_registry(fresh)) == ["fine"]
