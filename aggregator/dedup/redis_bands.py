"""The dedup index shared by distributed workers: bands in Redis through datasketch's MinHashLSH Redis
storage, fingerprints in a Redis hash, passages in one sorted set each (keys scored by themselves, so the
oldest holders come first), keys from one Redis counter so workers never collide."""

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

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None,
               passages: Sequence[int] = ()) -> None:
        key = int(self.client.incr(self._key("next")))
        self.client.hset(self._key("entries"), str(key), pickle.dumps((story_id, fingerprint, when)))
        self.client.sadd(self._key("story:" + story_id), key)
        self._lsh.insert(key, self._minhash(key, bands), check_duplication=False)
        if passages:
            pipe = self.client.pipeline(transaction=False)
            for passage in sorted(set(passages)):
                pipe.zadd(self._key("passage:%d" % passage), {str(key): key})
            pipe.execute()

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

    def holders(self, passages: Sequence[int], limit: int) -> dict[int, list[Candidate] | None]:
        wanted = sorted(set(passages))
        if not wanted:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for passage in wanted:
            pipe.zrange(self._key("passage:%d" % passage), 0, limit - 1)
        held = {passage: [int(raw) for raw in found] if len(found) < limit else None
                for passage, found in zip(wanted, pipe.execute()) if found}
        keys = sorted({key for found in held.values() if found is not None for key in found})
        entries = self.client.hmget(self._key("entries"), [str(key) for key in keys]) if keys else []
        found = {key: Candidate(key, *pickle.loads(data)) for key, data in zip(keys, entries) if data is not None}
        return {passage: None if held_keys is None else [found[key] for key in held_keys if key in found]
                for passage, held_keys in held.items()}

    def fingerprints(self, story_id: str) -> list[bytes]:
        keys = [k.decode() for k in self.client.smembers(self._key("story:" + story_id))]
        return [pickle.loads(d)[1] for d in self.client.hmget(self._key("entries"), keys) if d] if keys else []

    def remove(self, story_id: str, bands: Sequence[int], passages: Sequence[int] = ()) -> None:
        keys = [int(raw) for raw in self.client.smembers(self._key("story:" + story_id))]
        for key in keys:
            self._lsh.remove(key)
            self.client.hdel(self._key("entries"), str(key))
        if keys and passages:
            pipe = self.client.pipeline(transaction=False)
            for passage in sorted(set(passages)):
                pipe.zrem(self._key("passage:%d" % passage), *(str(key) for key in keys))
            pipe.execute()
        self.client.delete(self._key("story:" + story_id))

    def rename(self, story_id: str, into: str) -> None:
        """File every fingerprint of ``story_id`` under ``into`` (a merge); the bands name keys, not stories."""
        keys = sorted(self.client.smembers(self._key("story:" + story_id)))
        if not keys:
            return
        entries = self.client.hmget(self._key("entries"), keys)
        pipe = self.client.pipeline(transaction=True)
        for key, data in zip(keys, entries):
            if data is not None:
                _, fingerprint, when = pickle.loads(data)
                pipe.hset(self._key("entries"), key, pickle.dumps((into, fingerprint, when)))
        pipe.sadd(self._key("story:" + into), *keys)
        pipe.delete(self._key("story:" + story_id))
        pipe.execute()

    def defer(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        if pairs:
            self.client.hset(self._key("deferred"), mapping={"%s %s" % (first, second): repr(similarity)
                                                             for first, second, similarity in pairs})

    def take_deferred(self) -> list[tuple[str, str, float]]:
        pipe = self.client.pipeline(transaction=True)  # read and emptied at once: each pair is taken once
        pipe.hgetall(self._key("deferred"))
        pipe.delete(self._key("deferred"))
        taken = pipe.execute()[0]
        pairs = [(*raw.decode().split(" ", 1), float(value)) for raw, value in taken.items()]
        return sorted((first, second, similarity) for first, second, similarity in pairs)

    def __contains__(self, story_id: object) -> bool:
        return isinstance(story_id, str) and bool(self.client.exists(self._key("story:" + story_id)))

    def __len__(self) -> int:
        return sum(1 for _ in self.client.scan_iter(self._key("story:*")))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()
