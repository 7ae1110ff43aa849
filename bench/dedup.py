"""Near-duplicate benchmark: our StoryIndex vs the datasketch MinHashLSH baseline, pairwise P/R/F1 and docs/s."""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from datasketch import MinHash, MinHashLSH

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.dedup.fingerprint import Fingerprint, normalize_text  # noqa: E402
from aggregator.dedup.index import StoryIndex, dedup_corpus  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "bench" / "dedup"


def load_jsonl(path: Path) -> list[dict]:
    """Read one JSON object per non-empty line."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def baseline_signature(text: str, num_perm: int = 128, shingle_size: int = 5) -> MinHash:
    """A plain datasketch MinHash of word 5-shingles, one ``MinHash.update`` call per shingle."""
    words = normalize_text(text).split()
    minhash = MinHash(num_perm=num_perm)
    for i in range(max(1, len(words) - shingle_size + 1)):
        minhash.update(" ".join(words[i:i + shingle_size]).encode("utf-8"))
    return minhash


def baseline_corpus(docs: Iterable[dict], lsh: MinHashLSH) -> Iterator[tuple[str, str]]:
    """The README baseline: datasketch MinHashLSH defaults (threshold 0.8), word 5-shingles; a document joins
    the story of its earliest LSH candidate."""
    story_of: dict[str, str] = {}
    order: dict[str, int] = {}
    for position, doc in enumerate(docs):
        minhash = baseline_signature(doc.get("text") or "", num_perm=lsh.h)
        candidates = lsh.query(minhash)
        doc_id = doc["id"]
        story_of[doc_id] = story_of[min(candidates, key=order.__getitem__)] if candidates else doc_id
        order[doc_id] = position
        lsh.insert(doc_id, minhash)
        yield doc_id, story_of[doc_id]


def incremental_corpus(docs: Iterable[dict], index: StoryIndex) -> Iterator[tuple[str, str]]:
    """The crawl's way: each document in turn through ``StoryIndex.add`` (no corpus-wide furniture, merges
    followed), then ``StoryIndex.settle`` as at a crawl's end, so the order test shows what arrival order still
    changes there."""
    story_of: dict[str, str] = {}
    merged_into: dict[str, str] = {}
    for doc in docs:
        match = index.add(doc["id"], index.fingerprint(doc.get("text") or ""))
        story_of[doc["id"]] = doc["id"] if match is None else match.story_id
        for merged in match.merges if match is not None else ():
            merged_into[merged] = match.story_id  # type: ignore[union-attr]
    for match in index.settle():  # as a crawl does at its end: the partial copies deferred so far
        index.merge(match.story_id, match.merges)
        for merged in match.merges:
            merged_into[merged] = match.story_id
    for doc_id, story in story_of.items():
        while story in merged_into:
            story = merged_into[story]
        yield doc_id, story


def signing_speed(sign: Callable[[str], object], texts: list[str]) -> float:
    """Documents signed per second."""
    started = time.perf_counter()
    for text in texts:
        sign(text)
    return len(texts) / (time.perf_counter() - started)


def pairs_by_story(assignment: dict[str, str]) -> set[tuple[str, str]]:
    """All unordered document pairs that share a story."""
    members: dict[str, list[str]] = defaultdict(list)
    for doc_id, story in assignment.items():
        members[story].append(doc_id)
    return {(min(a, b), max(a, b)) for group in members.values() for a, b in itertools.combinations(group, 2)}


def evaluate(predicted: dict[str, str], truth: dict[str, dict]) -> dict:
    """Pairwise precision/recall/F1, recall per kind (of the non-original document of a pair) and false merges
    per kind pair."""
    true_pairs = pairs_by_story({doc_id: row["story"] for doc_id, row in truth.items()})
    predicted_pairs = pairs_by_story(predicted)
    correct = true_pairs & predicted_pairs
    precision = len(correct) / len(predicted_pairs) if predicted_pairs else 1.0
    recall = len(correct) / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_kind_total: Counter[str] = Counter()
    per_kind_found: Counter[str] = Counter()
    for pair in true_pairs:
        kinds = sorted(truth[doc_id]["kind"] for doc_id in pair)
        kind = kinds[0] if kinds[1] == "original" else kinds[1] if kinds[0] == "original" else "/".join(kinds)
        per_kind_total[kind] += 1
        per_kind_found[kind] += pair in correct
    false_merges = Counter("/".join(sorted(truth[doc_id]["kind"] for doc_id in pair))
                           for pair in predicted_pairs - true_pairs)
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "predicted_pairs": len(predicted_pairs), "true_pairs": len(true_pairs),
        "recall_per_kind": {kind: (per_kind_found[kind], per_kind_total[kind]) for kind in sorted(per_kind_total)},
        "false_merges": dict(false_merges.most_common()),
    }


def run(name: str, method: Callable[[list[dict]], Iterator[tuple[str, str]]], docs: list[dict],
        truth: dict[str, dict]) -> dict:
    """Time ``method`` over ``docs`` (index construction excluded) and score it."""
    started = time.perf_counter()
    predicted = dict(method(docs))
    elapsed = time.perf_counter() - started
    result = evaluate(predicted, truth)
    result.update(name=name, seconds=elapsed, docs_per_second=len(docs) / elapsed if elapsed else float("inf"))
    return result


def partition(assignment: dict[str, str]) -> frozenset[frozenset[str]]:
    """The groups of documents an assignment makes, whatever the story ids are called."""
    members: dict[str, set[str]] = defaultdict(set)
    for doc_id, story in assignment.items():
        members[story].add(doc_id)
    return frozenset(frozenset(group) for group in members.values())


def order_test(make_method: Callable[[], Callable[[list[dict]], Iterator[tuple[str, str]]]], docs: list[dict],
               truth: dict[str, dict], shuffles: int = 10) -> dict:
    """Run a fresh method over the given order and ``shuffles`` shuffled orders (seeds 1..shuffles): the worst
    P/R/F1, whether every order gives the same partition, and whether every document gets the same story id."""
    orders = [list(docs)]
    for seed in range(1, shuffles + 1):
        shuffled = list(docs)
        random.Random(seed).shuffle(shuffled)
        orders.append(shuffled)
    results, partitions, assignments = [], set(), []
    for order in orders:
        predicted = dict(make_method()(order))
        results.append(evaluate(predicted, truth))
        partitions.add(partition(predicted))
        assignments.append(predicted)
    return {
        "orders": len(orders),
        "worst_precision": min(r["precision"] for r in results),
        "worst_recall": min(r["recall"] for r in results),
        "worst_f1": min(r["f1"] for r in results),
        "best_f1": max(r["f1"] for r in results),
        "same_partition": len(partitions) == 1,
        "same_ids": all(assignment == assignments[0] for assignment in assignments),
    }


def candidate_recall(index: StoryIndex, doc_ids: list[str]) -> dict:
    """Of the document pairs the index's rule accepts (judged exhaustively), how many share a band, i.e. are ever
    compared; ``index`` holds each document under its own id (as `dedup_corpus` leaves it)."""
    fingerprints = {doc_id: Fingerprint.from_bytes(index.store.fingerprints(doc_id)[0]) for doc_id in doc_ids
                    if doc_id in index}
    bands = {doc_id: set(index.band_hashes(fp)) for doc_id, fp in fingerprints.items()}
    accepted = surfaced = 0
    lost: Counter[str] = Counter()
    for first, second in itertools.combinations(sorted(fingerprints), 2):
        verdict = index.judge(fingerprints[first], fingerprints[second])
        if verdict is None:
            continue
        accepted += 1
        if bands[first] & bands[second]:
            surfaced += 1
        else:
            jaccard = float((fingerprints[first].hashvalues == fingerprints[second].hashvalues).mean())
            lost["J %.1f" % (int(jaccard * 10) / 10)] += 1
    return {"accepted": accepted, "surfaced": surfaced, "lost_by_jaccard": dict(sorted(lost.items()))}


def report_orders(name: str, result: dict) -> str:
    """One line for an order test."""
    return ("order test (%s, given + %d shuffled): worst P %.3f  R %.3f  F1 %.3f (best F1 %.3f); "
            "same partition in every order: %s; same story ids: %s"
            % (name, result["orders"] - 1, result["worst_precision"], result["worst_recall"], result["worst_f1"],
               result["best_f1"], "yes" if result["same_partition"] else "NO",
               "yes" if result["same_ids"] else "NO"))


def report(result: dict) -> str:
    """Human-readable lines for one method."""
    lines = [
        "== %s" % result["name"],
        "P %.3f  R %.3f  F1 %.3f  (%d predicted pairs, %d true pairs)"
        % (result["precision"], result["recall"], result["f1"], result["predicted_pairs"], result["true_pairs"]),
        "speed %.1f docs/s (%.2f s)" % (result["docs_per_second"], result["seconds"]),
        "recall per kind: " + ", ".join("%s %d/%d" % (kind, found, total)
                                        for kind, (found, total) in result["recall_per_kind"].items()),
        "false merges per kind pair: " + (", ".join("%s %d" % item for item in result["false_merges"].items())
                                          or "none"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory with docs.jsonl and truth.jsonl (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="MinHash seed for our index (default: %(default)s)")
    integers = ("num_perm", "bands", "rows", "shingle_size")
    for option in (*integers, "threshold", "jaccard_threshold", "containment_threshold", "coverage_threshold"):
        parser.add_argument("--" + option.replace("_", "-"), type=int if option in integers else float,
                            help="StoryIndex %s (default: the StoryIndex default)" % option)
    parser.add_argument("--repeat", type=int, default=1,
                        help="also run our index with this many seeds and report the spread (default: %(default)s)")
    parser.add_argument("--shuffles", type=int, default=10,
                        help="also run this many shuffled orders (seeds 1..N), print the worst (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.data_dir / "docs.jsonl").is_file():
        parser.error("no docs.jsonl in %s" % args.data_dir)
    docs = load_jsonl(args.data_dir / "docs.jsonl")
    truth = {row["id"]: row for row in load_jsonl(args.data_dir / "truth.jsonl")}
    print("%d documents from %s" % (len(docs), args.data_dir))
    options = {name: value for name, value in vars(args).items()
               if value is not None and name not in ("data_dir", "seed", "repeat", "shuffles")}
    index = StoryIndex(seed=args.seed, **options)
    ours = run("ours: %r" % index, lambda d: dedup_corpus(d, index), docs, truth)
    print(report(ours))
    recall = candidate_recall(index, [doc["id"] for doc in docs])
    print("candidate search (%d x %d bands): %d of %d pairs the rule accepts share a band; missed by Jaccard: %s"
          % (index.bands, index.rows, recall["surfaced"], recall["accepted"], recall["lost_by_jaccard"] or "none"))
    crawl_index = StoryIndex(seed=args.seed, **options)
    print(report(run("ours, one at a time through StoryIndex.add, then settle (the crawl's way)",
                     lambda d: incremental_corpus(d, crawl_index), docs, truth)))
    if args.shuffles:
        def fresh_ours() -> Callable[[list[dict]], Iterator[tuple[str, str]]]:
            index = StoryIndex(seed=args.seed, **options)
            return lambda d: dedup_corpus(d, index)

        print(report_orders("ours", order_test(fresh_ours, docs, truth, args.shuffles)))

        def fresh_incremental() -> Callable[[list[dict]], Iterator[tuple[str, str]]]:
            index = StoryIndex(seed=args.seed, **options)
            return lambda d: incremental_corpus(d, index)

        print(report_orders("ours, one at a time through StoryIndex.add", order_test(
            fresh_incremental, docs, truth, args.shuffles)))
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    baseline = run("baseline: MinHashLSH threshold 0.8, word 5-shingles", lambda d: baseline_corpus(d, lsh),
                   docs, truth)
    print(report(baseline))
    if args.shuffles:
        def fresh_baseline() -> Callable[[list[dict]], Iterator[tuple[str, str]]]:
            lsh = MinHashLSH(threshold=0.8, num_perm=128)
            return lambda d: baseline_corpus(d, lsh)

        print(report_orders("baseline", order_test(fresh_baseline, docs, truth, args.shuffles)))
    print("end-to-end speed-up over baseline: %.1fx" % (ours["docs_per_second"] / baseline["docs_per_second"]))
    texts = [doc.get("text") or "" for doc in docs]
    ours_signing = signing_speed(index.fingerprint, texts)
    plain = {n: signing_speed(functools.partial(baseline_signature, num_perm=n), texts)
             for n in sorted({128, index.num_perm})}
    print("signing only: ours %.0f docs/s (num_perm=%d); plain per-shingle MinHash.update loop %s; speed-up %s"
          % (ours_signing, index.num_perm,
             ", ".join("%.0f docs/s (num_perm=%d)" % (speed, n) for n, speed in plain.items()),
             ", ".join("%.1fx vs num_perm=%d" % (ours_signing / speed, n) for n, speed in plain.items())))
    if args.repeat > 1:
        runs = [run("seed %d" % seed, functools.partial(dedup_corpus, index=StoryIndex(seed=seed, **options)), docs,
                    truth) for seed in range(1, args.repeat + 1)]
        precisions = [r["precision"] for r in runs]
        recalls = [r["recall"] for r in runs]
        print("over %d seeds: P min %.3f mean %.3f, R min %.3f mean %.3f"
              % (len(runs), min(precisions), sum(precisions) / len(runs), min(recalls), sum(recalls) / len(runs)))
        misses: Counter[str] = Counter()
        merges: Counter[str] = Counter()
        for r in runs:
            for kind, (found, total) in r["recall_per_kind"].items():
                misses[kind] += total - found
            merges.update(r["false_merges"])
        print("missed pairs per kind, summed over seeds: %s" % dict(misses))
        print("false merges per kind pair, summed over seeds: %s" % dict(merges))
    return 0


if __name__ == "__main__":
    sys.exit(main())
