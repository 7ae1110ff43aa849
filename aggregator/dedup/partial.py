"""Partial copies, decided late: pairs of texts whose answer depends on texts that may not be stored yet.

Two kinds wait. A copy that covers less than `digests.WHOLE_SHARE` of the larger text (a wire copy of an article's
first half, a short story a round-up reprints whole) cannot be told from a digest's piece until the digest's
other stories are stored. Two texts that share exact lines (passages) but fail the MinHash rule may be one article
in two page templates, whose leftovers show as furniture only once enough other stories carry them. Decided on
arrival, either answer would depend on what came first; so the pair waits in the band store (shared by a
distributed crawl's workers, kept across a crash), and is decided when the index settles (a crawl settles at
its end) against every text stored by then.

Works on fingerprints and the band store of a `StoryIndex` it is handed; never reads or writes stories.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from aggregator.dedup.bands import BandStore, Candidate
from aggregator.dedup.digests import is_digest, line_pieces, pieces_of
from aggregator.dedup.fingerprint import Fingerprint
from aggregator.dedup.groups import FURNITURE_MIN_STORIES

__all__ = ["HOLDERS_PER_PASSAGE", "Lines", "is_stored_digest", "line_verdict", "settle"]

logger = logging.getLogger(__name__)

# Stored texts looked at per passage; a passage held by more is furniture.
HOLDERS_PER_PASSAGE = 32
# A text whose passages hold less than this part of its words is told a digest by MinHash pieces, not by lines.
MOSTLY_PASSAGES = 0.5

Labelled = tuple[str, Fingerprint]  # a story id and one of its texts' fingerprint


class SettlingIndex(Protocol):
    """What settling needs of `aggregator.dedup.index.StoryIndex` (which imports this module)."""

    store: BandStore
    containment_threshold: float
    coverage_threshold: float

    def band_hashes(self, fp: Fingerprint) -> list[int]: ...
    def exact_band(self, text_hash: str) -> int: ...
    def judge(self, new: Fingerprint, stored: Fingerprint) -> tuple[str, float] | None: ...


@dataclass(frozen=True)
class Lines:
    """Who holds each passage of one text: the stored texts (story id, fingerprint) sharing it, and the passages
    that are furniture (held by texts of `FURNITURE_MIN_STORIES` stories or more, the text's own counted, or by
    `HOLDERS_PER_PASSAGE` texts)."""

    holders: tuple[Labelled, ...]
    held_by: dict[int, tuple[int, ...]]  # passage -> positions in ``holders``
    furniture: frozenset[int]

    @classmethod
    def of(cls, index: SettlingIndex, fp: Fingerprint, own_story: str | None,
           not_before: str | None = None) -> Lines:
        """The holders of ``fp``'s passages other than ``fp``'s own text (of story ``own_story``, None when the text
        is not stored); with ``not_before``, texts seen before that time are left out. Only the fingerprints of
        texts holding a passage that is not furniture are read."""
        found = index.store.holders([key for key, _ in fp.passages], HOLDERS_PER_PASSAGE) if fp.passages else {}
        if not found:  # most texts: no passage held by any other
            return cls((), {}, frozenset())
        furniture: set[int] = set()
        held: dict[int, list[Candidate]] = {}
        for key, _ in fp.passages:
            candidates = found.get(key, [])
            if candidates is None:
                furniture.add(key)
                continue
            candidates = [candidate for candidate in candidates
                          if not_before is None or candidate.when is None or candidate.when >= not_before]
            if len({own_story or "", *(candidate.story_id for candidate in candidates)}) >= FURNITURE_MIN_STORIES:
                furniture.add(key)
            else:
                held[key] = candidates
        positions: dict[int, int] = {}
        holders: list[Labelled] = []
        held_by: dict[int, tuple[int, ...]] = {}
        for key, candidates in held.items():
            numbers = []
            for candidate in candidates:
                if candidate.key not in positions:
                    other = Fingerprint.from_bytes(candidate.fingerprint)
                    positions[candidate.key] = -1 if other.text_hash == fp.text_hash else len(holders)
                    if positions[candidate.key] >= 0:
                        holders.append((candidate.story_id, other))
                if positions[candidate.key] >= 0:
                    numbers.append(positions[candidate.key])
            held_by[key] = tuple(numbers)
        return cls(tuple(holders), held_by, frozenset(furniture))

    def sharing(self) -> list[Labelled]:
        """The holders of a passage that is not furniture, each once."""
        return list(self.holders)


def line_verdict(index: SettlingIndex, first: Fingerprint, first_lines: Lines, second: Fingerprint,
                 second_lines: Lines) -> float | None:
    """The containment of the smaller text in the larger by their passages, furniture left out, when it passes
    the index's rule (at least ``containment_threshold`` of the smaller inside the larger, covering at least
    ``coverage_threshold`` of it); else None. Exact where MinHash sees two templates' leftovers."""
    furniture = first_lines.furniture | second_lines.furniture
    words_first = {key: words for key, words in first.passages if key not in furniture}
    words_second = {key: words for key, words in second.passages if key not in furniture}
    shared = sum(words for key, words in words_first.items() if key in words_second)
    smaller, larger = sorted((sum(words_first.values()), sum(words_second.values())))
    if not smaller or not shared:
        return None
    contained, covered = shared / smaller, shared / larger
    if contained >= index.containment_threshold and covered >= index.coverage_threshold:
        return contained
    return None


def is_stored_digest(index: SettlingIndex, fp: Fingerprint, lines: Lines) -> bool:
    """Whether the stored text ``fp`` is a digest: made of pieces of texts that are not one story. The pieces are
    what the texts holding its passages explain of it, line by line, furniture left out (MinHash candidates miss a
    long digest's short pieces, and template leftovers would look like a second story); a text with few passages
    is told by what its MinHash neighbours explain instead. No digest either way when one neighbour explains
    most of it."""
    neighbours = [(candidate.story_id, Fingerprint.from_bytes(candidate.fingerprint))
                  for candidate in index.store.query(index.band_hashes(fp))]
    named: list[Labelled] = [item for item in neighbours if item[1].text_hash != fp.text_hash]
    first_holder = len(named)
    named += lines.holders

    def same(first: str, second: str) -> bool:
        (a_story, a_fp), (b_story, b_fp) = named[int(first)], named[int(second)]
        return a_story == b_story or index.judge(a_fp, b_fp) is not None

    pieces = pieces_of(fp, ((str(number), other) for number, (_, other) in enumerate(named[:first_holder])))
    passage_words = sum(words for _, words in fp.passages)
    if passage_words < MOSTLY_PASSAGES * fp.size:
        return is_digest(pieces, same)
    kept = [(str(key), words) for key, words in fp.passages if key not in lines.furniture]
    most = max((piece.share for piece in pieces), default=0.0)
    return is_digest(line_pieces(kept, lambda key: [str(first_holder + n) for n in lines.held_by.get(int(key), ())]),
                     same, most)


class _Partition:
    """Union-find over story ids; a group is named by its smallest id."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, story_id: str) -> str:
        root = story_id
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        return root

    def union(self, first: str, second: str) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[str]]:
        members: dict[str, list[str]] = {}
        for story_id in sorted(self._parent.keys() | set(self._parent.values())):
            members.setdefault(self.find(story_id), []).append(story_id)
        return [sorted(group) for _, group in sorted(members.items()) if len(group) > 1]


def settle(index: SettlingIndex) -> list[tuple[list[str], str, float]]:
    """Decide the pairs deferred in the index's store (taking them out), and return the groups of stories to merge
    (sorted ids, and the rule and similarity of the closest pair that joined them: "near_containment" by MinHash,
    "shared_lines" by `line_verdict`). A pair joins when its texts pass the MinHash rule or the line rule and
    neither is a stored digest. Every pair is judged against the index as it is
    before any of these merges; pairs whose texts are no longer stored (a save rolled back) or already in one
    story are skipped."""
    pairs = index.store.take_deferred()
    partition = _Partition()
    best: dict[tuple[str, str], tuple[float, str]] = {}
    texts: dict[str, Labelled | None] = {}
    lines: dict[str, Lines] = {}
    digests: dict[str, bool] = {}

    def stored(text_hash: str) -> Labelled | None:
        if text_hash not in texts:
            texts[text_hash] = _stored(index, text_hash)
        return texts[text_hash]

    def lines_of(story_id: str, fp: Fingerprint) -> Lines:
        if fp.text_hash not in lines:
            lines[fp.text_hash] = Lines.of(index, fp, story_id)
        return lines[fp.text_hash]

    def digest(story_id: str, fp: Fingerprint) -> bool:
        if fp.text_hash not in digests:
            digests[fp.text_hash] = is_stored_digest(index, fp, lines_of(story_id, fp))
        return digests[fp.text_hash]

    for first, second, similarity in pairs:
        one, other = stored(first), stored(second)
        if one is None or other is None or one[0] == other[0]:
            continue
        rule = "near_containment"
        if index.judge(one[1], other[1]) is None:
            contained = line_verdict(index, one[1], lines_of(*one), other[1], lines_of(*other))
            if contained is None:
                continue
            similarity, rule = contained, "shared_lines"
        if digest(*one) or digest(*other):
            logger.debug("stories %s and %s stay apart: a digest", one[0], other[0])
            continue
        partition.union(one[0], other[0])
        pair = (min(one[0], other[0]), max(one[0], other[0]))
        best[pair] = max((similarity, rule), best.get(pair, (0.0, rule)))
    groups = partition.groups()
    if groups:
        logger.info("dedup: %d deferred pairs settled into %d merges", len(pairs), len(groups))
    settled = []
    for group in groups:
        similarity, rule = max(value for (first_id, _), value in best.items() if first_id in group)
        settled.append((group, rule, similarity))
    return settled


def _stored(index: SettlingIndex, text_hash: str) -> Labelled | None:
    """The story now holding the text ``text_hash`` (the smallest id if several) and its fingerprint."""
    held = sorted((candidate.story_id, candidate.fingerprint)
                  for candidate in index.store.query([index.exact_band(text_hash)]))
    for story_id, data in held:
        fp = Fingerprint.from_bytes(data)
        if fp.text_hash == text_hash:
            return story_id, fp
    return None
