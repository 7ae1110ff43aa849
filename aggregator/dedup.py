"""Near-duplicate story detection: text fingerprints, the story index over a band store, corpus dedup."""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from datetime import UTC, datetime

import numpy as np

from aggregator.lsh_store import BandStore, Candidate, open_band_store

__all__ = [
    "Fingerprint",
    "Match",
    "StoryIndex",
    "dedup_corpus",
    "normalize_text",
    "shingle_hashes",
    "text_hash",
]

logger = logging.getLogger(__name__)

_SCHEME = "affine32"  # datasketch 2.x default: uint32 values, collision-free permutations
_NON_WORD_RE = re.compile(r"[\W_]+")
_ASCII_SEPARATORS = MappingProxyType({code: " " for code in range(128) if not chr(code).isalnum()})
_U32 = np.uint64(0xFFFFFFFF)
# Odd 64-bit multipliers (golden ratio and splitmix64 constants) to combine word hashes into shingle hashes.
_SHINGLE_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BAND_SALT = np.uint64(0xD6E8FEB86659FD93)
# Rows of the (shingles x num_perm) permutation matrix computed at once; bounds memory on long texts.
_CHUNK = 4096

_FP_MAGIC = b"NAFP"
_FP_VERSION = 1
_FP_HEADER = struct.Struct("<4sBIIB")  # magic, version, num_perm, size, len(text hash digest)


def normalize_text(text: str) -> str:
    """Return ``text`` casefolded, NFKC-normalised, with punctuation and whitespace runs collapsed to one space."""
    if text.isascii():  # NFKC and casefold are lower() here, and str.translate beats the regex 3x
        return " ".join(text.lower().translate(_ASCII_SEPARATORS).split())
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD_RE.sub(" ", text).strip()


def text_hash(text: str) -> str:
    """Hex BLAKE2b-160 of :func:`normalize_text`: equal for texts that differ only in case, spacing, punctuation."""
    return _digest(normalize_text(text))


def _digest(normalized: str) -> str:
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=20).hexdigest()


def shingle_hashes(text: str, shingle_size: int) -> np.ndarray:
    """Distinct 32-bit hashes of the word ``shingle_size``-grams of ``text`` (one shingle if it is shorter)."""
    return _shingle_hashes(normalize_text(text), shingle_size)


def _shingle_hashes(normalized: str, shingle_size: int) -> np.ndarray:
    # Words are hashed once each (CRC-32 plus length: stable across processes, unlike hash()); shingles are
    # combined from word hashes with numpy, so there is no Python call per shingle.
    words = normalized.encode("utf-8").split()
    if not words:
        return np.empty(0, dtype=np.uint32)
    # Hashing every word costs less than deduplicating the words first (one C loop each, no dict).
    word_hashes = (np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words))
                   | (np.fromiter(map(len, words), dtype=np.uint64, count=len(words)) << np.uint64(32)))
    k = min(shingle_size, len(words))
    n = len(words) - k + 1
    combined = word_hashes[:n] * np.uint64(_SHINGLE_MULTIPLIERS[0])
    for offset in range(1, k):
        multiplier = np.uint64(_SHINGLE_MULTIPLIERS[offset % len(_SHINGLE_MULTIPLIERS)] + 2 * (offset // 4))
        combined = (combined + word_hashes[offset:offset + n]) * multiplier
    # splitmix64 finaliser so every bit of the 64-bit combination reaches the kept 32 bits.
    combined ^= combined >> np.uint64(30)
    combined *= _MIX1
    combined ^= combined >> np.uint64(27)
    combined *= _MIX2
    combined ^= combined >> np.uint64(31)
    return np.unique((combined >> np.uint64(32)).astype(np.uint32))


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of datasketch 2.x's "affine32" permutations h -> a*h + b mod 2^32 for ``seed``, drawn as
    `datasketch.MinHash` draws them (without importing datasketch, which imports scipy)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3 32-bit finaliser, as datasketch applies it before its affine32 permutations."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What the index needs to know about one text: exact hash, MinHash signature, number of distinct shingles."""

    text_hash: str
    hashvalues: np.ndarray = field(repr=False)  # uint32 (datasketch "affine32" scheme), length num_perm
    size: int

    def __post_init__(self) -> None:
        values = np.array(self.hashvalues, dtype=np.uint32)  # a private, read-only copy
        values.setflags(write=False)
        object.__setattr__(self, "hashvalues", values)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError("hashvalues must be a non-empty 1-d array, got shape %r" % (values.shape,))
        if self.size < 0:
            raise ValueError("size must be >= 0, got %r" % self.size)
        try:
            bytes.fromhex(self.text_hash)
        except ValueError:
            raise ValueError("text_hash must be a hex string, got %r" % self.text_hash) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (self.text_hash == other.text_hash and self.size == other.size
                and np.array_equal(self.hashvalues, other.hashvalues))

    def __hash__(self) -> int:
        return hash((self.text_hash, self.size, self.hashvalues.tobytes()))

    def to_bytes(self) -> bytes:
        """Compact binary form (header + 4 bytes per hash value), read back exactly by :meth:`from_bytes`."""
        digest = bytes.fromhex(self.text_hash)
        header = _FP_HEADER.pack(_FP_MAGIC, _FP_VERSION, len(self.hashvalues), self.size, len(digest))
        return header + digest + self.hashvalues.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Parse :meth:`to_bytes` output; raises ValueError on anything else."""
        if len(data) < _FP_HEADER.size:
            raise ValueError("fingerprint data too short: %d bytes" % len(data))
        magic, version, num_perm, size, digest_len = _FP_HEADER.unpack_from(data)
        if magic != _FP_MAGIC or version != _FP_VERSION:
            raise ValueError("not a fingerprint (magic %r, version %r)" % (magic, version))
        expected = _FP_HEADER.size + digest_len + 4 * num_perm
        if len(data) != expected:
            raise ValueError("fingerprint data is %d bytes, expected %d" % (len(data), expected))
        start = _FP_HEADER.size
        digest = data[start:start + digest_len]
        values = np.frombuffer(data, dtype="<u4", count=num_perm, offset=start + digest_len)
        return cls(text_hash=digest.hex(), hashvalues=values.astype(np.uint32), size=size)


@dataclass(frozen=True)
class Match:
    """The stored story a new text belongs to, and why."""

    story_id: str
    similarity: float  # the estimate that decided it, 0..1
    rule: str  # "text_hash", "near_jaccard" or "near_containment"


def _check_fraction(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < value <= 1.0:
        raise ValueError("%s must be a number in (0, 1], got %r" % (name, value))
    return float(value)


def _check_positive_int(name: str, value: int, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise ValueError("%s must be an integer in [1, %d], got %r" % (name, maximum, value))
    return value


class StoryIndex:
    """Stories' fingerprints in a band store (memory, Redis or SQLite): exact text hashes plus MinHash LSH bands.

    Candidates are the stored fingerprints that share a band with the query: ``bands`` bands of ``rows`` MinHash
    values each (64 x 4 over 256 permutations: a pair with Jaccard 0.5 shares a band with probability 0.984,
    one with 0.02 with probability 1e-5, so candidates stay few at millions of stories), plus one band for the
    exact text hash. Each candidate is then verified with the MinHash Jaccard estimate J and the stored shingle
    counts, which give the estimated overlap |A∩B| = J(|A|+|B|)/(1+J) and so both containments:

    - ``near_jaccard``: J >= ``jaccard_threshold`` (lightly edited copies: with word 2-shingles, 8% of words
      edited leaves J ~0.72, while texts sharing two of three paragraphs sit near 0.5);
    - ``near_containment``: the smaller text is at least ``containment_threshold`` inside the larger one *and*
      covers at least ``coverage_threshold`` of it (truncated, wire and boilerplate-wrapped copies are ~0.85-1
      inside the original and cover >= ~0.48 of it). A follow-up quotes at most ~0.7 of a short article and
      covers under ~0.25 of it; a round-up holds ~1/3 of each source: each fails one of the two tests.

    By default ``rows`` is 4 and ``bands`` num_perm // rows. ``threshold``, if given, picks bands and rows
    with datasketch's optimiser for that Jaccard threshold instead (the layout before stores; 85 x 3 at 0.2).
    Every estimate uses one ``seed``; a store remembers the layout it was filled with and refuses another.
    """

    def __init__(
        self,
        store: BandStore | Mapping[str, Any] | str | None = None,
        num_perm: int = 256,
        bands: int | None = None,
        rows: int | None = None,
        shingle_size: int = 2,
        jaccard_threshold: float = 0.6,
        containment_threshold: float = 0.8,
        coverage_threshold: float = 0.33,
        seed: int = 1,
        threshold: float | None = None,
    ) -> None:
        self.num_perm = _check_positive_int("num_perm", num_perm, 1 << 16)
        if self.num_perm < 16:
            raise ValueError("num_perm must be at least 16 for usable estimates, got %r" % num_perm)
        self.threshold = None if threshold is None else _check_fraction("threshold", threshold)
        if self.threshold is not None:
            from datasketch import MinHashLSH  # datasketch imports scipy (~50 MB): only when asked

            optimal = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
            bands, rows = optimal.b, optimal.r
        self.rows = _check_positive_int("rows", 4 if rows is None else rows, self.num_perm)
        self.bands = _check_positive_int("bands", self.num_perm // self.rows if bands is None else bands,
                                         self.num_perm)
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands x rows must be <= num_perm=%d, got %r x %r" % (self.num_perm, bands, rows))
        self.shingle_size = _check_positive_int("shingle_size", shingle_size, 16)
        self.jaccard_threshold = _check_fraction("jaccard_threshold", jaccard_threshold)
        self.containment_threshold = _check_fraction("containment_threshold", containment_threshold)
        self.coverage_threshold = _check_fraction("coverage_threshold", coverage_threshold)
        self.seed = _check_positive_int("seed", seed, (1 << 32) - 1)
        self._perm_a, self._perm_b = affine32_permutations(self.num_perm, self.seed)
        self._band_salts = _BAND_SALT * np.arange(1, self.bands + 1, dtype=np.uint64)
        # One store band per LSH band, plus the exact text hash's.
        configured = store is None or isinstance(store, (str, Mapping))
        self.store: BandStore = open_band_store(store, self.bands + 1) if configured else store  # type: ignore
        self.store.bind({"num_perm": str(self.num_perm), "bands": str(self.bands), "rows": str(self.rows),
                         "shingle_size": str(self.shingle_size), "seed": str(self.seed), "scheme": _SCHEME})

    def __repr__(self) -> str:
        return ("StoryIndex(store=%s, num_perm=%r, bands=%r, rows=%r, shingle_size=%r, jaccard_threshold=%r, "
                "containment_threshold=%r, coverage_threshold=%r)"
                % (type(self.store).__name__, self.num_perm, self.bands, self.rows, self.shingle_size,
                   self.jaccard_threshold, self.containment_threshold, self.coverage_threshold))

    def fingerprint(self, text: str) -> Fingerprint:
        """Fingerprint ``text``: its exact hash and the MinHash of its distinct word shingles."""
        normalized = normalize_text(text)
        shingles = _shingle_hashes(normalized, self.shingle_size)
        values = np.full(self.num_perm, np.uint32(0xFFFFFFFF), dtype=np.uint32)
        for start in range(0, len(shingles), _CHUNK):
            mixed = _fmix32(shingles[start:start + _CHUNK]).reshape(-1, 1)
            # uint32 arithmetic wraps around: exactly datasketch's affine32 permutation a*h + b mod 2^32.
            block = mixed * self._perm_a
            block += self._perm_b
            np.minimum(values, block.min(axis=0), out=values)
        return Fingerprint(text_hash=_digest(normalized), hashvalues=values, size=len(shingles))

    def band_hashes(self, fp: Fingerprint) -> list[int]:
        """The store keys of ``fp``: one for its exact text hash, then one per LSH band (none for an empty text).

        48-bit signed integers, so SQLite stores each in 6 bytes; a chance collision only adds a candidate.
        """
        if len(fp.hashvalues) != self.num_perm:
            raise ValueError("fingerprint has %d hash values, this index uses num_perm=%d"
                             % (len(fp.hashvalues), self.num_perm))
        exact = int.from_bytes(bytes.fromhex(fp.text_hash)[:6], "big") - (1 << 47)
        if fp.size == 0:
            return [exact]
        matrix = fp.hashvalues[:self.bands * self.rows].reshape(self.bands, self.rows).astype(np.uint64)
        combined = self._band_salts.copy()
        for column in range(self.rows):
            combined = (combined ^ matrix[:, column]) * _MIX1
            combined ^= combined >> np.uint64(29)
        combined *= _MIX2
        combined ^= combined >> np.uint64(32)
        signed = (combined >> np.uint64(16)).astype(np.int64) - (1 << 47)
        return [exact, *signed.tolist()]

    def judge(self, new: Fingerprint, stored: Fingerprint) -> tuple[str, float] | None:
        """The rule under which ``new`` and ``stored`` are one story, with the similarity that decided it; else None.

        Symmetric: a truncated copy seen before its original matches it just the same.
        """
        verdict = self._assess(new, stored)
        return None if verdict is None else verdict[:2]

    def _assess(self, new: Fingerprint, stored: Fingerprint) -> tuple[str, float, float] | None:
        if new.text_hash == stored.text_hash:
            return "text_hash", 1.0, 1.0
        if new.size == 0 or stored.size == 0 or len(stored.hashvalues) != self.num_perm:
            return None
        jaccard = float(np.count_nonzero(new.hashvalues == stored.hashvalues)) / self.num_perm
        if jaccard >= self.jaccard_threshold:
            return "near_jaccard", jaccard, jaccard
        overlap = jaccard * (new.size + stored.size) / (1.0 + jaccard)
        contained = min(1.0, overlap / min(new.size, stored.size))
        covered = min(1.0, overlap / max(new.size, stored.size))
        if contained >= self.containment_threshold and covered >= self.coverage_threshold:
            return "near_containment", contained, jaccard
        return None

    def match(self, fp: Fingerprint, not_before: str | datetime | None = None) -> Match | None:
        """The stored story ``fp`` is a copy of, or None: the oldest exact text hash first, else the candidate that
        passes the rule with the highest Jaccard estimate (the most similar version overall). With
        ``not_before``, fingerprints seen before that time are ignored (those stored without a time never are)."""
        return self._best(fp, self.store.query(self.band_hashes(fp), not_before=_utc_iso(not_before)))

    def _best(self, fp: Fingerprint, candidates: Iterable[Candidate]) -> Match | None:
        best: tuple[float, Match] | None = None
        for candidate in candidates:
            verdict = self._assess(fp, Fingerprint.from_bytes(candidate.fingerprint))
            if verdict is None:
                continue
            if verdict[0] == "text_hash":
                return Match(story_id=candidate.story_id, similarity=1.0, rule="text_hash")
            if best is None or verdict[2] > best[0]:
                best = verdict[2], Match(story_id=candidate.story_id, similarity=verdict[1], rule=verdict[0])
        return None if best is None else best[1]

    def insert(self, story_id: str, fp: Fingerprint, when: str | datetime | None = None) -> None:
        """Add one version/sighting of ``story_id``, seen at ``when`` (for ``match(not_before=...)``); a story may
        hold several fingerprints, and the same text seen again adds nothing."""
        if not isinstance(story_id, str) or not story_id:
            raise ValueError("story_id must be a non-empty string, got %r" % (story_id,))
        bands = self.band_hashes(fp)
        data = fp.to_bytes()
        # The same bytes have the same text hash: its band holds every earlier copy, so one band lookup decides.
        if not _holds(self.store.query(bands[:1]), story_id, data):
            self.store.insert(story_id, data, bands, _utc_iso(when))

    def add(self, new_story_id: str, fp: Fingerprint, when: str | datetime | None = None) -> Match | None:
        """:meth:`match` then :meth:`insert` in one store query: ``fp`` joins the story it matches, else it starts
        ``new_story_id``. Returns the match (None for a new story). For bulk callers such as :func:`dedup_corpus`."""
        if not isinstance(new_story_id, str) or not new_story_id:
            raise ValueError("new_story_id must be a non-empty string, got %r" % (new_story_id,))
        bands = self.band_hashes(fp)
        candidates = self.store.query(bands)  # no time window, so every stored copy of the text is among them
        match = self._best(fp, candidates)
        story_id = new_story_id if match is None else match.story_id
        data = fp.to_bytes()
        if match is None or not _holds(candidates, story_id, data):
            self.store.insert(story_id, data, bands, _utc_iso(when))
        return match

    def insert_many(self, entries: Iterable[tuple[str, Fingerprint, str | datetime | None]]) -> int:
        """Insert (story id, fingerprint, when) triples, then flush the store; returns how many were given."""
        count = 0
        for story_id, fp, when in entries:
            self.insert(story_id, fp, when)
            count += 1
        self.store.flush()
        return count

    def remove(self, story_id: str) -> None:
        """Forget every fingerprint of ``story_id``; raises KeyError if it is not indexed."""
        stored = self.store.fingerprints(story_id)
        if not stored:
            raise KeyError(story_id)
        bands = sorted({band for data in stored for band in self.band_hashes(Fingerprint.from_bytes(data))})
        self.store.remove(story_id, bands)

    def flush(self) -> None:
        """Make every insert so far durable (a commit for SQLite)."""
        self.store.flush()

    def close(self) -> None:
        self.store.close()

    def __contains__(self, story_id: object) -> bool:
        return story_id in self.store

    def __len__(self) -> int:
        return len(self.store)


def _holds(candidates: Iterable[Candidate], story_id: str, data: bytes) -> bool:
    return any(candidate.story_id == story_id and candidate.fingerprint == data for candidate in candidates)


def _utc_iso(value: str | datetime | None) -> str | None:
    """``value`` as a UTC ISO 8601 string that sorts as time does (naive times are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date-time: %r" % value) from None
    if not isinstance(value, datetime):
        raise ValueError("expected an ISO 8601 string or a datetime, got %r" % (value,))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def dedup_corpus(docs: Iterable[dict], index: StoryIndex | None = None) -> Iterator[tuple[str, str]]:
    """Assign each document to a story, in order: yields (doc id, story id), the story id being the id of the
    first document of that story. Every document's fingerprint joins its story, so later copies can match any
    version seen so far."""
    index = StoryIndex() if index is None else index
    for doc in docs:
        doc_id = doc["id"]
        match = index.add(doc_id, index.fingerprint(doc.get("text") or ""))
        story_id = doc_id if match is None else match.story_id
        if match is not None:
            logger.debug("%s joins story %s (%s, %.3f)", doc_id, story_id, match.rule, match.similarity)
        yield doc_id, story_id
