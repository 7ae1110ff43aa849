"""Article-body benchmark: our extractor and plain trafilatura side by side, scored with shingle P/R/F1.

Usage: python bench/extraction.py [DATA_DIR] [--repeat N] [--show-worst K]

DATA_DIR has the layout of the scrapinghub article-extraction-benchmark: `html/<id>.html.gz` and
`ground-truth.json` (`{"<id>": {"articleBody": ..., "url": ...}}`). It defaults to
`../shared/bench/extraction` relative to the project root when that folder exists.
The metric is upstream's `evaluate.py`: `\\w+` tokens, multisets of 4-token shingles, per-page TP/FP/FN
normalised by their sum, precision and recall averaged over pages, F1 of the two means.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import trafilatura  # noqa: E402

from aggregator.extract.extractor import extract_article  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "bench" / "extraction"
TOKEN_RE = re.compile(r"\w+")
SHINGLE_SIZE = 4

Extractor = Callable[[str, "str | None"], "str | None"]


@dataclass(frozen=True)
class PageScore:
    """Normalised shingle overlap of one page; `empty` when the extractor returned nothing."""

    tp: float
    fp: float
    fn: float
    empty: bool


@dataclass(frozen=True)
class Result:
    """One extractor's scores over the data set."""

    name: str
    precision: float
    recall: float
    f1: float
    f1_std: float
    pages_per_second: float
    pages: dict[str, PageScore]


def shingles(text: str | None) -> Counter[tuple[str, ...]]:
    """Multiset of 4-token shingles; a text shorter than 4 tokens is one shorter shingle (as upstream)."""
    tokens = TOKEN_RE.findall(text or "")
    grams = (tuple(tokens[i : i + SHINGLE_SIZE]) for i in range(max(1, len(tokens) - SHINGLE_SIZE + 1)))
    return Counter(g for g in grams if g)


def score_page(gold: str, predicted: str | None) -> PageScore:
    """TP/FP/FN shingle counts between gold and prediction, normalised by their sum."""
    true, pred = shingles(gold), shingles(predicted)
    tp = fp = fn = 0
    for key in true.keys() | pred.keys():
        t, p = true.get(key, 0), pred.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    total = tp + fp + fn
    if total:
        return PageScore(tp / total, fp / total, fn / total, empty=not pred)
    return PageScore(0.0, 0.0, 0.0, empty=not pred)


def precision_recall(scores: list[PageScore]) -> tuple[float, float]:
    """Mean precision over pages with a prediction (empty ones count 0), mean recall over gold pages."""
    precisions = [0.0 if s.empty else s.tp / (s.tp + s.fp) for s in scores if s.empty or s.tp + s.fp > 0]
    recalls = [0.0 if s.empty else s.tp / (s.tp + s.fn) for s in scores if s.empty or s.tp + s.fn > 0]
    return (statistics.mean(precisions) if precisions else 0.0, statistics.mean(recalls) if recalls else 0.0)


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of the two means."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def bootstrap_f1_std(scores: list[PageScore], rounds: int = 300, seed: int = 0) -> float:
    """Standard deviation of F1 over page resamples, to tell real gains from noise."""
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        sample = [rng.choice(scores) for _ in scores]
        values.append(f1_score(*precision_recall(sample)))
    return statistics.pstdev(values)


def load_pages(data_dir: Path) -> list[tuple[str, str, str | None, str]]:
    """(id, html, url, gold body) for every page of the data set, sorted by id."""
    truth = json.loads((data_dir / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth):
        raw = gzip.decompress((data_dir / "html" / f"{page_id}.html.gz").read_bytes())
        html = raw.decode("utf-8", errors="replace")
        pages.append((page_id, html, truth[page_id].get("url"), truth[page_id].get("articleBody", "")))
    return pages


def ours(html: str, url: str | None) -> str | None:
    """Our extractor, reduced to the body text."""
    article = extract_article(html, url)
    return article.text if article else None


def plain_trafilatura(html: str, url: str | None) -> str | None:
    """trafilatura with its defaults: the baseline."""
    return trafilatura.extract(html, url=url)


def run(
    pages: list[tuple[str, str, str | None, str]], extractors: dict[str, Extractor], repeat: int = 1
) -> list[Result]:
    """Run every extractor on every page, alternating their order per page so machine noise is shared."""
    names = list(extractors)
    elapsed = dict.fromkeys(names, 0.0)
    outputs: dict[str, dict[str, str | None]] = {name: {} for name in names}
    for index, (page_id, html, url, _gold) in enumerate(pages):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            for _ in range(repeat):
                start = time.perf_counter()
                outputs[name][page_id] = extractors[name](html, url)
                elapsed[name] += time.perf_counter() - start
    results = []
    for name in names:
        per_page = {pid: score_page(gold, outputs[name][pid]) for pid, _h, _u, gold in pages}
        scores = list(per_page.values())
        precision, recall = precision_recall(scores)
        results.append(
            Result(
                name=name,
                precision=precision,
                recall=recall,
                f1=f1_score(precision, recall),
                f1_std=bootstrap_f1_std(scores),
                pages_per_second=len(pages) * repeat / elapsed[name] if elapsed[name] else 0.0,
                pages=per_page,
            )
        )
    return results


def print_table(results: list[Result], page_count: int) -> None:
    """One row per extractor, plus our speed relative to the baseline."""
    print(f"{page_count} pages")
    print(f"{'extractor':<20} {'P':>6} {'R':>6} {'F1':>6} {'±std':>6} {'pages/s':>8}")
    for r in results:
        print(
            f"{r.name:<20} {r.precision:6.3f} {r.recall:6.3f} {r.f1:6.3f} "
            f"{r.f1_std:6.3f} {r.pages_per_second:8.1f}"
        )
    if len(results) == 2 and results[1].pages_per_second:
        print(f"speed ratio {results[0].name}/{results[1].name}: "
              f"{results[0].pages_per_second / results[1].pages_per_second:.2f}x")


def print_worst(results: list[Result], count: int) -> None:
    """Pages where we lose most against the baseline, to look at by hand."""
    ours_r, base = results[0], results[1]

    def page_f1(s: PageScore) -> float:
        return 0.0 if s.empty else (2 * s.tp / (2 * s.tp + s.fp + s.fn) if s.tp else 0.0)

    ranked = sorted(ours_r.pages, key=lambda pid: page_f1(ours_r.pages[pid]) - page_f1(base.pages[pid]))
    ranked_abs = sorted(ours_r.pages, key=lambda pid: page_f1(ours_r.pages[pid]))
    print("\nworst against baseline (id, ours F1, base F1, ours tp/fp/fn):")
    for pid in ranked[:count]:
        s = ours_r.pages[pid]
        print(f"  {pid} {page_f1(s):.3f} {page_f1(base.pages[pid]):.3f} {s.tp:.2f}/{s.fp:.2f}/{s.fn:.2f}")
    print("worst absolute:")
    for pid in ranked_abs[:count]:
        s = ours_r.pages[pid]
        print(f"  {pid} {page_f1(s):.3f} {page_f1(base.pages[pid]):.3f} {s.tp:.2f}/{s.fp:.2f}/{s.fn:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both extractors, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="extract each page N times (steadier speed)")
    parser.add_argument("--show-worst", type=int, default=0, metavar="K", help="list the K worst pages")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    if not (data_dir / "ground-truth.json").is_file():
        print(f"Error: no ground-truth.json in {data_dir}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    pages = load_pages(data_dir)
    results = run(pages, {"aggregator": ours, "trafilatura": plain_trafilatura}, repeat=args.repeat)
    print_table(results, len(pages))
    if args.show_worst:
        print_worst(results, args.show_worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
