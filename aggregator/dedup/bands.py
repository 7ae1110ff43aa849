"""The `BandStore` contract of the dedup index (where LSH band hashes and stored fingerprints live), and its
in-memory backend; the SQLite and Redis backends are `sqlite_bands` and `redis_bands`, `stores` opens one.

Knows nothing of how texts are fingerprinted, how band hashes
are computed or how a candidate is judged a copy (that is `aggregator.dedup.index.StoryIndex`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["BandStore", "Candidate", "MemoryBandStore"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One stored fingerprint that shares a band with a query."""

    key: int  # insertion order: lower is older
    story_id: str
    fingerprint: bytes  # Fingerprint.to_bytes()
    when: str | None  # UTC ISO 8601 time it was seen, if known


class BandStore(Protocol):
    """Stores fingerprints by story and finds those sharing any band hash with a query, or holding a passage.

    Passages (exact lines, `aggregator.dedup.fingerprint.passages_of`) are kept apart from the bands: a line of
    template furniture is held by thousands of texts, so ``holders`` answers, per passage held by fewer than
    ``limit`` texts, the texts holding it, and None for a passage held by more (without reading their
    fingerprints); passages held by none are left out. A candidate query never sees passages."""

    def bind(self, layout: Mapping[str, str]) -> None: ...
    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None,
               passages: Sequence[int] = ()) -> None: ...
    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]: ...
    def holders(self, passages: Sequence[int], limit: int) -> dict[int, list[Candidate] | None]: ...
    def fingerprints(self, story_id: str) -> list[bytes]: ...
    def remove(self, story_id: str, bands: Sequence[int], passages: Sequence[int] = ()) -> None: ...
    def rename(self, story_id: str, into: str) -> None: ...
    def defer(self, pairs: Sequence[tuple[str, str, float]]) -> None: ...
    def take_deferred(self) -> list[tuple[str, str, float]]: ...
    def __contains__(self, story_id: object) -> bool: ...
    def __len__(self) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class MemoryBandStore:
    """Bands in a datasketch MinHashLSH (one "row" per band, so its hash tables are our band tables).

    ``storage_config`` goes to MinHashLSH as is: ``{"type": "dict"}`` (default) keeps the bands in this process,
    ``{"type": "redis", "redis": {...}}`` puts them in Redis. Fingerprints stay in ``fingerprints`` (a dict by
    default; pass a persistent mapping of int -> tuple to keep them elsewhere).
    """

    def __init__(self, bands: int, storage_config: dict[str, Any] | None = None,
                 fingerprints: dict[int, tuple[str, bytes, str | None]] | None = None) -> None:
        if not isinstance(bands, int) or isinstance(bands, bool) or bands < 1:
            raise ValueError("bands must be a positive integer, got %r" % (bands,))
        self.bands = bands
        self._storage_config = storage_config
        self._lsh_instance: Any = None
        self._entries = {} if fingerprints is None else fingerprints
        self._keys: dict[str, list[int]] = {}
        self._holders: dict[int, list[int]] = {}  # passage -> keys, oldest first
        self._deferred: dict[tuple[str, str], float] = {}
        self._next_key = max(self._entries, default=-1) + 1
        self._layout: dict[str, str] | None = None

    @property
    def _lsh(self) -> Any:
        """The MinHashLSH, made at first use: datasketch imports scipy (~50 MB, 0.35 s), which an index that
        only signs (as in the extraction workers) never needs."""
        if self._lsh_instance is None:
            from datasketch import MinHashLSH

            self._lsh_instance = MinHashLSH(num_perm=self.bands, params=(self.bands, 1),
                                            storage_config=self._storage_config)
        return self._lsh_instance

    def bind(self, layout: Mapping[str, str]) -> None:
        if self._layout is not None and self._layout != dict(layout):
            raise ValueError("store holds layout %r, index wants %r" % (self._layout, dict(layout)))
        self._layout = dict(layout)

    def _minhash(self, key: int, bands: Sequence[int]) -> Any:
        from datasketch import LeanMinHash

        values = list(bands)
        # Texts without shingles have only their exact-hash band: fill the rest with values no other key has.
        values.extend((1 << 62) + key * self.bands + i for i in range(len(values), self.bands))
        if len(values) != self.bands:
            raise ValueError("expected at most %d band hashes, got %d" % (self.bands, len(bands)))
        return LeanMinHash(seed=1, hashvalues=np.array(values, dtype=np.int64).view(np.uint64), scheme="legacy")

    def insert(self, story_id: str, fingerprint: bytes, bands: Sequence[int], when: str | None,
               passages: Sequence[int] = ()) -> None:
        key = self._next_key
        self._next_key += 1
        self._entries[key] = (story_id, fingerprint, when)
        self._keys.setdefault(story_id, []).append(key)
        self._lsh.insert(key, self._minhash(key, bands), check_duplication=False)
        for passage in set(passages):
            self._holders.setdefault(passage, []).append(key)

    def query(self, bands: Sequence[int], not_before: str | None = None) -> list[Candidate]:
        found = []
        for key in sorted(self._lsh.query(self._minhash(-1, bands))):
            story_id, fingerprint, when = self._entries[key]
            if not_before is None or when is None or when >= not_before:
                found.append(Candidate(key, story_id, fingerprint, when))
        return found

    def holders(self, passages: Sequence[int], limit: int) -> dict[int, list[Candidate] | None]:
        held = {passage: self._holders[passage] for passage in set(passages) if passage in self._holders}
        return {passage: [Candidate(key, *self._entries[key]) for key in keys] if len(keys) < limit else None
                for passage, keys in held.items()}

    def fingerprints(self, story_id: str) -> list[bytes]:
        return [self._entries[key][1] for key in self._keys.get(story_id, ())]

    def remove(self, story_id: str, bands: Sequence[int], passages: Sequence[int] = ()) -> None:
        keys = self._keys.pop(story_id, [])
        for key in keys:
            self._lsh.remove(key)
            del self._entries[key]
        gone = set(keys)
        for passage in set(passages):
            held = [key for key in self._holders.get(passage, ()) if key not in gone]
            if held:
                self._holders[passage] = held
            else:
                self._holders.pop(passage, None)

    def rename(self, story_id: str, into: str) -> None:
        """File every fingerprint of ``story_id`` under ``into`` (a merge)."""
        keys = self._keys.pop(story_id, [])
        for key in keys:
            _, fingerprint, when = self._entries[key]
            self._entries[key] = (into, fingerprint, when)
        if keys:
            self._keys.setdefault(into, []).extend(keys)

    def defer(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        for first, second, similarity in pairs:
            self._deferred[first, second] = similarity

    def take_deferred(self) -> list[tuple[str, str, float]]:
        taken, self._deferred = self._deferred, {}
        return [(first, second, similarity) for (first, second), similarity in taken.items()]

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
