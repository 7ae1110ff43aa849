"""Digests (round-ups, briefs): a text made of pieces of several stories is a sighting of none of them.

Decides from MinHash signatures alone which part of a text each neighbour explains; knows nothing of band
stores, story ids or how pairs are judged (the caller says which neighbours are one story).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from aggregator.dedup.fingerprint import Fingerprint

__all__ = ["Piece", "is_digest", "line_pieces", "pieces_of"]

logger = logging.getLogger(__name__)

# A neighbour explaining at least this part of a text is one of its pieces.
MIN_SHARE = 0.1
# A text that one neighbour explains this much of is mostly that text (an updated or wrapped copy), not a digest.
WHOLE_SHARE = 0.6
# Two pieces are different parts of the text when the MinHash positions they agree with it on overlap at most
# this much (copies of one passage agree on the same positions; two passages on disjoint ones).
DISJOINT = 0.2
# Fewer agreeing positions than this are noise at 256 permutations.
MIN_AGREEING = 4


@dataclass(frozen=True, eq=False)
class Piece:
    """The part of a text that one neighbour explains."""

    neighbour: str
    share: float  # estimated |text ∩ neighbour| / |text|
    # bool per MinHash position (or per line, for `line_pieces`): the text and the neighbour agree there
    agreeing: np.ndarray = field(repr=False)


def pieces_of(fp: Fingerprint, neighbours: Iterable[tuple[str, Fingerprint]]) -> list[Piece]:
    """What each neighbour explains of ``fp``'s text (neighbours explaining less than :data:`MIN_SHARE`, or
    signed with another num_perm, are left out)."""
    found = []
    for name, other in neighbours:
        if other.size == 0 or fp.size == 0 or len(other.hashvalues) != len(fp.hashvalues):
            continue
        agreeing = fp.hashvalues == other.hashvalues
        count = int(np.count_nonzero(agreeing))
        if count < MIN_AGREEING:
            continue
        jaccard = count / len(agreeing)
        overlap = jaccard * (fp.size + other.size) / (1.0 + jaccard)
        share = min(1.0, overlap / fp.size)
        if share >= MIN_SHARE:
            found.append(Piece(name, share, agreeing))
    return found


def line_pieces(lines: list[tuple[str, int]], holders: Callable[[str], Iterable[str]]) -> list[Piece]:
    """What each neighbour explains of a text, by whole lines: ``lines`` are the text's (line key, words) and
    ``holders(key)`` the other documents holding that line. Exact where MinHash candidates miss the short
    pieces of a long digest."""
    total = sum(words for _, words in lines)
    if not total:
        return []
    found_in: dict[str, np.ndarray] = {}
    for position, (key, _) in enumerate(lines):
        for holder in holders(key):
            found_in.setdefault(holder, np.zeros(len(lines), dtype=bool))[position] = True
    weights = np.array([words for _, words in lines], dtype=np.float64)
    return [Piece(holder, float(weights[agreeing].sum()) / total, agreeing)
            for holder, agreeing in sorted(found_in.items())
            if float(weights[agreeing].sum()) / total >= MIN_SHARE]


def is_digest(pieces: list[Piece], same_story: Callable[[str, str], bool], most: float = 0.0) -> bool:
    """Whether a text is a digest: no one neighbour explains most of it (``most``: the largest share known from
    elsewhere, such as MinHash pieces beside line pieces), and two neighbours that are not one story explain
    different parts of it. ``same_story(a, b)`` says whether neighbours ``a`` and ``b`` are one story."""
    if not pieces or max(most, *(piece.share for piece in pieces)) >= WHOLE_SHARE:
        return False
    for first, second in itertools.combinations(pieces, 2):
        both = int(np.count_nonzero(first.agreeing & second.agreeing))
        smaller = min(int(np.count_nonzero(first.agreeing)), int(np.count_nonzero(second.agreeing)))
        if both <= DISJOINT * smaller and not same_story(first.neighbour, second.neighbour):
            logger.debug("digest: %s and %s explain different parts (%.2f, %.2f)", first.neighbour,
                         second.neighbour, first.share, second.share)
            return True
    return False
