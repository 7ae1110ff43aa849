"""Dedup at scale: N synthetic stories with planted copies through StoryIndex (SQLite band store) vs datasketch."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.dedup.fingerprint import Fingerprint, normalize_text, text_hash  # noqa: E402
from aggregator.dedup.index import StoryIndex  # noqa: E402
from aggregator.dedup.sqlite_bands import SQLiteBandStore  # noqa: E402
from aggregator.testing import sitegen  # noqa: E402

logger = logging.getLogger(__name__)

KINDS = ("exact", "edited", "truncated", "boilerplate", "wire")
BOILERPLATE_TOP = "Share on Facebook Share on X Share by email\n\nWe use cookies to improve your experience. Accept all"
BOILERPLATE_BOTTOM = ("Sign up for our morning newsletter and get the top stories in your inbox\n\n"
                      "Related: Markets rally as rates hold; Council approves budget; Storm closes roads\n\n"
                      "© 2026 All rights reserved. Terms Privacy Contact")


@dataclass(frozen=True)
class Corpus:
    """A plan of N stories: which positions are planted copies, of which earlier original, of which kind."""

    size: int
    seed: int
    source: np.ndarray = field(repr=False)  # -1 for an original, else the position of the copied original
    kind: np.ndarray = field(repr=False)  # index into KINDS for copies

    @classmethod
    def plan(cls, size: int, copy_rate: float, seed: int) -> Corpus:
        rng = np.random.default_rng(seed)
        source = np.full(size, -1, dtype=np.int64)
        copies = np.flatnonzero(rng.random(size) < copy_rate)
        copies = copies[copies > 0]
        for position in copies.tolist():
            candidate = int(rng.integers(0, position))
            source[position] = candidate if source[candidate] < 0 else source[candidate]
        kind = rng.integers(0, len(KINDS), size=size)
        return cls(size=size, seed=seed, source=source, kind=kind)


class TextMaker:
    """Cheap synthetic article texts: sitegen's Zipf pseudo-word vocabulary, function words and names."""

    def __init__(self, seed: int) -> None:
        content = sitegen.vocabulary()
        extras = sitegen.FUNCTION_WORDS + sitegen.PLACES + sitegen.PEOPLE + sitegen.NUMBERS
        self.words = np.array(content + extras, dtype=object)
        weights = np.array([1.0 / (rank + 10) for rank in range(len(content))]
                           + [0.35 * 6.4 / len(sitegen.FUNCTION_WORDS)] * len(sitegen.FUNCTION_WORDS)
                           + [0.02] * (len(extras) - len(sitegen.FUNCTION_WORDS)))
        self.cumulative = np.cumsum(weights / weights.sum())
        self.seed = seed

    def original(self, position: int) -> list[str]:
        """The paragraphs of the original at ``position`` (the same every time it is asked)."""
        rng = np.random.default_rng((self.seed, position))
        count = int(rng.integers(4, 8))
        lengths = rng.integers(40, 80, size=count)
        indices = np.searchsorted(self.cumulative, rng.random(int(lengths.sum())))
        words = self.words[indices].tolist()
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [" ".join(words[bounds[i]:bounds[i + 1]]) + "." for i in range(count)]

    def copy(self, position: int, source: int, kind: str) -> str:
        paragraphs = self.original(source)
        rng = np.random.default_rng((self.seed, position, 1))
        if kind == "exact":
            return "\n\n".join(paragraphs).upper()
        if kind == "truncated":
            keep = max(1, int(round(len(paragraphs) * rng.uniform(0.6, 0.9))))
            return "\n\n".join(paragraphs[:keep])
        if kind == "boilerplate":
            return "\n\n".join([BOILERPLATE_TOP, *paragraphs, BOILERPLATE_BOTTOM])
        if kind == "wire":
            return "\n\n".join(["ALMATY (Reuters) - " + paragraphs[0], *paragraphs[1:-1],
                                "Reporting by Jane Doe; Editing by John Roe"])
        words = " \n\n ".join(paragraphs).split(" ")
        edits = int(len(words) * rng.uniform(0.03, 0.08))
        for position_ in rng.integers(0, len(words), size=edits).tolist():
            operation = int(rng.integers(0, 3))
            replacement = str(self.words[int(rng.integers(0, len(self.words)))])
            if operation == 0 and len(words) > 1:
                words[min(position_, len(words) - 1)] = ""
            elif operation == 1:
                words.insert(position_, replacement)
            else:
                words[min(position_, len(words) - 1)] = replacement
        return " ".join(words)

    def texts(self, corpus: Corpus, start: int = 0, stop: int | None = None) -> Iterator[str]:
        for position in range(start, corpus.size if stop is None else stop):
            source = int(corpus.source[position])
            if source < 0:
                yield "\n\n".join(self.original(position))
            else:
                yield self.copy(position, source, KINDS[int(corpus.kind[position])])


def rss_bytes() -> int:
    """Resident set size of this process (anonymous + file pages), from /proc."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def score(corpus: Corpus, assigned: np.ndarray) -> tuple[float, float, dict[str, float]]:
    """Recall and precision of planted copies: a copy is found when it joins its original's story; a merge is
    wrong when an original joins anything or a copy joins another story."""
    own = np.arange(corpus.size)
    copies = corpus.source >= 0
    truth = np.where(copies, corpus.source, own)
    found = copies & (assigned == assigned[np.maximum(truth, 0)]) & (assigned != own)
    merged = assigned != own
    wrong = merged & ~found
    recall = found.sum() / max(1, copies.sum())
    precision = found.sum() / max(1, found.sum() + wrong.sum())
    per_kind = {name: float((found & (corpus.kind == k))[copies].sum() / max(1, (copies & (corpus.kind == k)).sum()))
                for k, name in enumerate(KINDS)}
    return float(recall), float(precision), per_kind


def run_ours(corpus: Corpus, maker: TextMaker, path: Path, batch_size: int, cache_mb: int,
             layout: dict[str, int] | None = None) -> dict:
    """Sign, match and insert every story through StoryIndex on a SQLite band store; then reopen it."""
    gc.collect()
    rss_before = rss_bytes()
    layout = layout or {}
    index = StoryIndex(store=SQLiteBandStore(path, batch_size=batch_size, cache_mb=cache_mb), **layout)
    merges = 0
    # story -> the story a merge took it into (-1: none). An array, not a dict: Python ints made in the middle of
    # the run would live on and keep the allocator's arenas from being returned, which the memory figure would count.
    merged_into = np.full(corpus.size, -1, dtype=np.int64)
    assigned = np.empty(corpus.size, dtype=np.int64)
    sign_s = index_s = tail_index_s = 0.0
    tail_start = corpus.size - max(1, corpus.size // 20)
    words = 0
    base = time.time()
    for position, text in enumerate(maker.texts(corpus)):
        if position % 1000 == 0:
            words += len(text.split())
        signed = time.perf_counter()
        fp = index.fingerprint(text)
        matched = time.perf_counter()
        # Zero-padded ids sort as positions do, so a story keeps its first (smallest) id, as scoring expects.
        match = index.add("%010d" % position, fp, when=_iso(base + position))
        story = position if match is None else int(match.story_id)
        if match is not None and match.merges:
            merges += 1
            for merged in match.merges:
                merged_into[int(merged)] = story
        done = time.perf_counter()
        assigned[position] = story
        sign_s += matched - signed
        index_s += done - matched
        if position >= tail_start:
            tail_index_s += done - matched
        if position and position % 100000 == 0:
            logger.info("ours %d/%d: %.0f stories/s so far", position, corpus.size, position / (sign_s + index_s))
    settled = time.perf_counter()
    for match in index.settle():  # the partial copies deferred to the end, as a crawl settles them
        index.merge(match.story_id, match.merges)
        merges += 1
        for merged in match.merges:
            merged_into[int(merged)] = int(match.story_id)
    index_s += time.perf_counter() - settled
    index.flush()
    gc.collect()
    memory = (rss_bytes() - rss_before) / corpus.size
    for position in range(corpus.size) if merges else ():
        story = int(assigned[position])
        while merged_into[story] >= 0:
            story = int(merged_into[story])
        assigned[position] = story
    index.close()
    del index
    started = time.perf_counter()
    reopened = StoryIndex(store=SQLiteBandStore(path, cache_mb=cache_mb), **layout)
    open_s = time.perf_counter() - started
    probe = reopened.fingerprint("\n\n".join(maker.original(0)))
    first_match = reopened.match(probe)
    first_query_s = time.perf_counter() - started - open_s
    reopened.close()
    recall, precision, per_kind = score(corpus, assigned)
    name = "ours (SQLite, %dx%d bands, batch %d, cache %d MB)" % (reopened.bands, reopened.rows, batch_size, cache_mb)
    return {"name": name, "stories_per_s": corpus.size / (sign_s + index_s),
            "sign_us": 1e6 * sign_s / corpus.size, "index_us": 1e6 * index_s / corpus.size,
            "tail_index_us": 1e6 * tail_index_s / (corpus.size - tail_start),
            "bytes_per_story": memory, "open_s": open_s, "first_query_s": first_query_s,
            "reopen_found": first_match is not None and first_match.story_id == "%010d" % assigned[0],
            "recall": recall, "precision": precision, "per_kind": per_kind,
            "words": words / len(range(0, corpus.size, 1000)), "db_mb": _db_size(path) / 1e6, "merges": merges}


def baseline_minhash(text: str, num_perm: int) -> MinHash:
    """A plain datasketch MinHash: one ``update`` per word 2-shingle."""
    words = normalize_text(text).split()
    minhash = MinHash(num_perm=num_perm)
    for i in range(max(1, len(words) - 1)):
        minhash.update(" ".join(words[i:i + 2]).encode("utf-8"))
    return minhash


def run_baseline(corpus: Corpus, maker: TextMaker, verifier: StoryIndex) -> dict:
    """datasketch MinHash.update per shingle + in-memory MinHashLSH (same 64x4 layout), verified by our rule."""
    gc.collect()
    rss_before = rss_bytes()
    lsh = MinHashLSH(num_perm=256, params=(64, 4))
    stored: dict[int, Fingerprint] = {}
    story_of: dict[int, int] = {}
    assigned = np.empty(corpus.size, dtype=np.int64)
    sign_s = index_s = 0.0
    for position, text in enumerate(maker.texts(corpus)):
        started = time.perf_counter()
        minhash = baseline_minhash(text, 256)
        fp = Fingerprint(text_hash=text_hash(text), hashvalues=minhash.hashvalues,
                         size=len(set(normalize_text(text).split())))
        signed = time.perf_counter()
        best: tuple[float, int] | None = None
        for key in lsh.query(minhash):
            verdict = verifier._assess(fp, stored[key])
            if verdict is not None and (best is None or verdict[2] > best[0]):
                best = verdict[2], story_of[key]
        story = position if best is None else best[1]
        lsh.insert(position, minhash, check_duplication=False)
        stored[position], story_of[position] = fp, story
        index_s += time.perf_counter() - signed
        sign_s += signed - started
        assigned[position] = story
    gc.collect()
    memory = (rss_bytes() - rss_before) / corpus.size
    recall, precision, per_kind = score(corpus, assigned)
    return {"name": "baseline (MinHash.update + MinHashLSH in memory)",
            "stories_per_s": corpus.size / (sign_s + index_s),
            "sign_us": 1e6 * sign_s / corpus.size, "index_us": 1e6 * index_s / corpus.size,
            "bytes_per_story": memory, "recall": recall, "precision": precision, "per_kind": per_kind}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def _db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated N (default: %(default)s)")
    parser.add_argument("--baseline-size", type=int, default=100000,
                        help="run the datasketch baseline at this N if it is one of --sizes (default: %(default)s)")
    parser.add_argument("--copy-rate", type=float, default=0.05, help="share of planted copies (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=50000,
                        help="inserts per SQLite commit (default: %(default)s)")
    parser.add_argument("--cache-mb", type=int, default=None,
                        help="SQLite page cache (default: 512 bytes per story, at least 64 MB)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bands", type=int, default=None, help="StoryIndex bands (default: its default)")
    parser.add_argument("--rows", type=int, default=None, help="StoryIndex rows per band (default: its default)")
    parser.add_argument("--dir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [int(size) for size in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="dedup_scale_")) if args.dir is None else args.dir
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in sizes:
        corpus = Corpus.plan(size, args.copy_rate, args.seed)
        maker = TextMaker(args.seed)
        path = workdir / ("scale_%d.db" % size)
        for stale in workdir.glob(path.name + "*"):
            stale.unlink()
        cache_mb = args.cache_mb or max(64, size * 512 >> 20)
        layout = {name: value for name, value in (("bands", args.bands), ("rows", args.rows)) if value is not None}
        ours = run_ours(corpus, maker, path, args.batch_size, cache_mb, layout)
        ours["size"] = size
        results.append(ours)
        print(_row(ours), flush=True)
        if size == args.baseline_size:
            baseline = run_baseline(corpus, maker, StoryIndex())
            baseline["size"] = size
            results.append(baseline)
            print(_row(baseline), flush=True)
            print("speed-up at N=%d: %.1fx" % (size, ours["stories_per_s"] / baseline["stories_per_s"]), flush=True)
    print()
    print("| N | method | stories/s | sign µs | insert+query µs (mean / last 5%) | bytes/story | open s |"
          " recall | precision |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print("| %d | %s | %.0f | %.0f | %.0f / %s | %.0f | %s | %.4f | %.4f |" % (
            r["size"], r["name"], r["stories_per_s"], r["sign_us"], r["index_us"],
            "%.0f" % r["tail_index_us"] if "tail_index_us" in r else "-", r["bytes_per_story"],
            "%.3f" % r["open_s"] if "open_s" in r else "-", r["recall"], r["precision"]))
    return 0


def _row(r: dict) -> str:
    return "N=%d %s: %s" % (r["size"], r["name"], ", ".join(
        "%s=%s" % (k, ("%.4g" % v) if isinstance(v, float) else v) for k, v in r.items() if k not in ("name", "size")))


if __name__ == "__main__":
    sys.exit(main())
