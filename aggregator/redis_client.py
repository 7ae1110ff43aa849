"""Every Redis client of the aggregator comes from here, made from the whole URL: user, password, database
number, TLS (`rediss://`) and query options, exactly as `redis.Redis.from_url` reads them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

__all__ = ["REDIS_SCHEMES", "redis_client", "redis_params"]

REDIS_SCHEMES = ("redis", "rediss", "unix")


def _check(url: str) -> None:
    if urlsplit(url).scheme not in REDIS_SCHEMES:
        raise ValueError("not a Redis URL: %r (redis://[user:password@]host:port/db, rediss://... for TLS, "
                         "or unix:///path/to/socket)" % url)


def redis_client(url: str) -> Any:
    """A `redis.Redis` for `url`."""
    import redis  # only distributed crawls use Redis

    _check(url)
    return redis.Redis.from_url(url)


def redis_params(url: str) -> dict[str, Any]:
    """Keyword arguments of `redis.Redis` for `url` (a connection pool made from the whole URL), for APIs that
    build their own client from a dict, as datasketch's `storage_config={"type": "redis", "redis": {...}}`."""
    import redis

    _check(url)
    return {"connection_pool": redis.ConnectionPool.from_url(url)}
