"""One crawl of the hostile fixture site: every fault is logged with its URL, counted by cause, and every
good article beside them is stored; the guard refuses private addresses; memory stays bounded."""

from __future__ import annotations

import re
import resource
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import hostile_site
from tests.conftest import FAST, run_cli
from tests.faultserver import FaultServer, page, serve_faults

# Small limits keep the faults quick: a 2 s timeout, one retry.
LIMITS = ["--set", "DOWNLOAD_TIMEOUT=2", "--set", "RETRY_TIMES=1", "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=16"]
_STAT = re.compile(r"'(aggregator/[^']+)': (\d+)")


@dataclass
class Crawl:
    code: int
    stdout: str
    log: str
    stats: dict[str, int]
    db: Path
    expected: hostile_site.Expected
    site: FaultServer
    secret: FaultServer

    def stored_text(self, path: str) -> str | None:
        row = sqlite3.connect(self.db).execute(
            "SELECT s.text FROM stories s JOIN sightings g ON g.story_id = s.id WHERE g.url = ?",
            (self.site.base_url + path,)).fetchone()
        return row[0] if row else None

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log.splitlines() if needle in line]


def stats_of(log: str) -> dict[str, int]:
    dump = log[log.rindex("Dumping Scrapy stats"):] if "Dumping Scrapy stats" in log else ""
    return {name: int(value) for name, value in _STAT.findall(dump)}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    tmp = tmp_path_factory.mktemp("hostile")
    with serve_faults("127.0.0.60") as site, serve_faults("127.0.0.61") as secret:
        secret.routes["/secret/linked"] = secret.routes["/secret/redirected"] = page("internal only")
        expected = hostile_site.build(site, secret.base_url)
        registry = tmp / "sources.toml"
        registry.write_text(hostile_site.SOURCES % {"base": site.base_url}, "utf-8")
        db = tmp / "hostile.db"
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *LIMITS,
                         timeout=120)
        log = result.stdout + result.stderr
        yield Crawl(result.returncode, result.stdout, log, stats_of(log), db, expected, site, secret)


def test_every_good_article_is_stored_beside_the_faults(crawl: Crawl) -> None:
    missing = [path for path in crawl.expected.good if crawl.stored_text(path) is None]
    assert not missing, crawl.log[-4000:]
    stored = sqlite3.connect(crawl.db).execute("SELECT count(*) FROM sightings").fetchone()[0]
    assert stored == len(crawl.expected.good)


def test_each_fault_is_counted_by_cause_and_the_exit_code_says_so(crawl: Crawl) -> None:
    errors = {name.removeprefix("aggregator/errors/"): value for name, value in crawl.stats.items()
              if name.startswith("aggregator/errors/")}
    assert errors == crawl.expected.errors, crawl.log[-4000:]
    assert crawl.code == 3
    for cause, count in crawl.expected.errors.items():
        assert "  %s: %d" % (cause, count) in crawl.stdout  # the summary lists each cause


def test_each_fault_is_logged_with_its_url_and_cause(crawl: Crawl) -> None:
    for path, cause in crawl.expected.faults.items():
        lines = [line for line in crawl.log_lines(crawl.site.base_url + path) if "ERROR" in line]
        assert any(cause in line or "SSRF" in line for line in lines), (path, cause, lines)
    for name in ("garbage", "billion-laughs", "xxe"):
        assert crawl.log_lines("/feeds/%s of source hostile" % name), name


@pytest.mark.parametrize("path", ["/news/cp1251-undeclared", "/news/koi8r-wrong-header", "/news/koi8r-undeclared",
                                  "/news/iso88599-meta-only", "/news/iso88599-wrong-header",
                                  "/news/utf8-latin1-header", "/news/utf8-wrong-meta"])
def test_pages_with_wrong_or_missing_charsets_are_stored_as_the_right_text(crawl: Crawl, path: str) -> None:
    text = crawl.stored_text(path)
    assert text is not None and crawl.expected.good[path] in text, text
    if path != "/news/iso88599-meta-only":  # the only one whose declarations were all right
        assert crawl.log_lines(path) and any("charset" in line or "declared" in line for line in crawl.log_lines(path))
    assert crawl.stats["aggregator/repaired/charset"] == 6


def test_html_served_as_xml_and_feeds_served_as_html_still_work(crawl: Crawl) -> None:
    for path in ("/news/html-as-xml", "/news/html-feed-0", "/news/html-feed-1"):
        assert crawl.stored_text(path) is not None, path


def test_a_truncated_feed_gives_its_complete_entries(crawl: Crawl) -> None:
    assert crawl.stored_text("/news/cut-feed-0") and crawl.stored_text("/news/cut-feed-1")
    assert crawl.stats["aggregator/feeds/malformed_used"] >= 1


def test_no_xml_entity_is_expanded_and_the_entries_of_entity_feeds_are_kept(crawl: Crawl) -> None:
    for slug in ("lol", "xxe", "odd-entity", "odd-quoted", "odd-refs"):
        assert crawl.stored_text("/news/" + slug) is not None, slug
    assert not any(len(line) > 5000 for line in crawl.log.splitlines())
    rows = sqlite3.connect(crawl.db).execute("SELECT title FROM stories").fetchall()
    assert not any("lollol" in (title or "") or "root:" in (title or "") for (title,) in rows)
    assert crawl.stats["aggregator/feeds/entities_ignored"] == crawl.expected.entities_ignored
    assert crawl.stats["aggregator/repaired/feed_char_refs"] == crawl.expected.char_refs_replaced


def test_ssrf_guard_refuses_private_addresses_the_registry_does_not_name(crawl: Crawl) -> None:
    assert crawl.secret.hits == []  # neither the linked page nor the redirect target was asked
    for url in crawl.expected.never_fetched:
        assert crawl.log_lines("Refusing to fetch %s" % url), url
    assert crawl.stats["aggregator/errors/ssrf_refused"] == crawl.expected.errors["ssrf_refused"]


def test_binary_links_are_stopped_at_their_headers(crawl: Crawl) -> None:
    assert crawl.stats["aggregator/errors/not_html"] == 2
    assert crawl.stored_text("/files/report.pdf") is None


def test_empty_and_script_only_pages_are_counted_as_no_article(crawl: Crawl) -> None:
    assert crawl.stats["aggregator/no_article"] == 2
    assert crawl.stored_text("/news/empty") is None and crawl.stored_text("/news/js-only") is None


def test_retries_are_bounded(crawl: Crawl) -> None:
    assert crawl.site.hits.count("/fault/503") == 2  # RETRY_TIMES=1
    assert crawl.site.hits.count("/fault/404") == 1  # a 404 is not retried
    assert crawl.site.hits.count("/fault/loop-a") == 1


def test_memory_stays_bounded_with_50_mb_pages_and_64_mb_bombs(crawl: Crawl) -> None:
    # ru_maxrss is in KiB on Linux: the largest child so far, this crawl included.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 400, peak_mb


def test_duplicate_and_changing_guids_store_each_link_once(tmp_path: Path) -> None:
    with serve_faults("127.0.0.62") as site:
        for slug in ("guid-a", "guid-b", "guid-c"):
            site.routes["/news/" + slug] = page(hostile_site.article_page(slug))
        registry = tmp_path / "guids.toml"
        registry.write_text('[sources.guids]\nname = "Guids"\nfeed = "%s/feed.rss"\n' % site.base_url, "utf-8")
        db = tmp_path / "guids.db"
        for generation in (1, 2):
            site.routes["/feed.rss"] = page(hostile_site.guid_feed(site.base_url, generation), "application/rss+xml")
            result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *LIMITS)
            assert result.returncode == 0, result.stderr[-3000:]
            assert stats_of(result.stderr)["aggregator/feeds/guid_conflicts"] == 2
        urls = sorted(url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings"))
        assert urls == [site.base_url + "/news/" + slug for slug in ("guid-a", "guid-b", "guid-c")]
        assert site.hits.count("/news/guid-c") == 1  # the second crawl knew it by URL, whatever its guid
        assert "skipped as stored:     4" in result.stdout  # guid-c is listed twice
