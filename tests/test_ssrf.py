"""SSRFGuardMiddleware: private, loopback, link-local and metadata addresses are refused unless the
request's own source names the host; other schemes are never fetched."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from aggregator.fetch.ssrf import RefusedAddress, SSRFGuardMiddleware, trusted_hosts
from aggregator.sources import parse_registry


class Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count


REGISTRY = parse_registry('''
[sources.public]
name = "Public"
feed = "https://news.example/feed"
[sources.intranet]
name = "Intranet"
listing = "http://10.1.2.3:8080/news/"
''')


def guard() -> SSRFGuardMiddleware:
    return SSRFGuardMiddleware(Stats(), trusted_hosts(REGISTRY.values()))


def fetch(middleware: SSRFGuardMiddleware, url: str, source: str = "public") -> Any:
    return asyncio.run(middleware.process_request(Request(url, cb_kwargs={"source": REGISTRY[source]})))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://100.100.100.200/",
    "http://127.0.0.1/", "http://127.1.2.3:6379/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/admin", "http://[fe80::1]/", "http://100.64.0.1/",
    "http://224.0.0.1/", "http://localhost:8080/", "http://2130706433/", "http://0x7f.0.0.1/",
    "http://10.1.2.3:9000/other-port-of-a-trusted-host",
    # IPv6 transition addresses that embed a private IPv4 address, and site-local / local-use NAT64
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::10.0.0.1]/",
    "http://[2002:7f00:1::1]/", "http://[2002:a9fe:a9fe::]/", "http://[::7f00:1]/", "http://[::a9fe:a9fe]/",
    "http://[::ffff:0:7f00:1]/", "http://[fec0::1]/", "http://[64:ff9b:1::a00:1]/", "http://[2001:0:4136:e378::1]/",
])
def test_non_public_addresses_are_refused_and_counted(url: str) -> None:
    middleware = guard()
    with pytest.raises(RefusedAddress):
        fetch(middleware, url)
    assert middleware.stats.values == {"aggregator/errors/ssrf_refused": 1}


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://news.example/x", "gopher://127.0.0.1:6379/_x",
                                 "data:text/html,hi"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(RefusedAddress):
        fetch(guard(), url)


@pytest.mark.parametrize("url", ["https://news.example/2026/story", "http://93.184.215.14/story",
                                 "http://[2606:4700::1111]/story", "http://[64:ff9b::808:808]/",
                                 "http://[2002:808:808::1]/"])
def test_public_addresses_pass(url: str) -> None:
    assert fetch(guard(), url) is None


def test_a_source_on_a_private_address_is_trusted_for_its_own_host_only() -> None:
    assert trusted_hosts(REGISTRY.values()) == {"public": frozenset({("news.example", 443)}),
                                                "intranet": frozenset({("10.1.2.3", 8080)})}
    assert fetch(guard(), "http://10.1.2.3:8080/news/story", source="intranet") is None
    with pytest.raises(RefusedAddress):
        fetch(guard(), "http://10.1.2.4:8080/news/neighbour", source="intranet")


def test_a_private_host_one_source_configures_is_refused_to_every_other_source() -> None:
    with pytest.raises(RefusedAddress):
        fetch(guard(), "http://10.1.2.3:8080/news/story", source="public")
    with pytest.raises(RefusedAddress):  # a request of no source (Scrapy's own) is not trusted either
        asyncio.run(guard().process_request(Request("http://10.1.2.3:8080/news/story")))
    # robots.txt requests belong to no source: trusted on a host some source configures
    robots = Request("http://10.1.2.3:8080/robots.txt", meta={"dont_obey_robotstxt": True})
    assert asyncio.run(guard().process_request(robots)) is None


def test_switched_off_guard_is_not_configured() -> None:
    with pytest.raises(NotConfigured):
        SSRFGuardMiddleware.from_crawler(get_crawler(settings_dict={"AGGREGATOR_SSRF_GUARD": False}))


@pytest.mark.parametrize(("connected", "source", "refused"), [
    ("127.0.0.1", "public", True), ("10.1.2.3", "public", True), ("64:ff9b::a9fe:a9fe", "public", True),
    ("93.184.215.14", "public", False), ("10.1.2.3", "intranet", False),
])
def test_the_address_actually_connected_to_is_judged(connected: str, source: str, refused: bool) -> None:
    """DNS rebinding: the name looked public to the guard, the downloader connected somewhere else."""
    url = "http://10.1.2.3:8080/a" if source == "intranet" else "https://elsewhere.example/a"
    request = Request(url, cb_kwargs={"source": REGISTRY[source]})
    response = HtmlResponse(url, body=b"<p>x</p>", request=request, ip_address=ipaddress.ip_address(connected))
    middleware = guard()
    if refused:
        with pytest.raises(RefusedAddress):
            middleware.process_response(request, response)
        assert middleware.stats.values == {"aggregator/errors/ssrf_refused": 1}
    else:
        assert middleware.process_response(request, response) is response
