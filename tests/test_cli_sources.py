"""`aggregator add` against real loopback sites and real registry files (OPML: `tests/test_opml.py`).

The sites are pages this module writes, served by `aggregator/testing/snapshot.py` (one host per site) and, for
the failures a server can cause, by `tests/faultserver.py`. Commands run in this process through click's
`CliRunner` (`tests.test_cli.invoke`: an uncaught exception fails the test).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.sources import load_registry
from aggregator.testing.snapshot import ServedSites, serve_snapshot
from tests.faultserver import drip, hang, huge, page, redirect, serve_faults
from tests.test_cli import invoke

RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>%s</title><link>{{BASE}}/</link>'
       "<item><title>One</title><link>{{BASE}}/news/first-story-here</link></item>"
       "<item><title>Two</title><link>{{BASE}}/news/second-story-here</link></item></channel></rss>")
JSON_FEED = ('{"version": "https://jsonfeed.org/version/1.1", "title": "Harbour JSON", "items": '
             '[{"id": "1", "url": "{{BASE}}/news/first-story-here"}]}')
SITEMAP = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
           "<url><loc>{{BASE}}/news/first-story-here</loc></url></urlset>")
ARTICLE_LINKS = "".join('<a href="/news/%s-story-about-things">%s</a>' % (n, n) for n in ("one", "two", "three"))
SITES = {
    # several feeds: one on another site first, then the site's own main feed and its comments feed
    "harbour/index.html": '<html><head><title>Harbour Gazette: the news</title>'
                          '<meta property="og:site_name" content="Harbour Gazette">'
                          '<link rel="alternate" type="application/rss+xml" href="{{BASE:other}}/elsewhere.rss">'
                          '<link rel="alternate" type="application/rss+xml" href="/feed.rss">'
                          '<link rel="alternate" type="application/atom+xml" href="/comments.rss">'
                          "</head><body>%s</body></html>" % ARTICLE_LINKS,
    "harbour/feed.rss": RSS % "Harbour Gazette feed",
    "harbour/comments.rss": RSS % "Comments on Harbour Gazette",
    "harbour/feed.json": JSON_FEED,
    "other/elsewhere.rss": RSS % "Elsewhere",
    # no <link rel=alternate>: a feed at a common path
    "quiet/index.html": "<html><head><title>Quiet Times</title></head><body>%s</body></html>" % ARTICLE_LINKS,
    "quiet/rss.xml": RSS % "Quiet Times",
    # no feed anywhere: the sitemaps robots.txt names
    "mapped/index.html": "<html><head><title>Mapped Daily</title></head><body>%s</body></html>" % ARTICLE_LINKS,
    "mapped/robots.txt": "User-agent: *\nDisallow:\nSitemap: {{BASE}}/news-sitemap.xml\n"
                         "Sitemap: {{BASE}}/pages-sitemap.xml # pages\n",
    "mapped/news-sitemap.xml": SITEMAP,
    "mapped/pages-sitemap.xml": SITEMAP,
    # nothing but article links: a listing page
    "plain/news.html": "<html><head><title>Plain Post | News</title></head><body>%s</body></html>" % ARTICLE_LINKS,
    "plain/notes.txt": "just some text\n",
    # links that are no URLs: a feed on port 99999, robots.txt naming sitemaps with an unclosed bracket or that port
    "odd/index.html": '<html><head><title>Odd Links</title><link rel="alternate" type="application/rss+xml"'
                      ' href="http://127.0.0.1:99999/feed"></head><body>%s</body></html>' % ARTICLE_LINKS,
    "odd/robots.txt": "Sitemap: http://[::1/sitemap.xml\nSitemap: http://127.0.0.1:99999/sitemap.xml\n",
}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSites]:
    root = tmp_path_factory.mktemp("add-sites")
    for relative, text in SITES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, "utf-8")
    with serve_snapshot(root, first_host=81) as bases:
        yield bases


def host_key(base: str) -> str:
    """The key `add` derives from a loopback base URL: its address with dashes."""
    return base.split("//")[1].split(":")[0].replace(".", "-")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REGISTRY = """# my own sources: comments and layout must survive `aggregator add`
[sources.kept]        # a source that was here first
name = "Kept"
feed   = "https://kept.example/feed.xml"   # spacing as the user wrote it
"""


@pytest.fixture()
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(REGISTRY, "utf-8")
    return path


# --- add: what it finds ----------------------------------------------------------------------------------
def test_add_takes_the_sites_own_first_feed_and_names_the_others(sites: ServedSites, registry: Path) -> None:
    base = sites["harbour"]
    result = invoke("add", base + "/", "--sources", str(registry))
    assert result.exit_code == 0, result.output
    key = host_key(base)
    assert "Found: feed %s/feed.rss, announced by <link rel=\"alternate\">" % base in result.stdout
    assert "Also announced, not added: %s/elsewhere.rss %s/comments.rss" % (sites["other"], base) in result.stdout
    assert "Key: %s (from the host %s)" % (key, base.split("//")[1].split(":")[0]) in result.stdout
    text = registry.read_text("utf-8")
    assert text.startswith(REGISTRY), "what was in the file is kept byte for byte"
    source = load_registry(registry)[key]
    assert (source.name, source.feeds, source.homepage) == ("Harbour Gazette", (base + "/feed.rss",), base + "/")
    assert "passed over" not in result.stdout, "the site's own feed is tried first"


def test_add_follows_redirects_and_sniffs_a_feed_sent_as_html(registry: Path) -> None:
    with serve_faults("127.0.0.94") as server:
        base = server.base_url
        feed = (RSS % "Mislabelled").replace("{{BASE}}", base)
        server.routes.update({"/old-feed": redirect("/moved-feed#part", 301), "/moved-feed": redirect(base + "/feed"),
                              "/feed": page(feed, content_type="text/html; charset=utf-8")})
        result = invoke("add", base + "/old-feed", "--sources", str(registry))
    assert result.exit_code == 0, result.output
    assert "Found: feed %s/feed, the page itself is a feed (2 entries)" % base in result.stdout
    assert server.hits == ["/old-feed", "/moved-feed", "/feed"]
    source = load_registry(registry)[host_key(base)]
    assert (source.name, source.feeds) == ("Mislabelled", (base + "/feed",))


def test_add_a_page_that_is_a_feed_or_a_sitemap(sites: ServedSites, tmp_path: Path) -> None:
    registry = tmp_path / "new.toml"  # not there yet: created
    base = sites["harbour"]
    outputs = []
    for url, kind, how in ((base + "/comments.rss", "feed", "the page itself is a feed (2 entries)"),
                           (base + "/feed.json", "feed", "the page itself is a feed (1 entry)"),
                           (sites["mapped"] + "/news-sitemap.xml", "sitemap",
                            "the page itself is a sitemap (urlset, 1 entry)")):
        result = invoke("add", url, "--sources", str(registry))
        assert result.exit_code == 0, result.output
        assert "Found: %s %s, %s" % (kind, url, how) in result.stdout
        outputs.append(result.stdout)
    assert "Created %s with source" % registry in outputs[0] and "Added to %s" % registry in outputs[1]
    registry_now = load_registry(registry)
    key = host_key(base)
    assert "Key: %s-2 (from the host %s; '%s' is taken)" % (key, base.split("//")[1].split(":")[0], key) \
        in outputs[1]
    assert list(registry_now) == [key, key + "-2", host_key(sites["mapped"])]
    assert registry_now[key].feeds == (base + "/comments.rss",) and registry_now[key].homepage is None
    assert registry_now[key].name == "Comments on Harbour Gazette"
    assert registry_now[key + "-2"].name == "Harbour JSON"
    assert registry_now[host_key(sites["mapped"])].sitemaps == (sites["mapped"] + "/news-sitemap.xml",)


def test_add_finds_a_feed_at_a_common_path(sites: ServedSites, registry: Path) -> None:
    base = sites["quiet"]
    result = invoke("add", base, "--sources", str(registry), "--name", "The Quiet One", "--category", "Local")
    assert result.exit_code == 0, result.output
    assert "Found: feed %s/rss.xml, found at a common feed path (/rss.xml)" % base in result.stdout
    source = load_registry(registry)[host_key(base)]
    assert (source.name, source.feeds, source.category) == ("The Quiet One", (base + "/rss.xml",), "Local")


def test_add_takes_the_sitemaps_robots_txt_names(sites: ServedSites, registry: Path) -> None:
    base = sites["mapped"]
    result = invoke("add", base + "/", "--sources", str(registry))
    assert result.exit_code == 0, result.output
    assert "Found: sitemap %s/news-sitemap.xml %s/pages-sitemap.xml, named by robots.txt" % (base, base) \
        in result.stdout
    source = load_registry(registry)[host_key(base)]
    assert source.sitemaps == (base + "/news-sitemap.xml", base + "/pages-sitemap.xml")
    assert (source.name, source.homepage) == ("Mapped Daily", base + "/")


def test_add_reads_a_page_without_feeds_as_a_listing(sites: ServedSites, registry: Path) -> None:
    base = sites["plain"]
    result = invoke("add", base + "/news", "--sources", str(registry), "--key", "plain")
    assert result.exit_code == 0, result.output
    assert "Found: listing %s/news, no feed or sitemap found: the page is read as a listing (3 article-like" \
           " links on it)" % base in result.stdout
    assert "Key: plain (given)" in result.stdout
    source = load_registry(registry)["plain"]
    assert (source.listings, source.name, source.homepage) == ((base + "/news",), "Plain Post | News", None)


def test_add_with_the_registry_named_by_the_environment(sites: ServedSites, registry: Path) -> None:
    result = invoke("add", sites["quiet"] + "/", env={"AGGREGATOR_SOURCES": str(registry)})
    assert result.exit_code == 0, result.output
    assert host_key(sites["quiet"]) in load_registry(registry)


def test_add_writes_through_a_symlink_to_the_file_it_names(sites: ServedSites, registry: Path,
                                                            tmp_path: Path) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(registry)
    assert invoke("add", sites["quiet"] + "/", "--sources", str(link)).exit_code == 0
    assert link.is_symlink() and host_key(sites["quiet"]) in load_registry(registry)


# --- add: what it refuses -------------------------------------------------------------------------------
def refused(result_output: str, registry: Path, before: str) -> None:
    assert registry.read_text("utf-8") == before, "a refused add leaves the registry as it was"
    assert "Traceback" not in result_output


def test_add_refuses_the_shipped_registry_before_fetching(sites: ServedSites) -> None:
    sites.reset_hits()
    result = invoke("add", sites["quiet"] + "/")
    assert result.exit_code == 2
    assert "Error: the registry shipped in the package (aggregator/sources.toml) is never written: name your own" \
           " with --sources FILE or AGGREGATOR_SOURCES=FILE" in result.stderr
    assert sites.hits["quiet"] == []
    shipped = Path(__file__).resolve().parent.parent / "aggregator" / "sources.toml"
    by_path = invoke("add", sites["quiet"] + "/", "--sources", str(shipped))
    assert by_path.exit_code == 2 and "never written" in by_path.stderr


def test_add_refuses_a_url_already_registered(sites: ServedSites, registry: Path) -> None:
    base = sites["harbour"]
    assert invoke("add", base + "/", "--sources", str(registry)).exit_code == 0
    before = registry.read_text("utf-8")
    key = host_key(base)
    for url in (base + "/feed.rss", base, base + "/#top"):
        result = invoke("add", url, "--sources", str(registry))
        assert result.exit_code == 2, url
        assert "is already registered, as '%s'" % key in result.stderr
        refused(result.output, registry, before)


def test_add_refuses_a_bad_or_taken_key(sites: ServedSites, registry: Path) -> None:
    before = registry.read_text("utf-8")
    bad = invoke("add", sites["quiet"] + "/", "--sources", str(registry), "--key", "Quiet Times")
    assert bad.exit_code == 2
    assert "Error: Invalid value for --key: %s: source 'Quiet Times': a source id is lowercase letters, digits," \
           " '-' or '_'" % registry in bad.stderr
    taken = invoke("add", sites["quiet"] + "/", "--sources", str(registry), "--key", "kept")
    assert taken.exit_code == 2
    assert "Error: the key 'kept' is taken (by Kept, feed https://kept.example/feed.xml)" in taken.stderr
    refused(bad.output + taken.output, registry, before)


def test_derived_keys_are_made_unique(sites: ServedSites, tmp_path: Path) -> None:
    registry = tmp_path / "sources.toml"
    key = host_key(sites["quiet"])
    registry.write_text('[sources.%s]\nname = "Same host, other port"\nfeed = "http://127.0.0.1:9/f"\n' % key)
    result = invoke("add", sites["quiet"] + "/", "--sources", str(registry))
    assert result.exit_code == 0, result.output
    assert "Key: %s-2 (from the host %s; '%s' is taken)" % (key, sites["quiet"].split("//")[1].split(":")[0], key) \
        in result.stdout
    assert list(load_registry(registry)) == [key, key + "-2"]


def test_add_refuses_what_cannot_be_fetched_or_used(sites: ServedSites, registry: Path) -> None:
    before = registry.read_text("utf-8")
    cases = {
        "http://127.0.0.1:%d/" % closed_port(): "connection refused",
        sites["harbour"] + "/no-such-page": "HTTP 404 Not Found",
        sites["plain"] + "/notes.txt": "is neither an HTML page, a feed nor a sitemap (text/plain",
    }
    for url, message in cases.items():
        result = invoke("add", url, "--sources", str(registry))
        assert result.exit_code == 1, (url, result.output)
        assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
        refused(result.output, registry, before)
    not_http = invoke("add", "ftp://example.org/feed", "--sources", str(registry))
    assert not_http.exit_code == 2 and "Error: Invalid value for 'URL': not an http(s) URL" in not_http.stderr
    sites.reset_hits()
    quiet = sites["quiet"].split("//")[1]
    secret = invoke("add", "http://me:s3cret@%s/" % quiet, "--sources", str(registry))  # the crawl takes it for a host
    assert secret.exit_code == 2 and "s3cret" not in secret.output and sites.hits["quiet"] == []
    assert "Error: Invalid value for 'URL': a user name or password in the URL is not supported: http://***@%s/" \
        % quiet in secret.stderr
    for bad in ("http://127.0.0.1:99999/", "http://127.0.0.1:port/", "http://[::1/"):  # were tracebacks
        unusable = invoke("add", bad, "--sources", str(registry))
        assert unusable.exit_code == 2 and "Error: Invalid value for 'URL': not a usable URL" in unusable.stderr, bad
    refused(secret.output, registry, before)


def test_links_that_are_no_urls_are_passed_over(sites: ServedSites, registry: Path) -> None:
    result = invoke("add", sites["odd"] + "/", "--sources", str(registry))  # was a traceback (Invalid IPv6 URL)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "  passed over: http://[::1/sitemap.xml: not a usable URL (Invalid IPv6 URL)" in lines
    assert "  passed over: http://127.0.0.1:99999/sitemap.xml: not a usable URL (Port out of range 0-65535)" in lines
    assert any(line.startswith("  passed over: http://127.0.0.1:99999/feed: ") for line in lines), lines
    assert "Found: listing %s/" % sites["odd"] in result.stdout


def test_add_refuses_server_errors_loops_timeouts_and_huge_pages(registry: Path) -> None:
    before = registry.read_text("utf-8")
    with serve_faults("127.0.0.91") as server, serve_faults("127.0.0.93") as inside:
        base = server.base_url
        server.routes.update({
            "/down": page("<html>down</html>", status=503),
            "/loop": redirect(base + "/loop"),
            "/hang": hang(5),
            "/drip": drip(0.2, total=5),
            "/huge": huge(11 * 1024 * 1024, declare_length=False),
            "/declared": page("", headers={"Content-Length": str(50 * 1024 * 1024)}),
            "/inward": redirect(inside.base_url + "/admin"),
        })
        cases = {
            "/down": "%s/down: HTTP 503" % base,
            "/loop": "%s/loop: more than 5 redirects" % base,
            "/hang": "cannot fetch %s/hang: no answer in time" % base,
            "/drip": "%s/drip: not received whole within 1 s" % base,
            "/huge": "%s/huge: larger than 10485760 bytes" % base,
            "/declared": "larger than 10485760 bytes (Content-Length 52428800)",
            "/inward": "%s/admin not fetched: 127.0.0.93 is a non-public address" % inside.base_url,
        }
        for path, message in cases.items():
            result = invoke("add", base + path, "--sources", str(registry), "--timeout", "1")
            assert result.exit_code == 1, (path, result.output)
            assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
            refused(result.output, registry, before)
        assert inside.hits == [], "a redirect into another non-public host is never followed"


def test_a_feed_on_another_non_public_host_is_passed_over(sites: ServedSites, tmp_path: Path) -> None:
    """The page's own feed is on its host; the other one, on another loopback host, is never fetched: a page
    must not make `add` reach (and the registry trust) an address the user did not name."""
    root = tmp_path / "site"
    (root / "only").mkdir(parents=True)
    (root / "only" / "index.html").write_text(
        '<html><head><title>Only elsewhere</title><link rel="alternate" type="application/rss+xml" href="%s">'
        "</head><body></body></html>" % (sites["other"] + "/elsewhere.rss"), "utf-8")
    sites.reset_hits()
    with serve_snapshot(root, first_host=92) as bases:
        result = invoke("add", bases["only"] + "/", "--sources", str(tmp_path / "r.toml"))
    assert result.exit_code == 0, result.output
    other_host = sites["other"].split("//")[1].split(":")[0]
    assert "passed over: %s/elsewhere.rss: %s/elsewhere.rss not fetched: %s is a non-public address" \
           % (sites["other"], sites["other"], other_host) in result.stdout
    assert "Found: listing" in result.stdout and sites.hits["other"] == []


def test_add_refuses_a_registry_file_that_does_not_load(sites: ServedSites, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[sources.x]\nname = "X"\nfeed = "not a url"\n')
    result = invoke("add", sites["quiet"] + "/", "--sources", str(broken))
    assert result.exit_code == 2 and "field 'feed': not an http(s) URL" in result.stderr
    assert broken.read_text() == '[sources.x]\nname = "X"\nfeed = "not a url"\n'
    bad_rule = tmp_path / "bad_rule.toml"  # a crawl of the file would refuse it: so is adding to it
    bad_rule.write_text('[rules.energy]\naction = "tag"\ntag = "Energy"\ntitle = "(oil"\n')
    refused = invoke("add", sites["quiet"] + "/", "--sources", str(bad_rule))
    assert refused.exit_code == 2 and "Error: %s: rule 'energy', field 'title': bad regular expression" % bad_rule \
        in refused.stderr, refused.output
    assert bad_rule.read_text() == '[rules.energy]\naction = "tag"\ntag = "Energy"\ntitle = "(oil"\n'
    nowhere = invoke("add", sites["quiet"] + "/", "--sources", str(tmp_path / "no" / "dir" / "r.toml"))
    assert nowhere.exit_code == 2 and "Error: no folder %s to create the registry r.toml in" % (
        tmp_path / "no" / "dir") in nowhere.stderr
