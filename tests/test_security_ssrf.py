"""SSRF in real crawls on loopback: a private host one source configures is trusted for that source's requests
only; another source's links there are refused and counted; a name that resolves somewhere else when the
downloader connects (DNS rebinding) is judged by the address actually connected to."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer

from tests.conftest import FAST, run_cli
from tests.faultserver import page, serve_faults
from tests.hostile_site import article_page, rss

_STAT = re.compile(r"'(aggregator/[^']+)': (\d+)")


def stats_of(log: str) -> dict[str, int]:
    dump = log[log.rindex("Dumping Scrapy stats"):] if "Dumping Scrapy stats" in log else ""
    return {name: int(value) for name, value in _STAT.findall(dump)}


def test_an_intranet_host_is_trusted_only_for_the_source_that_configures_it(tmp_path: Path) -> None:
    with serve_faults("127.0.0.72") as intranet, serve_faults("127.0.0.73") as hostile:
        for slug in ("memo", "payroll"):
            intranet.routes["/news/" + slug] = page(article_page(slug))
        intranet.routes["/feed.rss"] = page(rss(intranet.base_url, [("memo", intranet.base_url + "/news/memo", "m")]),
                                            "application/rss+xml")
        hostile.routes["/news/own"] = page(article_page("own"))
        hostile.routes["/feed.rss"] = page(rss(hostile.base_url, [
            ("own", hostile.base_url + "/news/own", "o"),
            ("stolen", intranet.base_url + "/news/payroll", "p")]), "application/rss+xml")
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.intranet]\nname = "Intranet"\nfeed = "%s/feed.rss"\n'
                            '[sources.hostile]\nname = "Hostile"\nfeed = "%s/feed.rss"\n'
                            % (intranet.base_url, hostile.base_url), "utf-8")
        db = tmp_path / "ssrf.db"
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST)
        log = result.stdout + result.stderr
        assert "/news/payroll" not in intranet.hits, log[-3000:]
        assert "/news/memo" in intranet.hits
    assert result.returncode == 3, log[-3000:]
    assert stats_of(log)["aggregator/errors/ssrf_refused"] == 1
    assert "Refusing to fetch %s/news/payroll" % intranet.base_url in log
    rows = set(sqlite3.connect(db).execute("SELECT source, url FROM sightings"))
    assert rows == {("intranet", intranet.base_url + "/news/memo"), ("hostile", hostile.base_url + "/news/own")}


REBINDING_NAME = "rebind.test"
REBOUND_TO = "127.0.0.74"


class RebindingResolver(CachingThreadedResolver):
    """The downloader's resolver (TWISTED_DNS_RESOLVER) answering as a rebinding DNS server does at connect
    time: rebind.test is a loopback address, while the guard's own lookup of it finds nothing private."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:  # noqa: N802
        if name == REBINDING_NAME:
            return defer.succeed(REBOUND_TO)
        return super().getHostByName(name, timeout)


def test_dns_rebinding_is_judged_by_the_address_connected_to(tmp_path: Path) -> None:
    with serve_faults("127.0.0.75") as site, serve_faults(REBOUND_TO) as inside:
        inside.routes["/news/inside"] = page(article_page("inside"))
        port = inside.server_address[1]
        site.routes["/news/own"] = page(article_page("own"))
        site.routes["/feed.rss"] = page(rss(site.base_url, [
            ("own", site.base_url + "/news/own", "o"),
            ("rebound", "http://%s:%d/news/inside" % (REBINDING_NAME, port), "r")]), "application/rss+xml")
        registry = tmp_path / "sources.toml"
        registry.write_text('[sources.site]\nname = "Site"\nfeed = "%s/feed.rss"\n' % site.base_url, "utf-8")
        db = tmp_path / "rebind.db"
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST,
                         "--set", "TWISTED_DNS_RESOLVER=tests.test_security_ssrf.RebindingResolver",
                         "--set", "ROBOTSTXT_OBEY=false")
        log = result.stdout + result.stderr
    assert "connected to at the non-public address %s" % REBOUND_TO in log, log[-3000:]
    assert stats_of(log)["aggregator/errors/ssrf_refused"] == 1
    assert result.returncode == 3
    urls = {url for (url,) in sqlite3.connect(db).execute("SELECT url FROM sightings")}
    assert urls == {site.base_url + "/news/own"}
