"""SSRFGuardMiddleware: never fetch a discovered link that points into a private network.

A link found in a feed, sitemap or page (or a redirect) whose host is, or resolves to, a loopback, private,
link-local (cloud metadata), shared, reserved or multicast address is refused before any connection is
made, and so is any scheme other than http(s). A source's own configured hosts are trusted for that source's
requests only (an intranet source, or the tests' loopback sites, is fetched on its own host and port; another
source's links there are refused): every request carries its `Source` in `cb_kwargs["source"]`. Owns this
decision only; the spider's errback ignores the refusals it causes, as they are counted here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response

from aggregator.sources import RegistryError, Source, load_registry

logger = logging.getLogger(__name__)

__all__ = ["RefusedAddress", "SSRFGuardMiddleware", "embedded_ipv4", "is_public_address", "source_key", "trusted_hosts"]

DEFAULT_PORTS = {"http": 80, "https": 443}
# Metadata services some clouds run on addresses that `is_global` alone would not flag everywhere.
METADATA_ADDRESSES = frozenset({"169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(IgnoreRequest):
    """A request refused by the SSRF guard (a private address or a non-http(s) scheme)."""


# IPv6 prefixes whose last 32 bits are an IPv4 address a gateway or the host itself may reach: judged as that
# IPv4 address. ::ffff:0:0/96 (mapped) is decoded by `ipv4_mapped`, 2002::/16 (6to4) by `sixtofour`.
EMBEDDING_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
                      ipaddress.IPv6Network("::ffff:0:0:0/96"),  # SIIT, "IPv4-translated"
                      ipaddress.IPv6Network("::/96"))  # IPv4-compatible (deprecated, still routed by some stacks)
# Never public, whatever Python's tables say: NAT64 local-use (RFC 8215), deprecated site-local (RFC 3879).
NEVER_PUBLIC = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address carries (mapped, NAT64, SIIT, IPv4-compatible, 6to4)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in EMBEDDING_PREFIXES) and int(address) & 0xFFFFFFFF > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: Address) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local (metadata),
    shared (100.64/10), reserved, site-local, multicast and unspecified addresses, also when an IPv6
    transition address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible) embeds one."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in prefix for prefix in NEVER_PUBLIC):
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None:
            address = embedded
        elif address.is_reserved or address.is_site_local:
            return False
    if str(address) in METADATA_ADDRESSES:
        return False
    return address.is_global and not address.is_multicast


def _host_port(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port


HostPort = tuple[str, int | None]


def trusted_hosts(sources: Iterable[Source]) -> dict[str, frozenset[HostPort]]:
    """Per source key, the (host, port) of every URL that source configures: fetched for it even when private."""
    trusted = {}
    for source in sources:
        urls = [*source.start_urls, *((source.homepage,) if source.homepage else ()),
                *((source.pagination.replace("{page}", "1"),) if source.pagination else ())]
        hosts = set()
        for url in urls:
            _, host, port = _host_port(url)
            if host:
                hosts.add((host, port))
        trusted[source.key] = frozenset(hosts)
    return trusted


def source_key(request: Request) -> str | None:
    """The key of the source a request was made for (None for a request of no source)."""
    source = request.cb_kwargs.get("source")
    key = getattr(source, "key", None)
    return key if isinstance(key, str) else None


class SSRFGuardMiddleware:
    """Downloader middleware: refuses requests to private addresses on hosts the registry does not name.

    Put it before RobotsTxtMiddleware (100), so no robots.txt is asked of a refused host either."""

    def __init__(self, stats: Any, trusted: dict[str, frozenset[HostPort]]) -> None:
        self.stats = stats
        self.trusted = trusted
        # robots.txt requests belong to no source; RobotsTxtMiddleware (100) asks them only for a host whose
        # request this guard (50) has let through, so a host some source trusts is trusted for its robots.txt
        self.trusted_by_any = frozenset().union(*trusted.values())

    @classmethod
    def from_crawler(cls, crawler: Any) -> SSRFGuardMiddleware:
        settings = crawler.settings
        if not settings.getbool("AGGREGATOR_SSRF_GUARD"):
            raise NotConfigured("AGGREGATOR_SSRF_GUARD is off")
        try:
            registry = load_registry(settings.get("AGGREGATOR_SOURCES") or None)
        except RegistryError:
            registry = {}  # the spider reports the bad file; nothing is trusted meanwhile
        return cls(crawler.stats, trusted_hosts(registry.values()))

    async def process_request(self, request: Request) -> None:
        scheme, host, port = _host_port(request.url)
        if scheme not in DEFAULT_PORTS:
            self._refuse(request, "scheme %r is never fetched" % scheme)
        if self._trusted(request, (host, port)):
            return None
        # Resolved for every request, never cached for the crawl: a name whose answer changes (DNS rebinding)
        # is caught here when it already points inside, and by process_response when it changes after.
        why = await self._verdict(host, port)
        if why is not None:
            self._refuse(request, why)
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        """Judge the address the downloader actually connected to: the name may have resolved to a public
        address here and to a private one there (DNS rebinding). The request was sent, but its answer goes no
        further than this."""
        address = response.ip_address
        if address is None or not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return response  # not from the network (the HTTP cache), or a handler that does not say
        _, host, port = _host_port(request.url)
        if not self._trusted(request, (host, port)) and not is_public_address(address):
            self._refuse(request, "%s was connected to at the non-public address %s (DNS rebinding?)"
                         % (host, address))
        return response

    def _trusted(self, request: Request, host_port: HostPort) -> bool:
        key = source_key(request)
        if key is not None:
            return host_port in self.trusted.get(key, ())
        is_robots = request.meta.get("dont_obey_robotstxt") and urlsplit(request.url).path == "/robots.txt"
        return bool(is_robots) and host_port in self.trusted_by_any

    async def _verdict(self, host: str, port: int | None) -> str | None:
        """Why `host` must not be fetched, or None when every address it has is public."""
        if not host:
            return "no host"
        try:
            addresses: list[Address] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return None  # unresolvable: the download fails with a DNS error of its own
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for address in addresses:
            if not is_public_address(address):
                return "%s is a non-public address (%s)" % (host, address) if str(address) != host \
                    else "%s is a non-public address" % host
        return None

    def _refuse(self, request: Request, why: str) -> None:
        chain = request.meta.get("redirect_urls") or []
        via = " (redirected from %s)" % chain[0] if chain else ""
        logger.error("Refusing to fetch %s%s: %s (ssrf_refused)", request.url, via, why)
        self.stats.inc_value("aggregator/errors/ssrf_refused")
        raise RefusedAddress("SSRF guard: %s" % why)
