"""The story index: which stored story a new text is a copy of (MinHash LSH candidates and texts sharing its
passages, verified by Jaccard or two-sided containment; partial copies settled later by `aggregator.dedup.partial`),
and corpus dedup on its own.

Never reads or writes stories: it keeps fingerprints, band hashes, passages and deferred pairs in its `BandStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from aggregator.dedup.bands import BandStore, Candidate
from aggregator.dedup.digests import WHOLE_SHARE
from aggregator.dedup.fingerprint import BAND_SALT, MIX1, MIX2, SCHEME, Fingerprint, Signer
from aggregator.dedup.groups import furniture_lines, group_fingerprints
from aggregator.dedup.partial import Lines, settle
from aggregator.dedup.stores import open_band_store

__all__ = ["Decision", "Match", "Partial", "StoryIndex", "dedup_corpus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """The stored story a new text belongs to, and why."""

    story_id: str
    similarity: float  # the estimate that decided it, 0..1
    rule: str  # "text_hash", "near_jaccard" or "near_containment"
    # Other stored stories the text is just as much a copy of: it bridges them, so they are one story with
    # ``story_id`` (the smallest id of them all, whatever came first). `StoryIndex.add` merges them in the index;
    # a caller that keeps stories elsewhere moves their sightings to ``story_id`` too.
    merges: tuple[str, ...] = ()

    def named(self, new_story_id: str) -> Match:
        """This match for a text that would start ``new_story_id``: a story is named by the smallest id any of its
        texts would have started, whichever came first, so a smaller ``new_story_id`` names it and the matched
        story joins the merges."""
        if new_story_id >= self.story_id:
            return self
        return Match(story_id=new_story_id, similarity=self.similarity, rule=self.rule,
                     merges=tuple(sorted((self.story_id, *self.merges))))


@dataclass(frozen=True)
class Decision:
    """What `StoryIndex.decide` found for a text: the story it joins now, and the stored texts it is a partial copy
    of (or partly holds), whose pairs wait for `StoryIndex.settle`."""

    match: Match | None
    # The larger text of each such pair is covered less than `digests.WHOLE_SHARE` by the smaller one, so it may be
    # a digest that reprints the smaller and other stories: that shows only once the others are stored.
    partial: tuple[Partial, ...] = ()


class Partial(NamedTuple):
    """A stored text that a new one is a partial copy of, or partly holds."""

    story_id: str
    fingerprint: Fingerprint
    similarity: float  # the containment estimate (0 for texts that only share lines)


class _Verdict(NamedTuple):
    rule: str
    similarity: float  # the estimate that decided it
    jaccard: float
    covered: float  # the estimated part of the larger text the smaller one explains


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
      covers under ~0.25 of it; a round-up holds ~1/3 of each source: each fails one of the two tests. A round-up
      that reprints a short item whole passes both, and cannot be told from a longer copy until another story it
      reprints is stored: so a copy covering less than `WHOLE_SHARE` of the larger text joins at `settle` (a
      crawl's end), unless the larger text is then a digest (`aggregator.dedup.digests`), a text made of pieces
      of several stories, which joins none of them. A whole copy is mostly one text, never a digest: it joins
      at once, and bridges (merges) every story it is a whole copy of.

    Measured on the two benchmark sets over 15 seeds (``bench/dedup.py`` prints it): of the pairs the rule
    accepts, 64 x 4 bands leave 0.5% uncompared, 64 x 3 0.02%, 85 x 3 none; 64 x 4 stays the default (indexes
    already stored keep their layout; at 100k stories 64 x 3 gained 0.0004 recall but grew 1.8 KB per story
    resident against 1.3 KB, over the 1.5 KB budget).

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
        self.signer = Signer(self.num_perm, self.shingle_size, self.seed)
        self._band_salts = BAND_SALT * np.arange(1, self.bands + 1, dtype=np.uint64)
        # One store band per LSH band, plus the exact text hash's.
        configured = store is None or isinstance(store, (str, Mapping))
        self.store: BandStore = open_band_store(store, self.bands + 1) if configured else store  # type: ignore
        self.store.bind({"num_perm": str(self.num_perm), "bands": str(self.bands), "rows": str(self.rows),
                         "shingle_size": str(self.shingle_size), "seed": str(self.seed), "scheme": SCHEME})

    def __repr__(self) -> str:
        return ("StoryIndex(store=%s, num_perm=%r, bands=%r, rows=%r, shingle_size=%r, jaccard_threshold=%r, "
                "containment_threshold=%r, coverage_threshold=%r)"
                % (type(self.store).__name__, self.num_perm, self.bands, self.rows, self.shingle_size,
                   self.jaccard_threshold, self.containment_threshold, self.coverage_threshold))

    def scratch(self) -> StoryIndex:
        """An empty in-memory index with this one's layout and rules."""
        return StoryIndex(num_perm=self.num_perm, bands=self.bands, rows=self.rows, shingle_size=self.shingle_size,
                          jaccard_threshold=self.jaccard_threshold, containment_threshold=self.containment_threshold,
                          coverage_threshold=self.coverage_threshold, seed=self.seed)

    def fingerprint(self, text: str, furniture: Container[str] = frozenset()) -> Fingerprint:
        """Fingerprint ``text``: its exact hash and the MinHash of its distinct word shingles (leaving out lines
        whose `fingerprint.line_key` is in ``furniture``)."""
        return self.signer.fingerprint(text, furniture)

    def band_hashes(self, fp: Fingerprint) -> list[int]:
        """The store keys of ``fp``: one for its exact text hash, then one per LSH band (none for an empty text).

        48-bit signed integers, so SQLite stores each in 6 bytes; a chance collision only adds a candidate.
        """
        if len(fp.hashvalues) != self.num_perm:
            raise ValueError("fingerprint has %d hash values, this index uses num_perm=%d"
                             % (len(fp.hashvalues), self.num_perm))
        exact = self.exact_band(fp.text_hash)
        if fp.size == 0:
            return [exact]
        matrix = fp.hashvalues[:self.bands * self.rows].reshape(self.bands, self.rows).astype(np.uint64)
        combined = self._band_salts.copy()
        for column in range(self.rows):
            combined = (combined ^ matrix[:, column]) * MIX1
            combined ^= combined >> np.uint64(29)
        combined *= MIX2
        combined ^= combined >> np.uint64(32)
        signed = (combined >> np.uint64(16)).astype(np.int64) - (1 << 47)
        return [exact, *signed.tolist()]

    def exact_band(self, text_hash: str) -> int:
        """The store key of the exact text hash ``text_hash`` (the first of `band_hashes`)."""
        return int.from_bytes(bytes.fromhex(text_hash)[:6], "big") - (1 << 47)

    def judge(self, new: Fingerprint, stored: Fingerprint) -> tuple[str, float] | None:
        """The rule under which ``new`` and ``stored`` are one story, with the similarity that decided it; else None.

        Symmetric: a truncated copy seen before its original matches it just the same.
        """
        verdict = self._assess(new, stored)
        return None if verdict is None else (verdict.rule, verdict.similarity)

    def _assess(self, new: Fingerprint, stored: Fingerprint) -> _Verdict | None:
        if new.text_hash == stored.text_hash:
            return _Verdict("text_hash", 1.0, 1.0, 1.0)
        if new.size == 0 or stored.size == 0 or len(stored.hashvalues) != self.num_perm:
            return None
        jaccard = float(np.count_nonzero(new.hashvalues == stored.hashvalues)) / self.num_perm
        overlap = jaccard * (new.size + stored.size) / (1.0 + jaccard)
        covered = min(1.0, overlap / max(new.size, stored.size))
        if jaccard >= self.jaccard_threshold:
            return _Verdict("near_jaccard", jaccard, jaccard, covered)
        contained = min(1.0, overlap / min(new.size, stored.size))
        if contained >= self.containment_threshold and covered >= self.coverage_threshold:
            return _Verdict("near_containment", contained, jaccard, covered)
        return None

    def match(self, fp: Fingerprint, not_before: str | datetime | None = None) -> Match | None:
        """The stored story ``fp`` is a copy of now, or None: `decide`'s match."""
        return self.decide(fp, not_before).match

    def decide(self, fp: Fingerprint, not_before: str | datetime | None = None) -> Decision:
        """Which stored story ``fp`` joins, decided whatever order the stories were stored in: a story holding the
        exact text first (the smallest id if several); else the smallest id of the stories a candidate passes the
        rule for as a whole copy, the others in ``merges`` (``fp`` bridges them). Candidates are the texts sharing
        a band, and those sharing a passage that is not furniture (a partial copy's Jaccard is often 0.3-0.4, which
        bands miss). A copy covering less than `WHOLE_SHARE` of the larger text, and a text sharing lines that fails
        the rule, join nothing yet: the pair is in ``partial``, for `defer` and `settle`. With ``not_before``,
        fingerprints seen before that time are ignored (those stored without a time never are)."""
        cutoff = _utc_iso(not_before)
        return self._decide(fp, self.store.query(self.band_hashes(fp), not_before=cutoff), cutoff)

    def _decide(self, fp: Fingerprint, candidates: Iterable[Candidate], not_before: str | None) -> Decision:
        stored = [(candidate.story_id, Fingerprint.from_bytes(candidate.fingerprint)) for candidate in candidates]
        exact = sorted(story_id for story_id, other in stored if other.text_hash == fp.text_hash)
        if exact:
            return Decision(Match(story_id=exact[0], similarity=1.0, rule="text_hash"))
        sharing = Lines.of(self, fp, None, not_before).sharing()
        lines_shared = {other.text_hash for _, other in sharing}
        seen = {other.text_hash for _, other in stored}
        passed: dict[str, _Verdict] = {}
        partial: list[Partial] = []
        for story_id, other in stored + [item for item in sharing if item[1].text_hash not in seen]:
            verdict = self._assess(fp, other)
            if verdict is None:
                if other.text_hash in lines_shared:  # two templates' leftovers may hide a copy
                    partial.append(Partial(story_id, other, 0.0))
            elif verdict.covered < WHOLE_SHARE and verdict.rule == "near_containment":
                partial.append(Partial(story_id, other, verdict.similarity))
            elif story_id not in passed or verdict.jaccard > passed[story_id].jaccard:
                passed[story_id] = verdict
        # A whole copy of one text is mostly that text, so no digest of others: it joins at once.
        story_ids = sorted(passed)
        partial = [item for item in partial if item.story_id not in passed]
        if not story_ids:
            return Decision(None, tuple(partial))
        verdict = passed[story_ids[0]]
        return Decision(Match(story_id=story_ids[0], similarity=verdict.similarity, rule=verdict.rule,
                              merges=tuple(story_ids[1:])), tuple(partial))

    def defer(self, fp: Fingerprint, partial: Iterable[Partial]) -> None:
        """Keep the pairs of ``fp`` (stored by its caller) and the ``partial`` texts of its `Decision` for `settle`."""
        self.store.defer([(fp.text_hash, item.fingerprint.text_hash, item.similarity) for item in partial])

    def settle(self) -> list[Match]:
        """Decide the pairs deferred so far (kept in the store, so any worker of a crawl may settle them), against
        the index as it is now: a crawl calls this at its end, when the other stories a digest reprints have come
        if they were to (`aggregator.dedup.partial`). Returns one `Match` per group of stories to merge: the
        smallest id, the others in ``merges``. Merges nothing itself (see `merge`)."""
        return [Match(story_id=group[0], similarity=similarity, rule=rule, merges=tuple(group[1:]))
                for group, rule, similarity in settle(self)]

    def insert(self, story_id: str, fp: Fingerprint, when: str | datetime | None = None) -> None:
        """Add one version/sighting of ``story_id``, seen at ``when`` (for ``match(not_before=...)``); a story may
        hold several fingerprints, and the same text seen again adds nothing."""
        if not isinstance(story_id, str) or not story_id:
            raise ValueError("story_id must be a non-empty string, got %r" % (story_id,))
        bands = self.band_hashes(fp)
        data = fp.to_bytes()
        # The same bytes have the same text hash: its band holds every earlier copy, so one band lookup decides.
        if not _holds(self.store.query(bands[:1]), story_id, data):
            self.store.insert(story_id, data, bands, _utc_iso(when), passages=[key for key, _ in fp.passages])

    def add(self, new_story_id: str, fp: Fingerprint, when: str | datetime | None = None) -> Match | None:
        """:meth:`match` then :meth:`insert` in one store query: ``fp`` joins the story it matches, else it starts
        ``new_story_id``. Returns the match (None for a new story). A story is named by the smallest id it was
        given: when ``new_story_id`` is smaller than the matched story's, the match names ``new_story_id`` and lists
        the old id in ``merges``; every story in ``merges`` is folded into ``match.story_id`` here. For bulk
        callers (the scale benchmark, `bench/dedup.py`'s one-at-a-time order test)."""
        if not isinstance(new_story_id, str) or not new_story_id:
            raise ValueError("new_story_id must be a non-empty string, got %r" % (new_story_id,))
        bands = self.band_hashes(fp)
        candidates = self.store.query(bands)  # no time window, so every stored copy of the text is among them
        decision = self._decide(fp, candidates, None)
        match = None if decision.match is None else decision.match.named(new_story_id)
        story_id = new_story_id if match is None else match.story_id
        data = fp.to_bytes()
        if match is None or not _holds(candidates, story_id, data):
            self.store.insert(story_id, data, bands, _utc_iso(when), passages=[key for key, _ in fp.passages])
        if match is not None and match.merges:
            self.merge(match.story_id, match.merges)
        self.defer(fp, decision.partial)
        return match

    def merge(self, story_id: str, others: Iterable[str]) -> None:
        """Fold the fingerprints of ``others`` into ``story_id`` (a bridge found they are one story): they keep
        their bands, passages and times seen, under ``story_id``. Ids not indexed are skipped."""
        for other in others:
            if other != story_id and other in self.store:
                self.store.rename(other, story_id)
                logger.info("dedup index: story %s merged into %s", other, story_id)

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
        fingerprints = [Fingerprint.from_bytes(data) for data in stored]
        bands = sorted({band for fp in fingerprints for band in self.band_hashes(fp)})
        passages = sorted({key for fp in fingerprints for key, _ in fp.passages})
        self.store.remove(story_id, bands, passages)

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
    """Assign each document ({"id", "text"}) to a story: yields (doc id, story id) in the input order, the story id
    being the smallest doc id of the story. The same documents in any order give the same result: lines that recur
    across the documents (furniture) are left out of fingerprints, every pair sharing a band is judged, digests
    join nothing, and stories are the connected groups (`aggregator.dedup.groups`). ``index`` should be empty:
    every document goes into it under its own id."""
    index = StoryIndex() if index is None else index
    texts = {doc["id"]: doc.get("text") or "" for doc in docs}
    # First the whole texts, in a scratch index, to learn which lines recur across stories; then without them.
    scratch = index.scratch()
    first = group_fingerprints({doc_id: scratch.fingerprint(text) for doc_id, text in texts.items()}, scratch)
    scratch.close()
    furniture = furniture_lines(texts, first)
    stories = group_fingerprints({doc_id: index.fingerprint(text, furniture) for doc_id, text in texts.items()},
                                 index, texts, furniture)
    for doc_id, story_id in stories.items():
        if story_id != doc_id:
            logger.debug("%s joins story %s", doc_id, story_id)
        yield doc_id, story_id
