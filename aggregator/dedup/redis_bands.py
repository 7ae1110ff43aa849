"""The dedup index shared by distributed workers: bands in Redis through datasketch's MinHashLSH Redis
storage, fingerprints in a Redis hash, keys from one Redis counter so workers never collide."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from aggregator.dedup.bands import Candidate

logger = logging.getLogger(__name__)


class RedisBandStore:
    """A `BandStore` every worker of a crawl shares (`redis_params` as for `redis.Redis`)."""

    def __init__(self, bands: int, redis_params: Mapping[str, Any], prefix: str = "aggregator:dedup") -> None:
        import redis

        if not isinstance(bands, int) or isinstance(bands, bool) or bands < 1:
            raise ValueError("bands must be a positive integer, got %r" % (bands,))
        self.bands = bands
        self.prefix = prefix
        self.client: Any = redis.Redis(**dict(redis_params))  # answers bytes (no decode_responses)
        self._lsh = MinHashLSH(num_perm=bands, params=(bands, 1), storage_config={
            "type": "redis", "basename": (prefix + ":lsh").encode(), "redis": dict(redis_params)})

    def _key(self, name: str) -> str:
        return "%s:%s" % (self.prefix, name)

    def bind(self, layout: Mapping[str, str]) -> None:
        wanted = dict(layout)
        self.client.hsetnx(self._key("layout"), "layout", pickle.dumps(sorted(wanted.items())))
        stored = dict(pickle.loads(self.client.hget(self._key("layout"), "layout")))
        if stored != wanted:
            raise ValueError("store holds layout %r, index wants %r" % (stored, wanted))

    def _minhash(self, key: int, bands: Sequence[int]) -> LeanMinHash:
        values = list(bands)
        values.extend((1 << 62) + key * self.bands + i for i in range(len(values), self.bands))
        return LeanMinHash(seed=1, hashvalues=np.array(values, dtype=np.int64).view(np.uint64), scheme="legacy")

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None) -> None:
        key = int(self.client.incr(self._key("next")))
        self.client.hset(self._key("entries"), str(key), pickle.dumps((story_id, fingerprint, when)))
        self.client.sadd(self._key("story:" + story_id), key)
        self._lsh.insert(key, self._minhash(key, bands), check_duplication=False)

    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]:
        keys = sorted(self._lsh.query(self._minhash(-1, bands)))
        if not keys:
            return []
        found = []
        for key, data in zip(keys, self.client.hmget(self._key("entries"), [str(k) for k in keys])):
            if data is None:
                continue  # inserted into the bands a moment before its entry: seen by the next query
            story_id, fingerprint, when = pickle.loads(data)
            if not_before is None or when is None or when >= not_before:
                found.append(Candidate(key, story_id, fingerprint, when))
        return found

    def fingerprints(self, story_id: str) -> list[bytes]:
        keys = [k.decode() for k in self.client.smembers(self._key("story:" + story_id))]
        return [pickle.loads(d)[1] for d in self.client.hmget(self._key("entries"), keys) if d] if keys else []

    def remove(self, story_id: str, bands: Sequence[int]) -> None:
        for raw in self.client.smembers(self._key("story:" + story_id)):
            key = int(raw)
            self._lsh.remove(key)
            self.client.hdel(self._key("entries"), str(key))
        self.client.delete(self._key("story:" + story_id))

    def __contains__(self, story_id: object) -> bool:
        return isinstance(story_id, str) and bool(self.client.exists(self._key("story:" + story_id)))

    def __len__(self) -> int:
        return sum(1 for _ in self.client.scan_iter(self._key("story:*")))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()
