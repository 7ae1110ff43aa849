"""Corpus dedup whatever the input order: furniture lines, the graph of judged pairs, digests, groups and their ids.

Works on texts and fingerprints through a `StoryIndex` it is handed; never reads or writes stories.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping
from typing import Protocol

from aggregator.dedup.bands import BandStore
from aggregator.dedup.digests import is_digest, line_pieces, pieces_of
from aggregator.dedup.fingerprint import Fingerprint, line_key

__all__ = ["furniture_lines", "group_fingerprints"]

logger = logging.getLogger(__name__)

# A line found in documents of this many different stories is template or desk furniture (comment rules, an
# outlet's "about us"), not article: a story's own lines recur in its copies (one story however many they are)
# and in a digest or a follow-up or two. Lines of fewer words are left alone (too common to say anything, too
# short to weigh on a fingerprint).
FURNITURE_MIN_STORIES = 5
FURNITURE_MIN_WORDS = 4
# Lines this long are passages a digest may reprint (shorter ones are headlines, captions, labels).
PASSAGE_MIN_WORDS = 8


def furniture_lines(texts: Mapping[str, str], stories: Mapping[str, str],
                    min_stories: int = FURNITURE_MIN_STORIES, min_words: int = FURNITURE_MIN_WORDS) -> frozenset[str]:
    """The line keys (see `fingerprint.line_key`) of lines of ``min_words`` words or more found in documents of
    at least ``min_stories`` different stories. ``texts``: doc id -> text; ``stories``: doc id -> story id, from
    a first grouping of the whole fingerprints (so copies count once)."""
    seen_in: dict[str, set[str]] = defaultdict(set)
    for doc_id, text in texts.items():
        story_id = stories[doc_id]
        for line in text.splitlines():
            if len(line.split()) >= min_words:
                seen_in[line_key(line)].add(story_id)
    return frozenset(key for key, story_ids in seen_in.items() if len(story_ids) >= min_stories)


class PairIndex(Protocol):
    """What grouping needs of `aggregator.dedup.index.StoryIndex` (which imports this module)."""

    store: BandStore

    def insert(self, story_id: str, fp: Fingerprint, when: None = None) -> None: ...
    def flush(self) -> None: ...
    def band_hashes(self, fp: Fingerprint) -> list[int]: ...
    def judge(self, new: Fingerprint, stored: Fingerprint) -> tuple[str, float] | None: ...


class _Partition:
    """Union-find over document ids; a group's id is its smallest member id, so it never depends on order."""

    def __init__(self, ids: Iterable[str]) -> None:
        self._parent = {doc_id: doc_id for doc_id in ids}

    def find(self, doc_id: str) -> str:
        root = doc_id
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[doc_id] != root:
            self._parent[doc_id], doc_id = root, self._parent[doc_id]
        return root

    def union(self, first: str, second: str) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self._parent[max(a, b)] = min(a, b)


def _passages(texts: Mapping[str, str], furniture: Container[str]) -> dict[str, list[tuple[str, int]]]:
    passages = {}
    for doc_id, text in texts.items():
        lines = ((line_key(line), len(line.split())) for line in text.splitlines())
        passages[doc_id] = [(key, words) for key, words in lines if words >= PASSAGE_MIN_WORDS and key not in furniture]
    return passages


def group_fingerprints(fingerprints: dict[str, Fingerprint], index: PairIndex,
                       texts: Mapping[str, str] | None = None,
                       furniture: Container[str] = frozenset()) -> dict[str, str]:
    """Group documents (id -> fingerprint) into stories: doc id -> story id, the smallest doc id of its story.

    Every document goes into ``index`` under its own id; each pair that shares a band is judged by the index's
    rule (symmetric); a document that is a digest of its neighbours (by MinHash, and with ``texts`` also by the
    passages it shares whole with other documents, ``furniture`` lines aside) joins none of them; the stories
    are the connected groups left. Nothing depends on the order of ``fingerprints``.
    """
    for doc_id, fp in fingerprints.items():
        index.insert(doc_id, fp)
    index.flush()
    neighbours: dict[str, set[str]] = {doc_id: set() for doc_id in fingerprints}
    for doc_id, fp in fingerprints.items():
        for candidate in index.store.query(index.band_hashes(fp)):
            if candidate.story_id != doc_id and candidate.story_id in fingerprints:
                neighbours[doc_id].add(candidate.story_id)
    judged: dict[tuple[str, str], bool] = {}

    def same(first: str, second: str) -> bool:
        pair = (first, second) if first < second else (second, first)
        if pair not in judged:
            judged[pair] = index.judge(fingerprints[pair[0]], fingerprints[pair[1]]) is not None
        return judged[pair]

    pieces = {doc_id: pieces_of(fp, ((other, fingerprints[other]) for other in sorted(neighbours[doc_id])))
              for doc_id, fp in fingerprints.items()}
    digests = {doc_id for doc_id, found in pieces.items() if is_digest(found, same)}
    if texts is not None:
        passages = _passages(texts, furniture)
        holders: dict[str, set[str]] = defaultdict(set)
        for doc_id, lines in passages.items():
            for key, _ in lines:
                holders[key].add(doc_id)
        # A text mostly explained by one neighbour (a copy with its edits) is no digest, whatever lines it shares.
        for doc_id, lines in passages.items():
            others = {key: sorted(holders[key] - {doc_id}) for key, _ in lines}
            if doc_id not in digests and is_digest(line_pieces(lines, others.__getitem__), same,
                                                   max((piece.share for piece in pieces[doc_id]), default=0.0)):
                digests.add(doc_id)
    partition = _Partition(fingerprints)
    for doc_id in sorted(fingerprints):
        if doc_id in digests:
            continue
        for other in sorted(neighbours[doc_id]):
            if other > doc_id and other not in digests and same(doc_id, other):
                partition.union(doc_id, other)
    if digests:
        logger.info("%d digests join no story: %s", len(digests), ", ".join(sorted(digests)[:10]))
    return {doc_id: partition.find(doc_id) for doc_id in fingerprints}
