"""Text fingerprints for near-duplicate detection: normalized text hash, word shingles, MinHash signatures.

All an extraction worker imports of dedup: it signs texts, it never looks anything up. Owns the
`Fingerprint` (and its bytes form, stored beside each sighting) and the `Signer`; knows nothing of
band stores, candidates or stories.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Container
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["Fingerprint", "Signer", "article_text", "line_key", "normalize_text", "passages_of", "shingle_hashes",
           "text_hash"]

SCHEME = "affine32"  # datasketch 2.x default: uint32 values, collision-free permutations
_NON_WORD_RE = re.compile(r"[\W_]+")
# The same, leaving what str.splitlines() splits at: lines are cut after one pass over the whole text.
_NON_WORD_IN_LINE_RE = re.compile(r"(?:[^\w\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|_)+")
_ASCII_SEPARATORS = MappingProxyType({code: " " for code in range(128) if not chr(code).isalnum()})
# The same, keeping what str.splitlines() splits ASCII text at, so lines can be cut after one pass over the text.
_ASCII_LINE_SEPARATORS = MappingProxyType({code: " " for code in _ASCII_SEPARATORS
                                           if len(("a" + chr(code) + "b").splitlines()) == 1})
_U32 = np.uint64(0xFFFFFFFF)
# Odd 64-bit multipliers (golden ratio and splitmix64 constants) to combine word hashes into shingle hashes.
_SHINGLE_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
BAND_SALT = np.uint64(0xD6E8FEB86659FD93)
# Rows of the (shingles x num_perm) permutation matrix computed at once; bounds memory on long texts.
_CHUNK = 4096

# What a wire desk adds around a copy, matched generically (any language, any agency): a first line that is a
# headline (short, no sentence end), a dateline before the first sentence ("BERLIN (Kazinform) - ", "SEOUL --"),
# and a last line that is a label and links ("Read more: A | B", "Mehr zum Thema: ...").
_HEADLINE_MAX_WORDS = 20
_SENTENCE_END = frozenset(".!?\"'”’»)")
_DATELINE_RE = re.compile(r"^[A-ZÀ-ÞĀ-Ž][A-ZÀ-ÞĀ-Ž .,'/-]{1,40}(?:\([^()\n]{1,40}\))?\s*(?:-{1,2}|—|–)\s+")
_LINK_LINE_RE = re.compile(r"^[^\W\d][^:\n]{0,40}:\s")
_LINK_LINE_MAX_WORDS = 40
# Only drop these when the rest keeps this many words: a short item stays whole.
_MIN_BODY_WORDS = 25

# Passages: the lines a digest may reprint whole (shorter ones are headlines, captions, labels), each kept as a
# 48-bit key and its word count; they let a digest be told from a copy by exact lines where MinHash candidates
# miss its short pieces. A long text keeps its first and last lines (where templates put their furniture).
PASSAGE_MIN_WORDS = 8
MAX_PASSAGES = 48
_LAST_PASSAGES = 16
_PASSAGE_PERSON = b"passage"

_FP_MAGIC = b"NAFP"
_FP_VERSION = 2  # 1: no passages (still read)
_FP_HEADER = struct.Struct("<4sBIIB")  # magic, version, num_perm, size, len(text hash digest)
_FP_PASSAGE_COUNT = struct.Struct("<H")
_FP_PASSAGE_SIZE = 10  # per passage: its key (int64), then after all keys its words (uint16)


def normalize_text(text: str) -> str:
    """Return ``text`` casefolded, NFKC-normalised, with punctuation and whitespace runs collapsed to one space."""
    if text.isascii():  # NFKC and casefold are lower() here, and str.translate beats the regex 3x
        return " ".join(text.lower().translate(_ASCII_SEPARATORS).split())
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD_RE.sub(" ", text).strip()


def line_key(line: str) -> str:
    """The form under which a line is compared across documents (for furniture sets): normalized text."""
    return normalize_text(line)


def _normalized_lines(text: str) -> list[str]:
    """The lines of ``text`` (as str.splitlines cuts them), each as :func:`normalize_text` makes it but for the
    runs of spaces, which the caller's split() removes."""
    if text.isascii():
        return text.lower().translate(_ASCII_LINE_SEPARATORS).splitlines()
    return _NON_WORD_IN_LINE_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).splitlines()


def passages_of(text: str, furniture: Container[str] = frozenset()) -> tuple[tuple[int, int], ...]:
    """The (key, words) of the distinct lines of ``text`` of at least `PASSAGE_MIN_WORDS` normalized words whose
    :func:`line_key` is not in ``furniture``, in text order; of more than `MAX_PASSAGES`, the first and the last
    `_LAST_PASSAGES`. A key is a 48-bit signed integer, as band hashes are."""
    return _passages(_normalized_lines(text), furniture)


def _passages(lines: list[str], furniture: Container[str]) -> tuple[tuple[int, int], ...]:
    found: dict[int, int] = {}
    for line in lines:
        if line.count(" ") < PASSAGE_MIN_WORDS - 1:  # fewer spaces than a passage's words need: too short
            continue
        words = line.split()
        if len(words) < PASSAGE_MIN_WORDS:
            continue
        key = " ".join(words)
        if key in furniture:
            continue
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=6, person=_PASSAGE_PERSON).digest()
        found.setdefault(int.from_bytes(digest, "big") - (1 << 47), min(len(words), 0xFFFF))
    passages = tuple(found.items())
    if len(passages) > MAX_PASSAGES:
        passages = passages[:MAX_PASSAGES - _LAST_PASSAGES] + passages[-_LAST_PASSAGES:]
    return passages


def article_text(text: str, furniture: Container[str] = frozenset()) -> str:
    """The part of ``text`` that is shingled: without a headline first line, a dateline, a trailing "label: links"
    line, and lines whose :func:`line_key` is in ``furniture`` (lines that recur across unrelated documents), so
    that what a desk or a template adds does not dominate the fingerprint. Keeps ``text`` whole when less than
    a few dozen words would remain; returns ``text`` itself when nothing is left out."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return text
    first, count = lines[0], len(lines)
    if furniture:
        kept = [line for line in lines if line_key(line) not in furniture]
        if _words(kept) >= max(_MIN_BODY_WORDS, 0.3 * _words(lines)):
            lines = kept
    if len(lines) >= 2 and _is_headline(lines[0]) and _words(lines[1:]) >= _MIN_BODY_WORDS:
        lines = lines[1:]
    if len(lines) >= 2 and _is_link_line(lines[-1]) and _words(lines[:-1]) >= _MIN_BODY_WORDS:
        lines = lines[:-1]
    if lines:
        lines[0] = _DATELINE_RE.sub("", lines[0], count=1)
    if len(lines) == count and lines[0] == first:
        return text
    return "\n".join(lines)


def _words(lines: list[str]) -> int:
    return sum(len(line.split()) for line in lines)


def _is_headline(line: str) -> bool:
    return len(line.split()) <= _HEADLINE_MAX_WORDS and line[-1] not in _SENTENCE_END


def _is_link_line(line: str) -> bool:
    return (len(line.split()) <= _LINK_LINE_MAX_WORDS and _LINK_LINE_RE.match(line) is not None
            and line[-1] not in ".!?")


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
    combined *= MIX1
    combined ^= combined >> np.uint64(27)
    combined *= MIX2
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
    """What the index needs to know about one text: exact hash, MinHash signature, number of distinct shingles,
    and its passages (see :func:`passages_of`)."""

    text_hash: str
    hashvalues: np.ndarray = field(repr=False)  # uint32 (datasketch "affine32" scheme), length num_perm
    size: int
    passages: tuple[tuple[int, int], ...] = field(default=(), repr=False)  # (key, words) per passage

    def __post_init__(self) -> None:
        values = np.array(self.hashvalues, dtype=np.uint32)  # a private, read-only copy
        values.setflags(write=False)
        object.__setattr__(self, "hashvalues", values)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError("hashvalues must be a non-empty 1-d array, got shape %r" % (values.shape,))
        if self.size < 0:
            raise ValueError("size must be >= 0, got %r" % self.size)
        if type(self.passages) is not tuple:  # noqa: E721 (a tuple subclass is taken as is; a list is copied)
            object.__setattr__(self, "passages", tuple((int(key), int(words)) for key, words in self.passages))
        if len(self.passages) > 0xFFFF:
            raise ValueError("at most 65535 passages, got %d" % len(self.passages))
        try:
            bytes.fromhex(self.text_hash)
        except ValueError:
            raise ValueError("text_hash must be a hex string, got %r" % self.text_hash) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (self.text_hash == other.text_hash and self.size == other.size and self.passages == other.passages
                and np.array_equal(self.hashvalues, other.hashvalues))

    def __hash__(self) -> int:
        return hash((self.text_hash, self.size, self.hashvalues.tobytes(), self.passages))

    def to_bytes(self) -> bytes:
        """Compact binary form (header + 4 bytes per hash value + 10 per passage), read back exactly by
        :meth:`from_bytes`."""
        digest = bytes.fromhex(self.text_hash)
        header = _FP_HEADER.pack(_FP_MAGIC, _FP_VERSION, len(self.hashvalues), self.size, len(digest))
        # numpy rather than struct formats by count: struct would cache one compiled format per count for ever.
        pairs = np.array(self.passages, dtype=np.int64).reshape(-1, 2)
        passages = (_FP_PASSAGE_COUNT.pack(len(pairs)) + pairs[:, 0].astype("<i8").tobytes()
                    + pairs[:, 1].astype("<u2").tobytes())
        return header + digest + self.hashvalues.astype("<u4").tobytes() + passages

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Parse :meth:`to_bytes` output; raises ValueError on anything else."""
        if len(data) < _FP_HEADER.size:
            raise ValueError("fingerprint data too short: %d bytes" % len(data))
        magic, version, num_perm, size, digest_len = _FP_HEADER.unpack_from(data)
        if magic != _FP_MAGIC or version not in (1, _FP_VERSION):
            raise ValueError("not a fingerprint (magic %r, version %r)" % (magic, version))
        end = _FP_HEADER.size + digest_len + 4 * num_perm
        count = 0
        if version > 1:
            if len(data) < end + _FP_PASSAGE_COUNT.size:
                raise ValueError("fingerprint data is %d bytes, too short for its passages" % len(data))
            (count,) = _FP_PASSAGE_COUNT.unpack_from(data, end)
            end += _FP_PASSAGE_COUNT.size + count * _FP_PASSAGE_SIZE
        if len(data) != end:
            raise ValueError("fingerprint data is %d bytes, expected %d" % (len(data), end))
        first = end - count * _FP_PASSAGE_SIZE
        keys = np.frombuffer(data, dtype="<i8", count=count, offset=first).tolist()
        words = np.frombuffer(data, dtype="<u2", count=count, offset=first + 8 * count).tolist()
        passages = tuple(zip(keys, words))
        start = _FP_HEADER.size
        digest = data[start:start + digest_len]
        values = np.frombuffer(data, dtype="<u4", count=num_perm, offset=start + digest_len)
        return cls(text_hash=digest.hex(), hashvalues=values.astype(np.uint32), size=size, passages=passages)


class Signer:
    """Fingerprints texts with ``num_perm`` datasketch-compatible affine32 permutations drawn from ``seed``."""

    def __init__(self, num_perm: int = 256, shingle_size: int = 2, seed: int = 1) -> None:
        if not isinstance(num_perm, int) or isinstance(num_perm, bool) or not 16 <= num_perm <= 1 << 16:
            raise ValueError("num_perm must be an integer in [16, 65536], got %r" % (num_perm,))
        if not isinstance(shingle_size, int) or isinstance(shingle_size, bool) or not 1 <= shingle_size <= 16:
            raise ValueError("shingle_size must be an integer in [1, 16], got %r" % (shingle_size,))
        if not isinstance(seed, int) or isinstance(seed, bool) or not 1 <= seed <= (1 << 32) - 1:
            raise ValueError("seed must be an integer in [1, 4294967295], got %r" % (seed,))
        self.num_perm, self.shingle_size, self.seed = num_perm, shingle_size, seed
        self._perm_a, self._perm_b = affine32_permutations(num_perm, seed)

    def fingerprint(self, text: str, furniture: Container[str] = frozenset()) -> Fingerprint:
        """Fingerprint ``text``: the exact hash of the whole text, the MinHash of the distinct word shingles of
        its :func:`article_text` and its :func:`passages_of` (``furniture``: line keys to leave out)."""
        lines = _normalized_lines(text)
        # For ASCII the lines' words are the normalized text's (one pass over the text for both).
        normalized = " ".join(" ".join(lines).split()) if text.isascii() else normalize_text(text)
        body = article_text(text, furniture)
        shingles = _shingle_hashes(normalized if body is text else normalize_text(body), self.shingle_size)
        values = np.full(self.num_perm, np.uint32(0xFFFFFFFF), dtype=np.uint32)
        for start in range(0, len(shingles), _CHUNK):
            mixed = _fmix32(shingles[start:start + _CHUNK]).reshape(-1, 1)
            # uint32 arithmetic wraps around: exactly datasketch's affine32 permutation a*h + b mod 2^32.
            block = mixed * self._perm_a
            block += self._perm_b
            np.minimum(values, block.min(axis=0), out=values)
        return Fingerprint(text_hash=_digest(normalized), hashvalues=values, size=len(shingles),
                           passages=_passages(lines, furniture))

