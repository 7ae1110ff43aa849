"""Fetch-side hostile input in real crawls on loopback: Retry-After on 429/503 pauses that host (bounded),
links of other schemes are counted, and Scrapy's telnet console stays off unless asked for."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from aggregator.fetch.retryafter import retry_after_seconds
from tests.conftest import FAST, run_cli
from tests.faultserver import FaultHandler, Route, page, serve_faults
from tests.hostile_site import article_page, rss

_STAT = re.compile(r"'(aggregator/[^']+)': (\d+)")


def stats_of(log: str) -> dict[str, int]:
    dump = log[log.rindex("Dumping Scrapy stats"):] if "Dumping Scrapy stats" in log else ""
    return {name: int(value) for name, value in _STAT.findall(dump)}


def crawl(tmp_path: Path, base: str, *extra: str) -> tuple[int, str, Path]:
    registry = tmp_path / "sources.toml"
    registry.write_text('[sources.site]\nname = "Site"\nfeed = "%s/feed.rss"\n' % base, "utf-8")
    db = tmp_path / "site.db"
    result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *extra, timeout=120)
    return result.returncode, result.stdout + result.stderr, db


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("soon", None), ("", None), (None, None), ("-5", None),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_is_read_as_seconds_or_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def busy_then_fine(status: int, retry_after: str, slug: str, times: list[float]) -> Route:
    """The first request answers `status` with Retry-After; later ones serve the article."""
    article = page(article_page(slug))

    def route(handler: FaultHandler) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            page("busy", status=status, headers={"Retry-After": retry_after})(handler)
        else:
            article(handler)
    return route


def test_retry_after_pauses_the_host_and_is_bounded(tmp_path: Path) -> None:
    busy: list[float] = []
    limited: list[float] = []
    with serve_faults("127.0.0.76") as site:
        base = site.base_url
        site.routes["/news/busy"] = busy_then_fine(503, "2", "busy", busy)
        site.routes["/news/limited"] = busy_then_fine(429, "3600", "limited", limited)  # an hour: bounded
        site.routes["/feed.rss"] = page(rss(base, [(s, base + "/news/" + s, s) for s in ("busy", "limited")]),
                                        "application/rss+xml")
        started = time.monotonic()
        code, log, db = crawl(tmp_path, base, "--set", "AGGREGATOR_RETRY_AFTER_MAX=3")
        took = time.monotonic() - started
    assert code == 0, log[-3000:]
    assert len(busy) == 2 and len(limited) == 2
    assert busy[1] - busy[0] >= 1.8, busy  # Retry-After: 2 honoured (a retry used to follow at once)
    assert 2.7 <= limited[1] - limited[0] < 10, limited  # an hour asked, AGGREGATOR_RETRY_AFTER_MAX=3 given
    assert took < 60
    assert stats_of(log)["aggregator/fetch/retry_after"] == 2
    urls = {url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings")}
    assert urls == {base + "/news/busy", base + "/news/limited"}


def test_links_of_other_schemes_are_counted_and_never_fetched(tmp_path: Path) -> None:
    with serve_faults("127.0.0.77") as site:
        base = site.base_url
        site.routes["/news/fine"] = page(article_page("fine"))
        links = ["javascript:alert(document.cookie)", "file:///etc/passwd", "data:text/html,<script>x</script>",
                 "ftp://127.0.0.77/pub"]
        site.routes["/feed.rss"] = page(rss(base, [("fine", base + "/news/fine", "f")]
                                            + [("odd %d" % i, link, "o%d" % i) for i, link in enumerate(links)]),
                                        "application/rss+xml")
        code, log, db = crawl(tmp_path, base)
    assert code == 3, log[-3000:]
    assert stats_of(log)["aggregator/errors/unsafe_scheme"] == len(links)
    assert "  unsafe_scheme: %d" % len(links) in log
    for link in links:  # logged with the feed it came from (feedparser rewrites file:/// as file://)
        scheme = "'%s:" % link.split(":")[0]
        assert any("ERROR" in line and "unsafe_scheme" in line and scheme in line and base + "/feed.rss" in line
                   for line in log.splitlines()), link
    assert [url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings")] == [base + "/news/fine"]


def test_scrapys_consoles_are_off_unless_asked_for(tmp_path: Path) -> None:
    """The telnet console and Scrapy 2.19's remote-control HTTP server both run Python sent to them."""
    with serve_faults("127.0.0.78") as site:
        site.routes["/news/fine"] = page(article_page("fine"))
        site.routes["/feed.rss"] = page(rss(site.base_url, [("fine", site.base_url + "/news/fine", "f")]),
                                        "application/rss+xml")
        code, log, _ = crawl(tmp_path, site.base_url)
        assert code == 0, log[-3000:]
        assert "Remote control HTTP server listening" not in log and "Telnet console listening" not in log
        code, log, _ = crawl(tmp_path, site.base_url, "--set", "REMOTE_CONTROL_ENABLED=true")
        assert "Remote control HTTP server listening" in log, log[-3000:]
