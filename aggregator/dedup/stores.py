"""Opens the band store a config names: memory, SQLite or Redis (as datasketch picks its storage by a config dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aggregator.dedup.bands import BandStore, MemoryBandStore
from aggregator.dedup.sqlite_bands import SQLiteBandStore
from aggregator.redis_client import redis_params

__all__ = ["open_band_store"]

REDIS_URL_PREFIXES = ("redis://", "rediss://", "unix://")


def open_band_store(config: Mapping[str, Any] | str | None, bands: int) -> BandStore:
    """The band store named by ``config``: a dict ``{"type": "memory"|"redis"|"sqlite", ...}`` or a URL
    (``memory://``, ``sqlite:///path``, ``redis://[user:password@]host:port/db``, ``rediss://...``).
    ``bands`` is the index's band count."""
    if config is None:
        config = {"type": "memory"}
    if isinstance(config, str):
        url = config
        if url == "memory://":
            config = {"type": "memory"}
        elif url.startswith("sqlite:///"):
            config = {"type": "sqlite", "db": url.removeprefix("sqlite:///")}
        elif url.startswith(REDIS_URL_PREFIXES):
            config = {"type": "redis", "redis": redis_params(url)}
        else:
            raise ValueError("unsupported dedup index URL %r (memory://, sqlite:///path, redis://host:port/db,"
                             " rediss://...)" % url)
    kind = config.get("type")
    if kind == "memory":
        return MemoryBandStore(bands)
    if kind == "redis":
        from aggregator.dedup.redis_bands import RedisBandStore  # datasketch and redis only when asked

        return RedisBandStore(bands, dict(config.get("redis", {})), prefix=config.get("prefix", "aggregator:dedup"))
    if kind == "sqlite":
        return SQLiteBandStore(config["db"], batch_size=int(config.get("batch_size", 1)),
                               cache_mb=config.get("cache_mb", 64))
    raise ValueError("unknown dedup index type %r (memory, redis, sqlite)" % (kind,))
